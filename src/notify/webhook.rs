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
    /// Whether call URLs may resolve to special-purpose addresses (loopback, private, ...).
    pub allow_private: bool,
}

impl Webhook {
    /// POSTs `due` (a ZITADEL notification) to its call URL; `Ok` on a 2xx answer.
    pub async fn deliver(&self, due: &DueNotification) -> Result<(), Failure> {
        let body = serde_json::to_vec(&payload(due))
            .map_err(|e| Failure::Refused(format!("the payload cannot be written: {e}")))?;
        self.post(&due.call_url, body, &[]).await
    }

    /// POSTs `body` (JSON) to `url` with `headers`, after the address checks; `Ok` on a 2xx
    /// answer.
    pub async fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&'static str, String)],
    ) -> Result<(), Failure> {
        let url = url::Url::parse(url)
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
        // No proxy (`HTTP(S)_PROXY` would otherwise be honoured): the request must go to the
        // address just checked, not to whatever a proxy makes of the host name.
        let mut client = reqwest::Client::builder()
            .no_proxy()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(domain) = &domain {
            client = client.resolve(domain, address);
        }
        let client = client
            .build()
            .map_err(|e| Failure::Transient(format!("no HTTP client: {e}")))?;
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
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

/// Whether `ip` is an ordinary address on the public internet: outside every range of IANA's
/// IPv4 and IPv6 special-purpose address registries (loopback, private, shared, link-local,
/// documentation, benchmarking, reserved 240/4, multicast, NAT64, 6to4, Teredo, unique-local,
/// site-local, ...). IPv4 mapped into IPv6 (`::ffff:a.b.c.d`) is decoded and checked as IPv4;
/// the other forms that embed IPv4 (IPv4-compatible `::a.b.c.d`, NAT64, 6to4, Teredo) are
/// refused whatever they embed, since the address they reach depends on a translator.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// IANA IPv4 special-purpose registry (and multicast), as (network, prefix length).
const SPECIAL_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),       // "this network"
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 31, 196, 0], 24), // AS112-v4
    ([192, 52, 193, 0], 24), // AMT
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([192, 175, 48, 0], 24), // direct delegation AS112
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast address
];

/// Ranges inside global unicast `2000::/3` that IANA's IPv6 special-purpose registry lists;
/// everything outside `2000::/3` is refused (loopback, unspecified, IPv4-compatible `::/96`,
/// IPv4-translated, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, discard-only `100::/64`, SRv6
/// `5f00::/16`, unique-local `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`,
/// multicast `ff00::/8`).
const SPECIAL_V6_IN_GLOBAL: &[(u128, u32)] = &[
    (0x2001_0000 << 96, 23), // IETF protocol assignments (Teredo, benchmarking, ORCHID)
    (0x2001_0db8 << 96, 32), // documentation
    (0x2002 << 112, 16),     // 6to4
    (0x2620_004f_8000 << 80, 48), // direct delegation AS112
    (0x3fff << 112, 20),     // documentation
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let address = u32::from(ip);
    !SPECIAL_V4.iter().any(|(network, len)| {
        let mask = u32::MAX << (32 - len);
        address & mask == u32::from_be_bytes(*network) & mask
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let address = u128::from(ip);
    let in_prefix = |network: u128, len: u32| {
        let mask = u128::MAX << (128 - len);
        address & mask == network & mask
    };
    in_prefix(0x2000 << 112, 3)
        && !SPECIAL_V6_IN_GLOBAL
            .iter()
            .any(|(network, len)| in_prefix(*network, *len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ips: &[&str]) {
        for ip in ips {
            let parsed: IpAddr = ip.parse().expect("address");
            assert!(!is_public(parsed), "{ip} must be refused");
        }
    }

    #[test]
    fn private_and_local_addresses_are_not_public() {
        refused(&[
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
        ]);
    }

    #[test]
    fn the_reserved_class_e_range_is_refused() {
        refused(&["240.0.0.1", "255.255.255.254", "255.255.255.255"]);
    }

    #[test]
    fn benchmarking_documentation_and_protocol_assignment_ranges_are_refused() {
        refused(&[
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "224.0.0.1",
            "192.31.196.1",
        ]);
    }

    #[test]
    fn nat64_prefixes_are_refused_whatever_they_embed() {
        refused(&["64:ff9b::7f00:1", "64:ff9b::808:808", "64:ff9b:1::a00:1"]);
    }

    #[test]
    fn six_to_four_and_teredo_are_refused() {
        refused(&[
            "2002:7f00:1::",
            "2002:808:808::1",
            "2001::1",
            "2001:0:4136:e378::1",
        ]);
    }

    #[test]
    fn ipv4_compatible_and_translated_forms_are_refused() {
        refused(&["::127.0.0.1", "::8.8.8.8", "::ffff:0:7f00:1"]);
    }

    #[test]
    fn site_local_unique_local_multicast_and_documentation_ipv6_are_refused() {
        refused(&[
            "fec0::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "5f00::1",
        ]);
    }

    #[test]
    fn ipv4_mapped_into_ipv6_is_judged_by_its_ipv4() {
        refused(&["::ffff:10.0.0.1", "::ffff:240.0.0.1", "::ffff:198.18.0.1"]);
        assert!(is_public("::ffff:93.184.216.34".parse().expect("address")));
    }

    #[test]
    fn ordinary_public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1::1",
            "2a00:1450:4001::1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            assert!(is_public(ip), "{ip}");
        }
    }

    #[tokio::test]
    async fn every_special_address_form_in_a_call_url_is_refused_before_connecting() {
        let webhook = Webhook {
            allow_private: false,
        };
        for url in [
            "http://240.0.0.1/q",
            "http://[64:ff9b::7f00:1]/q",
            "http://[2002:7f00:1::]/q",
            "http://[::127.0.0.1]/q",
            "http://[fec0::1]/q",
            "http://198.18.0.1/q",
            "http://192.0.0.8/q",
            "http://[64:ff9b:1::1]/q",
            "http://[::ffff:7f00:1]/q",
            "http://0x7f000001/q",
            "http://2130706433/q",
            "http://0177.0.0.1/q",
        ] {
            let outcome = webhook.deliver(&due(url)).await;
            assert!(
                matches!(&outcome, Err(Failure::Refused(why)) if why.contains("non-public")),
                "{url}: {outcome:?}"
            );
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
            kind: crate::domain::notification::EventKind::Zitadel,
            per_value: String::new(),
            target_id: None,
            payload: None,
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
