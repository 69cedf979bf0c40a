//! Notification rules and the outbox of due notifications.
//!
//! The SQL both dialects share, expanded for a backend by [`notification_store!`] beside `shared_store!`,
//! whose row readers and step modules it uses.

/// Implements [`crate::domain::ports::NotificationStore`] for a backend struct with a `pool` field.
macro_rules! notification_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $crate::domain::ports::NotificationStore for $store {
            async fn notification_rules(
                &self,
                tenant_id: Uuid,
            ) -> Result<Vec<(String, crate::domain::notification::Notification)>> {
                let rows: Vec<(String, String, i64, bool, String)> = sqlx::query_as(
                    "SELECT limit_id, id, percent, repeats, call_url FROM limit_notifications \
                     WHERE tenant_id = $1 ORDER BY limit_id, ordinal",
                )
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                let mut rules: Vec<(String, crate::domain::notification::Notification)> = rows
                    .into_iter()
                    .map(|(limit_id, id, percent, repeat, call_url)| {
                        let percent = u32::try_from(percent).unwrap_or(u32::MAX);
                        let rule = crate::domain::notification::Notification::zitadel(
                            id, percent, repeat, call_url,
                        );
                        (limit_id, rule)
                    })
                    .collect();
                // Alert rules follow a limit's ZITADEL rules (a limit has one kind or the other
                // in practice: ZITADEL's limits are its own).
                rules.extend(alert_steps::alert_rules(&self.pool, tenant_id, None).await?);
                rules.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(rules)
            }

            async fn claim_due_notifications(
                &self,
                now_ms: i64,
                claim_until_ms: i64,
                max: i64,
            ) -> Result<Vec<crate::domain::notification::DueNotification>> {
                let rows = sqlx::query(
                    "UPDATE notification_outbox SET next_attempt_at = $2 \
                     WHERE status = 'pending' AND next_attempt_at <= $1 AND id IN \
                       (SELECT id FROM notification_outbox WHERE status = 'pending' \
                        AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) \
                     RETURNING id, tenant_id, limit_id, COALESCE(rule_id, notification_id) AS rule_id, \
                       call_url, metric, period_start, period_end, threshold, usage, attempts, kind, \
                       per_value, target_id, payload",
                )
                .bind(now_ms)
                .bind(claim_until_ms)
                .bind(max)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                rows.iter().map(due_from).collect()
            }

            async fn record_delivery(
                &self,
                id: Uuid,
                delivery: &crate::domain::notification::Delivery,
                now_ms: i64,
            ) -> Result<()> {
                use crate::domain::notification::Delivery;
                let query = match delivery {
                    Delivery::Delivered => sqlx::query(
                        "UPDATE notification_outbox SET status = 'delivered', attempts = attempts + 1, \
                         last_error = NULL, updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms),
                    Delivery::Refused(why) => sqlx::query(
                        "UPDATE notification_outbox SET status = 'refused', last_error = $3, \
                         updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms)
                    .bind(why),
                    Delivery::Retry { attempts, next_attempt_at, error } => sqlx::query(
                        "UPDATE notification_outbox SET attempts = $3, next_attempt_at = $4, \
                         last_error = $5, updated_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now_ms)
                    .bind(attempts)
                    .bind(next_attempt_at)
                    .bind(error),
                };
                query.execute(&self.pool).await.map(drop).map_err(db_error)
            }
        }
    };
}

pub(crate) use notification_store;
