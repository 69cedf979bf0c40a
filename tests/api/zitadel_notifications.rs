//! ZITADEL quota notifications: thresholds with and without repeat, delivery to a real receiver
//! on 127.0.0.1, retries, delivery after a restart, and private call URLs refused by default.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use chrono::TimeDelta;
use quotaplane::app::Settings;
use serde_json::{Value, json};

use crate::support::{TestApp, body};
use crate::zitadel::{REQUESTS, quota};
use crate::{on_both_backends, on_both_backends_with};

/// A webhook receiver on 127.0.0.1: answers the queued statuses in turn (then 200) and keeps
/// every body it was sent with the status it answered.
#[derive(Clone, Default)]
pub struct Receiver {
    answers: Arc<Mutex<VecDeque<u16>>>,
    seen: Arc<Mutex<Vec<(u16, Value)>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Receiver {
        let mut receiver = Receiver {
            answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
            ..Receiver::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        receiver.url = format!("http://{}/quota-hook", listener.local_addr().expect("addr"));
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/quota-hook",
            axum::routing::post(move |axum::Json(payload): axum::Json<Value>| {
                let state = state.clone();
                async move {
                    let status = state
                        .answers
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or(200);
                    state.seen.lock().expect("lock").push((status, payload));
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// Every call so far: (status answered, body).
    pub fn calls(&self) -> Vec<(u16, Value)> {
        self.seen.lock().expect("lock").clone()
    }

    /// The bodies answered 2xx.
    pub fn delivered(&self) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|(s, _)| *s < 300)
            .map(|(_, b)| b)
            .collect()
    }

    /// Waits (up to 20 s) until `done` holds, moving `clock` on by `step` between looks so
    /// that retries come due.
    pub async fn wait_until(
        &self,
        app: &TestApp,
        step: TimeDelta,
        done: impl Fn(&Receiver) -> bool,
    ) {
        for _ in 0..200 {
            if done(self) {
                return;
            }
            app.clock.advance(step);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out; calls so far: {:?}", self.calls());
    }
}

fn allow_private() -> Settings {
    Settings {
        webhook_allow_private: true,
        ..Settings::default()
    }
}

/// A non-blocking request quota of `amount` per 30 days with `notifications`.
fn notifying(amount: u64, notifications: Value) -> Value {
    let mut q = quota(REQUESTS, amount, false);
    q["resetInterval"] = json!("2592000s");
    q["notifications"] = notifications;
    q
}

async fn requests(app: &TestApp, key: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(app.get("/v1/whoami", key).await.status(), 200);
    }
}

on_both_backends_with! {
    settings = allow_private();

    async fn thresholds_fire_once_each_with_repeat_at_percent_plus_each_hundred(app) {
        let receiver = Receiver::start(&[]).await;
        let (tenant, admin) = app.tenant_with_admin().await;
        let rules = json!([{"percent": 50, "repeat": true, "callUrl": receiver.url},
                           {"percent": 100, "repeat": false, "callUrl": receiver.url}]);
        app.add_quota(&app.system, &tenant, &notifying(10, rules)).await;
        requests(&app, &admin, 16).await;
        receiver.wait_until(&app, TimeDelta::zero(), |r| r.delivered().len() >= 3).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut seen: Vec<(i64, i64)> = receiver.delivered().iter()
            .map(|b| (b["threshold"].as_i64().unwrap_or(-1), b["usage"].as_i64().unwrap_or(-1)))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![(50, 5), (100, 10), (150, 15)], "50 fires at 50 and 150, not 100");
        let first = &receiver.delivered()[0];
        assert_eq!(first["unit"], 1);
        assert_eq!(first["callURL"], receiver.url.as_str());
        assert_eq!(first["periodStart"], "2026-03-11T10:15:00Z");
        assert!(first["id"].as_str().is_some_and(|id| !id.is_empty()));

        app.clock.advance(TimeDelta::days(30));
        requests(&app, &admin, 5).await;
        receiver.wait_until(&app, TimeDelta::zero(), |r| r.delivered().len() >= 4).await;
        let next = receiver.delivered()[3].clone();
        assert_eq!((next["threshold"].as_i64(), next["usage"].as_i64()), (Some(50), Some(5)), "once per period");
        assert_eq!(next["periodStart"], "2026-04-10T10:15:00Z");
    }

    async fn a_receiver_failing_twice_gets_the_notification_then_no_more(app) {
        let receiver = Receiver::start(&[500, 500]).await;
        let (tenant, admin) = app.tenant_with_admin().await;
        app.add_quota(&app.system, &tenant, &notifying(2, json!([{"percent": 50, "callUrl": receiver.url}]))).await;
        requests(&app, &admin, 1).await;
        receiver.wait_until(&app, TimeDelta::minutes(10), |r| !r.delivered().is_empty()).await;
        let statuses: Vec<u16> = receiver.calls().iter().map(|(s, _)| *s).collect();
        assert_eq!(statuses, vec![500, 500, 200]);
        for _ in 0..10 {
            app.clock.advance(TimeDelta::hours(1));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(receiver.calls().len(), 3, "delivered once: no more calls");
        let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.expect("GET");
        let metrics = metrics.text().await.expect("text");
        for name in ["quotaplane_webhook_deliveries_total{outcome=\"delivered\"}",
                     "quotaplane_webhook_deliveries_total{outcome=\"failed\"}",
                     "quotaplane_webhook_retries_total"] {
            assert!(metrics.contains(name), "{name} in /metrics");
        }
    }

    async fn an_undelivered_notification_is_delivered_after_a_restart(app) {
        let receiver = Receiver::start(&[503]).await;
        let (tenant, admin) = app.tenant_with_admin().await;
        app.add_quota(&app.system, &tenant, &notifying(1, json!([{"percent": 100, "callUrl": receiver.url}]))).await;
        requests(&app, &admin, 1).await;
        receiver.wait_until(&app, TimeDelta::zero(), |r| !r.calls().is_empty()).await;
        app.begin_shutdown();
        if let Some(server) = app.server.take() {
            let _ = server.await;
        }
        assert!(receiver.delivered().is_empty(), "nothing delivered before the restart");

        let restarted = TestApp::start(&app.database_url, allow_private()).await;
        receiver.wait_until(&restarted, TimeDelta::minutes(1), |r| !r.delivered().is_empty()).await;
        let delivered = receiver.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!((delivered[0]["threshold"].as_i64(), delivered[0]["usage"].as_i64()), (Some(100), Some(1)));
    }
}

on_both_backends! {
    async fn a_private_call_url_is_refused_by_default(app) {
        let receiver = Receiver::start(&[]).await;
        let (tenant, admin) = app.tenant_with_admin().await;
        let added = app.add_quota(&app.system, &tenant, &notifying(1, json!([{"percent": 100, "callUrl": receiver.url}]))).await;
        assert_eq!(added.status(), 200, "accepted: refused at delivery");
        requests(&app, &admin, 1).await;
        let refused = "quotaplane_webhook_deliveries_total{outcome=\"refused\"}";
        for _ in 0..100 {
            let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.expect("GET");
            if metrics.text().await.expect("text").contains(refused) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for _ in 0..10 {
            app.clock.advance(TimeDelta::hours(1));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(receiver.calls().is_empty(), "never called: {:?}", receiver.calls());
        let limit = body(app.get(crate::zitadel::REQUESTS_LIMIT, &admin).await).await;
        assert_eq!(limit["usage"]["used"], 2);
    }
}
