//! Paging: `page_size` (default 10, at most 100), opaque `page_token`s that cannot be forged or
//! moved to another list, `metadata.next` only while there is more, stable under inserts.

use std::collections::HashSet;

use chrono::TimeDelta;
use serde_json::Value;

use super::{Org, create, list, org, quota};
use crate::on_both_backends;
use crate::support::TestApp;

/// Creates `n` quotas on lkc-1, one principal each; their ids.
async fn fill(app: &TestApp, org: &Org, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let body = quota(&format!("q{i}"), "env-1", "lkc-1", &[&format!("sa-{i}")]);
        ids.push(
            create(app, org, &body).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
        app.clock.advance(TimeDelta::milliseconds(1));
    }
    ids
}

/// The page-token part of a `next` link, as the Confluent CLI extracts it.
fn token_of(next: &Value) -> String {
    let url = next.as_str().expect("next link");
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "page_token")
        .map(|(_, v)| v.into_owned())
        .expect("page_token in next")
}

fn ids_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["id"].as_str().map(str::to_owned))
        .collect()
}

on_both_backends! {
    async fn paging_through_25_quotas_ten_at_a_time_returns_each_exactly_once(app) {
        let org = org(&app).await;
        let created = fill(&app, &org, 25).await;
        let filters = "spec.cluster=lkc-1&environment=env-1";
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut query = format!("{filters}&page_size=10");
        loop {
            let page = list(&app, &org.admin, &query).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert_eq!(page.body["kind"], "ClientQuotaList");
            assert_eq!(page.body["metadata"]["total_size"], 25);
            assert!(page.body["metadata"]["first"].as_str().is_some_and(|f| f.contains("page_size=10")));
            sizes.push(page.body["data"].as_array().map_or(0, Vec::len));
            seen.extend(ids_of(&page.body));
            match page.body["metadata"].get("next") {
                Some(next) => query = format!("{filters}&page_token={}", token_of(next)),
                None => break,
            }
        }
        assert_eq!(sizes, vec![10, 10, 5]);
        assert_eq!(seen, created, "each once, oldest first");
    }

    async fn the_next_link_can_be_followed_as_given_and_inserts_do_not_shift_pages(app) {
        let org = org(&app).await;
        let created = fill(&app, &org, 12).await;
        let first = list(&app, &org.admin, "spec.cluster=lkc-1&environment=env-1&page_size=5").await;
        let mut seen: Vec<String> = ids_of(&first.body);
        // New quotas arrive while a client pages.
        app.clock.advance(TimeDelta::seconds(1));
        let late = create(&app, &org, &quota("late", "env-1", "lkc-1", &["sa-late"])).await;
        let mut next = first.body["metadata"]["next"].as_str().map(str::to_owned);
        while let Some(url) = next {
            let path = url.strip_prefix(&app.base).expect("absolute link to this server");
            let page = crate::confluent::call(&app, Some(&org.admin), reqwest::Method::GET, path, None).await;
            assert_eq!(page.status, 200);
            assert!(page.body["data"].as_array().map_or(0, Vec::len) <= 5);
            seen.extend(ids_of(&page.body));
            next = page.body["metadata"]["next"].as_str().map(str::to_owned);
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no quota twice");
        assert_eq!(&seen[..12], &created[..], "the first twelve, each once, in order");
        assert_eq!(seen.last().map(String::as_str), late["id"].as_str(), "the insert comes last");
    }

    async fn the_default_page_is_ten_and_a_token_belongs_to_its_own_list(app) {
        let org = org(&app).await;
        fill(&app, &org, 11).await;
        let page = list(&app, &org.admin, "spec.cluster=lkc-1&environment=env-1").await;
        assert_eq!(page.body["data"].as_array().map(Vec::len), Some(10));
        let token = token_of(&page.body["metadata"]["next"]);
        let last = list(&app, &org.admin, &format!("spec.cluster=lkc-1&environment=env-1&page_token={token}")).await;
        assert_eq!(last.body["data"].as_array().map(Vec::len), Some(1));
        assert!(last.body["metadata"].get("next").is_none());
        // The same token on another cluster, or in another organization, is refused.
        let moved = list(&app, &org.admin, &format!("spec.cluster=lkc-2&environment=env-1&page_token={token}")).await;
        assert_eq!(moved.status, 400);
        assert_eq!(moved.error()["source"]["parameter"], "page_token");
        let stranger = crate::confluent::org(&app).await;
        let stolen = list(&app, &stranger.admin, &format!("spec.cluster=lkc-1&environment=env-1&page_token={token}")).await;
        assert_eq!(stolen.status, 400);
        // A one-page list has no next link.
        let all = list(&app, &org.admin, "spec.cluster=lkc-1&environment=env-1&page_size=100").await;
        assert_eq!(all.body["data"].as_array().map(Vec::len), Some(11));
        assert!(all.body["metadata"].get("next").is_none());
    }
}
