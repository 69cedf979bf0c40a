//! The Confluent client quota surface, as Confluent's own clients use it: HTTP Basic with a key id
//! and secret, snake_case bodies, and every response body checked against the vendor's schemas.

mod applied_defaults;
mod applied_pages;
mod conflicts;
mod crud;
mod documented_codes;
mod limits;
mod official_clients;
mod paging;
mod schema;
mod service_quota;
mod validation;

use base64::Engine;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::TestApp;

pub const COLLECTION: &str = "/kafka-quotas/v1/client-quotas";

/// A Confluent organization (a tenant) with Basic credentials of an admin and of a user.
pub struct Org {
    pub tenant: String,
    pub admin: String,
    pub user: String,
}

fn basic(key: &Value) -> String {
    let id = key["id"].as_str().expect("key id");
    let secret = key["secret"].as_str().expect("secret");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

/// A new organization with an admin and a user key.
pub async fn org(app: &TestApp) -> Org {
    let tenant = app.create_tenant("confluent-org").await;
    let admin = app.create_key(&tenant, &json!({"roles": ["admin"]})).await;
    let user = app.create_key(&tenant, &json!({"roles": ["user"]})).await;
    Org {
        tenant,
        admin: basic(&admin),
        user: basic(&user),
    }
}

/// One answer: status, headers and body (`Null` when empty).
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// The first error of a `Failure` body.
    pub fn error(&self) -> &Value {
        &self.body["errors"][0]
    }
}

/// Calls `path` with `authorization`, and checks the body against the vendor's schema for the
/// operation and status.
pub async fn call(
    app: &TestApp,
    authorization: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let mut request = app
        .client
        .request(method.clone(), format!("{}{path}", app.base));
    if let Some(auth) = authorization {
        request = request.header("Authorization", auth);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let reply = into_reply(response).await;
    schema::check(path, &method, &reply);
    reply
}

/// Like [`call`], with a raw body.
pub async fn call_raw(app: &TestApp, auth: &str, method: Method, path: &str, raw: &str) -> Reply {
    let response = app
        .client
        .request(method.clone(), format!("{}{path}", app.base))
        .header("Authorization", auth)
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .expect("request");
    let reply = into_reply(response).await;
    schema::check(path, &method, &reply);
    reply
}

async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// A create body for `principals` on `cluster` of `env`.
pub fn quota(name: &str, env: &str, cluster: &str, principals: &[&str]) -> Value {
    json!({"spec": {
        "display_name": name,
        "description": "made by a test",
        "throughput": {"ingress_byte_rate": "1000", "egress_byte_rate": "2000"},
        "cluster": {"id": cluster},
        "environment": {"id": env},
        "principals": principals.iter().map(|p| json!({"id": p})).collect::<Vec<_>>(),
    }})
}

/// Creates a client quota as `org`'s admin; its body.
pub async fn create(app: &TestApp, org: &Org, body: &Value) -> Value {
    let reply = call(app, Some(&org.admin), Method::POST, COLLECTION, Some(body)).await;
    assert_eq!(reply.status, 202, "create: {}", reply.body);
    reply.body
}

/// `GET /kafka-quotas/v1/client-quotas/{id}`.
pub async fn get(app: &TestApp, auth: &str, id: &str) -> Reply {
    call(
        app,
        Some(auth),
        Method::GET,
        &format!("{COLLECTION}/{id}"),
        None,
    )
    .await
}

/// `PATCH /kafka-quotas/v1/client-quotas/{id}`.
pub async fn patch(app: &TestApp, auth: &str, id: &str, body: &Value) -> Reply {
    call(
        app,
        Some(auth),
        Method::PATCH,
        &format!("{COLLECTION}/{id}"),
        Some(body),
    )
    .await
}

/// `GET /kafka-quotas/v1/client-quotas?<query>`.
pub async fn list(app: &TestApp, auth: &str, query: &str) -> Reply {
    call(
        app,
        Some(auth),
        Method::GET,
        &format!("{COLLECTION}?{query}"),
        None,
    )
    .await
}

/// The limits `/v1/limits` lists that client quotas own (not the applied quotas' own limits,
/// owned by `service-quota:<code>`).
pub async fn client_quota_limits(app: &TestApp, auth: &str) -> Vec<Value> {
    let (status, limits) = native(app, auth, "/v1/limits").await;
    assert_eq!(status, 200);
    limits
        .as_array()
        .expect("limits")
        .iter()
        .filter(|l| {
            l["owner"]
                .as_str()
                .is_some_and(|o| o.starts_with("confluent:"))
        })
        .cloned()
        .collect()
}

/// A native call (problem+json) with `auth`: status and body.
pub async fn native(app: &TestApp, auth: &str, path: &str) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header("Authorization", auth)
        .send()
        .await
        .expect("native call");
    let status = response.status().as_u16();
    (status, crate::support::body(response).await)
}
