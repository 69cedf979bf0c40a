//! Authentication: `Bearer <secret>`, `Token <secret>` or `Basic base64(<key id>:<secret>)` all
//! find the same key; the caller goes into the request's extensions as a [`Caller`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::domain::ports::*;
use crate::domain::principal::{Caller, SecretHash};
use crate::domain::{Credentials, Error, Result};
use crate::http::error::ApiError;
use crate::http::stage::{Inner, Next, Stage};
use crate::state::AppState;

pub use super::key_cache::KeyCache;

/// Paths anyone may call: probes, metrics and the API description.
const PUBLIC_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/system/v1/healthz",
    // The web page's assets (they hold no data; the page calls the API with a pasted key).
    crate::ui::PATHS[0],
    crate::ui::PATHS[1],
    crate::ui::PATHS[2],
];

/// A credential as presented.
#[derive(Debug, PartialEq, Eq)]
enum Credential<'a> {
    /// Bearer or Token: the secret alone.
    Secret(&'a str),
    /// Basic: the key id and the secret.
    Basic { key_id: String, secret: String },
}

fn parse(header: &str) -> Option<Credential<'_>> {
    let (scheme, value) = header.trim().split_once(' ')?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return (!value.is_empty()).then_some(Credential::Secret(value));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (key_id, secret) = decoded.split_once(':')?;
        return Some(Credential::Basic {
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
        });
    }
    None
}

/// Resolves a presented `Authorization` header to its caller.
pub async fn authenticate(state: &AppState, header: Option<&str>) -> Result<Caller> {
    let header = header.ok_or(Error::Unauthenticated(Credentials::Missing))?;
    let invalid = || Error::Unauthenticated(Credentials::Invalid);
    let (key_id, secret) = match parse(header).ok_or_else(invalid)? {
        Credential::Secret(secret) => (None, secret.to_owned()),
        Credential::Basic { key_id, secret } => (Some(key_id), secret),
    };
    let presented = SecretHash::of(&secret);
    let key = state
        .keys
        .find(presented, || state.store.key_by_hash(&presented))
        .await?
        .filter(|key| key.secret_hash.matches(&presented))
        .filter(|key| key_id.as_deref().is_none_or(|id| id == key.id))
        .ok_or_else(invalid)?;
    Ok(Caller::of(&key))
}

/// Path prefix of ZITADEL's system API, where system API users' JWTs are accepted too.
const SYSTEM_API: &str = "/system/v1/";

/// Resolves an `Authorization` header on the system API (REST or gRPC): a system API user's
/// self-signed JWT, or any of quotaplane's own credentials.
pub async fn authenticate_system(state: &AppState, header: Option<&str>) -> Result<Caller> {
    let users = &state.settings.system_api_users;
    if let Some(Credential::Secret(token)) = header.and_then(parse) {
        if !users.is_empty() && crate::http::system_users::looks_like_jwt(token) {
            return match users.verify(token, chrono::Utc::now()) {
                Ok(user) => Ok(Caller::system_api_user(&user)),
                Err(why) => {
                    tracing::debug!(error = %why, "system API token refused");
                    Err(Error::Unauthenticated(Credentials::Invalid))
                }
            };
        }
    }
    authenticate(state, header).await
}

/// The layer: public paths pass; everything else needs a valid credential.
#[derive(Clone)]
pub struct RequireCaller(pub AppState);

impl Stage for RequireCaller {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        require_caller(self.0, request, next).await.into_response()
    }
}

async fn require_caller<S: Inner>(
    state: AppState,
    mut request: Request,
    next: Next<S>,
) -> std::result::Result<Response, ApiError> {
    if PUBLIC_PATHS.contains(&request.uri().path()) {
        return Ok(next.run(request).await);
    }
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| crate::http::links::client_address(&state.settings, c.0.ip(), request.headers()));
    if let Some(retry_after) = address.and_then(|a| state.auth_throttle.blocked(a)) {
        metrics::counter!("quotaplane_auth_failures_total", "outcome" => "throttled").increment(1);
        return Err(Error::RateLimited { retry_after }.into());
    }
    let authenticated = if request.uri().path().starts_with(SYSTEM_API) {
        authenticate_system(&state, header).await
    } else {
        authenticate(&state, header).await
    };
    let caller = match authenticated {
        Err(Error::Unauthenticated(Credentials::Invalid)) => {
            metrics::counter!("quotaplane_auth_failures_total", "outcome" => "invalid")
                .increment(1);
            if let Some(address) = address {
                state.auth_throttle.failed(address);
            }
            return Err(Error::Unauthenticated(Credentials::Invalid).into());
        }
        other => other?,
    };
    tracing::Span::current().record("tenant", tracing::field::display(caller.tenant_id));
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Error::Unauthenticated(Credentials::Missing).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_and_basic_are_read() {
        assert_eq!(parse("Bearer abc"), Some(Credential::Secret("abc")));
        assert_eq!(parse("token abc"), Some(Credential::Secret("abc")));
        let basic = base64::engine::general_purpose::STANDARD.encode("KEY:s:e");
        assert_eq!(
            parse(&format!("Basic {basic}")),
            Some(Credential::Basic {
                key_id: "KEY".into(),
                secret: "s:e".into()
            })
        );
        assert_eq!(parse("Digest x"), None);
        assert_eq!(parse("Bearer "), None);
    }
}
