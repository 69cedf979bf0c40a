//! The service-quota/v1 wire format (the vendor's schema names) and quotaplane's native bodies
//! for adjusting limits and defining codes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::super::dto::{EnvScopedObjectReference, GlobalObjectReference, ListMeta, ObjectMeta};
use super::super::links::Links;
use crate::domain::service_quota::{Applied, AuditRecord, QuotaCode, Scope as DomainScope};

/// The API version every resource carries.
pub const API_VERSION: &str = "service-quota/v1";

/// An applied quota (`service-quota.v1.AppliedQuota`): a code at one scope reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedQuota {
    /// Always `service-quota/v1`.
    pub api_version: String,
    /// Always `AppliedQuota`.
    pub kind: String,
    /// The quota code, such as `kafka.max_client_quotas.per_cluster`.
    pub id: String,
    pub metadata: ObjectMeta,
    /// `ORGANIZATION`, `ENVIRONMENT`, `NETWORK`, `KAFKA_CLUSTER`, `SERVICE_ACCOUNT`,
    /// `USER_ACCOUNT`, `IDENTITY_PROVIDER` or `CERTIFICATE_AUTHORITY`.
    pub scope: String,
    pub display_name: String,
    pub default_limit: i64,
    /// The default, or what an operator adjusted it to.
    pub applied_limit: i64,
    /// Present when usage is known for this quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<i64>,
    /// The user or service account of `USER_ACCOUNT` and `SERVICE_ACCOUNT` quotas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<GlobalObjectReference>,
    pub organization: GlobalObjectReference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<GlobalObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<EnvScopedObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_cluster: Option<EnvScopedObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<GlobalObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<GlobalObjectReference>,
}

/// A page of applied quotas (`service-quota.v1.AppliedQuotaList`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedQuotaList {
    pub api_version: String,
    /// Always `AppliedQuotaList`.
    pub kind: String,
    pub metadata: ListMeta,
    pub data: Vec<AppliedQuota>,
}

/// A scope (`service-quota.v1.Scope`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Scope)]
pub struct ScopeBody {
    pub api_version: String,
    /// Always `Scope`.
    pub kind: String,
    /// The scope's name, such as `KAFKA_CLUSTER`.
    pub id: String,
    pub metadata: ObjectMeta,
    pub description: String,
}

/// A page of scopes (`service-quota.v1.ScopeList`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeList {
    pub api_version: String,
    /// Always `ScopeList`.
    pub kind: String,
    pub metadata: ListMeta,
    pub data: Vec<ScopeBody>,
}

impl AppliedQuota {
    /// The wire form of `applied`, with links under `links`.
    pub fn of(applied: &Applied, links: &Links) -> Self {
        let reference = &applied.reference;
        let pairs: Vec<(&str, &str)> = reference.pairs().collect();
        let environment = reference.get("environment");
        let global = |key: &str| {
            reference.get(key).map(|id| {
                let (related, resource_name) = links.referenced(key, id, None);
                GlobalObjectReference {
                    id: id.to_owned(),
                    related,
                    resource_name,
                }
            })
        };
        let user = global("user").or_else(|| global("service_account"));
        AppliedQuota {
            api_version: API_VERSION.into(),
            kind: "AppliedQuota".into(),
            id: applied.code.code.clone(),
            metadata: ObjectMeta {
                self_url: links.applied_quota(&applied.code.code, &pairs),
                resource_name: links.applied_quota_crn(&applied.code.code, &pairs),
                created_at: None,
                updated_at: None,
            },
            scope: applied.code.scope.name().into(),
            display_name: applied.code.display_name.clone(),
            default_limit: applied.code.default_limit,
            applied_limit: applied.applied_limit,
            usage: applied.usage,
            user,
            organization: GlobalObjectReference {
                id: links.organization.to_string(),
                related: links.organization(),
                resource_name: links.organization_crn(),
            },
            environment: environment.map(|env| GlobalObjectReference {
                id: env.to_owned(),
                related: links.environment(env),
                resource_name: links.environment_crn(env),
            }),
            network: reference.get("network").map(|id| {
                let (related, resource_name) = links.referenced("network", id, environment);
                EnvScopedObjectReference {
                    id: id.to_owned(),
                    environment: environment.unwrap_or_default().to_owned(),
                    related,
                    resource_name,
                }
            }),
            kafka_cluster: reference.get("kafka_cluster").map(|id| {
                let env = environment.unwrap_or_default();
                EnvScopedObjectReference {
                    id: id.to_owned(),
                    environment: env.to_owned(),
                    related: links.cluster(id),
                    resource_name: links.cluster_crn(env, id),
                }
            }),
            identity_provider: global("identity_provider"),
            certificate_authority: global("certificate_authority"),
        }
    }
}

impl ScopeBody {
    /// The wire form of `scope`.
    pub fn of(scope: DomainScope, links: &Links) -> Self {
        ScopeBody {
            api_version: API_VERSION.into(),
            kind: "Scope".into(),
            id: scope.name().into(),
            metadata: ObjectMeta {
                self_url: links.scope(scope.name()),
                resource_name: links.scope_crn(scope.name()),
                created_at: None,
                updated_at: None,
            },
            description: scope.description(),
        }
    }
}

/// Sets the applied limit of a code at one scope reference (native, `PUT
/// /v1/applied-quotas/{code}`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AppliedQuotaAdjust {
    /// The tenant whose limit changes: system keys name it; an admin's own tenant otherwise.
    pub organization: Option<Uuid>,
    /// The code's scope (any letter case).
    pub scope: String,
    pub environment: Option<String>,
    pub network: Option<String>,
    pub kafka_cluster: Option<String>,
    pub service_account: Option<String>,
    pub user: Option<String>,
    pub identity_provider: Option<String>,
    pub certificate_authority: Option<String>,
    /// The new applied limit: 0 to 2147483647.
    pub applied_limit: i64,
}

impl AppliedQuotaAdjust {
    /// The scope references given, by key.
    pub fn references(&self) -> BTreeMap<String, String> {
        [
            ("environment", &self.environment),
            ("network", &self.network),
            ("kafka_cluster", &self.kafka_cluster),
            ("service_account", &self.service_account),
            ("user", &self.user),
            ("identity_provider", &self.identity_provider),
            ("certificate_authority", &self.certificate_authority),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect()
    }
}

/// Defines a quota code for another service (native, `PUT /v1/service-quota-codes/{code}`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceQuotaCodeDefine {
    /// The scope the code is counted per (any letter case).
    pub scope: String,
    pub display_name: String,
    /// 0 to 2147483647.
    pub default_limit: i64,
}

/// A quota code of the catalogue (native).
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceQuotaCode {
    pub code: String,
    pub scope: String,
    pub display_name: String,
    pub default_limit: i64,
    /// quotaplane's own resources: usage counted live and enforced by quotaplane.
    pub builtin: bool,
}

impl From<&QuotaCode> for ServiceQuotaCode {
    fn from(c: &QuotaCode) -> Self {
        Self {
            code: c.code.clone(),
            scope: c.scope.name().into(),
            display_name: c.display_name.clone(),
            default_limit: c.default_limit,
            builtin: c.builtin,
        }
    }
}

/// One recorded change of an applied limit (native).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedQuotaAdjustment {
    /// The scope reference, such as `{"environment": "env-1", "kafka_cluster": "lkc-1"}`.
    pub references: BTreeMap<String, String>,
    pub old_limit: i64,
    pub new_limit: i64,
    /// The key that made the change.
    pub key_id: String,
    pub at: DateTime<Utc>,
}

impl From<AuditRecord> for AppliedQuotaAdjustment {
    fn from(r: AuditRecord) -> Self {
        Self {
            references: r.reference,
            old_limit: r.old_limit,
            new_limit: r.new_limit,
            key_id: r.key_id,
            at: r.at,
        }
    }
}
