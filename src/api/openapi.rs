//! The OpenAPI document, generated from the code. `openapi/openapi.json` is its committed copy;
//! a test fails when the two drift apart.

use std::sync::OnceLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::confluent::service_quota;
use super::openapi_exact::ExactResponses;
use super::{confluent, datarobot, native, waldur, zitadel};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(title = "quotaplane", description = "A multi-tenant quota control plane."),
    paths(
        native::healthz, native::readyz, native::metrics, native::openapi,
        native::whoami, native::create_tenant, native::list_tenants, native::get_tenant,
        native::create_key, native::list_keys, native::revoke_key,
        native::check, native::consume, native::report, native::acquire, native::release,
        native::put_limit, native::list_limits, native::get_limit, native::delete_limit,
        native::effective,
        native::list_tenant_limits, native::get_tenant_limit, native::put_tenant_limit,
        native::delete_tenant_limit,
        waldur::usage, waldur::set_quota,
        zitadel::add_quota, zitadel::set_quota, zitadel::remove_quota,
        zitadel::healthz, zitadel::get_instance, zitadel::list_instances,
        zitadel::set_limits, zitadel::bulk_set_limits, zitadel::reset_limits,
        confluent::list_client_quotas, confluent::create_client_quota,
        confluent::get_client_quota, confluent::update_client_quota,
        confluent::delete_client_quota, confluent::effective_client_quota,
        native::create_template, native::replace_template, native::delete_template,
        native::admit,
        native::read_clock, native::move_clock, native::reset,
        datarobot::list_quotas, datarobot::create_quota, datarobot::get_quota,
        datarobot::update_quota, datarobot::delete_quota,
        datarobot::list_templates, datarobot::get_template,
        service_quota::list_applied_quotas, service_quota::get_applied_quota,
        service_quota::list_scopes, service_quota::get_scope,
        service_quota::adjust_applied_quota, service_quota::applied_quota_adjustments,
        service_quota::define_service_quota_code, service_quota::list_service_quota_codes,
    ),
    components(schemas(native::Problem, native::ProblemField, datarobot::ErrorResponse,
        waldur::TokenQuotaUsageResponse, waldur::SetTokenQuotaRequest, waldur::WaldurErrorDetail,
        zitadel::RpcStatus, zitadel::ErrorDetail,
        confluent::ClientQuota, confluent::ClientQuotaList, confluent::ClientQuotaSpec,
        confluent::ClientQuotaCreate, confluent::ClientQuotaUpdate, confluent::FailureBody,
        confluent::EffectiveClientQuota,
        service_quota::AppliedQuota, service_quota::AppliedQuotaList, service_quota::ScopeBody,
        service_quota::ScopeList, service_quota::AppliedQuotaAdjust,
        service_quota::AppliedQuotaAdjustment, service_quota::ServiceQuotaCode,
        service_quota::ServiceQuotaCodeDefine)),
    modifiers(&Security, &ExactResponses),
    security(("bearer" = []), ("basic" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        // Waldur's: `Authorization: Token <secret>`.
        components.add_security_scheme(
            "tokenAuth",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <secret>`",
            ))),
        );
    }
}

/// The document as pretty JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        super::openapi_constraints::constrain(&mut document);
        serde_json::to_string_pretty(&document).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
}
