//! `zitadel.system.v1.SystemService` over gRPC, on the same port as everything else: a request
//! whose `content-type` is `application/grpc*` goes to tonic, any other to the REST router.
//! gRPC needs HTTP/2 (cleartext with prior knowledge, or TLS terminated in front); gRPC-Web
//! (`application/grpc-web[-text][+proto]`, as browsers send it) also works over HTTP/1.1. The
//! messages are compiled (build.rs) from `proto/`, quotaplane's subset of ZITADEL's protos with
//! ZITADEL's package, service, method names and field numbers, so ZITADEL's generated clients
//! work on the wire. Every call makes the same domain call as its REST mapping; errors carry
//! ZITADEL's gRPC code, its `message (ID)` text, and its `zitadel.v1.ErrorDetail` in
//! `grpc-status-details-bin`.

mod convert;
mod service;

use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use prost::Message;
use tower::ServiceExt;

use super::error::{Stated, state};
use crate::http::error::Failure;
use crate::http::stage::{Inner, Next, Stage};
use crate::state::AppState;

pub use service::SystemApi;

/// The code compiled from `proto/`, in modules named after the proto packages.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    pub mod zitadel {
        pub mod v1 {
            tonic::include_proto!("zitadel.v1");
        }
        pub mod quota {
            pub mod v1 {
                tonic::include_proto!("zitadel.quota.v1");
            }
        }
        pub mod instance {
            pub mod v1 {
                tonic::include_proto!("zitadel.instance.v1");
            }
        }
        pub mod system {
            pub mod v1 {
                tonic::include_proto!("zitadel.system.v1");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}

use proto::zitadel::system::v1::system_service_server::SystemServiceServer;

/// The gRPC service, which also answers gRPC-Web.
pub type Grpc = tonic_web::GrpcWebService<SystemServiceServer<SystemApi>>;

/// The gRPC service over `state`.
pub fn server(state: AppState) -> Grpc {
    use tower::Layer;
    tonic_web::GrpcWebLayer::new().layer(SystemServiceServer::new(SystemApi::new(state)))
}

/// Whether a request is a gRPC call (`application/grpc`, `application/grpc+proto`, ...).
fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The layer that hands gRPC calls to tonic and everything else to the REST router.
#[derive(Clone)]
pub struct GrpcRoute(pub Grpc);

impl Stage for GrpcRoute {
    async fn run<S: Inner>(self, request: Request, next: Next<S>) -> Response {
        if !is_grpc(&request) {
            return next.run(request).await;
        }
        match self.0.oneshot(request).await {
            Ok(response) => response.map(axum::body::Body::new),
            Err(never) => match never {},
        }
    }
}

/// A failure as ZITADEL's gRPC status: code, `text (ID)`, and the ErrorDetail packed in a
/// `google.rpc.Status` (what grpc-go servers send as `grpc-status-details-bin`).
pub fn status(failure: impl Into<Failure>, instance_id: &str) -> tonic::Status {
    let failure = failure.into();
    if let Failure::Domain(crate::domain::Error::Internal(cause)) = &failure {
        tracing::error!(cause, "internal error in a gRPC call");
    }
    let Stated { code, id, text } = state(&failure, instance_id);
    let code = code as i32;
    let message = match id {
        Some(id) => format!("{text} ({id})"),
        None => text.clone(),
    };
    let details = id
        .map(|id| prost_types::Any {
            type_url: "type.googleapis.com/zitadel.v1.ErrorDetail".into(),
            value: proto::zitadel::v1::ErrorDetail {
                id: id.into(),
                message: text,
            }
            .encode_to_vec(),
        })
        .into_iter()
        .collect();
    let packed = proto::google::rpc::Status {
        code,
        message: message.clone(),
        details,
    }
    .encode_to_vec();
    tonic::Status::with_details(tonic::Code::from_i32(code), message, packed.into())
}
