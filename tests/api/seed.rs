//! CI mode's seed files: a declared starting state, applied idempotently, whose bad entries name
//! themselves.

use std::path::{Path, PathBuf};

use quotaplane::app::{AppState, Settings};
use quotaplane::seed::{Applied, SeedFile, apply, apply_file};
use quotaplane::store::{AnyStore, LimitStore, TenantStore};
use serde_json::json;

use crate::on_both_backends;
use crate::process::Server;
use crate::support::{TempDir, TestApp, body};

/// The seed file with every kind of entry.
pub(crate) fn every_kind() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seeds/every-kind.yaml")
}

pub(crate) const TENANT: &str = "0b0e6f1c-3c5e-4f7e-9a53-6a8f6d2c1a01";
const ADMIN: &str = "acme-admin-secret-0123456789";
const STAFF: &str = "acme-staff-secret-0123456789";
const ALICE: &str = "acme-alice-secret-0123456789";

/// The state a `seed` run builds over the test server's database.
pub(crate) async fn seeder(app: &TestApp) -> AppState {
    let store = AnyStore::connect(&app.database_url).await.expect("store");
    AppState::new(store, Settings::default())
}

/// Applies `text` (YAML) to the test server's database.
async fn seed_yaml(app: &TestApp, text: &str) -> quotaplane::domain::Result<Applied> {
    let file = SeedFile::parse(text, false).expect("parses");
    apply(&seeder(app).await, &file).await
}

on_both_backends! {
    async fn a_seed_file_with_every_kind_of_entry_works_at_once(app) {
        let applied = apply_file(&seeder(&app).await, &every_kind()).await.expect("applies");
        assert_eq!(applied, Applied { created: 11, updated: 0, unchanged: 0 });

        let me = body(app.get("/v1/whoami", ADMIN).await).await;
        assert_eq!(me["tenant_id"], TENANT, "the seeded key, in the seeded tenant: {me}");
        let basic = app.client.get(format!("{}/v1/whoami", app.base))
            .basic_auth("ACME-ADMIN", Some(ADMIN)).send().await.expect("whoami");
        assert_eq!(basic.status(), 200, "the fixed key id is the Basic user name");

        let search = json!({"subject": {"org": "acme", "user": "u1"}, "metric": "search", "amount": 2});
        assert_eq!(app.post("/v1/usage/consume", ADMIN, &search).await.status(), 200);
        assert_eq!(app.post("/v1/usage/consume", ADMIN, &search).await.status(), 429, "the native limit holds");

        let usage = app.request(reqwest::Method::GET, "/api/chat-quota/usage/", ALICE).send().await.expect("usage");
        assert_eq!(usage.status(), 200);
        let usage = body(usage).await;
        assert_eq!((usage["daily_limit"].clone(), usage["weekly_limit"].clone()), (json!(100), json!(500)));
        let staff_sees = app.get("/api/chat-quota/usage/?user_uuid=5d1c3a9e-8f7b-4c2d-9e1f-0a2b3c4d5e6f", STAFF).await;
        assert_eq!(staff_sees.status(), 200);

        let kafka = app.client.get(format!("{}/kafka-quotas/v1/client-quotas?spec.cluster=lkc-ci&environment=env-ci", app.base))
            .basic_auth("ACME-ADMIN", Some(ADMIN)).send().await.expect("client quotas");
        let kafka = body(kafka).await;
        assert_eq!(kafka["data"][0]["spec"]["display_name"], "ci-producers", "the Confluent client quota: {kafka}");
        assert_eq!(kafka["data"][0]["spec"]["throughput"]["ingress_byte_rate"], "1048576");

        let quotas = app.request(reqwest::Method::GET, "/api/v2/quotas/", ADMIN).send().await.expect("quotas");
        let quotas = body(quotas).await;
        assert_eq!(quotas["totalCount"], 2, "the DataRobot quotas: {quotas}");
        let from_template = quotas["data"].as_array().into_iter().flatten()
            .find(|q| q["resourceId"] == "dep-1").cloned().unwrap_or_default();
        assert_eq!(from_template["defaultRules"], json!([{"rule": "requests", "limit": 100, "window": "min"}]));
        let call = json!({"consumer_type": "user", "consumer_id": "u1"});
        assert_eq!(app.post("/v1/datarobot/deployments/dep-2/calls", ADMIN, &call).await.status(), 200, "the quota enforces at once");

        let requests = body(app.get("/v1/limits/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED", ADMIN).await).await;
        assert_eq!(requests["amount"], 1000, "the ZITADEL quota: {requests}");
        assert!(requests["usage"]["used"].as_i64().is_some_and(|n| n > 0), "and it meters at once: {requests}");
    }

    async fn a_second_run_with_the_same_file_changes_nothing(app) {
        apply_file(&seeder(&app).await, &every_kind()).await.expect("first run");
        let before = body(app.get("/v1/limits/search-per-user", ADMIN).await).await;
        let again = apply_file(&seeder(&app).await, &every_kind()).await.expect("second run");
        assert_eq!(again, Applied { created: 0, updated: 0, unchanged: 11 });
        let after = body(app.get("/v1/limits/search-per-user", ADMIN).await).await;
        assert_eq!(before["updated_at"], after["updated_at"], "nothing was written");
    }

    async fn a_changed_entry_is_updated(app) {
        let seed = |amount: i64, roles: &str| format!(
            "tenants:\n  - id: {TENANT}\n    name: acme\n    keys:\n      - {{id: K1, secret: {ADMIN}, roles: [{roles}]}}\n    limits:\n      - {{id: l, metric: m, amount: {amount}, window: {{kind: none}}}}\n");
        assert_eq!(seed_yaml(&app, &seed(1, "admin")).await.expect("first").created, 3);
        let changed = seed_yaml(&app, &seed(5, "admin,staff")).await.expect("changed");
        assert_eq!(changed, Applied { created: 0, updated: 2, unchanged: 1 });
        assert_eq!(body(app.get("/v1/limits/l", ADMIN).await).await["amount"], 5);
        let me = body(app.get("/v1/whoami", ADMIN).await).await;
        assert_eq!(me["roles"], json!(["admin", "staff"]));
    }

    async fn a_changed_datarobot_quota_is_updated_in_place(app) {
        let seed = |limit: i64| format!(
            "tenants:\n  - id: {TENANT}\n    name: acme\n    keys:\n      - {{id: K1, secret: {ADMIN}, roles: [admin]}}\n    datarobot_quotas:\n      - {{resourceType: deployment, resourceId: d1, defaultRules: [{{rule: requests, limit: {limit}, window: min}}]}}\n");
        assert_eq!(seed_yaml(&app, &seed(5)).await.expect("first").created, 3);
        let before = body(app.get("/api/v2/quotas/", ADMIN).await).await;
        assert_eq!(seed_yaml(&app, &seed(5)).await.expect("again").unchanged, 3);
        assert_eq!(seed_yaml(&app, &seed(7)).await.expect("changed").updated, 1);
        let after = body(app.get("/api/v2/quotas/", ADMIN).await).await;
        assert_eq!(after["totalCount"], 1, "one quota per resource: {after}");
        assert_eq!(after["data"][0]["id"], before["data"][0]["id"], "updated, not replaced");
        assert_eq!(after["data"][0]["defaultRules"][0]["limit"], 7);
    }

    async fn a_bad_entry_names_itself_and_its_field(app) {
        let bad_role = format!("tenants:\n  - id: {TENANT}\n    name: acme\n    keys:\n      - {{id: K1, secret: {ADMIN}, roles: [admin]}}\n      - {{id: K2, secret: {STAFF}, roles: [admin, root]}}\n");
        let message = seed_yaml(&app, &bad_role).await.expect_err("refused").to_string();
        assert_eq!(message, "tenants[0] (acme).keys[1] (id K2): /roles/1: role must be one of system, admin, staff, support, user, reporter");
        let bad_limit = format!("tenants:\n  - id: {TENANT}\n    name: acme\n    limits:\n      - {{id: l, metric: m, amount: 1, window: {{kind: fortnight}}}}\n");
        let message = seed_yaml(&app, &bad_limit).await.expect_err("refused").to_string();
        assert!(message.starts_with("tenants[0] (acme).limits[0] (id l): /window/kind: "), "{message}");
        let bad_waldur = format!("tenants:\n  - id: {TENANT}\n    name: acme\n    waldur_user_limits:\n      - {{user_uuid: 5d1c3a9e8f7b4c2d9e1f0a2b3c4d5e6f, daily_limit: -7}}\n");
        let message = seed_yaml(&app, &bad_waldur).await.expect_err("refused").to_string();
        assert!(message.starts_with("tenants[0] (acme).waldur_user_limits[0]: /daily_limit: "), "{message}");
    }

    async fn a_late_bad_entry_leaves_nothing_of_its_new_tenant(app) {
        let other = "1c2d3e4f-0000-4000-8000-000000000001";
        let text = format!(
            "tenants:\n  - id: {other}\n    name: first\n    limits:\n      - {{id: l, metric: m, amount: 1, window: {{kind: none}}}}\n  - id: {TENANT}\n    name: acme\n    keys:\n      - {{id: K1, secret: {ADMIN}, roles: [admin]}}\n    limits:\n      - {{id: l, metric: m, amount: 1, window: {{kind: none}}}}\n    waldur_user_limits:\n      - {{user_uuid: 5d1c3a9e8f7b4c2d9e1f0a2b3c4d5e6f, daily_limit: -7}}\n");
        seed_yaml(&app, &text).await.expect_err("the Waldur entry is refused");

        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let tenant = TENANT.parse().expect("uuid");
        assert!(store.tenant(tenant).await.expect("read").is_none(), "no tenant row");
        assert!(store.keys(tenant).await.expect("read").is_empty(), "no key");
        assert!(store.limits(tenant).await.expect("read").is_empty(), "no limit");
        let first = other.parse().expect("uuid");
        assert!(store.tenant(first).await.expect("read").is_some(), "the tenant before it stays applied");
        assert_eq!(app.get("/v1/whoami", ADMIN).await.status(), 401);
    }

    async fn a_failure_part_way_through_a_tenant_leaves_it_as_it_was_and_a_retry_applies_it(app) {
        let seed = |amount: i64, second_key: bool| {
            let key = if second_key { format!("\n      - {{id: K2, secret: {STAFF}, roles: [staff]}}") } else { String::new() };
            format!(
                "tenants:\n  - id: {TENANT}\n    name: acme\n    keys:\n      - {{id: K1, secret: {ADMIN}, roles: [admin]}}{key}\n    limits:\n      - {{id: l, metric: m, amount: {amount}, window: {{kind: none}}}}\n    datarobot_quotas:\n      - {{resourceType: deployment, resourceId: d1, defaultRules: [{{rule: requests, limit: 5, window: min}}]}}\n      - {{resourceType: deployment, resourceId: d2, defaultRules: [{{rule: requests, limit: 5, window: min}}]}}\n")
        };
        assert_eq!(seed_yaml(&app, &seed(1, false)).await.expect("first").created, 5);
        let quotas_before = body(app.get("/api/v2/quotas/", ADMIN).await).await;

        crate::aggregates::fail_inserts(&app, "datarobot_quotas", "NEW.resource_id = 'd3'").await;
        let changed = seed(9, true).replace("resourceId: d2", "resourceId: d3")
            + "    zitadel_quotas:\n      - {unit: UNIT_REQUESTS_ALL_AUTHENTICATED, from: '2026-03-01T00:00:00Z', resetInterval: 86400s, amount: '10', limit: true}\n";
        let changed = changed.replace("window: {kind: none}}\n", "window: {kind: none}}\n      - {id: l2, metric: m, amount: 1, window: {kind: none}}\n");
        seed_yaml(&app, &changed).await.expect_err("the injected failure stops the tenant");

        assert_eq!(body(app.get("/v1/limits/l", ADMIN).await).await["amount"], 1, "the changed limit is as it was");
        assert_eq!(app.get("/v1/whoami", STAFF).await.status(), 401, "the new key is not there");
        assert_eq!(app.get("/v1/limits/l2", ADMIN).await.status(), 404, "nor the new limit");
        assert_eq!(app.get("/v1/limits/zitadel:UNIT_REQUESTS_ALL_AUTHENTICATED", ADMIN).await.status(), 404);
        let quotas_after = body(app.get("/api/v2/quotas/", ADMIN).await).await;
        assert_eq!(quotas_after, quotas_before, "no DataRobot quota came or went");

        crate::aggregates::lift(&app, "datarobot_quotas").await;
        let retried = seed_yaml(&app, &changed).await.expect("the retry applies");
        assert_eq!(retried.created, 4, "K2, l2, d3 and the ZITADEL quota: {retried:?}");
        assert_eq!(body(app.get("/v1/limits/l", ADMIN).await).await["amount"], 9);
        let store = AnyStore::connect(&app.database_url).await.expect("store");
        let keys = store.keys(TENANT.parse().expect("uuid")).await.expect("keys");
        assert!(keys.iter().any(|k| k.id == "K2"), "the new key is there now");
    }
}

#[test]
fn a_malformed_seed_file_names_the_path_of_the_bad_value() {
    let text = "tenants:\n  - id: not-a-uuid\n    name: acme\n";
    let (at, why) = SeedFile::parse(text, false).expect_err("refused");
    assert_eq!(at, "tenants[0].id");
    assert!(why.contains("UUID"), "{why}");
    let (at, _) = SeedFile::parse("{\"tenants\": [{\"id\": 1}]}", true).expect_err("refused");
    assert_eq!(at, "tenants[0].id");
    let (at, why) = SeedFile::parse("tenant: []\n", false).expect_err("refused");
    assert_eq!(at, "tenant", "the unknown key itself");
    assert!(why.contains("unknown field `tenant`"), "{why}");
}

#[tokio::test]
async fn serve_with_a_seed_file_takes_traffic_with_the_seeded_keys_and_a_bad_file_stops_the_start()
{
    let dir = TempDir::new();
    let url = format!("sqlite://{}/q.db", dir.0.display());
    let seed = every_kind();
    let server = Server::start(&url, &[("QUOTAPLANE_SEED", seed.to_str().expect("utf-8"))]).await;
    let me = reqwest::Client::new()
        .get(format!("{}/v1/whoami", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("whoami");
    assert_eq!(
        me.status(),
        200,
        "the seeded key works as soon as /readyz does"
    );
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0));

    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_quotaplane"))
        .args([
            "seed",
            seed.to_str().expect("utf-8"),
            "--database-url",
            &url,
        ])
        .output()
        .await
        .expect("quotaplane seed");
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        said.ends_with("0 created, 0 updated, 11 unchanged\n"),
        "{said}"
    );

    let bad = dir.0.join("bad.json");
    std::fs::write(
        &bad,
        format!("{{\"tenants\": [{{\"id\": \"{TENANT}\", \"name\": \"\"}}]}}"),
    )
    .expect("write");
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_quotaplane"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--seed",
        ])
        .arg(&bad)
        .output()
        .await
        .expect("quotaplane serve");
    assert!(!refused.status.success(), "a bad seed file stops the start");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains(&format!(
            "seed file {}: tenants[0] (): /name: name must not be empty",
            bad.display()
        )),
        "{said}"
    );
}
