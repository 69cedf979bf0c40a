//! DataRobot's wire format (camelCase), named as DataRobot's schemas. `QuotaRule`,
//! `QuotaPolicy` and `QuotaCapacity` are the domain's `Rule`, `Policy` and `Capacity`, which
//! carry those names on the wire and in the OpenAPI document.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::datarobot::{Capacity, Policy, Quota, Rule, Template};

/// The body of `POST /api/v2/quotas/`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCreate {
    /// Only `deployment`.
    pub resource_type: String,
    pub resource_id: String,
    /// Required unless `templateId` is given.
    #[serde(default)]
    pub default_rules: Option<Vec<Rule>>,
    /// A quotaplane extension: take the default rules from this quota template (instead of
    /// `defaultRules`).
    #[serde(default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub policies: Option<Vec<Policy>>,
    #[serde(default)]
    pub capacity: Option<Capacity>,
    #[serde(default)]
    pub saturation_threshold: Option<f64>,
}

/// The body of `PATCH /api/v2/quotas/{quotaId}/`: a field present replaces the old value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUpdate {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Rule>>)]
    pub default_rules: Option<Option<Vec<Rule>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Policy>>)]
    pub policies: Option<Option<Vec<Policy>>>,
    /// null removes the capacity.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Capacity>)]
    pub capacity: Option<Option<Capacity>>,
    /// null removes the threshold.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub saturation_threshold: Option<Option<f64>>,
}

/// A field that is present (even as null) is `Some`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaResponse {
    /// 24 hexadecimal digits.
    pub id: String,
    pub resource_id: String,
    /// Always `deployment`.
    pub resource_type: String,
    /// The principal that created the quota.
    pub user_id: String,
    pub default_rules: Vec<Rule>,
    pub policies: Vec<Policy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    pub saturation_threshold: Option<f64>,
}

impl From<Quota> for QuotaResponse {
    fn from(q: Quota) -> Self {
        Self {
            id: q.id,
            resource_id: q.resource_id,
            resource_type: q.resource_type,
            user_id: q.user_id,
            default_rules: q.default_rules,
            policies: q.policies,
            capacity: q.capacity,
            saturation_threshold: q.saturation_threshold,
        }
    }
}

/// A quota template.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaTemplateResponse {
    /// 24 hexadecimal digits.
    pub id: String,
    pub name: String,
    pub rules: Vec<Rule>,
}

impl From<Template> for QuotaTemplateResponse {
    fn from(t: Template) -> Self {
        Self {
            id: t.id,
            name: t.name,
            rules: t.rules,
        }
    }
}

/// A page of quotas.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaListResponse {
    /// Items on this page.
    pub count: usize,
    pub data: Vec<QuotaResponse>,
    /// The absolute URL of the next page, or null.
    pub next: Option<String>,
    /// The absolute URL of the previous page, or null.
    pub previous: Option<String>,
    /// Items across all pages.
    pub total_count: i64,
}

/// A page of quota templates.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaTemplateListResponse {
    pub count: usize,
    pub data: Vec<QuotaTemplateResponse>,
    pub next: Option<String>,
    pub previous: Option<String>,
    pub total_count: i64,
}

/// Paging: `offset` (default 0) and `limit` (default 100, at most 100; 0 means 100).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// This many results are skipped.
    pub offset: Option<i64>,
    /// At most this many results are returned.
    pub limit: Option<i64>,
}

/// The query of `GET /api/v2/quotas/`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct QuotaListQuery {
    /// This many results are skipped.
    pub offset: Option<i64>,
    /// At most this many results are returned (default 100, at most 100; 0 means 100).
    pub limit: Option<i64>,
    /// Only the quota of this resource.
    pub resource_id: Option<String>,
    /// Only quotas of this resource type.
    pub resource_type: Option<String>,
}
