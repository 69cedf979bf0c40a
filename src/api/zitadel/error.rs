//! ZITADEL's error envelope, as grpc-gateway writes a gRPC status:
//! `{"code": <gRPC code>, "message": "<text> (<ID>)", "details": [{"@type", "id", "message"}]}`,
//! and the one table from quotaplane's failures to ZITADEL's codes, ids and texts.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::zitadel::messages;
use crate::domain::zitadel_instance::messages as limit_messages;
use crate::domain::{Credentials, Error};
use crate::http::error::{Envelope, ErrorContext, Failure};

/// gRPC status codes, with the HTTP status grpc-gateway gives each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Code {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl Code {
    fn http(self) -> StatusCode {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        }
    }
}

/// The domain's rule messages and the ZITADEL error each stands for: code, id, English text
/// (`internal/static/i18n/en.yaml`; the duplicate's key is not translated by ZITADEL either).
const RULES: &[(&str, Code, &str, &str)] = &[
    (
        messages::RESET_INTERVAL_TOO_SHORT,
        Code::InvalidArgument,
        "QUOTA-R5otd",
        "Quota reset interval is shorter than a minute",
    ),
    (
        messages::CALL_URL_UNPARSABLE,
        Code::InvalidArgument,
        "QUOTA-bZ0Fj",
        "Quota call URL is invalid",
    ),
    (
        messages::CALL_URL_NOT_ABSOLUTE,
        Code::InvalidArgument,
        "QUOTA-HAYmN",
        "Quota call URL is invalid",
    ),
    (
        messages::PERCENT_TOO_LOW,
        Code::InvalidArgument,
        "QUOTA-pBfjq",
        "Quota percent is lower than 1",
    ),
    (
        limit_messages::NONE_SPECIFIED,
        Code::InvalidArgument,
        "COMMAND-4M9vs",
        "No limits specified",
    ),
    (
        messages::DUPLICATE_NOTIFICATION,
        Code::Internal,
        "QUOTA-Pty2n",
        "Errors.Quota.Notifications.Duplicate",
    ),
];

/// A failure as ZITADEL states it: code, optional error id, text.
pub(super) struct Stated {
    pub code: Code,
    pub id: Option<&'static str>,
    pub text: String,
}

fn stated(code: Code, id: Option<&'static str>, text: impl Into<String>) -> Stated {
    Stated {
        code,
        id,
        text: text.into(),
    }
}

/// The table: every failure, in ZITADEL's terms (`instance_id`: the instance the call names).
pub(super) fn state(failure: &Failure, instance_id: &str) -> Stated {
    use Code::*;
    match failure {
        Failure::Domain(e) => match e {
            Error::Invalid { message, .. } => {
                RULES.iter().find(|(m, ..)| m == message).map_or_else(
                    || stated(InvalidArgument, None, message.clone()),
                    |(_, code, id, text)| stated(*code, Some(*id), *text),
                )
            }
            Error::AlreadyExists { what: "quota", .. } => stated(
                AlreadyExists,
                Some("COMMAND-WDfFf"),
                "Quota already exists for this unit",
            ),
            Error::NotFound("quota") => stated(
                NotFound,
                Some("COMMAND-WDfFf"),
                "Quota not found for this unit",
            ),
            Error::NotFound("instance") => stated(
                NotFound,
                None,
                format!("unable to set instance using id {instance_id}"),
            ),
            Error::NotFound("limits") => {
                stated(NotFound, Some("COMMAND-9JToT"), "Limits not found")
            }
            Error::NotFound(_) => stated(NotFound, None, e.to_string()),
            Error::AlreadyExists { .. } => stated(AlreadyExists, None, e.to_string()),
            Error::Conflict { .. } => stated(FailedPrecondition, None, e.to_string()),
            Error::IdempotencyKeyReused => stated(InvalidArgument, None, e.to_string()),
            Error::QuotaExceeded { message, .. } => {
                stated(ResourceExhausted, Some("QUOTA-vjAy8"), message.clone())
            }
            Error::LimitReached { message } => stated(FailedPrecondition, None, message.clone()),
            Error::RateLimited { .. } => stated(ResourceExhausted, None, "too many requests"),
            Error::Forbidden(_) => stated(
                PermissionDenied,
                Some("AUTH-5mWD2"),
                "No matching permissions found",
            ),
            Error::Unauthenticated(Credentials::Missing) => {
                stated(Unauthenticated, Some("AUTH-7fs1e"), "auth header missing")
            }
            Error::Unauthenticated(_) => {
                stated(Unauthenticated, Some("AUTH-7fs1e"), "Token is invalid")
            }
            Error::Unavailable(_) => stated(Unavailable, None, failure.public_message()),
            Error::Internal(_) => stated(Internal, None, failure.public_message()),
        },
        Failure::NoRoute => stated(NotFound, None, "Not Found"),
        Failure::MethodNotAllowed => stated(Unimplemented, None, "Method Not Allowed"),
        Failure::PayloadTooLarge => stated(ResourceExhausted, None, failure.public_message()),
        Failure::Timeout => stated(DeadlineExceeded, None, failure.public_message()),
        Failure::Malformed(m) => stated(InvalidArgument, None, m.clone()),
        Failure::Throttled { .. } => stated(
            ResourceExhausted,
            Some("QUOTA-vjAy8"),
            failure.public_message(),
        ),
    }
}

/// The `{instanceId}` segment of a system-API path.
pub(super) fn instance_of(path: &str) -> &str {
    path.strip_prefix("/system/v1/instances/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
}

/// `rpcStatus`: a gRPC status as grpc-gateway writes it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = rpcStatus)]
pub struct RpcStatus {
    pub code: i32,
    pub message: String,
    pub details: Vec<ErrorDetail>,
}

/// `zitadel.v1.ErrorDetail`, packed in a `google.protobuf.Any`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = protobufAny)]
pub struct ErrorDetail {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub id: &'static str,
    pub message: String,
}

/// The ZITADEL envelope.
pub struct ZitadelStatus;

impl Envelope for ZitadelStatus {
    fn render(&self, failure: &Failure, ctx: &ErrorContext<'_>) -> Response {
        let Stated { code, id, text } = state(failure, instance_of(ctx.path));
        let status = match failure {
            // Statuses HTTP itself chose are kept; the body still speaks gRPC. A wrong method is
            // grpc-gateway's 501 Unimplemented.
            Failure::PayloadTooLarge | Failure::Timeout => failure.status(),
            _ => code.http(),
        };
        let body = RpcStatus {
            code: code as i32,
            message: match id {
                Some(id) => format!("{text} ({id})"),
                None => text.clone(),
            },
            details: id
                .map(|id| ErrorDetail {
                    kind: "type.googleapis.com/zitadel.v1.ErrorDetail",
                    id,
                    message: text,
                })
                .into_iter()
                .collect(),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"quotaplane\""),
            );
        }
        response
    }
}
