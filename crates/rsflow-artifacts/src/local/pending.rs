//! Digests still being computed for files already published (see `LocalStore::put`): a
//! download of such a file in this process waits for its digest (up to a bound) instead of
//! being served without one. Keyed by the file's full path; a newer upload of the same path
//! takes the entry over, and an older job ending does not remove the newer one's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

struct Entry {
    generation: u64,
    done: watch::Receiver<bool>,
}

static PENDING: LazyLock<Mutex<HashMap<PathBuf, Entry>>> = LazyLock::new(Default::default);
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn pending() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Entry>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A digest being computed for the file at a path; dropping it (the digest stored, or given
/// up on) releases the readers waiting for it.
pub(super) struct Pending {
    key: PathBuf,
    generation: u64,
    done: watch::Sender<bool>,
}

/// Announce that the file about to be published at `path` under `root` gets its digest later.
pub(super) fn register(root: &Path, path: &str) -> Pending {
    let key = root.join(path);
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let (done, rx) = watch::channel(false);
    pending().insert(
        key.clone(),
        Entry {
            generation,
            done: rx,
        },
    );
    Pending {
        key,
        generation,
        done,
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let _ = self.done.send(true);
        let mut map = pending();
        if map
            .get(&self.key)
            .is_some_and(|e| e.generation == self.generation)
        {
            map.remove(&self.key);
        }
    }
}

/// Digests finished after their upload hash at most this many at a time (one per core): more
/// would only share the same cores, each with its own read buffer. The others wait their turn
/// on the blocking pool (a graceful shutdown waits for them too).
static TURNS: LazyLock<(Mutex<usize>, Condvar)> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (Mutex::new(cores), Condvar::new())
});

/// A turn to hash, held until dropped. Blocks the calling (blocking-pool) thread until one is
/// free.
pub(super) struct Turn(());

pub(super) fn digest_turn() -> Turn {
    let (free, cv) = &*TURNS;
    let mut n = free.lock().unwrap_or_else(PoisonError::into_inner);
    while *n == 0 {
        n = cv.wait(n).unwrap_or_else(PoisonError::into_inner);
    }
    *n -= 1;
    Turn(())
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (free, cv) = &*TURNS;
        *free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        cv.notify_one();
    }
}

/// Wait (at most `max`) until no digest is pending for the file at `path` under `root`. The
/// usual case, nothing pending anywhere, costs one lock and builds no path.
pub(super) async fn settle(root: &Path, path: &str, max: Duration) {
    let mut rx = {
        let map = pending();
        if map.is_empty() {
            return;
        }
        match map.get(&root.join(path)) {
            Some(e) => e.done.clone(),
            None => return,
        }
    };
    let _ = tokio::time::timeout(max, rx.wait_for(|done| *done)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_wait_for_the_latest_upload_of_a_path() {
        let root = Path::new("/pending-test");
        let older = register(root, "a");
        let newer = register(root, "a");
        drop(older);
        // The newer upload's entry outlives the older job.
        let waited =
            tokio::time::timeout(Duration::from_millis(50), settle(root, "a", Duration::MAX));
        assert!(waited.await.is_err(), "the newer digest is still pending");
        let reader = tokio::spawn(async move { settle(root, "a", Duration::MAX).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(newer);
        tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("released when the digest is stored")
            .unwrap();
        assert!(!pending().contains_key(Path::new("/pending-test/a")));
    }

    #[test]
    fn digest_turns_are_as_many_as_the_cores() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let held: Vec<Turn> = (0..cores).map(|_| digest_turn()).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let turn = digest_turn();
            tx.send(()).unwrap();
            drop(turn);
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "no turn while every one is held"
        );
        drop(held);
        rx.recv_timeout(Duration::from_secs(5))
            .expect("a turn once one is given back");
        waiter.join().unwrap();
    }

    #[tokio::test]
    async fn a_path_without_a_pending_digest_does_not_wait() {
        let _other = register(Path::new("/pending-test"), "other");
        tokio::time::timeout(
            Duration::from_secs(1),
            settle(Path::new("/pending-test"), "none", Duration::MAX),
        )
        .await
        .unwrap();
    }
}
