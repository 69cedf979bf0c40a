//! Cross-origin requests from browsers (Waldur's HomePort, dashboards on another origin): the
//! origins named with `--cors-allowed-origins` (none by default) may call every surface.
//!
//! tower-http's [`CorsLayer`] decides every header. It answers any `OPTIONS` as a preflight, but
//! an `OPTIONS` without `Access-Control-Request-Method` is an ordinary request (Django REST
//! framework answers it with the view's metadata), so this layer asks the CORS service only
//! for a real preflight's answer, and otherwise for the headers it adds to the response the
//! surface gives. Preflights are answered here, before authentication: browsers send no
//! credentials with them.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use tower::{Layer, ServiceExt, service_fn};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::http::stage::{Inner, Next, Stage};

/// The request headers a browser may send: credentials, the body's type, a request id.
const ALLOWED_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("x-request-id"),
];

/// The response headers a page may read: where it stands (rate-limit headers, `Retry-After`),
/// the request id, and where a created resource is.
const EXPOSED_HEADERS: [HeaderName; 6] = [
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
    header::RETRY_AFTER,
    HeaderName::from_static("x-request-id"),
    header::LOCATION,
];

/// The CORS policy of a running server; `None` when no origin is allowed.
#[derive(Clone)]
pub struct Cors(Option<CorsLayer>);

impl Cors {
    /// No origin allowed: the layer does nothing.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Checks one origin as `--cors-allowed-origins` takes it.
    pub fn check_origin(origin: &str) -> Result<String, String> {
        let origin = origin.trim();
        if origin == "*" {
            return Ok(origin.to_owned());
        }
        let valid = url::Url::parse(origin).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/"
        }) && HeaderValue::from_str(origin).is_ok();
        if valid {
            Ok(origin.trim_end_matches('/').to_owned())
        } else {
            Err(format!(
                "`{origin}` is not an origin (scheme://host[:port], or `*`)"
            ))
        }
    }

    /// The policy for `origins`: exact origins such as `https://homeport.example.com`, or `*`
    /// for any. An origin that is not a valid header value is an error.
    pub fn new(origins: &[String]) -> Result<Self, String> {
        if origins.is_empty() {
            return Ok(Self(None));
        }
        let allow = if origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            let values = origins
                .iter()
                .map(|o| {
                    HeaderValue::from_str(o.trim_end_matches('/'))
                        .map_err(|_| format!("`{o}` is not a valid origin"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            AllowOrigin::list(values)
        };
        Ok(Self(Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                    Method::OPTIONS,
                ])
                .allow_headers(ALLOWED_HEADERS)
                .expose_headers(EXPOSED_HEADERS)
                .max_age(Duration::from_secs(600)),
        )))
    }

    /// What the CORS service answers to a request with `method` and `headers` (never the
    /// surfaces: its inner service is an empty 200).
    async fn ask(layer: &CorsLayer, method: Method, headers: &axum::http::HeaderMap) -> Response {
        let mut probe = Request::new(Body::empty());
        *probe.method_mut() = method;
        *probe.headers_mut() = headers.clone();
        let empty =
            service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new(Body::empty())) });
        match layer.layer(empty).oneshot(probe).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Whether `request` is a CORS preflight.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The layer: answers preflights, and adds the CORS headers to every other response.
impl Stage for Cors {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        let Some(layer) = self.0.as_ref() else {
            return next.run(request).await;
        };
        if is_preflight(&request) {
            return Cors::ask(layer, Method::OPTIONS, request.headers()).await;
        }
        // Headers of an ordinary request: asked with a method the service does not treat as a
        // preflight, whatever this request's method is.
        let headers = request.headers().clone();
        let mut response = next.run(request).await;
        let answer = Cors::ask(layer, Method::GET, &headers).await;
        for (name, value) in answer.headers() {
            if name == header::VARY {
                response.headers_mut().append(name.clone(), value.clone());
            } else {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_a_scheme_and_a_host_or_a_star() {
        assert_eq!(
            Cors::check_origin("https://homeport.example.com/").as_deref(),
            Ok("https://homeport.example.com")
        );
        assert!(Cors::check_origin("http://localhost:8001").is_ok());
        assert!(Cors::check_origin("*").is_ok());
        for bad in [
            "homeport.example.com",
            "https://a.example/path",
            "ftp://a.example",
            "",
        ] {
            assert!(Cors::check_origin(bad).is_err(), "{bad}");
        }
    }
}
