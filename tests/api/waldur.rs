//! Waldur's chat token quota API: the fifteen fields, who may see and set what, UUID forms,
//! partial updates, and the DRF error bodies.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, body};

/// A tenant with one key per Waldur role, each acting as its own user.
pub struct People {
    pub tenant: String,
    pub staff: String,
    pub support: String,
    pub user: String,
    pub user_id: Uuid,
    pub other: String,
    pub other_id: Uuid,
    /// An admin without staff or support.
    pub admin: String,
}

pub async fn people(app: &TestApp) -> People {
    let tenant = app.create_tenant("waldur").await;
    let (user_id, other_id) = (Uuid::new_v4(), Uuid::new_v4());
    People {
        staff: app.key_for(&tenant, &["staff"], Some(Uuid::new_v4())).await,
        support: app
            .key_for(&tenant, &["support"], Some(Uuid::new_v4()))
            .await,
        user: app.key_for(&tenant, &["user"], Some(user_id)).await,
        other: app.key_for(&tenant, &["user"], Some(other_id)).await,
        admin: app.key_for(&tenant, &["admin"], Some(Uuid::new_v4())).await,
        tenant,
        user_id,
        other_id,
    }
}

impl TestApp {
    /// A request with Waldur's `Authorization: Token <secret>`.
    pub async fn waldur(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {token}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request")
    }

    /// `GET /api/chat-quota/usage/[?user_uuid=]`.
    pub async fn chat_usage(&self, token: &str, user_uuid: Option<&str>) -> Response {
        let path = match user_uuid {
            Some(u) => format!("/api/chat-quota/usage/?user_uuid={u}"),
            None => "/api/chat-quota/usage/".to_owned(),
        };
        self.waldur(Method::GET, &path, token, None).await
    }

    /// The usage body of a 200.
    pub async fn chat_usage_ok(&self, token: &str, user_uuid: Option<&str>) -> Value {
        let response = self.chat_usage(token, user_uuid).await;
        assert_eq!(response.status(), 200, "usage");
        body(response).await
    }

    /// `POST /api/chat-quota/set_quota/`.
    pub async fn set_quota(&self, token: &str, request: &Value) -> Response {
        self.waldur(
            Method::POST,
            "/api/chat-quota/set_quota/",
            token,
            Some(request),
        )
        .await
    }

    /// `set_quota` that must succeed.
    pub async fn set_quota_ok(&self, token: &str, request: Value) {
        let response = self.set_quota(token, &request).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "set_quota: {text}");
        assert!(text.is_empty(), "no body: {text}");
    }

    /// Tokens consumed for `user` through the native API.
    pub async fn consume_tokens(&self, key: &str, user: &str, amount: i64) -> Response {
        self.post(
            "/v1/usage/consume",
            key,
            &json!({"subject": {"user": user}, "metric": "chat_tokens", "amount": amount}),
        )
        .await
    }
}

const FIELDS: [&str; 15] = [
    "daily_limit",
    "daily_usage",
    "daily_remaining",
    "daily_reset_at",
    "daily_system_default",
    "weekly_limit",
    "weekly_usage",
    "weekly_remaining",
    "weekly_reset_at",
    "weekly_system_default",
    "monthly_limit",
    "monthly_usage",
    "monthly_remaining",
    "monthly_reset_at",
    "monthly_system_default",
];

async fn assert_detail(response: Response, status: u16, detail: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(body(response).await, json!({ "detail": detail }));
}

on_both_backends! {
    async fn usage_has_waldurs_fifteen_fields_in_order_with_nulls_for_the_default(app) {
        let p = people(&app).await;
        let response = app.chat_usage(&p.user, None).await;
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("body");
        let positions: Vec<usize> = FIELDS
            .iter()
            .map(|f| text.find(&format!("\"{f}\"")).unwrap_or_else(|| panic!("{f} in {text}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "Waldur's order: {text}");
        let usage: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(usage.as_object().map(|o| o.len()), Some(15));
        assert_eq!(usage, json!({
            "daily_limit": null, "daily_usage": 0, "daily_remaining": null,
            "daily_reset_at": "2026-03-12T00:00:00Z", "daily_system_default": -1,
            "weekly_limit": null, "weekly_usage": 0, "weekly_remaining": null,
            "weekly_reset_at": "2026-03-16T00:00:00Z", "weekly_system_default": -1,
            "monthly_limit": null, "monthly_usage": 0, "monthly_remaining": null,
            "monthly_reset_at": "2026-04-01T00:00:00Z", "monthly_system_default": -1,
        }));
    }

    async fn remaining_is_the_effective_limit_less_usage_never_negative_and_null_when_unlimited(app) {
        let p = people(&app).await;
        let uuid = p.user_id.simple().to_string();
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "daily_limit": 10, "weekly_limit": -1, "monthly_limit": 0})).await;
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!((usage["daily_limit"].clone(), usage["daily_remaining"].clone()), (json!(10), json!(10)));
        assert_eq!((usage["weekly_limit"].clone(), usage["weekly_remaining"].clone()), (json!(-1), Value::Null));
        assert_eq!((usage["monthly_limit"].clone(), usage["monthly_remaining"].clone()), (json!(0), json!(0)));
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "monthly_limit": -1})).await;
        assert_eq!(app.consume_tokens(&p.user, &p.user_id.to_string(), 7).await.status(), 200);
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "daily_limit": 5})).await;
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!(usage["daily_usage"], 7);
        assert_eq!(usage["daily_remaining"], 0, "never negative: {usage}");
        assert_eq!(usage["weekly_usage"], 7, "an unlimited period still counts");
        assert_eq!(usage["weekly_remaining"], Value::Null);
        assert_eq!(usage["monthly_usage"], 7);
    }

    async fn a_user_sees_only_their_own_usage_in_either_uuid_form(app) {
        let p = people(&app).await;
        for own in [p.user_id.simple().to_string(), p.user_id.hyphenated().to_string(),
                    p.user_id.simple().to_string().to_uppercase()] {
            assert_eq!(app.chat_usage(&p.user, Some(&own)).await.status(), 200, "{own}");
        }
        assert_detail(app.chat_usage(&p.user, Some(&p.other_id.simple().to_string())).await,
            403, "You can only view your own usage.").await;
        assert_detail(app.chat_usage(&p.user, Some("not-a-uuid")).await,
            403, "You can only view your own usage.").await;
        assert_detail(app.chat_usage(&p.admin, Some(&p.user_id.to_string())).await,
            403, "You can only view your own usage.").await;
        assert_eq!(app.chat_usage(&p.user, Some("")).await.status(), 200, "an empty uuid is the caller's own");
    }

    async fn staff_and_support_see_anyone_and_unknown_users_are_404(app) {
        let p = people(&app).await;
        for who in [&p.staff, &p.support] {
            for form in [p.other_id.simple().to_string(), p.other_id.hyphenated().to_string()] {
                assert_eq!(app.chat_usage(who, Some(&form)).await.status(), 200);
            }
            assert_detail(app.chat_usage(who, Some(&Uuid::new_v4().simple().to_string())).await,
                404, "User not found.").await;
            assert_detail(app.chat_usage(who, Some("zzz")).await, 404, "User not found.").await;
        }
        // Another tenant's user is unknown here.
        let elsewhere = app.create_tenant("elsewhere").await;
        let stranger = Uuid::new_v4();
        app.key_for(&elsewhere, &["user"], Some(stranger)).await;
        assert_detail(app.chat_usage(&p.staff, Some(&stranger.to_string())).await,
            404, "User not found.").await;
    }

    async fn only_staff_and_support_set_quotas_even_a_users_own(app) {
        let p = people(&app).await;
        let own = json!({"user_uuid": p.user_id.simple().to_string(), "daily_limit": 5});
        for who in [&p.user, &p.admin] {
            assert_detail(app.set_quota(who, &own).await, 403,
                "You do not have permission to perform this action.").await;
        }
        // Permission comes before the body is even read, as in Waldur.
        let broken = app.client.post(format!("{}/api/chat-quota/set_quota/", app.base))
            .header("Authorization", format!("Token {}", p.user)).body("{nope").send().await.expect("POST");
        assert_eq!(broken.status(), 403);
        app.set_quota_ok(&p.support, own.clone()).await;
        app.set_quota_ok(&p.staff, json!({"user_uuid": p.user_id.hyphenated().to_string(), "weekly_limit": 6})).await;
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!((usage["daily_limit"].clone(), usage["weekly_limit"].clone()), (json!(5), json!(6)));
        assert_detail(app.set_quota(&p.staff, &json!({"user_uuid": Uuid::new_v4(), "daily_limit": 1})).await,
            404, "User not found.").await;
    }

    async fn set_quota_changes_only_the_limits_present_and_null_restores_the_default(app) {
        let p = people(&app).await;
        let uuid = p.other_id.to_string();
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "daily_limit": 10, "weekly_limit": 20, "monthly_limit": 30})).await;
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "weekly_limit": null})).await;
        let usage = app.chat_usage_ok(&p.staff, Some(&uuid)).await;
        assert_eq!(
            (usage["daily_limit"].clone(), usage["weekly_limit"].clone(), usage["monthly_limit"].clone()),
            (json!(10), Value::Null, json!(30))
        );
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid})).await;
        let unchanged = app.chat_usage_ok(&p.staff, Some(&uuid)).await;
        assert_eq!(unchanged, usage, "a body with no limits changes nothing");
        // The user's own limits are those they have; the weekly one is the tenant's default
        // (unlimited), which applies to them as to everyone without their own.
        let limits = body(app.get("/v1/limits", &p.admin).await).await;
        let mine: Vec<(String, Value)> = limits.as_array().into_iter().flatten()
            .filter(|l| l["owner"] == json!(format!("waldur:{uuid}")))
            .map(|l| (l["window"]["kind"].as_str().unwrap_or_default().to_owned(), l["amount"].clone()))
            .collect();
        assert_eq!(mine.len(), 2, "{limits}");
        assert!(mine.contains(&("calendar_day".into(), json!(10))), "{mine:?}");
        assert!(mine.contains(&("calendar_month".into(), json!(30))), "{mine:?}");
        let weekly = format!("/v1/limits/effective?metric=chat_tokens&subject.user={uuid}");
        let effective = body(app.get(&weekly, &p.admin).await).await;
        let applied: Vec<&str> = effective.as_array().into_iter().flatten()
            .filter(|e| e["standing"] == "applies")
            .filter_map(|e| e["quota_id"].as_str()).collect();
        assert!(applied.contains(&"waldur-chat-weekly-default"), "{effective}");
    }

    async fn invalid_set_quota_bodies_get_drf_field_errors(app) {
        let p = people(&app).await;
        let uuid = p.user_id.to_string();
        let cases = [
            (json!({"daily_limit": 5}), json!({"user_uuid": ["This field is required."]})),
            (json!({"user_uuid": null}), json!({"user_uuid": ["This field may not be null."]})),
            (json!({"user_uuid": "abc"}), json!({"user_uuid": ["Must be a valid UUID."]})),
            (json!({"user_uuid": uuid, "daily_limit": -2}),
             json!({"daily_limit": ["Ensure this value is greater than or equal to -1."]})),
            (json!({"user_uuid": uuid, "weekly_limit": "many"}),
             json!({"weekly_limit": ["A valid integer is required."]})),
            (json!({"user_uuid": uuid, "monthly_limit": 1.5}),
             json!({"monthly_limit": ["A valid integer is required."]})),
            (json!({"user_uuid": uuid, "monthly_limit": 2_147_483_648_i64}),
             json!({"monthly_limit": ["Ensure this value is less than or equal to 2147483647."]})),
            (json!([uuid]), json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})),
        ];
        for (request, expected) in cases {
            let response = app.set_quota(&p.staff, &request).await;
            assert_eq!(response.status(), 400, "{request}");
            assert_eq!(body(response).await, expected, "{request}");
        }
        let broken = app.client.post(format!("{}/api/chat-quota/set_quota/", app.base))
            .header("Authorization", format!("Token {}", p.staff)).body("{nope").send().await.expect("POST");
        assert_eq!(broken.status(), 400);
        let detail = body(broken).await["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
        // Nothing was stored by the refused requests; numeric strings are integers, as in DRF.
        app.set_quota_ok(&p.staff, json!({"user_uuid": uuid, "daily_limit": "12"})).await;
        assert_eq!(app.chat_usage_ok(&p.user, None).await["daily_limit"], 12);
        assert_eq!(app.chat_usage_ok(&p.user, None).await["weekly_limit"], Value::Null);
    }

    async fn authentication_errors_are_drf_401s_with_a_token_challenge(app) {
        let missing = app.client.get(format!("{}/api/chat-quota/usage/", app.base)).send().await.expect("GET");
        assert_eq!(missing.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Token"));
        assert_detail(missing, 401, "Authentication credentials were not provided.").await;
        let wrong = app.chat_usage("qps_not-a-real-secret", None).await;
        assert_eq!(wrong.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Token"));
        assert_detail(wrong, 401, "Invalid token.").await;
    }

    async fn other_methods_and_paths_under_the_prefix_answer_in_drf_form(app) {
        let p = people(&app).await;
        assert_detail(app.waldur(Method::PUT, "/api/chat-quota/usage/", &p.user, None).await,
            405, "Method not allowed.").await;
        assert_eq!(app.waldur(Method::HEAD, "/api/chat-quota/usage/", &p.user, None).await.status(), 405);
        assert_detail(app.waldur(Method::GET, "/api/chat-quota/nothing/", &p.user, None).await,
            404, "Not found.").await;
    }
}
