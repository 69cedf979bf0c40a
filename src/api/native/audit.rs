//! `GET /v1/audit`: the audit log, newest first, a page at a time.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Problem;
use super::paging::{self, PageParams};
use crate::domain::audit::{self, AuditFilter, AuditRecord};
use crate::domain::principal::Caller;
use crate::http::error::ApiError;
use crate::state::AppState;

/// The filters of the log; each optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// System keys: only this tenant's records (a tenant's admin always reads its own).
    #[param(value_type = Option<Uuid>)]
    pub tenant_id: Option<String>,
    /// `limit`, `key`, `tenant`, `confluent_client_quota`, `datarobot_quota`,
    /// `datarobot_template`, `zitadel_quota`, `zitadel_limits`, `waldur_chat_quota`,
    /// `applied_quota`, `alert_target` or `alert_rules`.
    pub resource_type: Option<String>,
    /// Only the records of the resource with this id.
    pub resource_id: Option<String>,
    /// Records at or after this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub from: Option<String>,
    /// Records before this instant (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    pub to: Option<String>,
}

/// Who made a change: the key (null for seed files and start-up) and its roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    pub key_id: Option<String>,
    pub roles: Vec<String>,
}

/// What a change was about.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResource {
    /// The kind of resource (as `resource_type` filters).
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

/// One change: when, by whom, to what, and the resource before and after (never a secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryResponse {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub actor: AuditActor,
    /// `create`, `update` or `delete`.
    pub action: String,
    pub resource: AuditResource,
    /// The resource before the change; null when it did not exist.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The resource after the change; null once deleted.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

impl From<AuditRecord> for AuditEntryResponse {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: r.at,
            tenant_id: r.tenant_id,
            actor: AuditActor {
                key_id: r.actor.key_id,
                roles: r.actor.roles,
            },
            action: r.action.as_str().to_owned(),
            resource: AuditResource {
                kind: r.resource_type.as_str().to_owned(),
                id: r.resource_id,
            },
            before: r.before,
            after: r.after,
        }
    }
}

/// The audit log, newest first, a page at a time (the next page's URL is in `Link`): a
/// tenant's admins read their tenant's records, system keys every tenant's (or one, with
/// `tenant_id`); other keys are refused.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditParams, PageParams),
    responses((status = 200, body = [AuditEntryResponse],
            headers(("link" = String, description = "The next page: `<url>; rel=\"next\"`"))),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
    Query(filter): Query<AuditParams>,
    Query(params): Query<PageParams>,
) -> Result<Response, ApiError> {
    let request = params.request()?;
    let filter = AuditFilter::parse(
        filter.tenant_id.as_deref(),
        filter.resource_type.as_deref(),
        filter.resource_id.as_deref(),
        filter.from.as_deref(),
        filter.to.as_deref(),
    )?;
    let page = audit::list(&state.store, &caller, filter, &request).await?;
    Ok(paging::respond(
        &state.settings,
        &headers,
        &uri,
        &request,
        page.map(AuditEntryResponse::from),
    ))
}
