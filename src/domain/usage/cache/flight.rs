//! Reads asked for again while the same read is in flight share it ("single flight"). While a
//! large metric loads, a tenant sending one subject on many connections then reads its limits
//! from the store once, not once a connection: without it, 56 connections of one tenant read
//! 2,000 limits each at once, and the CPU that took held up every other tenant's requests.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// The reads in flight, by what they read. Holds only reads someone is waiting for: an entry
/// leaves when its read ends, or when every caller waiting for it has gone.
pub(super) struct Flights<K, V> {
    inflight: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    /// What `read` answers for `key`, or what the same read already in flight answers (then
    /// `read` is dropped unpolled: a future does nothing until polled). Should
    /// the caller running it go away (its request cancelled), one of those waiting runs it.
    pub(super) async fn share(&self, key: K, read: impl Future<Output = V>) -> V {
        let joined = self
            .inflight
            .lock()
            .map(|mut inflight| inflight.entry(key.clone()).or_default().clone())
            .ok();
        // A panic elsewhere poisoned the map: read alone.
        let Some(cell) = joined else {
            return read.await;
        };
        let leaving = Leaving {
            flights: self,
            key,
            cell,
        };
        leaving.cell.get_or_init(|| read).await.clone()
    }

    /// How many reads are in flight.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inflight.lock().map_or(0, |m| m.len())
    }
}

/// Removes a flight once it has its answer (later callers read afresh), or when its last caller
/// leaves without one.
struct Leaving<'a, K: Hash + Eq, V> {
    flights: &'a Flights<K, V>,
    key: K,
    cell: Arc<OnceCell<V>>,
}

impl<K: Hash + Eq, V> Drop for Leaving<'_, K, V> {
    fn drop(&mut self) {
        let Ok(mut inflight) = self.flights.inflight.lock() else {
            return;
        };
        let ours = inflight
            .get(&self.key)
            .is_some_and(|cell| Arc::ptr_eq(cell, &self.cell));
        // Two holders left: the map and this caller.
        if ours && (self.cell.initialized() || Arc::strong_count(&self.cell) <= 2) {
            inflight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn callers_asking_for_the_same_read_at_once_share_one_read() {
        let flights: Arc<Flights<&str, usize>> = Arc::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (flights, reads, gate) = (flights.clone(), reads.clone(), gate.clone());
                tokio::spawn(async move {
                    flights
                        .share("limits", async move {
                            gate.notified().await;
                            reads.fetch_add(1, Ordering::SeqCst) + 40
                        })
                        .await
                })
            })
            .collect();
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        gate.notify_waiters();
        for caller in callers {
            assert_eq!(caller.await.expect("caller"), 40);
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "one read for eight callers"
        );
        assert_eq!(
            flights.len(),
            0,
            "nothing is kept once the read has answered"
        );
        let again = flights.share("limits", async { 7 }).await;
        assert_eq!(again, 7, "a later caller reads afresh");
    }

    #[tokio::test]
    async fn a_read_whose_callers_all_left_is_forgotten_and_the_next_caller_reads_again() {
        let flights: Flights<&str, usize> = Flights::default();
        let never = flights.share("limits", std::future::pending::<usize>());
        assert!(
            tokio::time::timeout(Duration::from_millis(10), never)
                .await
                .is_err()
        );
        assert_eq!(flights.len(), 0, "a read nobody waits for is not kept");
        assert_eq!(flights.share("limits", async { 3 }).await, 3);
    }

    #[tokio::test]
    async fn when_the_caller_running_the_read_leaves_one_still_waiting_runs_it() {
        let flights: Arc<Flights<&str, usize>> = Arc::default();
        let first = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .share("limits", std::future::pending::<usize>())
                    .await
            })
        };
        while flights.len() == 0 {
            tokio::task::yield_now().await;
        }
        let second = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.share("limits", async { 9 }).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        assert_eq!(second.await.expect("second caller"), 9);
        assert_eq!(flights.len(), 0);
    }
}
