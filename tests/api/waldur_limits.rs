//! Waldur chat token limits in the engine: one consume counts against the day, week and month at
//! once and is refused exactly at the first limit it would pass; periods reset at UTC
//! boundaries without a write; system defaults apply to users who never had `set_quota`, and a
//! changed default applies after a restart.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::execute_sql;
use crate::support::{Backend, TestApp, body};
use crate::waldur::{People, people};
use crate::{on_both_backends, on_both_databases};
use quotaplane::app::Settings;
use quotaplane::domain::waldur::{PerPeriod, SystemDefaults};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("instant")
        .with_timezone(&Utc)
}

/// The ids of the limits a refused consume names.
async fn refused_by(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 429, "refused");
    let decision = body(response).await;
    decision["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["window"]["kind"].as_str().map(str::to_owned))
        .collect()
}

fn usages(usage: &Value) -> (i64, i64, i64) {
    let n = |f: &str| usage[f].as_i64().unwrap_or(-99);
    (n("daily_usage"), n("weekly_usage"), n("monthly_usage"))
}

fn defaults(daily: i64, weekly: i64, monthly: i64) -> Settings {
    Settings {
        chat_defaults: SystemDefaults(PerPeriod {
            daily,
            weekly,
            monthly,
        }),
        ..Settings::default()
    }
}

/// A server on `url` at a daily default of 100 where one user has used 50 on the default and
/// another has a daily quota of 10 of their own; with the users' ids.
async fn used_and_set_apart(url: &str) -> (TestApp, People, String, String) {
    let first = TestApp::start(url, defaults(100, -1, -1)).await;
    let p = people(&first).await;
    let (user, other) = (p.user_id.to_string(), p.other_id.to_string());
    assert_eq!(first.consume_tokens(&p.user, &user, 50).await.status(), 200);
    first
        .set_quota_ok(&p.staff, json!({"user_uuid": other, "daily_limit": 10}))
        .await;
    (first, p, user, other)
}

on_both_backends! {
    async fn a_consume_counts_in_every_period_and_is_refused_at_the_first_limit_it_would_pass(app) {
        let p = people(&app).await;
        let user = p.user_id.to_string();
        app.set_quota_ok(&p.staff, json!({"user_uuid": user, "daily_limit": 100, "weekly_limit": 150, "monthly_limit": 170})).await;
        assert_eq!(app.consume_tokens(&p.user, &user, 100).await.status(), 200);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (100, 100, 100));
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 1).await).await, vec!["calendar_day"]);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (100, 100, 100), "nothing counted when refused");
        app.clock.set(at("2026-03-12T08:00:00Z"));
        assert_eq!(app.consume_tokens(&p.user, &user, 50).await.status(), 200);
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 1).await).await, vec!["calendar_week"]);
        app.clock.set(at("2026-03-16T00:00:00Z"));
        assert_eq!(app.consume_tokens(&p.user, &user, 20).await.status(), 200);
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 1).await).await, vec!["calendar_month"]);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (20, 20, 170));
        app.clock.set(at("2026-04-01T00:00:00Z"));
        assert_eq!(app.consume_tokens(&p.user, &user, 100).await.status(), 200);
        // Exactly at the limit is admitted; one past it is not, whatever the size.
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 1).await).await, vec!["calendar_day"]);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (100, 100, 100));
    }

    async fn periods_reset_at_utc_midnight_monday_and_the_first_without_a_write(app) {
        let p = people(&app).await;
        let user = p.user_id.to_string();
        assert_eq!(app.consume_tokens(&p.user, &user, 7).await.status(), 200);
        app.clock.set(at("2026-03-11T23:59:59Z"));
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (7, 7, 7));
        app.clock.set(at("2026-03-12T00:00:00Z"));
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!(usages(&usage), (0, 7, 7));
        assert_eq!(usage["daily_reset_at"], "2026-03-13T00:00:00Z");
        assert_eq!(usage["weekly_reset_at"], "2026-03-16T00:00:00Z");
        app.clock.set(at("2026-03-16T00:00:00Z"));
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!(usages(&usage), (0, 0, 7));
        assert_eq!(usage["weekly_reset_at"], "2026-03-23T00:00:00Z", "a week after a Monday");
        app.clock.set(at("2026-04-01T00:00:00Z"));
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!(usages(&usage), (0, 0, 0));
        assert_eq!(usage["monthly_reset_at"], "2026-05-01T00:00:00Z");
        assert_eq!(usage["weekly_reset_at"], "2026-04-06T00:00:00Z");
    }

    async fn a_user_counts_the_same_whichever_uuid_form_the_consumer_uses(app) {
        let p = people(&app).await;
        app.set_quota_ok(&p.staff, json!({"user_uuid": p.user_id, "daily_limit": 10})).await;
        for form in [p.user_id.simple().to_string(), p.user_id.hyphenated().to_string().to_uppercase()] {
            assert_eq!(app.consume_tokens(&p.user, &form, 4).await.status(), 200, "{form}");
        }
        assert_eq!(refused_by(app.consume_tokens(&p.user, &p.user_id.to_string(), 3).await).await, vec!["calendar_day"]);
        assert_eq!(app.chat_usage_ok(&p.user, None).await["daily_usage"], 8);
    }

    async fn native_callers_cannot_replace_or_delete_a_users_chat_limits(app) {
        let p = people(&app).await;
        app.set_quota_ok(&p.staff, json!({"user_uuid": p.user_id, "daily_limit": 10})).await;
        let id = format!("waldur-chat-daily-{}", p.user_id);
        assert_eq!(app.delete(&format!("/v1/limits/{id}"), &p.admin).await.status(), 409);
        let replaced = app.put(&format!("/v1/limits/{id}"), &p.admin, &json!({
            "subject": {"user": p.user_id}, "metric": "chat_tokens", "amount": 1000,
            "window": {"kind": "calendar_day"}})).await;
        assert_eq!(replaced.status(), 400, "the id is the surface's");
        assert_eq!(app.chat_usage_ok(&p.user, None).await["daily_remaining"], 10);
    }
}

/// System defaults of daily 100, weekly 500, monthly 1000.
async fn the_system_default_is_enforced_for_a_user_who_never_had_set_quota(app: TestApp) {
    let p = people(&app).await;
    // The very first thing the user does is use tokens: no read, no set_quota before.
    let user = p.user_id.simple().to_string();
    assert_eq!(app.consume_tokens(&p.user, &user, 60).await.status(), 200);
    assert_eq!(app.consume_tokens(&p.user, &user, 40).await.status(), 200);
    assert_eq!(
        refused_by(app.consume_tokens(&p.user, &user, 1).await).await,
        vec!["calendar_day"]
    );
    let usage = app.chat_usage_ok(&p.user, None).await;
    assert_eq!(usage["daily_limit"], Value::Null);
    assert_eq!(usage["daily_system_default"], 100);
    assert_eq!(usage["daily_remaining"], 0);
    assert_eq!(usage["weekly_remaining"], 400);
    assert_eq!(usage["monthly_system_default"], 1000);
    // A user no key names still counts on the default, for themselves, with no row of their
    // own (their usage reads 404 until a key acts as them or a quota is set for them).
    let newcomer_id = Uuid::new_v4();
    let newcomer = newcomer_id.to_string();
    assert_eq!(
        refused_by(app.consume_tokens(&p.staff, &newcomer, 101).await).await,
        vec!["calendar_day"]
    );
    assert_eq!(
        app.consume_tokens(&p.staff, &newcomer, 30).await.status(),
        200
    );
    assert_eq!(
        app.chat_usage(&p.staff, Some(&newcomer)).await.status(),
        404
    );
    let own = format!("/v1/limits/waldur-chat-daily-{newcomer}");
    assert_eq!(
        app.get(&own, &p.admin).await.status(),
        404,
        "no limit of their own"
    );
    app.key_for(&p.tenant, &["user"], Some(newcomer_id)).await;
    let seen = app.chat_usage_ok(&p.staff, Some(&newcomer)).await;
    assert_eq!(seen["daily_usage"], 30);
    assert_eq!(seen["daily_remaining"], 70);
}

#[tokio::test]
async fn the_system_default_is_enforced_for_a_user_who_never_had_set_quota_on_sqlite() {
    let app = TestApp::spawn_with(Backend::Sqlite, defaults(100, 500, 1000)).await;
    the_system_default_is_enforced_for_a_user_who_never_had_set_quota(app.expect("sqlite")).await;
}

#[tokio::test]
async fn the_system_default_is_enforced_for_a_user_who_never_had_set_quota_on_postgres() {
    if let Some(app) = TestApp::spawn_with(Backend::Postgres, defaults(100, 500, 1000)).await {
        the_system_default_is_enforced_for_a_user_who_never_had_set_quota(app).await;
    }
}

on_both_databases! {
    async fn a_changed_system_default_applies_to_users_without_their_own_after_a_restart(url: &str) {
        let (first, p, user, other) = used_and_set_apart(url).await;
        drop(first);
        let second = TestApp::start(url, defaults(40, 1000, -1)).await;
        let usage = second.chat_usage_ok(&p.user, None).await;
        assert_eq!(usage["daily_system_default"], 40);
        assert_eq!(usage["daily_remaining"], 0);
        assert_eq!(usage["weekly_remaining"], 950);
        assert_eq!(
            refused_by(second.consume_tokens(&p.user, &user, 1).await).await,
            vec!["calendar_day"]
        );
        let own = second.chat_usage_ok(&p.other, None).await;
        assert_eq!(
            (own["daily_limit"].clone(), own["daily_remaining"].clone()),
            (json!(10), json!(10))
        );
        assert_eq!(
            second.consume_tokens(&p.other, &other, 10).await.status(),
            200
        );
    }
}

on_both_backends! {
    async fn moving_a_user_to_their_own_limit_and_back_carries_the_periods_count(app) {
        let p = people(&app).await;
        let user = p.user_id.to_string();
        // On the default (unlimited here) first.
        assert_eq!(app.consume_tokens(&p.user, &user, 60).await.status(), 200);
        app.set_quota_ok(&p.staff, json!({"user_uuid": user, "daily_limit": 70})).await;
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 11).await).await, vec!["calendar_day"]);
        assert_eq!(app.consume_tokens(&p.user, &user, 10).await.status(), 200);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (70, 70, 70));
        // Back on the default: the day's count comes along.
        app.set_quota_ok(&p.staff, json!({"user_uuid": user, "daily_limit": null})).await;
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (70, 70, 70));
        assert_eq!(app.consume_tokens(&p.user, &user, 5).await.status(), 200);
        app.set_quota_ok(&p.staff, json!({"user_uuid": user, "daily_limit": 80})).await;
        assert_eq!(refused_by(app.consume_tokens(&p.user, &user, 6).await).await, vec!["calendar_day"]);
        assert_eq!(app.consume_tokens(&p.user, &user, 5).await.status(), 200);
        assert_eq!(usages(&app.chat_usage_ok(&p.user, None).await), (80, 80, 80));
        // Nobody else's count moved.
        assert_eq!(usages(&app.chat_usage_ok(&p.other, None).await), (0, 0, 0));
    }

    async fn each_tenant_has_one_default_per_period_split_per_user_which_a_users_own_replaces(app) {
        let p = people(&app).await;
        let (user, other) = (p.user_id.to_string(), p.other_id.to_string());
        app.set_quota_ok(&p.staff, json!({"user_uuid": other, "daily_limit": 10})).await;
        let default = format!("/v1/tenants/{}/limits/waldur-chat-daily-default", p.tenant);
        let found = body(app.get(&default, &app.system).await).await;
        assert_eq!(found["amount"], "unlimited", "{found}");
        assert_eq!(found["per"], json!(["user"]));
        assert_eq!(app.consume_tokens(&p.user, &user, 1_000).await.status(), 200);
        assert_eq!(app.consume_tokens(&p.other, &other, 10).await.status(), 200);
        assert_eq!(refused_by(app.consume_tokens(&p.other, &other, 1).await).await, vec!["calendar_day"]);
    }
}

on_both_databases! {
    /// Before defaults were limits, every user with usage had a limit of their own per period at the
    /// effective amount, with no family; a restart on such a database moves them to the default
    /// (their count with them) or keeps their own, in its family.
    async fn a_database_written_before_defaults_were_limits_is_moved_at_start_up(url: &str) {
        let (first, p, user, other) = used_and_set_apart(url).await;
        assert_eq!(
            first.consume_tokens(&p.other, &other, 4).await.status(),
            200
        );
        drop(first);
        let mine = format!("waldur-chat-daily-{user}");
        execute_sql(
            url,
            &format!(
                "INSERT INTO limits (tenant_id, id, selector, metric, amount, window_spec, blocking, \
             owner, created_at, updated_at, per, family, expires_at, shadow) \
             SELECT tenant_id, '{mine}', '{{\"user\":\"{user}\"}}', metric, amount, window_spec, \
             blocking, 'waldur:{user}', created_at, updated_at, '[]', NULL, expires_at, shadow \
             FROM limits WHERE id = 'waldur-chat-daily-default' \
             AND tenant_id = (SELECT tenant_id FROM limits WHERE id = 'waldur-chat-daily-{other}')"
            ),
        )
        .await;
        execute_sql(
            url,
            &format!(
                "UPDATE counters SET limit_id = '{mine}', per_value = '' \
             WHERE limit_id = 'waldur-chat-daily-default' AND per_value = '[\"{user}\"]'"
            ),
        )
        .await;
        execute_sql(
            url,
            &format!("UPDATE limits SET family = NULL WHERE owner = 'waldur:{other}'"),
        )
        .await;

        let second = TestApp::start(url, defaults(100, -1, -1)).await;
        assert_eq!(second.chat_usage_ok(&p.user, None).await["daily_usage"], 50);
        assert_eq!(
            second
                .get(&format!("/v1/limits/{mine}"), &p.admin)
                .await
                .status(),
            404
        );
        assert_eq!(
            refused_by(second.consume_tokens(&p.user, &user, 51).await).await,
            vec!["calendar_day"]
        );
        assert_eq!(
            second.consume_tokens(&p.user, &user, 50).await.status(),
            200
        );
        let own = second.chat_usage_ok(&p.other, None).await;
        assert_eq!(
            (own["daily_limit"].clone(), own["daily_usage"].clone()),
            (json!(10), json!(4))
        );
        assert_eq!(
            refused_by(second.consume_tokens(&p.other, &other, 7).await).await,
            vec!["calendar_day"]
        );
        assert_eq!(
            second.consume_tokens(&p.other, &other, 6).await.status(),
            200
        );
    }
}
