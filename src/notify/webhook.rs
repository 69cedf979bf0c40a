//! One webhook call: the payload ZITADEL sends, a 5 s timeout, no redirects, and the address
//! check that keeps notifications away from private networks. The host is resolved once, every
//! address it resolves to is checked, and the connection is pinned to a checked address, so a
//! second, different DNS answer (rebinding) cannot send the request elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::domain::notification::DueNotification;
use crate::domain::zitadel::Unit;

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why an attempt did not deliver.
#[derive(Debug)]
pub enum Failure {
    /// Never to be tried again.
    Refused(String),
    /// Worth another try later.
    Transient(String),
}

/// The body POSTed: ZITADEL's `NotificationDueEvent`.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    /// The unit's number (1: requests, 2: action run seconds; 0 for other metrics).
    unit: i32,
    id: &'a str,
    #[serde(rename = "callURL")]
    call_url: &'a str,
    #[serde(rename = "periodStart")]
    period_start: String,
    threshold: i64,
    usage: i64,
}

/// Delivers notifications over HTTP.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Whether call URLs may resolve to loopback, private, link-local or unspecified addresses.
    pub allow_private: bool,
}

impl Webhook {
    /// POSTs `due` to its call URL; `Ok` on a 2xx answer.
    pub async fn deliver(&self, due: &DueNotification) -> Result<(), Failure> {
        let url = url::Url::parse(&due.call_url)
            .map_err(|e| Failure::Refused(format!("the call URL is invalid: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::Refused(format!(
                "{} call URLs are not supported (http and https only)",
                url.scheme()
            )));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let (domain, addresses) = match url.host() {
            Some(url::Host::Ipv4(ip)) => (None, vec![SocketAddr::new(IpAddr::V4(ip), port)]),
            Some(url::Host::Ipv6(ip)) => (None, vec![SocketAddr::new(IpAddr::V6(ip), port)]),
            Some(url::Host::Domain(name)) => (Some(name.to_owned()), resolve(name, port).await?),
            None => return Err(Failure::Refused("the call URL has no host".into())),
        };
        if !self.allow_private {
            if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
                return Err(Failure::Refused(format!(
                    "the call URL's host resolves to the non-public address {}",
                    private.ip()
                )));
            }
        }
        let address = *addresses
            .first()
            .ok_or_else(|| Failure::Transient("the call URL's host has no address".into()))?;
        let mut client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(domain) = &domain {
            client = client.resolve(domain, address);
        }
        let client = client
            .build()
            .map_err(|e| Failure::Transient(format!("no HTTP client: {e}")))?;
        let payload = payload(due);
        let response = client
            .post(url)
            .json(&payload)
            .send()
            .await
            .map_err(|e| Failure::Transient(format!("the request failed: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(Failure::Transient(format!(
                "the receiver answered {}",
                response.status().as_u16()
            )))
        }
    }
}

fn payload(due: &DueNotification) -> Payload<'_> {
    let period_start = DateTime::from_timestamp_millis(due.period_start)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Payload {
        unit: Unit::of_metric(&due.metric).map_or(0, Unit::number),
        id: &due.notification_id,
        call_url: &due.call_url,
        period_start,
        threshold: due.threshold,
        usage: due.usage,
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    let found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::Transient(format!("cannot resolve the call URL's host: {e}")))?;
    Ok(found.collect())
}

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// unspecified, shared (CGNAT), broadcast, multicast or unique-local, also when IPv4 is mapped
/// into IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(!is_public(ip), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(is_public(ip), "{ip}");
        }
    }

    fn due(call_url: &str) -> DueNotification {
        DueNotification {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            limit_id: "zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED".into(),
            notification_id: "n1".into(),
            call_url: call_url.into(),
            metric: crate::domain::zitadel::REQUESTS_METRIC.into(),
            period_start: 1_704_067_200_000,
            period_end: 1_704_070_800_000,
            threshold: 80,
            usage: 8,
            attempts: 0,
        }
    }

    #[tokio::test]
    async fn https_is_delivered_like_http_and_other_schemes_are_refused() {
        let webhook = Webhook {
            allow_private: false,
        };
        // An https URL passes the scheme check and meets the address check like an http one.
        let https = webhook.deliver(&due("https://127.0.0.1:9/q")).await;
        assert!(matches!(https, Err(Failure::Refused(why)) if why.contains("non-public")));
        let ftp = webhook.deliver(&due("ftp://hooks.example/q")).await;
        assert!(matches!(ftp, Err(Failure::Refused(why)) if why.contains("not supported")));
    }

    #[test]
    fn the_payload_is_zitadels() {
        let due = due("http://hooks.example/q");
        let json = serde_json::to_value(payload(&due)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"unit": 1, "id": "n1", "callURL": "http://hooks.example/q",
                "periodStart": "2024-01-01T00:00:00Z", "threshold": 80, "usage": 8})
        );
    }
}
