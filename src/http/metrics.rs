//! Prometheus metrics: requests by route, method and status, and a latency histogram.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::stage::{Inner, Next, Stage};

/// Hashing for maps keyed by labels of our own.
type FastHash = foldhash::fast::RandomState;

/// Latency buckets, in seconds: from 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Batch-size buckets, in operations.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process-wide recorder (installed once, shared by every server in the process).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("batch_size".into()), BATCH_BUCKETS)
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); then metrics go there.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The methods counted by name; any other (a client may send any token) is counted as `other`,
/// so no client can add a series.
const METHODS: [(Method, &str); 9] = [
    (Method::GET, "GET"),
    (Method::POST, "POST"),
    (Method::PUT, "PUT"),
    (Method::PATCH, "PATCH"),
    (Method::DELETE, "DELETE"),
    (Method::HEAD, "HEAD"),
    (Method::OPTIONS, "OPTIONS"),
    (Method::CONNECT, "CONNECT"),
    (Method::TRACE, "TRACE"),
];

fn method_label(method: &Method) -> &'static str {
    METHODS
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, name)| name)
}

/// A route's metrics for one method and status.
#[derive(Clone)]
struct RouteMetrics {
    requests: Counter,
    latency: Histogram,
}

/// Each route's metrics by method and status, registered once: looked up by their labels in the
/// recorder on every request, they cost more than the rest of `/healthz`. Bounded: routes are
/// templates, methods and statuses few.
type ByRoute = HashMap<String, HashMap<(&'static str, u16), RouteMetrics, FastHash>, FastHash>;

fn route_metrics(route: &str, method: &'static str, status: u16) -> RouteMetrics {
    static KNOWN: LazyLock<RwLock<ByRoute>> = LazyLock::new(RwLock::default);
    let known = KNOWN.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(metrics) = known.get(route).and_then(|m| m.get(&(method, status))) {
        return metrics.clone();
    }
    drop(known);
    let metrics = RouteMetrics {
        requests: metrics::counter!("quotaplane_http_requests_total",
            "route" => route.to_owned(), "method" => method, "status" => status.to_string()),
        latency: metrics::histogram!("quotaplane_http_request_duration_seconds",
            "route" => route.to_owned(), "method" => method),
    };
    KNOWN
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(route.to_owned())
        .or_default()
        .insert((method, status), metrics.clone());
    metrics
}

/// The layer: counts each request and records its latency under its route template.
#[derive(Clone, Copy)]
pub struct Track;

impl Stage for Track {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = method_label(request.method());
        let response = next.run(request).await;
        let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
        let metrics = route_metrics(route, method, response.status().as_u16());
        metrics.requests.increment(1);
        metrics.latency.record(started.elapsed().as_secs_f64());
        response
    }
}
