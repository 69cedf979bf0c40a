//! Django REST framework habits Waldur's clients rely on: every invalid field in one 400 in the
//! serializer's order, `OPTIONS` answered with the view's metadata, and `set_quota` bodies sent
//! as a form or as `multipart/form-data` (a browser's `FormData`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{TestApp, body};
use crate::waldur::people;

const SET_QUOTA: &str = "/api/chat-quota/set_quota/";

/// `POST set_quota/` with a raw body of `content_type`.
async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: &str,
    raw: String,
) -> reqwest::Response {
    app.client
        .post(format!("{}{SET_QUOTA}", app.base))
        .header("Authorization", format!("Token {token}"))
        .header("Content-Type", content_type)
        .body(raw)
        .send()
        .await
        .expect("POST")
}

/// A `multipart/form-data` body of `fields`, as a browser writes one.
fn multipart(boundary: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in fields {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

async fn options(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = app
        .client
        .request(Method::OPTIONS, format!("{}{path}", app.base))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("OPTIONS");
    (response.status().as_u16(), body(response).await)
}

on_both_backends! {
    async fn every_invalid_field_is_listed_in_one_400_in_the_serializers_order(app) {
        let p = people(&app).await;
        let response = app.set_quota(&p.staff, &json!({"monthly_limit": -5, "weekly_limit": "lots", "daily_limit": 3})).await;
        assert_eq!(response.status(), 400);
        let text = response.text().await.expect("body");
        assert_eq!(text, concat!(r#"{"user_uuid":["This field is required."],"#,
            r#""weekly_limit":["A valid integer is required."],"#,
            r#""monthly_limit":["Ensure this value is greater than or equal to -1."]}"#));
        assert_eq!(app.chat_usage_ok(&p.user, None).await["daily_limit"], Value::Null, "nothing was stored");
    }

    async fn options_answers_drfs_metadata_on_both_paths(app) {
        let p = people(&app).await;
        let (status, staff) = options(&app, SET_QUOTA, &p.staff).await;
        assert_eq!(status, 200);
        assert_eq!(staff["name"], "Set quota");
        assert_eq!(staff["description"],
            "Access to user token quota and usage.\nProvides only custom actions with no standard CRUD operations.");
        assert_eq!(staff["renders"], json!(["application/json", "text/html"]));
        assert_eq!(staff["parses"], json!(["application/json", "application/x-www-form-urlencoded", "multipart/form-data"]));
        let post = staff["actions"]["POST"].as_object().expect("actions.POST for staff");
        assert_eq!(post.keys().collect::<Vec<_>>().len(), 4);
        assert_eq!(post["user_uuid"], json!({"type": "string", "required": true, "read_only": false,
            "label": "User uuid", "help_text": "UUID of the user to set quota for."}));
        assert_eq!(post["monthly_limit"]["type"], "integer");
        assert_eq!(post["monthly_limit"]["min_value"], -1);
        assert_eq!(post["daily_limit"]["required"], false);
        let (_, user) = options(&app, SET_QUOTA, &p.user).await;
        assert!(user.get("actions").is_none(), "a user may not post: {user}");
        let (status, usage) = options(&app, "/api/chat-quota/usage/", &p.user).await;
        assert_eq!((status, usage["name"].clone()), (200, json!("Usage")));
        assert!(usage.get("actions").is_none());
        let anonymous = app.client.request(Method::OPTIONS, format!("{}{SET_QUOTA}", app.base)).send().await.expect("OPTIONS");
        assert_eq!(anonymous.status(), 401, "DRF authenticates OPTIONS like any request");
    }

    async fn set_quota_reads_form_encoded_and_multipart_bodies(app) {
        let p = people(&app).await;
        let uuid = p.user_id.simple().to_string();
        let form = format!("user_uuid={uuid}&daily_limit=12&weekly_limit=&monthly_limit=40");
        let response = post_raw(&app, &p.staff, "application/x-www-form-urlencoded", form).await;
        assert_eq!(response.status(), 200);
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!((usage["daily_limit"].clone(), usage["weekly_limit"].clone(), usage["monthly_limit"].clone()),
            (json!(12), Value::Null, json!(40)), "an empty nullable field is null");

        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let raw = multipart(boundary, &[("user_uuid", &uuid), ("daily_limit", "-1"), ("monthly_limit", "")]);
        let response = post_raw(&app, &p.support, &format!("multipart/form-data; boundary={boundary}"), raw).await;
        assert_eq!(response.status(), 200);
        let usage = app.chat_usage_ok(&p.user, None).await;
        assert_eq!((usage["daily_limit"].clone(), usage["monthly_limit"].clone()), (json!(-1), Value::Null));

        let raw = multipart(boundary, &[("user_uuid", "nope"), ("weekly_limit", "x")]);
        let response = post_raw(&app, &p.staff, &format!("multipart/form-data; boundary={boundary}"), raw).await;
        assert_eq!(response.status(), 400);
        assert_eq!(body(response).await, json!({"user_uuid": ["Must be a valid UUID."],
            "weekly_limit": ["A valid integer is required."]}));
        let broken = post_raw(&app, &p.staff, "multipart/form-data; boundary=xyz", "garbage".into()).await;
        assert_eq!(broken.status(), 400);
        let detail = body(broken).await["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.starts_with("Multipart form parse error - "), "{detail}");
    }
}
