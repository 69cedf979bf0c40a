//! Native lists a page at a time: `?limit=` and `?cursor=`, the bare array as before, and the
//! next page's URL in `Link: <…>; rel="next"` (RFC 8288).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, body};

/// The URL of the next page, from an answer's `Link` header.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().expect("ascii");
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("not a next link: {link}"));
    Some(url.to_owned())
}

/// Every page from `path` on, as `secret`: the size of each page and the ids in order.
async fn walk(app: &TestApp, path: &str, secret: &str) -> (Vec<usize>, Vec<String>) {
    let (mut sizes, mut ids) = (Vec::new(), Vec::new());
    let mut answer = app.get(path, secret).await;
    loop {
        assert_eq!(answer.status(), StatusCode::OK);
        let next = next_link(&answer);
        let page = body(answer).await;
        let items = page.as_array().expect("a bare array");
        sizes.push(items.len());
        ids.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        let Some(next) = next else { break };
        assert!(sizes.len() < 100, "the pages never end");
        answer = app
            .client
            .get(next)
            .bearer_auth(secret)
            .send()
            .await
            .expect("next page");
    }
    (sizes, ids)
}

/// The ids of one whole list read in a single page.
async fn all_ids(app: &TestApp, path: &str, secret: &str) -> Vec<String> {
    let answer = app.get(&format!("{path}?limit=1000"), secret).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(next_link(&answer).is_none(), "one page holds it all");
    body(answer)
        .await
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

fn native(amount: i64) -> Value {
    json!({"subject": {}, "metric": "m", "amount": amount, "window": {"kind": "day"}})
}

on_both_backends! {
    async fn tenants_are_listed_a_page_at_a_time_by_following_the_link_header(app) {
        for i in 0..5 {
            app.create_tenant(&format!("t{i}")).await;
        }
        let everything = all_ids(&app, "/v1/tenants", &app.system).await;
        assert_eq!(everything.len(), 6, "five and the system tenant");
        let (sizes, ids) = walk(&app, "/v1/tenants?limit=2", &app.system).await;
        assert_eq!(sizes, vec![2, 2, 2]);
        assert_eq!(ids, everything, "each once, oldest first");
        // Without parameters, a list this short is one page.
        let unpaged = app.get("/v1/tenants", &app.system).await;
        assert!(next_link(&unpaged).is_none());
        assert_eq!(body(unpaged).await.as_array().expect("array").len(), 6);
    }

    async fn a_tenants_keys_are_listed_a_page_at_a_time(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        for _ in 0..4 {
            app.key_for(&tenant, &["user"], Some(Uuid::new_v4())).await;
        }
        let path = format!("/v1/tenants/{tenant}/api-keys");
        let everything = all_ids(&app, &path, &admin).await;
        assert_eq!(everything.len(), 5);
        let (sizes, ids) = walk(&app, &format!("{path}?limit=2"), &admin).await;
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(ids, everything);
    }

    async fn limits_are_listed_a_page_at_a_time_by_id_for_the_tenant_and_the_operator(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        for id in ["e", "a", "d", "b", "c"] {
            assert_eq!(app.put(&format!("/v1/limits/{id}"), &admin, &native(3)).await.status(), 201);
        }
        let everything = all_ids(&app, "/v1/limits", &admin).await;
        let mut sorted = everything.clone();
        sorted.sort();
        assert_eq!(everything, sorted, "by id");
        assert!(everything.len() >= 5);
        let (_, ids) = walk(&app, "/v1/limits?limit=2", &admin).await;
        assert_eq!(ids, everything);
        let operated = format!("/v1/tenants/{tenant}/limits");
        let (sizes, ids) = walk(&app, &format!("{operated}?limit=3"), &app.system).await;
        assert_eq!(ids, everything);
        assert!(sizes.iter().all(|s| *s <= 3), "{sizes:?}");
    }

    async fn a_non_admin_sees_on_each_page_only_what_it_may_see_and_pages_may_be_short(app) {
        let tenant = app.create_tenant("acme").await;
        let admin = app.key_for(&tenant, &["admin"], None).await;
        let (mine, theirs) = (Uuid::new_v4(), Uuid::new_v4());
        let user = app.key_for(&tenant, &["user"], Some(mine)).await;
        let other = app.key_for(&tenant, &["user"], Some(theirs)).await;
        app.put("/v1/limits/shared", &admin, &native(3)).await;
        let staff = app.key_for(&tenant, &["staff"], None).await;
        for (key, who) in [(&user, mine), (&other, theirs)] {
            app.set_quota_ok(&staff, json!({"user_uuid": who, "daily_limit": 5})).await;
            let tokens = json!({"subject": {"user": who.to_string()}, "metric": "chat_tokens", "amount": 1});
            assert_eq!(app.post("/v1/usage/consume", key, &tokens).await.status(), 200);
        }
        let seen = all_ids(&app, "/v1/limits", &user).await;
        assert!(seen.contains(&"shared".to_owned()));
        assert!(seen.iter().any(|id| id.contains(&mine.to_string())));
        assert!(!seen.iter().any(|id| id.contains(&theirs.to_string())), "{seen:?}");
        let (sizes, ids) = walk(&app, "/v1/limits?limit=1", &user).await;
        assert_eq!(ids, seen, "the same limits, page by page");
        assert!(sizes.contains(&0), "a page of limits the user may not see is empty: {sizes:?}");
        let (_, everything) = walk(&app, "/v1/limits?limit=1", &admin).await;
        assert!(everything.len() > seen.len());
    }

    async fn a_bad_limit_or_cursor_is_400_naming_the_parameter(app) {
        let (tenant, admin) = app.tenant_with_admin().await;
        for (query, named) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=many", "limit"),
            ("cursor=not-a-cursor", "cursor"),
            ("cursor=%F0%9F%92%A9", "cursor"),
        ] {
            for path in ["/v1/limits".to_owned(), format!("/v1/tenants/{tenant}/api-keys")] {
                let refused = app.get(&format!("{path}?{query}"), &admin).await;
                assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
                assert_eq!(body(refused).await["errors"][0]["parameter"], named, "{path}?{query}");
            }
            let refused = app.get(&format!("/v1/tenants?{query}"), &app.system).await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "tenants?{query}");
        }
        // A limits cursor is no tenants cursor.
        app.put("/v1/limits/a", &admin, &native(1)).await;
        app.put("/v1/limits/b", &admin, &native(1)).await;
        let first = app.get("/v1/limits?limit=1", &admin).await;
        let next = next_link(&first).expect("a next page");
        let cursor = next.split("cursor=").nth(1).expect("cursor");
        let refused = app.get(&format!("/v1/tenants?cursor={cursor}"), &app.system).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }

    async fn rows_added_before_a_cursor_never_repeat_or_shift_the_next_page(app) {
        let (_, admin) = app.tenant_with_admin().await;
        for id in ["b", "c", "d"] {
            app.put(&format!("/v1/limits/{id}"), &admin, &native(1)).await;
        }
        let first = app.get("/v1/limits?limit=2", &admin).await;
        let next = next_link(&first).expect("a next page");
        let first: Vec<String> = body(first).await.as_array().expect("array").iter()
            .map(|l| l["id"].as_str().expect("id").to_owned()).collect();
        assert_eq!(first.len(), 2);
        // Behind the cursor, and after it.
        app.put("/v1/limits/a", &admin, &native(1)).await;
        app.put("/v1/limits/z", &admin, &native(1)).await;
        let (_, rest) = walk(&app, next.trim_start_matches(&app.base), &admin).await;
        assert!(rest.iter().all(|id| !first.contains(id) && id != "a"), "{first:?} {rest:?}");
        assert!(rest.contains(&"z".to_owned()), "{rest:?}");
    }
}
