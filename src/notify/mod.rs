//! The outbox worker: delivers the notifications the usage engine made due, at least once, off
//! the request path. It polls the outbox (and is woken early after a batch that wrote to it),
//! claims due rows so other replicas leave them alone, POSTs each to its URL, and records the
//! outcome: delivered, refused for good, or tried again later with exponential backoff.

mod webhook;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::domain::alert::{AlertStore, SigningKey};
use crate::domain::clock::SharedClock;
use crate::domain::notification::{Delivery, DueNotification, EventKind};
use crate::domain::ports::*;
use crate::store::AnyStore;

pub use webhook::{Webhook, is_public};

/// How often the outbox is polled when nothing wakes the worker.
const POLL: Duration = Duration::from_millis(500);
/// Most notifications claimed (and delivered concurrently) at once.
const BATCH: i64 = 16;
/// How long a claimed notification stays hidden from other workers (longer than an attempt).
const CLAIM: TimeDelta = TimeDelta::seconds(60);
/// The first retry waits this long; each further one twice as long, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: TimeDelta = TimeDelta::seconds(1);
/// The longest wait between two attempts.
const MAX_BACKOFF: TimeDelta = TimeDelta::minutes(5);

/// The wait before the attempt after `attempts` failed ones.
pub fn backoff(attempts: i32) -> TimeDelta {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
    let wait = FIRST_BACKOFF * 2i32.pow(doublings);
    wait.min(MAX_BACKOFF)
}

/// Starts the worker on the current runtime; it runs until the handle is aborted.
pub fn start(
    store: AnyStore,
    clock: SharedClock,
    wake: Arc<Notify>,
    webhook: Webhook,
    signing_key: Arc<SigningKey>,
) -> JoinHandle<()> {
    let webhook = Arc::new(Sender {
        webhook,
        signing_key,
    });
    tokio::spawn(async move {
        loop {
            if let Err(e) = deliver_due(&store, &clock, &webhook).await {
                tracing::warn!(error = %e, "notification delivery round failed");
            }
            tokio::select! {
                () = wake.notified() => {},
                () = tokio::time::sleep(POLL) => {},
            }
        }
    })
}

/// What delivers: the webhook client, and the key alert events are signed under.
struct Sender {
    webhook: Webhook,
    signing_key: Arc<SigningKey>,
}

impl Sender {
    /// Sends one event: ZITADEL's payload to its call URL, or an alert event to its target,
    /// signed as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    async fn send(
        &self,
        store: &AnyStore,
        clock: &SharedClock,
        due: &DueNotification,
    ) -> Result<(), webhook::Failure> {
        use webhook::Failure;
        if due.kind == EventKind::Zitadel {
            return self.webhook.deliver(due).await;
        }
        let (Some(target_id), Some(body)) = (due.target_id, due.payload.as_deref()) else {
            return Err(Failure::Refused("the event has no target or body".into()));
        };
        let target = store
            .alert_target(due.tenant_id, target_id)
            .await
            .map_err(|e| Failure::Transient(format!("reading the target: {e}")))?
            .ok_or_else(|| Failure::Refused("the alert target was deleted".into()))?;
        let secret = self
            .signing_key
            .secret_of(store, target_id, clock.now())
            .await
            .map_err(|e| Failure::Transient(format!("the signing key: {e}")))?;
        // The transport's own time (receivers compare it with theirs), not the quota clock.
        let timestamp = chrono::Utc::now().timestamp();
        let id = due.id.to_string();
        let signature = crate::domain::alert::signature(&secret, &id, timestamp, body)
            .map_err(|e| Failure::Refused(e.to_string()))?;
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        self.webhook
            .post(&target.url, body.as_bytes().to_vec(), &headers)
            .await
    }
}

/// Claims what is due and delivers it; returns once every claimed notification is recorded.
async fn deliver_due(
    store: &AnyStore,
    clock: &SharedClock,
    webhook: &Arc<Sender>,
) -> crate::domain::Result<()> {
    loop {
        let now = clock.now();
        let claimed = store
            .claim_due_notifications(
                now.timestamp_millis(),
                (now + CLAIM).timestamp_millis(),
                BATCH,
            )
            .await?;
        if claimed.is_empty() {
            return Ok(());
        }
        let full = i64::try_from(claimed.len()).unwrap_or(BATCH) >= BATCH;
        let mut attempts = JoinSet::new();
        for due in claimed {
            let (store, clock, webhook) = (store.clone(), clock.clone(), webhook.clone());
            attempts.spawn(async move { attempt(&store, &clock, &webhook, due).await });
        }
        while attempts.join_next().await.is_some() {}
        if !full {
            return Ok(());
        }
    }
}

async fn attempt(store: &AnyStore, clock: &SharedClock, webhook: &Sender, due: DueNotification) {
    if due.attempts > 0 {
        metrics::counter!("quotaplane_webhook_retries_total").increment(1);
    }
    let started = std::time::Instant::now();
    let outcome = webhook.send(store, clock, &due).await;
    metrics::histogram!("quotaplane_webhook_delivery_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    let delivery = match outcome {
        Ok(()) => Delivery::Delivered,
        Err(webhook::Failure::Refused(why)) => {
            tracing::warn!(notification = %due.notification_id, tenant = %due.tenant_id,
                reason = %why, "notification refused and dropped");
            Delivery::Refused(why)
        }
        Err(webhook::Failure::Transient(error)) => {
            let attempts = due.attempts.saturating_add(1);
            let next = clock.now() + backoff(attempts);
            tracing::info!(notification = %due.notification_id, tenant = %due.tenant_id,
                attempts, error = %error, "notification delivery failed; will retry");
            Delivery::Retry {
                attempts,
                next_attempt_at: next.timestamp_millis(),
                error,
            }
        }
    };
    let outcome = match &delivery {
        Delivery::Delivered => "delivered",
        Delivery::Refused(_) => "refused",
        Delivery::Retry { .. } => "failed",
    };
    metrics::counter!("quotaplane_webhook_deliveries_total", "outcome" => outcome).increment(1);
    let recorded = store
        .record_delivery(due.id, &delivery, clock.now().timestamp_millis())
        .await;
    if let Err(e) = recorded {
        // The claim expires and the notification is tried again: at least once, not exactly.
        tracing::warn!(error = %e, notification = %due.notification_id,
            "could not record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let waits: Vec<i64> = [1, 2, 3, 4, 9, 10, 1000]
            .into_iter()
            .map(|a| backoff(a).num_seconds())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 256, 300, 300]);
    }
}
