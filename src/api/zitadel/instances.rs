//! Healthz, GetInstance and ListInstances over REST: the calls ZITADEL's tools make first. A
//! tenant is an instance; quotaplane has no domains, so an instance's name stands in for them
//! in a `domainQuery`.

use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::{Uint, V1ObjectDetails, timestamp};
use super::error::RpcStatus;
use crate::domain::principal::Caller;
use crate::domain::zitadel_instance::{self, Instance, InstancePage, InstanceQuery, SortBy};
use crate::domain::{Error, Result};
use crate::http::error::ApiError;
use crate::http::json::parse_json;
use crate::state::AppState;

/// The instance's state: a tenant is always running.
pub const RUNNING: &str = "STATE_RUNNING";

/// `zitadel.instance.v1.InstanceDetail` (and `Instance`, which has the same fields).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1InstanceDetail)]
pub struct V1Instance {
    pub id: String,
    pub details: V1ObjectDetails,
    pub state: &'static str,
    pub name: String,
    /// quotaplane's version.
    pub version: &'static str,
    /// quotaplane's addition, GetInstance only: the limits SetLimits stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<V1InstanceLimits>,
}

/// An instance's limits (quotaplane's addition; ZITADEL's system API cannot read them back).
#[derive(Debug, Serialize, ToSchema)]
pub struct V1InstanceLimits {
    #[serde(rename = "auditLogRetention", skip_serializing_if = "Option::is_none")]
    pub audit_log_retention: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<bool>,
}

impl V1Instance {
    pub fn of(instance: &Instance) -> Self {
        let tenant = &instance.tenant;
        Self {
            id: tenant.id.to_string(),
            details: V1ObjectDetails {
                sequence: instance.sequence.to_string(),
                creation_date: Some(timestamp(tenant.created_at)),
                change_date: Some(timestamp(instance.changed_at)),
                resource_owner: tenant.id.to_string(),
            },
            state: RUNNING,
            name: tenant.name.as_str().to_owned(),
            version: env!("CARGO_PKG_VERSION"),
            limits: None,
        }
    }

    /// The detail GetInstance answers: with the instance's limits.
    pub fn detail(instance: &Instance) -> Self {
        Self {
            limits: instance.limits.as_ref().map(|l| V1InstanceLimits {
                audit_log_retention: l
                    .audit_log_retention
                    .map(|r| format!("{}s", r.num_seconds())),
                block: l.block,
            }),
            ..Self::of(instance)
        }
    }
}

/// The answer of GetInstance.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1GetInstanceResponse)]
pub struct V1GetInstanceResponse {
    pub instance: V1Instance,
}

/// `zitadel.v1.ListQuery`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = v1ListQuery)]
pub struct V1ListQuery {
    #[serde(default)]
    pub offset: Option<Uint>,
    #[serde(default)]
    pub limit: Option<Uint>,
    #[serde(default)]
    pub asc: Option<bool>,
}

/// `zitadel.instance.v1.Query`: one of `idQuery`, `domainQuery`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = v1InstanceQuery)]
pub struct V1Query {
    #[serde(
        default,
        rename = "idQuery",
        alias = "id_query",
        deserialize_with = "message"
    )]
    pub id_query: Option<V1Ids>,
    #[serde(
        default,
        rename = "domainQuery",
        alias = "domain_query",
        deserialize_with = "message"
    )]
    pub domain_query: Option<V1Domains>,
}

/// `IdsQuery`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct V1Ids {
    #[serde(default)]
    pub ids: Vec<String>,
}

/// `DomainsQuery`: quotaplane matches the instance's name.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct V1Domains {
    #[serde(default)]
    pub domains: Vec<String>,
}

/// A message field as protojson reads it: a JSON object (or null), never an array.
fn message<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error as _;
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value @ serde_json::Value::Object(_)) => serde_json::from_value(value)
            .map(Some)
            .map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("a message must be a JSON object")),
    }
}

/// A repeated message field as protojson reads it: an array of JSON objects (or null).
fn messages<'de, D, T>(deserializer: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error as _;
    let items = Option::<Vec<serde_json::Value>>::deserialize(deserializer)?.unwrap_or_default();
    items
        .into_iter()
        .map(|item| match item {
            value @ serde_json::Value::Object(_) => {
                serde_json::from_value(value).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom("a message must be a JSON object")),
        })
        .collect()
}

/// The body of ListInstances.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[schema(as = SystemServiceListInstancesBody)]
pub struct V1ListInstancesRequest {
    #[serde(default, deserialize_with = "message")]
    pub query: Option<V1ListQuery>,
    /// `FIELD_NAME_UNSPECIFIED`, `FIELD_NAME_ID`, `FIELD_NAME_NAME`, `FIELD_NAME_CREATION_DATE`.
    #[serde(default, rename = "sortingColumn", alias = "sorting_column")]
    pub sorting_column: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "messages")]
    pub queries: Vec<V1Query>,
}

/// `zitadel.v1.ListDetails`, zero values left out.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1ListDetails)]
pub struct V1ListDetails {
    #[serde(rename = "totalResult", skip_serializing_if = "Option::is_none")]
    pub total_result: Option<String>,
    #[serde(rename = "viewTimestamp")]
    pub view_timestamp: String,
}

/// The answer of ListInstances.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = v1ListInstancesResponse)]
pub struct V1ListInstancesResponse {
    pub details: V1ListDetails,
    #[serde(rename = "sortingColumn", skip_serializing_if = "Option::is_none")]
    pub sorting_column: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub result: Vec<V1Instance>,
}

/// Sort columns by enum name and number.
const SORT_COLUMNS: [(SortBy, &str, i64); 4] = [
    (SortBy::Unspecified, "FIELD_NAME_UNSPECIFIED", 0),
    (SortBy::Id, "FIELD_NAME_ID", 1),
    (SortBy::Name, "FIELD_NAME_NAME", 2),
    (SortBy::CreationDate, "FIELD_NAME_CREATION_DATE", 3),
];

/// The column's enum name, left out when unspecified (protojson drops zero values).
pub fn sort_name(sort: SortBy) -> Option<&'static str> {
    SORT_COLUMNS
        .iter()
        .find(|(s, ..)| *s == sort && sort != SortBy::Unspecified)
        .map(|(_, name, _)| *name)
}

/// The column a number names.
pub fn sort_of_number(n: i64) -> Option<SortBy> {
    SORT_COLUMNS.iter().find(|c| c.2 == n).map(|c| c.0)
}

impl V1ListInstancesRequest {
    fn into_query(self) -> Result<InstanceQuery> {
        let invalid = |pointer: &str, what: String| Error::invalid_body(pointer, what);
        let sort = match &self.sorting_column {
            None => SortBy::Unspecified,
            Some(serde_json::Value::String(name)) => SORT_COLUMNS
                .iter()
                .find(|c| c.1 == name)
                .map(|c| c.0)
                .ok_or_else(|| {
                    invalid(
                        "/sortingColumn",
                        format!("proto: invalid value for enum type: {name:?}"),
                    )
                })?,
            // protojson reads a number with a zero fraction (`2.0`) as the integer.
            #[allow(clippy::cast_possible_truncation)]
            Some(other) => other
                .as_i64()
                .or_else(|| {
                    other
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(u32::MAX))
                        .map(|f| f as i64)
                })
                .and_then(sort_of_number)
                .ok_or_else(|| invalid("/sortingColumn", format!("invalid enum value {other}")))?,
        };
        let list = self.query.unwrap_or_default();
        let number = |v: &Option<Uint>, p: &str| -> Result<u64> {
            match v {
                None => Ok(0),
                Some(Uint::Number(n)) => Ok(*n),
                Some(Uint::Text(t)) => t
                    .parse()
                    .map_err(|_| invalid(p, format!("proto: invalid value {t:?}"))),
            }
        };
        let offset = number(&list.offset, "/query/offset")?;
        let limit = u32::try_from(number(&list.limit, "/query/limit")?)
            .map_err(|_| invalid("/query/limit", "proto: invalid value for uint32".into()))?;
        Ok(InstanceQuery {
            ids: collect(
                self.queries
                    .iter()
                    .filter_map(|q| q.id_query.as_ref())
                    .map(|q| &q.ids),
            ),
            domains: collect(
                self.queries
                    .iter()
                    .filter_map(|q| q.domain_query.as_ref())
                    .map(|q| &q.domains),
            ),
            offset,
            limit,
            asc: list.asc.unwrap_or(false),
            sort,
        })
    }
}

/// The union of the lists a kind of query gives; none given: no filter.
pub fn collect<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Option<Vec<String>> {
    let mut seen = false;
    let mut all = Vec::new();
    for list in lists {
        seen = true;
        all.extend(list.iter().cloned());
    }
    seen.then_some(all)
}

/// Answers as soon as the server runs.
#[utoipa::path(get, path = "/system/v1/healthz", tag = "zitadel",
    operation_id = "SystemService_Healthz", security(()),
    responses((status = 200, description = "quotaplane runs")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({}))
}

/// One tenant as an instance.
#[utoipa::path(get, path = "/system/v1/instances/{instanceId}", tag = "zitadel",
    operation_id = "SystemService_GetInstance",
    params(("instanceId" = String, Path, description = "A tenant id")),
    responses((status = 200, body = V1GetInstanceResponse), (status = 404, body = RpcStatus)))]
pub async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(instance_id): Path<String>,
) -> Result<Json<V1GetInstanceResponse>, ApiError> {
    let instance = zitadel_instance::get_instance(&state.store, &caller, &instance_id).await?;
    Ok(Json(V1GetInstanceResponse {
        instance: V1Instance::detail(&instance),
    }))
}

/// The tenants as instances, newest first unless `query.asc`, paged by `offset` and `limit`.
#[utoipa::path(post, path = "/system/v1/instances/_search", tag = "zitadel",
    operation_id = "SystemService_ListInstances",
    request_body = V1ListInstancesRequest,
    responses((status = 200, body = V1ListInstancesResponse), (status = 400, body = RpcStatus)))]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<V1ListInstancesResponse>, ApiError> {
    let request: V1ListInstancesRequest = if body.is_empty() {
        V1ListInstancesRequest::default()
    } else if body.trim_ascii_start().first() != Some(&b'{') {
        // A message is a JSON object; serde alone would also read a struct from an array.
        return Err(Error::invalid_body(
            "",
            "proto: syntax error: a message must be a JSON object",
        )
        .into());
    } else {
        parse_json(&body)?
    };
    let query = request.into_query()?;
    let page = zitadel_instance::list_instances(&state.store, &caller, &query).await?;
    Ok(Json(list_response(&state, &query, &page)))
}

fn list_response(
    state: &AppState,
    query: &InstanceQuery,
    page: &InstancePage,
) -> V1ListInstancesResponse {
    V1ListInstancesResponse {
        details: V1ListDetails {
            total_result: (page.total > 0).then(|| page.total.to_string()),
            view_timestamp: timestamp(state.clock.now()),
        },
        sorting_column: sort_name(query.sort),
        result: page.instances.iter().map(V1Instance::of).collect(),
    }
}
