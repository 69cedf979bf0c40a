//! Draft-11 `RateLimit-Policy` and `RateLimit` fields beside `X-RateLimit-*`, checked by parsing
//! them with the structured-fields crate, and the `quota-exceeded` problem type.

use std::collections::BTreeMap;

use quotaplane::app::Settings;
use reqwest::Response;
use serde_json::json;
use sfv::{BareItem, List, ListEntry, Parser};

use crate::support::{TestApp, body};
use crate::{on_both_backends, on_both_backends_with};

const QUOTA_EXCEEDED: &str = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/// A parameter value as the test compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Param {
    Int(i64),
    Str(String),
}

/// One list member: its name and parameters.
type Member = (String, BTreeMap<String, Param>);

/// The structured-field list in header `name`, parsed.
fn members(response: &Response, name: &str) -> Vec<Member> {
    let value = response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is missing"));
    let list: List = Parser::new(value.as_bytes())
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    list.into_iter()
        .map(|entry| {
            let ListEntry::Item(item) = entry else {
                panic!("{name}: an inner list")
            };
            let BareItem::String(policy) = item.bare_item else {
                panic!("{name}: not a string")
            };
            let params = item
                .params
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        BareItem::Integer(n) => Param::Int(n.into()),
                        BareItem::String(s) => Param::Str(s.as_str().to_owned()),
                        other => panic!("{name}: unexpected {other:?}"),
                    };
                    (k.as_str().to_owned(), v)
                })
                .collect();
            (policy.as_str().to_owned(), params)
        })
        .collect()
}

/// `[("q", 5), ...]` as a parameter map.
fn params(pairs: &[(&str, Param)]) -> BTreeMap<String, Param> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn int(n: i64) -> Param {
    Param::Int(n)
}

/// The member named `name`.
fn member<'a>(list: &'a [Member], name: &str) -> &'a BTreeMap<String, Param> {
    &list
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {list:?}"))
        .1
}

fn three_a_minute() -> Settings {
    Settings {
        rate_limit_requests: 3,
        rate_limit_window: std::time::Duration::from_secs(60),
        ..Settings::default()
    }
}

on_both_backends_with! {
    settings = three_a_minute();

    async fn a_rate_limited_request_carries_the_key_request_policy_and_a_quota_exceeded_problem(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let first = app.get("/v1/whoami", &admin).await;
        let policy = members(&first, "ratelimit-policy");
        assert_eq!(policy, vec![("key-requests".to_owned(), params(&[("q", int(3)), ("w", int(60))]))]);
        let standing = members(&first, "ratelimit");
        assert_eq!(standing.len(), 1);
        assert_eq!(member(&standing, "key-requests")["r"], int(2));
        assert!(matches!(member(&standing, "key-requests")["t"], Param::Int(t) if (1..=60).contains(&t)));

        // A vendor surface keeps its own body and gets the fields too.
        let waldur = app.request(reqwest::Method::GET, "/api/chat-quota/usage/", &admin).send().await.expect("waldur");
        assert_eq!(member(&members(&waldur, "ratelimit"), "key-requests")["r"], int(1));

        app.get("/v1/whoami", &admin).await;
        let refused = app.get("/v1/whoami", &admin).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(member(&members(&refused, "ratelimit"), "key-requests")["r"], int(0));
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let problem = body(refused).await;
        assert_eq!(problem["type"], QUOTA_EXCEEDED);
        assert_eq!(problem["violated-policies"], json!(["key-requests"]));
    }
}

/// Limits `a-org` (10 a calendar day), `b-team` (5 an hour) and `c-user` (3, no window) on the
/// metric `m`, all applying to `{org: o, team: t, user: u}`.
async fn three_limits(app: &TestApp, admin: &str) {
    for (id, selector, amount, window) in [
        ("a-org", json!({"org": "o"}), 10, "calendar_day"),
        ("b-team", json!({"team": "t"}), 5, "hour"),
        ("c-user", json!({"user": "u"}), 3, "none"),
    ] {
        let limit = json!({"subject": selector, "metric": "m", "amount": amount, "window": {"kind": window}});
        assert_eq!(
            app.put(&format!("/v1/limits/{id}"), admin, &limit)
                .await
                .status(),
            201
        );
    }
}

on_both_backends! {
    async fn a_consume_over_three_limits_lists_each_as_a_policy(app) {
        let (_, admin) = app.tenant_with_admin().await;
        three_limits(&app, &admin).await;
        let usage = json!({"subject": {"org": "o", "team": "t", "user": "u"}, "metric": "m", "amount": 2});
        let consumed = app.post("/v1/usage/consume", &admin, &usage).await;
        assert_eq!(consumed.status(), 200);
        let policy = members(&consumed, "ratelimit-policy");
        let names: Vec<&str> = policy.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["key-requests", "a-org", "b-team", "c-user"]);
        assert_eq!(member(&policy, "a-org"), &params(&[("q", int(10)), ("w", int(86_400))]));
        assert_eq!(member(&policy, "b-team"), &params(&[("q", int(5)), ("w", int(3_600))]));
        assert_eq!(member(&policy, "c-user"), &params(&[("q", int(3))]), "no window: no w");
        // The clock stands at 10:15:00 UTC.
        let standing = members(&consumed, "ratelimit");
        assert_eq!(member(&standing, "a-org"), &params(&[("r", int(8)), ("t", int(49_500))]));
        assert_eq!(member(&standing, "b-team"), &params(&[("r", int(3)), ("t", int(2_700))]));
        assert_eq!(member(&standing, "c-user"), &params(&[("r", int(1))]), "never resets: no t");
        assert!(consumed.headers().contains_key("x-ratelimit-limit"), "beside X-RateLimit-*");

        let checked = app.post("/v1/usage/check", &admin, &usage).await;
        assert_eq!(checked.status(), 429, "check: 2 more would pass c-user");
        assert_eq!(member(&members(&checked, "ratelimit"), "c-user")["r"], int(1));
    }

    async fn a_refused_consume_is_a_quota_exceeded_problem_naming_the_violated_policy(app) {
        let (_, admin) = app.tenant_with_admin().await;
        three_limits(&app, &admin).await;
        let usage = json!({"subject": {"org": "o", "team": "t", "user": "u"}, "metric": "m", "amount": 2});
        assert_eq!(app.post("/v1/usage/consume", &admin, &usage).await.status(), 200);
        let refused = app.post("/v1/usage/consume", &admin, &usage).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let policy = members(&refused, "ratelimit-policy");
        let names: Vec<&str> = policy.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["key-requests", "c-user"], "the refusing limit");
        assert_eq!(member(&members(&refused, "ratelimit"), "c-user"), &params(&[("r", int(1))]));
        let problem = body(refused).await;
        assert_eq!(problem["type"], QUOTA_EXCEEDED);
        assert_eq!(problem["status"], 429);
        assert_eq!(problem["violated-policies"], json!(["c-user"]));
        assert_eq!(problem["allowed"], false);
        assert_eq!(problem["limits"][0]["quota_id"], "c-user");
    }

    async fn a_lease_states_its_policy_in_concurrent_requests(app) {
        let (_, admin) = app.tenant_with_admin().await;
        let limit = json!({"subject": {}, "metric": "slots", "amount": 2, "window": {"kind": "none"}});
        app.put("/v1/limits/slots", &admin, &limit).await;
        let lease = json!({"subject": {}, "metric": "slots", "amount": 1, "ttl_seconds": 60});
        let granted = app.post("/v1/leases", &admin, &lease).await;
        assert_eq!(granted.status(), 201);
        let policy = members(&granted, "ratelimit-policy");
        assert_eq!(member(&policy, "slots"), &params(&[("q", int(2)), ("qu", Param::Str("concurrent-requests".into()))]));
        assert_eq!(member(&members(&granted, "ratelimit"), "slots"), &params(&[("r", int(1))]));
    }
}
