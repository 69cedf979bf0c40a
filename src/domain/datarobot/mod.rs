//! DataRobot quotas and quota templates: the rules of the resource, how a quota becomes engine
//! limits ([`limits`]), the services behind `/api/v2/quotas/` and `/v1/quota-templates`
//! ([`service`]), and how one consumer's call to a deployment is enforced ([`enforce`]).

pub mod enforce;
pub mod limits;
pub mod service;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::limit::check_name;
use super::usage::MAX_AMOUNT;
use super::{Error, Result};

/// Most rules in one list (`defaultRules`, a policy's `rules`, a template's `rules`).
pub const MAX_RULES: usize = 100;
/// Most policies of one quota.
pub const MAX_POLICIES: usize = 10_000;
/// The only resource type DataRobot quotas govern.
pub const RESOURCE_DEPLOYMENT: &str = "deployment";

/// What a rule limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RuleKind {
    /// Calls in flight at once (leases).
    ConcurrentRequests,
    /// A ceiling on one call's input length.
    InputSequenceLength,
    /// Calls per window.
    Requests,
    /// Tokens per window.
    Token,
}

impl RuleKind {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::ConcurrentRequests => "concurrentRequests",
            RuleKind::InputSequenceLength => "inputSequenceLength",
            RuleKind::Requests => "requests",
            RuleKind::Token => "token",
        }
    }
}

/// The window a counting rule resets on; `min` when not given.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleWindow {
    Day,
    Hour,
    #[default]
    Min,
}

impl RuleWindow {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleWindow::Day => "day",
            RuleWindow::Hour => "hour",
            RuleWindow::Min => "min",
        }
    }
}

/// One rule: at most `limit` of `rule` per `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = QuotaRule)]
pub struct Rule {
    pub rule: RuleKind,
    /// An integer of 0 or more.
    pub limit: i64,
    #[serde(default)]
    pub window: RuleWindow,
}

/// Who a policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsumerType {
    Deployment,
    User,
    Usergroup,
}

impl ConsumerType {
    /// The name on the wire and in subjects.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerType::Deployment => "deployment",
            ConsumerType::User => "user",
            ConsumerType::Usergroup => "usergroup",
        }
    }

    /// Reads a consumer type by name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Deployment, Self::User, Self::Usergroup]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// Rules for one consumer, replacing the default rules for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QuotaPolicy)]
pub struct Policy {
    pub consumer_id: String,
    pub consumer_type: ConsumerType,
    #[serde(default)]
    pub consumer_name: Option<String>,
    /// The share of the capacity guaranteed to this consumer once the deployment is saturated
    /// (0..1), or null.
    #[serde(default)]
    pub reserved: Option<f64>,
    pub rules: Vec<Rule>,
}

/// What a deployment's capacity is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CapacityUnits {
    Requests,
    Token,
}

/// A deployment's capacity per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = QuotaCapacity)]
pub struct Capacity {
    /// An integer of 0 or more.
    pub capacity: i64,
    pub units: CapacityUnits,
}

/// A DataRobot quota: the rules of one deployment's consumers.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    /// 24 hexadecimal digits.
    pub id: String,
    pub tenant_id: Uuid,
    pub resource_type: String,
    pub resource_id: String,
    /// The principal that created it.
    pub user_id: String,
    pub default_rules: Vec<Rule>,
    pub policies: Vec<Policy>,
    pub capacity: Option<Capacity>,
    pub saturation_threshold: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Quota {
    /// The policy naming this consumer, if any.
    pub fn policy_of(&self, consumer_type: ConsumerType, consumer_id: &str) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.consumer_type == consumer_type && p.consumer_id == consumer_id)
    }

    /// Capacity and threshold, when both are set: guaranteed quotas are on.
    pub fn saturation(&self) -> Option<(Capacity, f64)> {
        Some((self.capacity?, self.saturation_threshold?))
    }

    /// Checks every rule of the resource; errors point at the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.resource_type != RESOURCE_DEPLOYMENT {
            return Err(Error::invalid_body(
                "/resourceType",
                "must be one of: deployment",
            ));
        }
        check_text(&self.resource_id, "/resourceId", MAX_ID_CHARS)?;
        check_rules(&self.default_rules, "/defaultRules")?;
        check_policies(&self.policies)?;
        if let Some(capacity) = &self.capacity {
            check_limit(capacity.capacity, "/capacity/capacity")?;
        }
        if let Some(threshold) = self.saturation_threshold {
            check_share(threshold, "/saturationThreshold")?;
        }
        Ok(())
    }
}

/// A named, reusable list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// 24 hexadecimal digits.
    pub id: String,
    pub tenant_id: Uuid,
    pub name: String,
    pub rules: Vec<Rule>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Template {
    /// Checks the name and rules.
    pub fn validate(&self) -> Result<()> {
        check_text(&self.name, "/name", MAX_ID_CHARS)?;
        check_rules(&self.rules, "/rules")
    }
}

/// Which quotas a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaFilter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

/// One page of a list: skip `offset` items, show at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    /// Items per page when the client does not say.
    pub const DEFAULT_LIMIT: i64 = 100;
    /// Most items per page; a larger `limit` (or 0) gets this many.
    pub const MAX_LIMIT: i64 = 100;

    /// A page from optional query values; negative values are refused.
    pub fn parse(offset: Option<i64>, limit: Option<i64>) -> Result<Self> {
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(Error::invalid_query("offset", "must be 0 or more"));
        }
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(n) if n < 0 => return Err(Error::invalid_query("limit", "must be 0 or more")),
            Some(0) => Self::MAX_LIMIT,
            Some(n) => n.min(Self::MAX_LIMIT),
        };
        Ok(Self { offset, limit })
    }
}

/// Longest resource id, consumer id, consumer name or template name.
pub const MAX_ID_CHARS: usize = 200;

/// A fresh id as DataRobot writes them: 24 hexadecimal digits (12 random bytes).
pub fn new_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_text(value: &str, pointer: &str, max: usize) -> Result<()> {
    check_name(value, pointer).map_err(|_| {
        Error::invalid_body(
            pointer,
            format!("must be 1 to {max} characters, without control characters"),
        )
    })
}

fn check_limit(limit: i64, pointer: &str) -> Result<()> {
    if (0..=MAX_AMOUNT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid_body(
            pointer,
            format!("must be an integer from 0 to {MAX_AMOUNT}"),
        ))
    }
}

fn check_share(share: f64, pointer: &str) -> Result<()> {
    if (0.0..=1.0).contains(&share) {
        Ok(())
    } else {
        Err(Error::invalid_body(pointer, "must be between 0 and 1"))
    }
}

/// Checks a list of rules at `pointer`.
pub fn check_rules(rules: &[Rule], pointer: &str) -> Result<()> {
    if rules.len() > MAX_RULES {
        return Err(Error::invalid_body(
            pointer,
            format!("must have at most {MAX_RULES} rules"),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        check_limit(rule.limit, &format!("{pointer}/{i}/limit"))?;
    }
    Ok(())
}

fn check_policies(policies: &[Policy]) -> Result<()> {
    if policies.len() > MAX_POLICIES {
        return Err(Error::invalid_body(
            "/policies",
            format!("must have at most {MAX_POLICIES} policies"),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(policies.len());
    for (i, policy) in policies.iter().enumerate() {
        let at = format!("/policies/{i}");
        check_text(
            &policy.consumer_id,
            &format!("{at}/consumerId"),
            MAX_ID_CHARS,
        )?;
        if let Some(name) = &policy.consumer_name {
            crate::domain::text::check_free_text(
                name,
                MAX_ID_CHARS,
                &format!("{at}/consumerName"),
            )?;
        }
        if let Some(reserved) = policy.reserved {
            check_share(reserved, &format!("{at}/reserved"))?;
        }
        check_rules(&policy.rules, &format!("{at}/rules"))?;
        if !seen.insert((policy.consumer_type, policy.consumer_id.as_str())) {
            return Err(Error::invalid_body(
                format!("{at}/consumerId"),
                "another policy of this quota already names this consumer",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
