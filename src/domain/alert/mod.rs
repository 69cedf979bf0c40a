//! Alerts on any limit: webhook targets of a tenant, alert rules on a limit (a threshold in
//! percent or units, repeat, a target), and the deliveries they make. The rules are
//! [`Notification`]s with a [`Target::Webhook`], evaluated by the usage engine's batches like
//! ZITADEL's notifications and delivered by the same outbox worker, signed as the Standard
//! Webhooks specification says.
//!
//! A target's signing secret is never stored: it is `HMAC-SHA256(server key, "alert-target:" +
//! target id)`, the server key coming from `--webhook-signing-key` (then a dump of the database
//! alone cannot sign) or, without it, generated once and kept in the store.

use std::future::Future;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

mod service;

pub use service::*;

use super::audit::AuditRecord;
use super::notification::{EventKind, Notification, Target, Threshold};
use super::page::{PageRequest, Paged};
use super::{Error, Result};

/// Most webhook targets a tenant may have.
pub const MAX_TARGETS: i64 = 20;
/// Most alert rules on one limit.
pub const MAX_RULES_PER_LIMIT: usize = 10;
/// Longest target URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest alert rule id.
pub const MAX_RULE_ID_CHARS: usize = 64;
/// Largest absolute threshold, and largest percent.
pub const MAX_UNITS: i64 = super::usage::MAX_AMOUNT;
pub const MAX_PERCENT: u32 = 100_000;
/// The prefix of a secret as shown (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook target of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTarget {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

/// One row of the outbox as `GET /v1/alerts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDelivery {
    pub id: Uuid,
    pub kind: EventKind,
    pub limit_id: String,
    /// The rule that fired (for a reset event, `reset:<target id>`).
    pub rule_id: String,
    pub target_id: Option<Uuid>,
    pub per_value: String,
    /// `pending`, `delivered`, `refused` or `dead` as stored.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub period_start: i64,
    pub threshold: i64,
    pub usage: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub payload: Option<String>,
}

/// What keeps targets, alert rules and lists deliveries.
pub trait AlertStore: Send + Sync {
    /// Adds a target unless the tenant already has `max`; false when it has.
    fn insert_alert_target(
        &self,
        target: &AlertTarget,
        max: i64,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// A tenant's targets, oldest first.
    fn alert_targets(
        &self,
        tenant_id: Uuid,
    ) -> impl Future<Output = Result<Vec<AlertTarget>>> + Send;
    /// A tenant's target.
    fn alert_target(
        &self,
        tenant_id: Uuid,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<AlertTarget>>> + Send;
    /// Deletes a target no rule uses: `Ok(None)` when there was none, `Ok(Some(limits))` with
    /// the limits whose rules still use it (then nothing is deleted), `Ok(Some([]))` when done.
    fn delete_alert_target(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<Option<Vec<String>>>> + Send;
    /// A limit's alert rules, in the order given.
    fn alert_rules_of(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
    ) -> impl Future<Output = Result<Vec<Notification>>> + Send;
    /// Replaces a limit's alert rules and marks the limit changed (`updated_at`), in one
    /// transaction, so every replica's limit cache reads the new rules.
    fn replace_alert_rules(
        &self,
        tenant_id: Uuid,
        limit_id: &str,
        rules: &[Notification],
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A page of a tenant's deliveries, newest first.
    fn alert_deliveries(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Paged<AlertDelivery>>> + Send;
}

/// Checks a target URL as ZITADEL call URLs are checked (absolute, with a host), and further:
/// http or https, at most [`MAX_URL_CHARS`], and, unless private addresses are allowed, no
/// literal address outside the public internet (`public` says which are). Host names are
/// resolved and checked at each delivery.
pub fn check_url(url: &str, allow_private: bool, public: impl Fn(IpAddr) -> bool) -> Result<()> {
    let bad = |message: &str| Err(Error::invalid_body("/url", message));
    if url.chars().count() > MAX_URL_CHARS {
        return bad(&format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return bad("must be an absolute http or https URL");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return bad("must be an http or https URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return bad("must not carry credentials");
    }
    let literal = match parsed.host() {
        None => return bad("must name a host"),
        Some(url::Host::Domain("")) => return bad("must name a host"),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = literal.filter(|ip| !allow_private && !public(*ip)) {
        return bad(&format!("{ip} is not a public address"));
    }
    Ok(())
}

/// The wire form of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThresholdInput {
    pub percent: Option<i64>,
    pub units: Option<i64>,
}

/// One rule as a client sends it (ids optional: a missing one is made).
#[derive(Debug, Clone)]
pub struct RuleInput {
    pub id: Option<String>,
    pub threshold: ThresholdInput,
    pub repeat: bool,
    pub target_id: String,
}

/// Checks a limit's new rules against the tenant's targets; the rules to store.
pub fn parse_rules(input: Vec<RuleInput>, targets: &[AlertTarget]) -> Result<Vec<Notification>> {
    if input.len() > MAX_RULES_PER_LIMIT {
        return Err(Error::invalid_body(
            "",
            format!("at most {MAX_RULES_PER_LIMIT} alert rules per limit"),
        ));
    }
    let mut rules: Vec<Notification> = Vec::with_capacity(input.len());
    for (i, rule) in input.into_iter().enumerate() {
        let at = |field: &str| format!("/{i}/{field}");
        let id = match rule.id {
            Some(id) => {
                let ok = (1..=MAX_RULE_ID_CHARS).contains(&id.chars().count())
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(Error::invalid_body(
                        at("id"),
                        format!("must be 1 to {MAX_RULE_ID_CHARS} of A-Z a-z 0-9 - _ ."),
                    ));
                }
                id
            }
            None => Uuid::new_v4().simple().to_string(),
        };
        if rules.iter().any(|r| r.id == id) {
            return Err(Error::invalid_body(at("id"), "is given twice"));
        }
        let threshold = match (rule.threshold.percent, rule.threshold.units) {
            (Some(p), None) => u32::try_from(p)
                .ok()
                .filter(|p| (1..=MAX_PERCENT).contains(p))
                .map(Threshold::Percent)
                .ok_or_else(|| {
                    Error::invalid_body(
                        at("threshold/percent"),
                        format!("must be a whole number from 1 to {MAX_PERCENT}"),
                    )
                })?,
            (None, Some(u)) if (1..=MAX_UNITS).contains(&u) => Threshold::Units(u),
            (None, Some(_)) => {
                return Err(Error::invalid_body(
                    at("threshold/units"),
                    format!("must be a whole number from 1 to {MAX_UNITS}"),
                ));
            }
            _ => {
                return Err(Error::invalid_body(
                    at("threshold"),
                    "must be {\"percent\": n} or {\"units\": n}",
                ));
            }
        };
        let target = Uuid::parse_str(&rule.target_id)
            .ok()
            .filter(|id| targets.iter().any(|t| t.id == *id))
            .ok_or_else(|| Error::invalid_body(at("target_id"), "names no alert target"))?;
        rules.push(Notification {
            id,
            threshold,
            repeat: rule.repeat,
            target: Target::Webhook(target),
        });
    }
    Ok(rules)
}

/// A target's secret: HMAC-SHA256 of its id under the server key.
pub fn target_secret(server_key: &[u8], target_id: Uuid) -> Result<Vec<u8>> {
    let mut mac = keyed(server_key)?;
    mac.update(b"alert-target:");
    mac.update(target_id.as_bytes());
    Ok(mac.finalize().into_bytes().to_vec())
}

fn keyed(key: &[u8]) -> Result<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| Error::Internal("the webhook signing key is unusable".into()))
}

/// A secret as shown to the client once: `whsec_` and its base64.
pub fn secret_text(secret: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(secret))
}

/// The `webhook-signature` header value for one delivery: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the target's secret.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> Result<String> {
    let mut mac = keyed(secret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: IpAddr) -> bool {
        !ip.is_loopback() && !ip.is_unspecified()
    }

    #[test]
    fn a_target_url_must_be_absolute_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example/q", false, public).is_ok());
        for bad in [
            "hooks.example/q",
            "ftp://hooks.example/q",
            "http://user:pw@hooks.example/q",
            "http://127.0.0.1:9/q",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad, false, public).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9/q", true, public).is_ok());
        let long = format!("https://hooks.example/{}", "a".repeat(MAX_URL_CHARS));
        assert!(check_url(&long, true, public).is_err());
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks reference libraries.
        let secret = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).ok(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned())
        );
    }

    #[test]
    fn secrets_differ_per_target_and_per_server_key() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let secret = |key: &[u8], id| target_secret(key, id).expect("secret");
        assert_ne!(secret(b"k", a), secret(b"k", b));
        assert_ne!(secret(b"k", a), secret(b"l", a));
        assert!(secret_text(&secret(b"k", a)).starts_with("whsec_"));
    }

    #[test]
    fn rules_name_a_known_target_and_one_kind_of_threshold() {
        let target = AlertTarget {
            tenant_id: Uuid::nil(),
            id: Uuid::new_v4(),
            url: "https://hooks.example".into(),
            created_at: Utc::now(),
        };
        let rule = |percent, units, target_id: String| RuleInput {
            id: None,
            threshold: ThresholdInput { percent, units },
            repeat: false,
            target_id,
        };
        let id = target.id.to_string();
        let ok = parse_rules(
            vec![rule(Some(80), None, id.clone())],
            std::slice::from_ref(&target),
        );
        assert!(matches!(&ok, Ok(r) if r[0].threshold == Threshold::Percent(80)));
        for bad in [
            rule(Some(80), Some(5), id.clone()),
            rule(None, None, id.clone()),
            rule(Some(0), None, id.clone()),
            rule(None, Some(0), id.clone()),
            rule(Some(80), None, Uuid::new_v4().to_string()),
        ] {
            assert!(parse_rules(vec![bad], std::slice::from_ref(&target)).is_err());
        }
    }
}
