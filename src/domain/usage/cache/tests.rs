//! The limit cache's bounds and first loads.

use super::*;
use crate::domain::limit::Limit;
use crate::store::AnyStore;

async fn store() -> (AnyStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("qp-cache-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("sqlite://{}/t.db", dir.display());
    (AnyStore::connect(&url).await.expect("store"), dir)
}

#[tokio::test]
async fn ever_new_metric_names_never_grow_the_cache_past_its_bound() {
    let (store, dir) = store().await;
    let cache = Arc::new(LimitCache::bounded(5, LimitCache::IDLE));
    let (tenant, anyone) = (Uuid::new_v4(), Subject::default());
    for i in 0..20 {
        let found = cache
            .matching(&store, tenant, &anyone, &format!("m{i}"))
            .await;
        assert!(found.expect("matching").is_empty());
    }
    assert_eq!(cache.len(), 5);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn metrics_left_idle_are_forgotten() {
    let (store, dir) = store().await;
    let cache = Arc::new(LimitCache::bounded(100, Duration::ZERO));
    let (tenant, anyone) = (Uuid::new_v4(), Subject::default());
    for metric in ["a", "b"] {
        cache
            .matching(&store, tenant, &anyone, metric)
            .await
            .expect("matching");
    }
    cache.invalidate(tenant, "a");
    assert_eq!(cache.len(), 1);
    cache.forget_idle();
    assert!(cache.is_empty());
    assert!(
        cache
            .generations
            .read()
            .map(|g| g.is_empty())
            .unwrap_or(false)
    );
    let _ = std::fs::remove_dir_all(dir);
}

async fn with_limits(store: &AnyStore, selectors: &[(&str, &[(&str, &str)])]) -> Uuid {
    use crate::domain::audit::{Actor, AuditRecord, ResourceType};
    use crate::domain::tenant::{Tenant, TenantName};
    let (tenant_id, now) = (Uuid::new_v4(), chrono::Utc::now());
    let audit = |kind, id: &str| {
        AuditRecord::change(&Actor::start_up(), tenant_id, kind, id, None, None, now)
    };
    let tenant = Tenant {
        id: tenant_id,
        name: TenantName::parse("t").expect("name"),
        created_at: now,
    };
    store
        .insert_tenant(&tenant, &audit(ResourceType::Tenant, "t"))
        .await
        .expect("tenant");
    for (id, pairs) in selectors {
        let limit = Limit {
            id: (*id).into(),
            tenant_id,
            selector: Subject::trusted(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            metric: if *id == "elsewhere" { "other" } else { "m" }.into(),
            amount: crate::domain::limit::Amount::Limited(1),
            window: crate::domain::window::Window::None,
            blocking: true,
            owner: None,
            per: Vec::new(),
            family: None,
            expires_at: None,
            mode: crate::domain::limit::Mode::Enforce,
            created_at: now,
            updated_at: now,
        };
        store
            .insert_limit(&limit, &audit(ResourceType::Limit, id))
            .await
            .expect("limit");
    }
    tenant_id
}

#[tokio::test]
async fn a_first_load_in_the_background_answers_from_the_store_exactly_meanwhile() {
    let (store, dir) = store().await;
    let tenant = with_limits(
        &store,
        &[
            ("everyone", &[]),
            ("u1", &[("user", "u1")]),
            ("u1-in-t", &[("team", "t"), ("user", "u1")]),
            ("u1-in-s", &[("team", "s"), ("user", "u1")]),
            ("u11", &[("user", "u11")]),
            ("u-1", &[("user", "u_1")]),
            ("quoted", &[("user", "u1\"x")]),
            ("elsewhere", &[("user", "u1")]),
        ],
    )
    .await;
    let mut cache = LimitCache::bounded(100, LimitCache::IDLE);
    cache.direct_above = 0;
    let cache = Arc::new(cache);
    let subject = Subject::of([("team", "t"), ("user", "u1")]);
    let ids = |found: Vec<Arc<CachedLimit>>| -> Vec<String> {
        found.iter().map(|l| l.id.to_string()).collect()
    };

    let direct = cache.matching(&store, tenant, &subject, "m").await;

    assert_eq!(ids(direct.expect("direct")), ["everyone", "u1", "u1-in-t"]);
    while cache.pending.lock().is_ok_and(|p| !p.is_empty()) {
        tokio::task::yield_now().await;
    }
    assert!(
        cache.cached(tenant, "m").is_some(),
        "the background load has ended"
    );
    let cached = cache.matching(&store, tenant, &subject, "m").await;
    assert_eq!(ids(cached.expect("cached")), ["everyone", "u1", "u1-in-t"]);
    let odd = Subject::of([("user", "u_1")]);
    let found = cache.matching(&store, tenant, &odd, "m").await;
    assert_eq!(ids(found.expect("odd")), ["everyone", "u-1"]);
    let _ = std::fs::remove_dir_all(dir);
}
