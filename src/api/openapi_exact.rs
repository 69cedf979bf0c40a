//! Makes the generated OpenAPI document state every response an operation can produce: the shared
//! layers (auth, rate limit, metering, body parser, timeout) answer 400, 401, 413, 422, 429 and 503
//! on any authenticated route, in the envelope of the surface that was called, and the native
//! API's errors are `application/problem+json`. Handlers document what only they produce.

use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Content, Ref, RefOr, Response};

/// The `Modify` that completes every operation's responses.
pub struct ExactResponses;

/// How a surface writes its errors.
struct Envelope {
    content_type: &'static str,
    /// The error schema's component name; `None`: a free-form object (Waldur's field errors).
    schema: Option<&'static str>,
    /// The status of a refusal by the tenant's request quota (metering), when not 429.
    quota_status: Option<&'static str>,
}

/// The surface a path belongs to, by its prefix; `None` for the public probes.
fn envelope(path: &str) -> Option<Envelope> {
    let (content_type, schema, quota_status) = if path.starts_with("/v1/") {
        ("application/problem+json", "Problem", None)
    } else if path.starts_with("/kafka-quotas/") || path.starts_with("/service-quota/") {
        ("application/json", "Failure", None)
    } else if path.starts_with("/api/v2/") {
        ("application/json", "ErrorResponse", None)
    } else if path.starts_with("/system/v1/") {
        ("application/json", "rpcStatus", None)
    } else if path.starts_with("/api/chat-quota/") {
        ("application/json", "WaldurErrorDetail", Some("409"))
    } else {
        return None;
    };
    Some(Envelope {
        content_type,
        schema: Some(schema),
        quota_status,
    })
}

fn reason(status: &str) -> &'static str {
    match status {
        "400" => "Malformed request: unreadable JSON, or a parameter of the wrong form",
        "401" => "Missing or invalid credentials",
        "403" => "The key lacks a role this call needs",
        "404" => "Not found, or another tenant's",
        "409" => "A conflict with the stored state, or the tenant's request quota is exhausted",
        "413" => "The body is larger than the server accepts",
        "422" => "A value breaks a rule: the error names the field",
        "429" => "The key's request rate, or a quota, refuses the call",
        "503" => "The store is unreachable, or the request took too long",
        _ => "Error",
    }
}

fn error_content(envelope: &Envelope) -> Content {
    match envelope.schema {
        Some(name) => Content::new(Some(Ref::from_schema_name(name))),
        None => Content::new(Some(RefOr::T(Schema::Object(ObjectBuilder::new().build())))),
    }
}

/// Adds the statuses the shared layers can produce, and moves error bodies to the surface's
/// content type.
fn complete(operation: &mut Operation, envelope: &Envelope) {
    let has_body = operation.request_body.is_some();
    let has_params = operation
        .parameters
        .as_ref()
        .is_some_and(|params| !params.is_empty());
    let mut statuses = vec!["401", "403", "429", "503"];
    statuses.extend(envelope.quota_status);
    if has_body {
        statuses.extend(["400", "413", "422"]);
    }
    if has_params {
        statuses.extend(["400", "404", "422"]);
    }
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let is_error = status.starts_with('4') || status.starts_with('5');
        if !is_error || status == "429" && envelope.content_type != "application/problem+json" {
            continue;
        }
        retype(response, envelope);
    }
    for status in statuses {
        responses.entry(status.to_owned()).or_insert_with(|| {
            let mut response = Response::new(reason(status));
            // Waldur's 400 is `{"<field>": ["<message>"]}` as often as `{"detail": ...}`.
            let content = match (status, envelope.schema) {
                ("400", Some("WaldurErrorDetail")) => error_content(&free_form(envelope)),
                _ => error_content(envelope),
            };
            response
                .content
                .insert(envelope.content_type.to_owned(), content);
            RefOr::T(response)
        });
    }
    if envelope.content_type == "application/problem+json" {
        or_problem(responses.get_mut("429"));
    }
}

fn free_form(envelope: &Envelope) -> Envelope {
    Envelope {
        content_type: envelope.content_type,
        schema: None,
        quota_status: None,
    }
}

/// A native 429 documented with a handler's own body (a refused decision) may also come from the
/// shared layers as a plain problem: either schema.
fn or_problem(response: Option<&mut RefOr<Response>>) {
    let Some(RefOr::T(response)) = response else {
        return;
    };
    let Some(content) = response.content.get_mut("application/problem+json") else {
        return;
    };
    let Some(own) = content.schema.take() else {
        return;
    };
    let problem: RefOr<Schema> = Ref::from_schema_name("Problem").into();
    let same = matches!(&own, RefOr::Ref(r) if r.ref_location.ends_with("/Problem"));
    content.schema = Some(if same {
        own
    } else {
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new().item(own).item(problem).build(),
        ))
    });
}

/// An error response in the surface's content type (a body documented as JSON moves to
/// problem+json on the native API; one documented without a body gets the error schema).
fn retype(response: &mut Response, envelope: &Envelope) {
    if response.content.is_empty() {
        let content = match envelope.schema {
            // Waldur's 400 is `{"<field>": ["<message>"]}`.
            Some("WaldurErrorDetail") => error_content(&free_form(envelope)),
            _ => error_content(envelope),
        };
        response
            .content
            .insert(envelope.content_type.to_owned(), content);
        return;
    }
    if envelope.content_type != "application/json" {
        if let Some(json) = response.content.shift_remove("application/json") {
            response
                .content
                .insert(envelope.content_type.to_owned(), json);
        }
    }
}

impl Modify for ExactResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let Some(envelope) = envelope(path) else {
                continue;
            };
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation, &envelope);
            }
        }
    }
}
