//! The base of absolute links (`Location`, `self`, `first`, `next`): never a client's say-so.
//!
//! In order: `--public-url` when set; else, from a peer listed in `--trusted-proxies`, the scheme
//! and host it forwards (`Forwarded`, else `X-Forwarded-Proto` / `X-Forwarded-Host`); else
//! `http://` and the request's `Host` when it is one of `--allowed-hosts` (by default the
//! address the client connected to and the localhost forms, on that port); else that address.
//! The layer writes the answer into an internal request header that every client value of it
//! is replaced by, so handlers read it with the headers they already take.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::HOST;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

use crate::http::stage::{Inner, Next, Stage};
use crate::state::{AppState, Settings};

/// The internal request header carrying the resolved link base (always overwritten).
pub const LINK_BASE: HeaderName = HeaderName::from_static("x-quotaplane-link-base");

/// The local address a connection was accepted on (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// The layer: resolves the link base of the request.
#[derive(Clone)]
pub struct ResolveLinks(pub AppState);

impl Stage for ResolveLinks {
    async fn run<S: Inner>(self, mut request: Request, next: Next<S>) -> Response {
        let state = self.0;
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let local = request.extensions().get::<LocalAddr>().map(|l| l.0);
        let authority = request.uri().authority().map(|a| a.as_str().to_owned());
        let base = link_base(
            &state.settings,
            peer,
            local,
            request.headers(),
            authority.as_deref(),
        );
        let headers = request.headers_mut();
        headers.remove(LINK_BASE);
        if let Ok(value) = HeaderValue::try_from(base) {
            headers.insert(LINK_BASE, value);
        }
        next.run(request).await
    }
}

/// The link base for a request from `peer`, accepted on `local`, with `headers` (and, for
/// HTTP/2, the URI's `authority`).
pub fn link_base(
    settings: &Settings,
    peer: Option<IpAddr>,
    local: Option<SocketAddr>,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let mut scheme = "http";
    let trusted = peer.is_some_and(|p| settings.trusted_proxies.iter().any(|n| n.contains(&p)));
    if trusted {
        let (proto, host) = forwarded(headers);
        if let Some(proto) = proto {
            scheme = proto;
        }
        if let Some(host) = host {
            return format!("{scheme}://{host}");
        }
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(authority)
        .filter(|h| is_host(h) && allowed(settings, h, local));
    match (host, local) {
        (Some(host), _) => format!("{scheme}://{host}"),
        (None, Some(local)) => format!("{scheme}://{local}"),
        (None, None) => format!("{scheme}://localhost"),
    }
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest address
/// in `X-Forwarded-For` (else `Forwarded: for=`) that is not itself a trusted proxy. Failed
/// authentication is throttled per this address, so clients behind one proxy are told apart.
pub fn client_address(settings: &Settings, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let trusted = |ip: &IpAddr| settings.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let chain: Vec<IpAddr> = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(list) => list
            .split(',')
            .filter_map(|a| a.trim().parse().ok())
            .collect(),
        None => headers
            .get("forwarded")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .flat_map(|element| element.split(';'))
                    .filter_map(|pair| pair.trim().split_once('='))
                    .filter(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .filter_map(|(_, value)| {
                        let value = value.trim().trim_matches('"');
                        let value = value
                            .strip_prefix('[')
                            .map_or(value, |v| v.split_once(']').map_or(v, |(ip, _)| ip));
                        value.parse().ok()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted(ip))
        .unwrap_or(peer)
}

/// The scheme and host a proxy forwards: the first element of `Forwarded` (RFC 7239), else the
/// first values of `X-Forwarded-Proto` and `X-Forwarded-Host`.
fn forwarded(headers: &HeaderMap) -> (Option<&'static str>, Option<String>) {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_owned())
    };
    let (mut proto, mut host) = (None, None);
    if let Some(element) = first("forwarded") {
        for pair in element.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                let value = value.trim().trim_matches('"').to_owned();
                match name.trim().to_ascii_lowercase().as_str() {
                    "proto" => proto = Some(value),
                    "host" => host = Some(value),
                    _ => {}
                }
            }
        }
    }
    let proto = proto.or_else(|| first("x-forwarded-proto"));
    let host = host.or_else(|| first("x-forwarded-host"));
    let proto = match proto.map(|p| p.to_ascii_lowercase()).as_deref() {
        Some("https") => Some("https"),
        Some("http") => Some("http"),
        _ => None,
    };
    (proto, host.filter(|h| is_host(h)))
}

/// A host, optionally with a port: letters, digits, `-`, `.`, `:` and IPv6 brackets only.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (host, None),
    }
}

/// Whether `host` (from `Host`) may appear in links.
fn allowed(settings: &Settings, host: &str, local: Option<SocketAddr>) -> bool {
    let (name, port) = split_port(host);
    if !settings.allowed_hosts.is_empty() {
        return settings.allowed_hosts.iter().any(|entry| {
            let (allowed_name, allowed_port) = split_port(entry);
            allowed_name.eq_ignore_ascii_case(name) && allowed_port.is_none_or(|p| Some(p) == port)
        });
    }
    let Some(local) = local else {
        return false;
    };
    let port_matches = match port {
        // The port as the server would write it: digits, no leading zero.
        Some(port) => !port.starts_with('0') && port.parse::<u16>() == Ok(local.port()),
        None => local.port() == 80,
    };
    let name_matches = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || (!local.ip().is_unspecified() && name.parse::<IpAddr>() == Ok(local.ip()));
    port_matches && name_matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::try_from(*name).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn local() -> Option<SocketAddr> {
        "127.0.0.1:8080".parse().ok()
    }

    const PROXY: &str = "10.0.0.5";

    fn behind_proxy() -> Settings {
        Settings {
            trusted_proxies: vec!["10.0.0.0/24".parse().expect("net")],
            ..Settings::default()
        }
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_nearest_untrusted_forwarded_address() {
        let settings = behind_proxy();
        let proxy: IpAddr = PROXY.parse().expect("ip");
        let h = headers(&[("x-forwarded-for", "198.51.100.1, 192.0.2.7, 10.0.0.9")]);
        assert_eq!(
            client_address(&settings, proxy, &h).to_string(),
            "192.0.2.7"
        );
        let f = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\", for=10.0.0.3")]);
        assert_eq!(
            client_address(&settings, proxy, &f).to_string(),
            "2001:db8::1"
        );
        let stranger: IpAddr = "192.0.2.50".parse().expect("ip");
        assert_eq!(
            client_address(&settings, stranger, &h),
            stranger,
            "only proxies may say"
        );
        assert_eq!(client_address(&settings, proxy, &HeaderMap::new()), proxy);
    }

    #[test]
    fn the_public_url_wins_over_every_header() {
        let settings = Settings {
            public_url: Some("https://quotas.example/".into()),
            ..behind_proxy()
        };
        let h = headers(&[
            ("host", "evil.example:1"),
            ("x-forwarded-host", "evil.example"),
        ]);
        let base = link_base(&settings, PROXY.parse().ok(), local(), &h, None);
        assert_eq!(base, "https://quotas.example");
    }

    #[test]
    fn an_unlisted_host_never_reaches_a_link() {
        let h = headers(&[("host", "evil.example:1")]);
        let base = link_base(&Settings::default(), PROXY.parse().ok(), local(), &h, None);
        assert_eq!(base, "http://127.0.0.1:8080");
    }

    #[test]
    fn localhost_forms_on_the_bound_port_are_kept() {
        for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
            let h = headers(&[("host", host)]);
            let base = link_base(&Settings::default(), None, local(), &h, None);
            assert_eq!(base, format!("http://{host}"));
        }
        let other_port = headers(&[("host", "localhost:9")]);
        let base = link_base(&Settings::default(), None, local(), &other_port, None);
        assert_eq!(base, "http://127.0.0.1:8080");
    }

    #[test]
    fn the_bound_address_is_kept_as_written_and_nothing_like_it() {
        let bound = "10.1.2.3:8080".parse().ok();
        let base = |host: &str| {
            let h = headers(&[("host", host)]);
            link_base(&Settings::default(), None, bound, &h, None)
        };
        assert_eq!(base("10.1.2.3:8080"), "http://10.1.2.3:8080");
        for unlike in ["10.1.2.3:08080", "10.1.2.4:8080", "10.1.2.3:80", "10.1.2.3"] {
            assert_eq!(base(unlike), "http://10.1.2.3:8080", "{unlike}");
        }
    }

    #[test]
    fn allowed_hosts_replace_the_default_list() {
        let settings = Settings {
            allowed_hosts: vec!["quotas.example".into(), "api.example:8443".into()],
            ..Settings::default()
        };
        let ok = |host: &str| {
            let h = headers(&[("host", host)]);
            link_base(&settings, None, local(), &h, None) == format!("http://{host}")
        };
        assert!(ok("quotas.example") && ok("QUOTAS.example:8080") && ok("api.example:8443"));
        assert!(!ok("api.example:1") && !ok("localhost:8080") && !ok("evil.example"));
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let h = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "quotas.example, inner"),
        ]);
        let trusted = link_base(&behind_proxy(), PROXY.parse().ok(), local(), &h, None);
        assert_eq!(trusted, "https://quotas.example");
        let stranger = link_base(&behind_proxy(), "192.0.2.9".parse().ok(), local(), &h, None);
        assert_eq!(stranger, "http://127.0.0.1:8080");
    }

    #[test]
    fn the_forwarded_header_is_read_before_the_x_forwarded_ones() {
        let h = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=https;host=\"quotas.example\", for=10.0.0.1",
            ),
            ("x-forwarded-host", "other.example"),
        ]);
        let base = link_base(&behind_proxy(), PROXY.parse().ok(), local(), &h, None);
        assert_eq!(base, "https://quotas.example");
    }

    #[test]
    fn a_forwarded_scheme_alone_keeps_the_allowed_host() {
        let h = headers(&[("host", "localhost:8080"), ("x-forwarded-proto", "HTTPS")]);
        let base = link_base(&behind_proxy(), PROXY.parse().ok(), local(), &h, None);
        assert_eq!(base, "https://localhost:8080");
    }

    #[test]
    fn a_forwarded_host_with_odd_characters_is_ignored() {
        let h = headers(&[
            ("host", "localhost:8080"),
            ("x-forwarded-host", "evil.example/x?"),
        ]);
        let base = link_base(&behind_proxy(), PROXY.parse().ok(), local(), &h, None);
        assert_eq!(base, "http://localhost:8080");
    }
}
