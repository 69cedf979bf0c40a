//! The kafka-quotas/v1 wire format: the vendor's schemas (snake_case), and their translation to
//! and from the domain. Requests are read leniently (every field optional, unknown properties
//! ignored) so that a missing field is reported with its JSON pointer as a 422, as Confluent does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::links::Links;
use crate::domain::confluent::Throughput as DomainThroughput;
use crate::domain::confluent::{self as domain, Changes, Draft, Page};
use crate::domain::{Error, Result};

/// The API version every resource carries.
pub const API_VERSION: &str = "kafka-quotas/v1";

/// A client quota (`kafka-quotas.v1.ClientQuota`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientQuota {
    /// Always `kafka-quotas/v1`.
    pub api_version: String,
    /// Always `ClientQuota`.
    pub kind: String,
    /// `cq-` and a short random suffix.
    pub id: String,
    pub metadata: ObjectMeta,
    pub spec: ClientQuotaSpec,
}

/// Metadata of a resource (`ObjectMeta`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectMeta {
    /// The absolute URL of the resource.
    #[serde(rename = "self")]
    pub self_url: String,
    /// The resource's CRN, such as
    /// `crn://confluent.cloud/organization=<tenant>/client-quota=<id>`.
    pub resource_name: String,
    /// When the resource was made (resources the server derives, such as scopes, have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a client quota says (`kafka-quotas.v1.ClientQuotaSpec`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientQuotaSpec {
    pub display_name: String,
    /// Always present (`""` when never set): Confluent's CLI dereferences it without a check.
    pub description: String,
    pub throughput: Throughput,
    pub cluster: EnvScopedObjectReference,
    pub principals: Vec<GlobalObjectReference>,
    pub environment: GlobalObjectReference,
}

/// Bytes per second, written as decimal strings (`kafka-quotas.v1.Throughput`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Throughput {
    #[schema(example = "1000000")]
    pub ingress_byte_rate: String,
    #[schema(example = "1000000")]
    pub egress_byte_rate: String,
}

/// A reference to a resource scoped by an environment (`EnvScopedObjectReference`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvScopedObjectReference {
    pub id: String,
    pub environment: String,
    pub related: String,
    pub resource_name: String,
}

/// A reference to a resource (`GlobalObjectReference`).
#[derive(Debug, Serialize, ToSchema)]
pub struct GlobalObjectReference {
    pub id: String,
    pub related: String,
    pub resource_name: String,
}

/// A page of client quotas (`kafka-quotas.v1.ClientQuotaList`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientQuotaList {
    /// Always `kafka-quotas/v1`.
    pub api_version: String,
    /// Always `ClientQuotaList`.
    pub kind: String,
    pub metadata: ListMeta,
    pub data: Vec<ClientQuota>,
}

/// Paging links of a list (`ListMeta`); `next` only when there is a next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    /// The list's first page.
    pub first: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total_size: i64,
}

/// A reference as a client sends it: only `id` is read.
#[derive(Debug, ToSchema)]
pub struct ObjectReferenceInput {
    pub id: Option<String>,
}

impl<'de> Deserialize<'de> for ObjectReferenceInput {
    /// Read from a JSON object only (serde would also read a struct from an array: `["id"]`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Fields {
            id: Option<String>,
        }
        let object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let fields: Fields =
            serde_json::from_value(serde_json::Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Self { id: fields.id })
    }
}

/// An environment reference as sent. The vendor's own code samples send a one-element array,
/// so that is read too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EnvironmentInput {
    One(ObjectReferenceInput),
    Many(Vec<ObjectReferenceInput>),
}

/// Throughput as sent.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ThroughputInput {
    pub ingress_byte_rate: Option<String>,
    pub egress_byte_rate: Option<String>,
}

/// The body of a create (`createKafkaQuotasV1ClientQuota_request`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientQuotaCreate {
    pub spec: Option<ClientQuotaSpecCreate>,
}

/// The spec of a create: `display_name`, `throughput`, `cluster`, `principals` and `environment`
/// are required; `description` is optional.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientQuotaSpecCreate {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub throughput: Option<ThroughputInput>,
    pub cluster: Option<ObjectReferenceInput>,
    pub principals: Option<Vec<ObjectReferenceInput>>,
    pub environment: Option<EnvironmentInput>,
}

/// The body of an update (`kafka-quotas.v1.ClientQuotaUpdate`). Confluent's CLI sends the
/// quota's `id` beside the spec; other read-only fields (`api_version`, `kind`, `metadata`) are
/// ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientQuotaUpdate {
    /// When sent, must be the id of the path.
    pub id: Option<String>,
    pub spec: Option<ClientQuotaSpecUpdate>,
}

/// The spec of an update: `environment` and `cluster`, when sent, must be the quota's (the
/// vendor's SDK cannot send them, so neither is required); the other fields change what they
/// name, and a field not sent stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientQuotaSpecUpdate {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub throughput: Option<ThroughputInput>,
    pub principals: Option<Vec<ObjectReferenceInput>>,
    pub environment: Option<EnvironmentInput>,
    pub cluster: Option<ObjectReferenceInput>,
}

fn required<T>(value: Option<T>, pointer: &str) -> Result<T> {
    value.ok_or_else(|| Error::invalid_body(pointer, "is required"))
}

fn reference(value: Option<ObjectReferenceInput>, pointer: &str) -> Result<String> {
    let id = required(value, pointer)?.id;
    domain::resource_id(
        required(id, &format!("{pointer}/id"))?,
        &format!("{pointer}/id"),
    )
}

fn environment(value: Option<EnvironmentInput>) -> Result<String> {
    const AT: &str = "/spec/environment";
    match required(value, AT)? {
        EnvironmentInput::One(one) => reference(Some(one), AT),
        EnvironmentInput::Many(mut many) if many.len() == 1 => reference(many.pop(), AT),
        EnvironmentInput::Many(_) => Err(Error::invalid_body(AT, "must be one environment")),
    }
}

fn throughput(value: ThroughputInput) -> Result<DomainThroughput> {
    const AT: &str = "/spec/throughput";
    let rate = |v: Option<String>, name: &str| {
        let at = format!("{AT}/{name}");
        domain::byte_rate(&required(v, &at)?, &at)
    };
    Ok(DomainThroughput {
        ingress_byte_rate: rate(value.ingress_byte_rate, "ingress_byte_rate")?,
        egress_byte_rate: rate(value.egress_byte_rate, "egress_byte_rate")?,
    })
}

fn principals(value: Vec<ObjectReferenceInput>) -> Result<Vec<String>> {
    const AT: &str = "/spec/principals";
    let ids = value
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("{AT}/{i}/id");
            Ok((required(p.id, &at)?, at))
        })
        .collect::<Result<Vec<_>>>()?;
    domain::principals(ids, AT)
}

impl ClientQuotaCreate {
    /// The checked draft, or the first field that breaks a rule.
    pub fn into_draft(self) -> Result<Draft> {
        let spec = required(self.spec, "/spec")?;
        Ok(Draft {
            display_name: domain::display_name(
                required(spec.display_name, "/spec/display_name")?,
                "/spec/display_name",
            )?,
            description: spec
                .description
                .map(|d| domain::description(d, "/spec/description"))
                .transpose()?,
            throughput: throughput(required(spec.throughput, "/spec/throughput")?)?,
            cluster: reference(spec.cluster, "/spec/cluster")?,
            principals: principals(required(spec.principals, "/spec/principals")?)?,
            environment: environment(spec.environment)?,
        })
    }
}

/// A checked update: the environment and cluster it names, if any, and the changes.
pub struct CheckedUpdate {
    pub environment: Option<String>,
    pub cluster: Option<String>,
    pub changes: Changes,
}

impl ClientQuotaUpdate {
    /// The checked update of client quota `id`, or the first field that breaks a rule.
    pub fn check(self, id: &str) -> Result<CheckedUpdate> {
        if self.id.as_deref().is_some_and(|sent| sent != id) {
            return Err(Error::invalid_body(
                "/id",
                format!("must be the id of the client quota being updated ('{id}')"),
            ));
        }
        let spec = required(self.spec, "/spec")?;
        Ok(CheckedUpdate {
            environment: spec.environment.map(|e| environment(Some(e))).transpose()?,
            cluster: spec
                .cluster
                .map(|c| reference(Some(c), "/spec/cluster"))
                .transpose()?,
            changes: Changes {
                display_name: spec
                    .display_name
                    .map(|n| domain::display_name(n, "/spec/display_name"))
                    .transpose()?,
                description: spec
                    .description
                    .map(|d| domain::description(d, "/spec/description"))
                    .transpose()?,
                throughput: spec.throughput.map(throughput).transpose()?,
                principals: spec.principals.map(principals).transpose()?,
            },
        })
    }
}

impl ClientQuota {
    /// The wire form of `quota`, with links under `links`.
    pub fn of(quota: &domain::ClientQuota, links: &Links) -> Self {
        ClientQuota {
            api_version: API_VERSION.into(),
            kind: "ClientQuota".into(),
            id: quota.id.clone(),
            metadata: ObjectMeta {
                self_url: links.client_quota(&quota.id),
                resource_name: links.client_quota_crn(&quota.id),
                created_at: Some(quota.created_at),
                updated_at: Some(quota.updated_at),
            },
            spec: ClientQuotaSpec {
                display_name: quota.display_name.clone(),
                description: quota.description.clone().unwrap_or_default(),
                throughput: Throughput {
                    ingress_byte_rate: quota.throughput.ingress_byte_rate.to_string(),
                    egress_byte_rate: quota.throughput.egress_byte_rate.to_string(),
                },
                cluster: EnvScopedObjectReference {
                    id: quota.cluster.clone(),
                    environment: quota.environment.clone(),
                    related: links.cluster(&quota.cluster),
                    resource_name: links.cluster_crn(&quota.environment, &quota.cluster),
                },
                principals: quota
                    .principals
                    .iter()
                    .map(|p| GlobalObjectReference {
                        id: p.clone(),
                        related: links.principal(p),
                        resource_name: links.principal_crn(p),
                    })
                    .collect(),
                environment: GlobalObjectReference {
                    id: quota.environment.clone(),
                    related: links.environment(&quota.environment),
                    resource_name: links.environment_crn(&quota.environment),
                },
            },
        }
    }
}

impl ClientQuotaList {
    /// The wire form of one page of the list of `cluster` in `environment`.
    pub fn of(page: &Page, links: &Links, environment: &str, cluster: &str) -> Self {
        let size = page.page_size.to_string();
        ClientQuotaList {
            api_version: API_VERSION.into(),
            kind: "ClientQuotaList".into(),
            metadata: ListMeta {
                first: links.list(environment, cluster, &[("page_size", &size)]),
                next: page
                    .next_token
                    .as_ref()
                    .map(|t| links.list(environment, cluster, &[("page_token", t)])),
                total_size: page.total_size,
            },
            data: page
                .items
                .iter()
                .map(|q| ClientQuota::of(q, links))
                .collect(),
        }
    }
}
