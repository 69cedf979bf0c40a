//! `/service-quota/v1`: the applied quotas of the caller's organization and the scopes, read
//! only, as Confluent serves them. Any role of the tenant may read.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::dto::ListMeta;
use super::super::error::{FailureBody, reject};
use super::super::links::{APPLIED_QUOTAS, Links, SCOPES};
use super::dto::{API_VERSION, AppliedQuota, AppliedQuotaList, ScopeBody, ScopeList};
use super::service;
use crate::domain::principal::Caller;
use crate::domain::service_quota::{ListFilter, REFERENCE_KEYS, Scope, page_size};
use crate::domain::{Error, Result};
use crate::http::json::Query;
use crate::state::AppState;

const TAG: &str = "Applied Quotas (service-quota/v1)";
const SCOPES_TAG: &str = "Scopes (service-quota/v1)";

/// The scope references a request may name (empty values count as absent).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReferenceParams {
    /// The environment ID the quota is associated with.
    pub environment: Option<String>,
    /// The network ID the quota is associated with.
    pub network: Option<String>,
    /// The kafka cluster ID the quota is associated with.
    pub kafka_cluster: Option<String>,
    /// The identity provider ID the quota is associated with.
    pub identity_provider: Option<String>,
    /// The certificate authority ID the quota is associated with.
    pub certificate_authority: Option<String>,
    /// quotaplane extension: the service account of a `SERVICE_ACCOUNT` quota.
    pub service_account: Option<String>,
    /// quotaplane extension: the user of a `USER_ACCOUNT` quota.
    pub user: Option<String>,
}

impl ReferenceParams {
    fn references(&self) -> BTreeMap<String, String> {
        references([
            &self.environment,
            &self.network,
            &self.kafka_cluster,
            &self.service_account,
            &self.user,
            &self.identity_provider,
            &self.certificate_authority,
        ])
    }
}

/// The non-empty values, keyed in the order of [`REFERENCE_KEYS`].
fn references(values: [&Option<String>; 7]) -> BTreeMap<String, String> {
    REFERENCE_KEYS
        .into_iter()
        .zip(values)
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_owned(), v.clone()))
        })
        .collect()
}

/// The list's query: `scope` is required.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The applied scope the quota belongs to (any letter case).
    #[param(required = true)]
    pub scope: Option<String>,
    /// The environment ID the quota is associated with.
    pub environment: Option<String>,
    /// The network ID the quota is associated with.
    pub network: Option<String>,
    /// The kafka cluster ID the quota is associated with.
    pub kafka_cluster: Option<String>,
    /// The identity provider ID the quota is associated with.
    pub identity_provider: Option<String>,
    /// The certificate authority ID the quota is associated with.
    pub certificate_authority: Option<String>,
    /// quotaplane extension: the service account of a `SERVICE_ACCOUNT` quota.
    pub service_account: Option<String>,
    /// quotaplane extension: the user of a `USER_ACCOUNT` quota.
    pub user: Option<String>,
    /// The id (quota code) that this quota belongs to.
    pub id: Option<String>,
    /// Items per page: 1 to 200, default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
    /// The opaque token of a page, from `metadata.next`.
    #[param(max_length = 255)]
    pub page_token: Option<String>,
}

/// A page's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: 1 to 200, default 10.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub page_size: Option<String>,
    /// The opaque token of a page, from `metadata.next`.
    #[param(max_length = 255)]
    pub page_token: Option<String>,
}

fn answer<T: serde::Serialize>(links: &Links, result: Result<T>) -> Response {
    match result {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(e) => reject(links, e),
    }
}

fn scope_filter(value: Option<&str>) -> Result<Scope> {
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid_query("scope", "the 'scope' filter is required"))?;
    Scope::parse(value).ok_or_else(|| {
        Error::invalid_query(
            "scope",
            format!("'{value}' is not a scope of applied quotas"),
        )
    })
}

/// Lists the organization's applied quotas of one scope, ordered by code and reference.
#[utoipa::path(get, path = "/service-quota/v1/applied-quotas", tag = TAG, params(ListParams),
    responses((status = 200, description = "Applied Quota.", body = AppliedQuotaList),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody)),
    security(("basic" = [])))]
pub async fn list_applied_quotas(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let listed = async {
        let scope = scope_filter(params.scope.as_deref())?;
        let size = page_size(params.page_size.as_deref())?;
        let token = params.page_token.as_deref().filter(|t| !t.is_empty());
        let filter = ListFilter {
            references: references([
                &params.environment,
                &params.network,
                &params.kafka_cluster,
                &params.service_account,
                &params.user,
                &params.identity_provider,
                &params.certificate_authority,
            ]),
            code: params.id.clone().filter(|c| !c.is_empty()),
        };
        let page = service(&state)
            .list(caller.tenant_id, scope, &filter, size, token)
            .await?;
        let mut pairs: Vec<(&str, &str)> = vec![("scope", scope.name())];
        pairs.extend(
            filter
                .references
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if let Some(code) = &filter.code {
            pairs.push(("id", code));
        }
        let size = page.page_size.to_string();
        let with = |extra: (&'static str, &str)| {
            let mut all = pairs.clone();
            all.push(extra);
            links.collection(APPLIED_QUOTAS, &all)
        };
        Ok(AppliedQuotaList {
            api_version: API_VERSION.into(),
            kind: "AppliedQuotaList".into(),
            metadata: ListMeta {
                first: with(("page_size", &size)),
                next: page.next_token.as_deref().map(|t| with(("page_token", t))),
                total_size: page.total_size,
            },
            data: page
                .items
                .iter()
                .map(|a| AppliedQuota::of(a, &links))
                .collect(),
        })
    }
    .await;
    answer(&links, listed)
}

/// Reads one applied quota: `{id}` is the quota code; the references its scope needs come as
/// query parameters (a missing one is a 400).
#[utoipa::path(get, path = "/service-quota/v1/applied-quotas/{id}", tag = TAG,
    params(("id" = String, Path, description = "The quota code."), ReferenceParams),
    responses((status = 200, description = "Applied Quota.", body = AppliedQuota),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody),
        (status = 404, body = FailureBody)),
    security(("basic" = [])))]
pub async fn get_applied_quota(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<ReferenceParams>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let found = service(&state)
        .get(caller.tenant_id, &id, &params.references())
        .await;
    answer(&links, found.map(|a| AppliedQuota::of(&a, &links)))
}

/// Lists the scopes of applied quotas.
#[utoipa::path(get, path = "/service-quota/v1/scopes", tag = SCOPES_TAG, params(PageParams),
    responses((status = 200, description = "Scope.", body = ScopeList),
        (status = 400, body = FailureBody), (status = 401, body = FailureBody)),
    security(("basic" = [])))]
pub async fn list_scopes(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let listed = async {
        let size = page_size(params.page_size.as_deref())?;
        let token = params.page_token.as_deref().filter(|t| !t.is_empty());
        let (items, next, size) = service(&state)
            .scopes(caller.tenant_id, size, token)
            .await?;
        let size = size.to_string();
        Ok(ScopeList {
            api_version: API_VERSION.into(),
            kind: "ScopeList".into(),
            metadata: ListMeta {
                first: links.collection(SCOPES, &[("page_size", &size)]),
                next: next.map(|t| links.collection(SCOPES, &[("page_token", &t)])),
                total_size: Scope::ALL.len() as i64,
            },
            data: items
                .into_iter()
                .map(|s| ScopeBody::of(s, &links))
                .collect(),
        })
    }
    .await;
    answer(&links, listed)
}

/// Reads one scope, by its name in any letter case.
#[utoipa::path(get, path = "/service-quota/v1/scopes/{id}", tag = SCOPES_TAG,
    params(("id" = String, Path, description = "The unique identifier for the scope.")),
    responses((status = 200, description = "Scope.", body = ScopeBody),
        (status = 401, body = FailureBody), (status = 404, body = FailureBody)),
    security(("basic" = [])))]
pub async fn get_scope(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let links = Links::of_request(&state.settings, &headers, caller.tenant_id);
    let found = Scope::parse(&id)
        .map(|s| ScopeBody::of(s, &links))
        .ok_or(Error::NotFound("scope"));
    answer(&links, found)
}
