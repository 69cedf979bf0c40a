//! The key cache: keys recently looked up by secret hash, so the hot path does not read the
//! store on every request, and secrets recently found to match no key, so a client repeating a
//! wrong one does not either.
//!
//! Revocation: a revoke on this server evicts at once and bumps a generation; a look-up that was
//! in flight when the generation moved does not cache what it read (it may have read the key
//! just before it was deleted). A key revoked elsewhere (another replica, `admin revoke-key`)
//! keeps working here for at most the TTL (`--key-cache-ttl-ms`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::domain::Result;
use crate::domain::principal::{ApiKey, SecretHash};

/// What the cache knows of one secret hash.
#[derive(Clone)]
enum Known {
    Key(ApiKey),
    /// No key has this secret.
    Nothing,
}

/// Keys and misses by secret hash, bounded in size and age.
pub struct KeyCache {
    entries: RwLock<HashMap<SecretHash, (Known, Instant)>>,
    /// Moves on every eviction: a look-up caches its answer only if it did not move meanwhile.
    generation: AtomicU64,
    ttl: Duration,
    max_entries: usize,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_TTL, Self::DEFAULT_MAX_ENTRIES)
    }
}

impl KeyCache {
    /// How long a cached key is trusted before the store is asked again, by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(2);
    /// Most entries kept; past it, the oldest half is forgotten.
    pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
    /// The longest a miss is remembered (a key created meanwhile by another replica would
    /// be refused that long).
    const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(1);

    /// A cache trusting entries for `ttl`, holding at most `max_entries`.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
            max_entries: max_entries.max(1),
        }
    }

    /// How long an entry is trusted.
    fn ttl_of(&self, known: &Known) -> Duration {
        match known {
            Known::Key(_) => self.ttl,
            Known::Nothing => self.ttl.min(Self::MAX_NEGATIVE_TTL),
        }
    }

    /// The key whose secret hashes to `hash`, from the cache or from `look_up` (the store).
    pub async fn find<F, Fut>(&self, hash: SecretHash, look_up: F) -> Result<Option<ApiKey>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<ApiKey>>>,
    {
        if let Some(known) = self.cached(&hash) {
            metrics::counter!("quotaplane_cache_lookups_total", "cache" => "keys", "outcome" => "hit")
                .increment(1);
            return Ok(match known {
                Known::Key(key) => Some(key),
                Known::Nothing => None,
            });
        }
        metrics::counter!("quotaplane_cache_lookups_total", "cache" => "keys", "outcome" => "miss")
            .increment(1);
        let mut found = None;
        // A revoke during the look-up: read again (once), as the first answer may predate it.
        for _ in 0..2 {
            let before = self.generation.load(Ordering::Acquire);
            found = look_up().await?;
            if self.remember(hash, &found, before) {
                break;
            }
        }
        Ok(found)
    }

    fn cached(&self, hash: &SecretHash) -> Option<Known> {
        let entries = self.entries.read().ok()?;
        let (known, at) = entries.get(hash)?;
        (at.elapsed() < self.ttl_of(known)).then(|| known.clone())
    }

    /// Caches `found` unless the generation moved since `before`; whether it was cached.
    fn remember(&self, hash: SecretHash, found: &Option<ApiKey>, before: u64) -> bool {
        let Ok(mut entries) = self.entries.write() else {
            return false;
        };
        if self.generation.load(Ordering::Acquire) != before {
            return false;
        }
        if entries.len() >= self.max_entries {
            Self::forget_oldest_half(&mut entries);
        }
        let known = found.clone().map_or(Known::Nothing, Known::Key);
        entries.insert(hash, (known, Instant::now()));
        true
    }

    fn forget_oldest_half(entries: &mut HashMap<SecretHash, (Known, Instant)>) {
        let mut ages: Vec<Instant> = entries.values().map(|(_, at)| *at).collect();
        let middle = ages.len() / 2;
        let (_, cut, _) = ages.select_nth_unstable(middle);
        let cut = *cut;
        entries.retain(|_, (_, at)| *at > cut);
    }

    /// Forgets a key, so its next use asks the store, and stops look-ups in flight from
    /// caching what they read.
    pub fn evict(&self, key_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.retain(|_, (known, _)| !matches!(known, Known::Key(key) if key.id == key_id));
        }
    }

    /// Drops entries past their TTL (run periodically, so the map holds only live entries).
    pub fn forget_expired(&self) {
        if let Ok(mut entries) = self.entries.write() {
            let (ttl, negative) = (self.ttl, self.ttl.min(Self::MAX_NEGATIVE_TTL));
            entries.retain(|_, (known, at)| {
                at.elapsed()
                    < match known {
                        Known::Key(_) => ttl,
                        Known::Nothing => negative,
                    }
            });
            metrics::gauge!("quotaplane_cache_entries", "cache" => "keys")
                .set(entries.len() as f64);
        }
    }

    /// How many entries are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use chrono::Utc;
    use tokio::sync::Notify;

    use super::*;
    use crate::domain::principal::{Role, Roles};

    fn key() -> (ApiKey, SecretHash) {
        let (key, secret) = ApiKey::issue(
            uuid::Uuid::new_v4(),
            Roles::default().with(Role::Admin),
            None,
            String::new(),
            Utc::now(),
        )
        .expect("key");
        (key, secret.hash())
    }

    #[tokio::test]
    async fn a_look_up_held_across_a_revoke_does_not_cache_the_key() {
        let cache = Arc::new(KeyCache::default());
        let (key, hash) = key();
        let (reading, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let reads = Arc::new(AtomicUsize::new(0));
        // The store: the first read sees the key and is held until the revoke is done; later
        // reads see it deleted.
        let store = {
            let (key, reading, release, reads) =
                (key.clone(), reading.clone(), release.clone(), reads.clone());
            move || {
                let (key, reading, release, reads) =
                    (key.clone(), reading.clone(), release.clone(), reads.clone());
                async move {
                    if reads.fetch_add(1, Ordering::SeqCst) == 0 {
                        reading.notify_one();
                        release.notified().await;
                        Ok(Some(key))
                    } else {
                        Ok(None)
                    }
                }
            }
        };
        let in_flight = tokio::spawn({
            let (cache, store) = (cache.clone(), store.clone());
            async move { cache.find(hash, store).await }
        });
        reading.notified().await;
        cache.evict(&key.id);
        release.notify_one();
        let answered = in_flight.await.expect("task").expect("find");

        assert!(answered.is_none(), "the read after the revoke wins");
        let again = cache.find(hash, store).await.expect("find");
        assert!(again.is_none(), "the revoked key was not cached");
        assert_eq!(reads.load(Ordering::SeqCst), 2, "the miss is cached");
    }

    #[tokio::test]
    async fn a_found_key_and_a_miss_are_both_served_from_the_cache() {
        let cache = KeyCache::default();
        let (key, hash) = key();
        let (_, unknown) = self::key();
        let reads = AtomicUsize::new(0);
        let store = |found: Option<ApiKey>| {
            let reads = &reads;
            move || {
                reads.fetch_add(1, Ordering::SeqCst);
                let found = found.clone();
                async move { Ok(found) }
            }
        };
        for _ in 0..3 {
            assert!(
                cache
                    .find(hash, store(Some(key.clone())))
                    .await
                    .expect("find")
                    .is_some()
            );
            assert!(
                cache
                    .find(unknown, store(None))
                    .await
                    .expect("find")
                    .is_none()
            );
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cache_never_holds_more_than_its_bound() {
        let cache = KeyCache::new(Duration::from_secs(60), 10);
        for _ in 0..100 {
            let (_, hash) = key();
            cache.find(hash, || async { Ok(None) }).await.expect("find");
        }
        assert!(cache.len() <= 10, "{} entries", cache.len());
    }
}
