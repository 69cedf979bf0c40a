//! `zitadel.system.v1.SystemService` over gRPC on the server's one port, called by a tonic client
//! compiled from the same proto, with system keys and system API users' JWTs.

use prost::Message;
use quotaplane::api::zitadel::grpc::proto::google::rpc::Status as RpcStatus;
use quotaplane::api::zitadel::grpc::proto::zitadel::instance::v1::{IdsQuery, Query, query};
use quotaplane::api::zitadel::grpc::proto::zitadel::quota::v1::{Notification, Unit};
use quotaplane::api::zitadel::grpc::proto::zitadel::system::v1::system_service_client::SystemServiceClient;
use quotaplane::api::zitadel::grpc::proto::zitadel::system::v1::*;
use quotaplane::api::zitadel::grpc::proto::zitadel::v1::{ErrorDetail, ListQuery};
use tonic::Code;
use tonic::transport::Channel;

use crate::on_both_backends_with;
use crate::support::{TestApp, test_epoch};
use crate::zitadel_system::{settings, token};

/// A client of the server over HTTP/2 cleartext.
async fn client(app: &TestApp) -> SystemServiceClient<Channel> {
    SystemServiceClient::connect(app.base.clone())
        .await
        .expect("gRPC connection")
}

/// `message` with `Authorization: Bearer <credential>`.
fn authorized<T>(credential: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {credential}")
        .parse()
        .expect("metadata value");
    request.metadata_mut().insert("authorization", value);
    request
}

fn set_quota(instance: &str, amount: u64, limit: bool) -> SetQuotaRequest {
    SetQuotaRequest {
        instance_id: instance.into(),
        unit: Unit::RequestsAllAuthenticated as i32,
        from: Some(prost_types::Timestamp {
            seconds: test_epoch().timestamp(),
            nanos: 0,
        }),
        reset_interval: Some(prost_types::Duration {
            seconds: 3600,
            nanos: 0,
        }),
        amount,
        limit,
        notifications: vec![Notification {
            percent: 80,
            repeat: false,
            call_url: "https://hooks.test/q".into(),
        }],
    }
}

/// The ZITADEL error detail a status carries: (id, message).
fn detail(status: &tonic::Status) -> Option<(String, String)> {
    let packed = RpcStatus::decode(status.details()).ok()?;
    assert_eq!(packed.code, status.code() as i32);
    let any = packed.details.first()?;
    assert_eq!(any.type_url, "type.googleapis.com/zitadel.v1.ErrorDetail");
    let detail = ErrorDetail::decode(any.value.as_slice()).ok()?;
    Some((detail.id, detail.message))
}

on_both_backends_with! {
    settings = settings();

    async fn set_and_remove_quota_over_grpc_with_a_key_or_a_jwt_and_refused_without(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let mut grpc = client(&app).await;

        let anonymous = grpc.set_quota(set_quota(&tenant, 10, false)).await.expect_err("no credentials");
        assert_eq!(anonymous.code(), Code::Unauthenticated);
        assert_eq!(detail(&anonymous), Some(("AUTH-7fs1e".into(), "auth header missing".into())));
        let forged = grpc.set_quota(authorized("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", set_quota(&tenant, 10, false)))
            .await.expect_err("a forged token");
        assert_eq!(forged.code(), Code::Unauthenticated);

        let set = grpc.set_quota(authorized(&token(), set_quota(&tenant, 10, false))).await.expect("SetQuota");
        let details = set.into_inner().details.expect("details");
        assert_eq!(details.sequence, 1);
        assert_eq!(details.resource_owner, tenant);
        assert!(details.creation_date.is_some());
        let limit = crate::support::body(app.get(crate::zitadel::REQUESTS_LIMIT, &admin).await).await;
        assert_eq!(limit["amount"], 10, "the same domain call as REST");

        let same = grpc.set_quota(authorized(&app.system, set_quota(&tenant, 10, false))).await.expect("again");
        assert_eq!(same.into_inner().details.expect("details").sequence, 1, "unchanged: nothing written");

        let remove = || RemoveQuotaRequest { instance_id: tenant.clone(), unit: Unit::RequestsAllAuthenticated as i32 };
        let removed = grpc.remove_quota(authorized(&app.system, remove())).await.expect("RemoveQuota");
        let details = removed.into_inner().details.expect("details");
        assert_eq!(details.sequence, 2);
        assert!(details.change_date.is_some());
        let gone = grpc.remove_quota(authorized(&token(), remove())).await.expect_err("nothing to remove");
        assert_eq!(gone.code(), Code::NotFound);
        assert_eq!(gone.message(), "Quota not found for this unit (COMMAND-WDfFf)");
        assert_eq!(detail(&gone).map(|d| d.0), Some("COMMAND-WDfFf".into()));

        let mut invalid = set_quota(&tenant, 10, false);
        invalid.reset_interval = Some(prost_types::Duration { seconds: 30, nanos: 0 });
        let refused = grpc.set_quota(authorized(&app.system, invalid)).await.expect_err("too short");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(detail(&refused).map(|d| d.0), Some("QUOTA-R5otd".into()));
        let mut zero = AddQuotaRequest { instance_id: tenant.clone(), amount: 0, ..Default::default() };
        zero.unit = Unit::RequestsAllAuthenticated as i32;
        let refused = grpc.add_quota(authorized(&app.system, zero)).await.expect_err("proto rules");
        assert_eq!(refused.code(), Code::InvalidArgument);
        let no_instance = grpc.set_quota(authorized(&app.system, set_quota("", 10, false))).await.expect_err("empty id");
        assert_eq!(no_instance.code(), Code::InvalidArgument);
        assert_eq!(no_instance.message(),
            "invalid SetQuotaRequest.InstanceId: value length must be between 1 and 200 runes, inclusive");
        let forbidden = grpc.set_quota(authorized(&admin, set_quota(&tenant, 10, false))).await.expect_err("admin");
        assert_eq!(forbidden.code(), Code::PermissionDenied);
    }

    async fn set_limits_over_grpc_blocks_the_tenant_on_rest_until_reset_limits(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        let mut grpc = client(&app).await;
        let block = SetLimitsRequest { instance_id: tenant.clone(), audit_log_retention: None, block: Some(true) };
        grpc.set_limits(authorized(&token(), block)).await.expect("SetLimits");
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 429);
        let retention = SetLimitsRequest { instance_id: tenant.clone(),
            audit_log_retention: Some(prost_types::Duration { seconds: 86400, nanos: 0 }), block: None };
        grpc.set_limits(authorized(&token(), retention)).await.expect("SetLimits retention");
        let got = grpc.get_instance(authorized(&token(), GetInstanceRequest { instance_id: tenant.clone() }))
            .await.expect("GetInstance").into_inner().instance.expect("instance");
        let limits = got.limits.expect("limits");
        assert_eq!(limits.block, Some(true));
        assert_eq!(limits.audit_log_retention.map(|d| d.seconds), Some(86400));
        assert_eq!(app.get("/api/v2/quotas/", &admin).await.status(), 429);
        let health = grpc.healthz(HealthzRequest {}).await;
        assert!(health.is_ok(), "Healthz needs no credentials");
        let reset = ResetLimitsRequest { instance_id: tenant.clone() };
        grpc.reset_limits(authorized(&app.system, reset.clone())).await.expect("ResetLimits");
        assert_eq!(app.get("/v1/whoami", &admin).await.status(), 200);
        let again = grpc.reset_limits(authorized(&app.system, reset)).await.expect_err("no limits");
        assert_eq!(again.code(), Code::NotFound);
        assert_eq!(detail(&again).map(|d| d.0), Some("COMMAND-9JToT".into()));
    }

    async fn list_and_get_instances_over_grpc(app) {
        let (acme, _) = app.tenant_with_admin().await;
        let globex = app.create_tenant("globex").await;
        let mut grpc = client(&app).await;
        let anonymous = grpc.list_instances(ListInstancesRequest::default()).await.expect_err("no credentials");
        assert_eq!(anonymous.code(), Code::Unauthenticated);

        let request = ListInstancesRequest {
            query: Some(ListQuery { offset: 0, limit: 1, asc: true }),
            sorting_column: 2,
            queries: vec![Query { query: Some(query::Query::IdQuery(IdsQuery { ids: vec![globex.clone(), acme.clone()] })) }],
        };
        let listed = grpc.list_instances(authorized(&token(), request)).await.expect("ListInstances").into_inner();
        assert_eq!(listed.details.expect("details").total_result, 2);
        assert_eq!(listed.result.len(), 1);
        assert_eq!(listed.result[0].name, "acme", "sorted by name, ascending");
        assert_eq!(listed.sorting_column, 2);

        let got = grpc.get_instance(authorized(&app.system, GetInstanceRequest { instance_id: globex.clone() }))
            .await.expect("GetInstance").into_inner().instance.expect("instance");
        assert_eq!(got.id, globex);
        assert_eq!(got.state, 2, "STATE_RUNNING");
        let unknown = grpc.get_instance(authorized(&app.system, GetInstanceRequest { instance_id: "nope".into() }))
            .await.expect_err("unknown");
        assert_eq!(unknown.code(), Code::NotFound);
    }
}

/// The real binary, configured as an operator would: `QUOTAPLANE_SYSTEM_API_USERS` and
/// `QUOTAPLANE_PUBLIC_URL` (the audience), called over gRPC with and without a JWT.
#[tokio::test]
async fn the_binary_serves_grpc_to_a_system_api_user_named_in_its_environment() {
    let dir = crate::support::TempDir::new();
    let users = crate::zitadel_system::users_file(&dir);
    let url = format!("sqlite://{}/q.db", dir.0.display());
    let system = "operator-token-0123456789-abcdefghij";
    let server = crate::process::Server::start(
        &url,
        &[
            ("QUOTAPLANE_BOOTSTRAP_TOKEN", system),
            ("QUOTAPLANE_SYSTEM_API_USERS", users.to_str().expect("path")),
            ("QUOTAPLANE_PUBLIC_URL", crate::zitadel_system::AUDIENCE),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/tenants", server.base))
        .bearer_auth(system)
        .json(&serde_json::json!({"name": "acme"}))
        .send()
        .await
        .expect("create tenant");
    let tenant = crate::support::body(created).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut grpc = SystemServiceClient::connect(server.base.clone())
        .await
        .expect("gRPC connection");

    let anonymous = grpc
        .set_quota(set_quota(&tenant, 5, true))
        .await
        .expect_err("no JWT");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let set = grpc
        .set_quota(authorized(&token(), set_quota(&tenant, 5, true)))
        .await
        .expect("SetQuota");
    assert_eq!(
        set.into_inner().details.expect("details").resource_owner,
        tenant
    );
    let block = SetLimitsRequest {
        instance_id: tenant.clone(),
        audit_log_retention: None,
        block: Some(true),
    };
    grpc.set_limits(authorized(&token(), block))
        .await
        .expect("SetLimits");
    let listed = grpc
        .list_instances(authorized(&token(), ListInstancesRequest::default()))
        .await
        .expect("ListInstances")
        .into_inner();
    assert!(
        listed
            .result
            .iter()
            .any(|i| i.id == tenant && i.name == "acme")
    );
    let remove = RemoveQuotaRequest {
        instance_id: tenant.clone(),
        unit: Unit::RequestsAllAuthenticated as i32,
    };
    grpc.remove_quota(authorized(&token(), remove))
        .await
        .expect("RemoveQuota");
}

/// A gRPC-Web frame: flag byte, big-endian length, payload.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut framed = vec![flag];
    framed.extend_from_slice(&u32::try_from(payload.len()).expect("small").to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

on_both_backends_with! {
    settings = settings();

    async fn grpc_web_calls_work_over_http1(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let request = GetInstanceRequest { instance_id: tenant.clone() };
        let response = app.client
            .post(format!("{}/zitadel.system.v1.SystemService/GetInstance", app.base))
            .header("content-type", "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .bearer_auth(token())
            .body(frame(0, &request.encode_to_vec()))
            .send().await.expect("gRPC-Web call");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        assert_eq!(response.headers()["content-type"], "application/grpc-web+proto");
        let bytes = response.bytes().await.expect("body");
        assert_eq!(bytes[0], 0, "a data frame first");
        let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let answer = GetInstanceResponse::decode(&bytes[5..5 + length]).expect("GetInstanceResponse");
        assert_eq!(answer.instance.expect("instance").id, tenant);
        let trailers = String::from_utf8_lossy(&bytes[5 + length + 5..]).to_lowercase();
        assert_eq!(bytes[5 + length], 0x80, "then the trailers frame");
        assert!(trailers.contains("grpc-status:0"), "{trailers}");
    }
}

on_both_backends_with! {
    settings = quotaplane::app::Settings { rate_limit_requests: 2, ..settings() };

    async fn grpc_calls_count_against_the_callers_rate_limit(app) {
        let (tenant, _) = app.tenant_with_admin().await;
        let mut grpc = client(&app).await;
        let get = || authorized(&token(), GetInstanceRequest { instance_id: tenant.clone() });
        grpc.get_instance(get()).await.expect("first");
        grpc.get_instance(get()).await.expect("second");
        let refused = grpc.get_instance(get()).await.expect_err("past the limit");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        let second_user = crate::zitadel_system::signed(&crate::zitadel_system::claims(
            "system-user-2", crate::zitadel_system::AUDIENCE));
        let other = grpc.get_instance(authorized(&second_user, GetInstanceRequest { instance_id: tenant.clone() })).await;
        assert!(other.is_ok(), "each caller has its own limit");
    }
}
