//! What can go wrong, in the domain's words. Each surface maps these to its own status codes and
//! envelope in one table (`crate::http::error` and `crate::api::<surface>::error`).

/// Where in a request an invalid value was found, so a surface can point at it
/// (a JSON pointer for the body, a name for a query parameter or path segment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A JSON pointer into the request body, such as `/spec/display_name`.
    Body(String),
    /// A query parameter, such as `page_size`.
    Query(String),
    /// A path parameter, such as `id`.
    Path(String),
    /// A request header, such as `Idempotency-Key`.
    Header(String),
}

impl Field {
    /// The field's name as a client would write it: the pointer or the parameter's name.
    pub fn name(&self) -> &str {
        match self {
            Field::Body(p) | Field::Query(p) | Field::Path(p) | Field::Header(p) => p,
        }
    }
}

/// The domain's error: every layer's failure ends up as one of these.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The resource does not exist, or belongs to another tenant (never told apart).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A resource with the same identity exists; `existing` names it when it can be shown.
    #[error("{what} already exists")]
    AlreadyExists {
        what: &'static str,
        existing: Option<String>,
    },
    /// The request contradicts the current state in another way than identity.
    #[error("{message}")]
    Conflict {
        message: String,
        existing: Option<String>,
    },
    /// A value in the request breaks a rule.
    #[error("{message}")]
    Invalid { field: Field, message: String },
    /// An idempotency key came again with a different request (422, as the IETF
    /// idempotency-key draft says).
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    /// A quota refuses what was asked; a retry may succeed after `retry_after` seconds.
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        retry_after: Option<u64>,
    },
    /// A resource-count quota (a service quota such as `iam.max_api_keys.per_org`) refuses a
    /// create: waiting does not help, only raising the applied limit or deleting resources does,
    /// so surfaces answer it with a non-retryable status (never 429).
    #[error("{message}")]
    LimitReached { message: String },
    /// The caller is known but lacks a role.
    #[error("{0}")]
    Forbidden(String),
    /// No valid credential came with the request; surfaces word "none" and "a bad one" apart.
    #[error("{0}")]
    Unauthenticated(Credentials),
    /// The caller sent too many requests; a retry may succeed after `retry_after` seconds.
    #[error("too many requests")]
    RateLimited { retry_after: u64 },
    /// A dependency (the store) cannot be reached right now.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged with its cause, never shown to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An invalid value at a JSON pointer in the body.
    pub fn invalid_body(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: Field::Body(pointer.into()),
            message: message.into(),
        }
    }

    /// An invalid query parameter.
    pub fn invalid_query(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: Field::Query(name.into()),
            message: message.into(),
        }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The request carried no credential.
    Missing,
    /// It carried one that matches no key (or is malformed).
    Invalid,
}

impl std::fmt::Display for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Missing => "authentication is required",
            Credentials::Invalid => "the credentials are invalid",
        })
    }
}

/// The domain's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
