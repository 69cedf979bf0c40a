//! The SystemService calls: each authenticates the caller (system key or system API user JWT
//! in the `authorization` metadata), translates the message into the REST mapping's input, and
//! makes the same domain call.

use tonic::{Request, Response, Status};

use super::convert::{
    as_listed, changed, check_instance_id, created, instance_detail, limits_change, spec, timestamp,
};
use super::proto::zitadel::instance::v1 as instance;
use super::proto::zitadel::system::v1::system_service_server::SystemService;
use super::proto::zitadel::system::v1::*;
use super::proto::zitadel::v1::{ListDetails, ObjectDetails};
use super::status;
use crate::api::zitadel::dto::Request as Kind;
use crate::api::zitadel::instances::sort_of_number;
use crate::domain::Error;
use crate::domain::audit::Actor;
use crate::domain::principal::Caller;
use crate::domain::zitadel::{self, Unit};
use crate::domain::zitadel_instance::{self, InstanceQuery, SortBy};
use crate::state::AppState;

/// The service: the application state it calls into.
pub struct SystemApi {
    state: AppState,
}

impl SystemApi {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The caller the `authorization` metadata proves, within its rate limit (as over REST).
    async fn caller<T>(&self, request: &Request<T>) -> std::result::Result<Caller, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let caller = crate::http::auth::authenticate_system(&self.state, header)
            .await
            .map_err(|e| status(e, ""))?;
        match self.state.rate_limiter.admit(&caller) {
            None => Ok(caller),
            Some(retry_after) => Err(status(Error::RateLimited { retry_after }, "")),
        }
    }
}

type Answer<T> = std::result::Result<Response<T>, Status>;

#[tonic::async_trait]
impl SystemService for SystemApi {
    async fn healthz(&self, _: Request<HealthzRequest>) -> Answer<HealthzResponse> {
        Ok(Response::new(HealthzResponse {}))
    }

    async fn list_instances(
        &self,
        request: Request<ListInstancesRequest>,
    ) -> Answer<ListInstancesResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let list = r.query.unwrap_or_default();
        let sort = sort_of_number(i64::from(r.sorting_column)).ok_or_else(|| {
            status(
                Error::invalid_body("/sortingColumn", "invalid enum value"),
                "",
            )
        })?;
        let lists = |pick: fn(&instance::query::Query) -> Option<&Vec<String>>| {
            crate::api::zitadel::instances::collect(
                r.queries
                    .iter()
                    .filter_map(|q| q.query.as_ref())
                    .filter_map(pick),
            )
        };
        let query = InstanceQuery {
            ids: lists(|q| match q {
                instance::query::Query::IdQuery(q) => Some(&q.ids),
                _ => None,
            }),
            domains: lists(|q| match q {
                instance::query::Query::DomainQuery(q) => Some(&q.domains),
                _ => None,
            }),
            offset: list.offset,
            limit: list.limit,
            asc: list.asc,
            sort,
        };
        let page = zitadel_instance::list_instances(&self.state.store, &caller, &query)
            .await
            .map_err(|e| status(e, ""))?;
        Ok(Response::new(ListInstancesResponse {
            details: Some(ListDetails {
                total_result: page.total,
                processed_sequence: 0,
                view_timestamp: Some(timestamp(self.state.clock.now())),
            }),
            sorting_column: match sort {
                SortBy::Unspecified => 0,
                _ => r.sorting_column,
            },
            result: page
                .instances
                .iter()
                .map(|i| as_listed(instance_detail(i)))
                .collect(),
        }))
    }

    async fn get_instance(
        &self,
        request: Request<GetInstanceRequest>,
    ) -> Answer<GetInstanceResponse> {
        let caller = self.caller(&request).await?;
        let id = request.into_inner().instance_id;
        check_instance_id("GetInstanceRequest", &id)?;
        let found = zitadel_instance::get_instance(&self.state.store, &caller, &id)
            .await
            .map_err(|e| status(e, &id))?;
        Ok(Response::new(GetInstanceResponse {
            instance: Some(instance_detail(&found)),
        }))
    }

    async fn add_quota(&self, request: Request<AddQuotaRequest>) -> Answer<AddQuotaResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let id = r.instance_id.clone();
        check_instance_id("AddQuotaRequest", &id)?;
        let details = async {
            let tenant = zitadel::instance(&self.state.store, &caller, &id).await?;
            let spec = spec(
                Kind::Add,
                r.unit,
                r.from,
                r.reset_interval,
                r.amount,
                r.limit,
                r.notifications,
            )?;
            let actor = Actor::of(&caller);
            zitadel::add_quota(&self.state.engine, &self.state.store, &actor, tenant, spec).await
        }
        .await
        .map_err(|e| status(e, &id))?;
        Ok(Response::new(AddQuotaResponse {
            details: created(&details),
        }))
    }

    async fn set_quota(&self, request: Request<SetQuotaRequest>) -> Answer<SetQuotaResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let id = r.instance_id.clone();
        check_instance_id("SetQuotaRequest", &id)?;
        let details = async {
            let tenant = zitadel::instance(&self.state.store, &caller, &id).await?;
            let spec = spec(
                Kind::Set,
                r.unit,
                r.from,
                r.reset_interval,
                r.amount,
                r.limit,
                r.notifications,
            )?;
            let actor = Actor::of(&caller);
            zitadel::set_quota(&self.state.engine, &self.state.store, &actor, tenant, spec).await
        }
        .await
        .map_err(|e| status(e, &id))?;
        Ok(Response::new(SetQuotaResponse {
            details: created(&details),
        }))
    }

    async fn remove_quota(
        &self,
        request: Request<RemoveQuotaRequest>,
    ) -> Answer<RemoveQuotaResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let id = r.instance_id.clone();
        check_instance_id("RemoveQuotaRequest", &id)?;
        let details = async {
            let tenant = zitadel::instance(&self.state.store, &caller, &id).await?;
            let unit = Unit::from_number(i64::from(r.unit));
            let actor = Actor::of(&caller);
            zitadel::remove_quota(&self.state.engine, &self.state.store, &actor, tenant, unit).await
        }
        .await
        .map_err(|e| status(e, &id))?;
        Ok(Response::new(RemoveQuotaResponse {
            details: changed(&details),
        }))
    }

    async fn set_limits(&self, request: Request<SetLimitsRequest>) -> Answer<SetLimitsResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let id = r.instance_id.clone();
        check_instance_id("SetLimitsRequest", &id)?;
        let details = async {
            let tenant = zitadel::instance(&self.state.store, &caller, &id).await?;
            let change = limits_change(r.audit_log_retention.as_ref(), r.block)?;
            crate::api::zitadel::limits::set_one(&self.state, &Actor::of(&caller), tenant, &change)
                .await
        }
        .await
        .map_err(|e| status(e, &id))?;
        Ok(Response::new(SetLimitsResponse {
            details: changed(&details),
        }))
    }

    async fn bulk_set_limits(
        &self,
        request: Request<BulkSetLimitsRequest>,
    ) -> Answer<BulkSetLimitsResponse> {
        let caller = self.caller(&request).await?;
        let r = request.into_inner();
        let mut changes = Vec::new();
        for item in &r.limits {
            let id = &item.instance_id;
            check_instance_id("SetLimitsRequest", id)?;
            let checked = async {
                let tenant = zitadel::instance(&self.state.store, &caller, id).await?;
                let change = limits_change(item.audit_log_retention.as_ref(), item.block)?;
                zitadel_instance::validate(&change)?;
                Ok::<_, Error>((tenant, change))
            }
            .await
            .map_err(|e| status(e, id))?;
            changes.push(checked);
        }
        let mut targets = Vec::new();
        for (tenant, change) in &changes {
            let details = crate::api::zitadel::limits::set_one(
                &self.state,
                &Actor::of(&caller),
                *tenant,
                change,
            )
            .await
            .map_err(|e| status(e, &tenant.to_string()))?;
            targets.push(details);
        }
        let whole = ObjectDetails {
            sequence: targets
                .iter()
                .map(|d| u64::try_from(d.sequence).unwrap_or(0))
                .max()
                .unwrap_or(0),
            creation_date: None,
            change_date: Some(timestamp(self.state.clock.now())),
            resource_owner: String::new(),
        };
        Ok(Response::new(BulkSetLimitsResponse {
            details: Some(whole),
            target_details: targets.iter().filter_map(changed).collect(),
        }))
    }

    async fn reset_limits(
        &self,
        request: Request<ResetLimitsRequest>,
    ) -> Answer<ResetLimitsResponse> {
        let caller = self.caller(&request).await?;
        let id = request.into_inner().instance_id;
        check_instance_id("ResetLimitsRequest", &id)?;
        let details = async {
            let tenant = zitadel::instance(&self.state.store, &caller, &id).await?;
            let now = self.state.clock.now();
            zitadel_instance::reset_limits(
                &self.state.store,
                &Actor::of(&caller),
                &self.state.instance_blocks,
                tenant,
                now,
            )
            .await
        }
        .await
        .map_err(|e| status(e, &id))?;
        Ok(Response::new(ResetLimitsResponse {
            details: changed(&details),
        }))
    }
}
