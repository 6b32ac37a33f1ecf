//! [`Serial`]: one stage of an upload's pipeline (writing the file, hashing it) that takes the
//! body's batches in order on the blocking pool, beside the task that reads the socket.
//!
//! Batches queue up to a bound (the reader waits for room, so a slow disk or hash slows the
//! client down instead of filling memory). One blocking task at a time drains the queue and
//! ends as soon as it is empty: no thread of the pool waits on a slow client, and the stage's
//! state (the file, the hasher) passes from one drain to the next.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a stage does to each batch, in order.
pub(super) type Step<S> = fn(&mut S, &[Bytes]) -> io::Result<()>;

/// A batch of the body's chunks as received, shared by the stages that take it.
pub(super) type Batch = Arc<Vec<Bytes>>;

struct Queue<S> {
    batches: VecDeque<(Batch, OwnedSemaphorePermit)>,
    /// The stage's state, `None` while a drain holds it (or after a panic).
    state: Option<S>,
    /// Whether a drain task is running. Invariant: batches are queued only while one is.
    running: bool,
    failed: Option<io::Error>,
}

pub(super) struct Serial<S: Send + 'static> {
    queue: Arc<Mutex<Queue<S>>>,
    room: Arc<Semaphore>,
    step: Step<S>,
    /// The last drain started; the earlier ones have ended (or are ending) with nothing left.
    drain: Option<tokio::task::JoinHandle<()>>,
}

fn lock<S>(q: &Mutex<Queue<S>>) -> std::sync::MutexGuard<'_, Queue<S>> {
    q.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Send + 'static> Serial<S> {
    /// A stage over `state` that queues at most `depth` batches. With `depth` 0 only
    /// [`Serial::try_push`] makes sense: it never finds room.
    pub(super) fn new(state: S, depth: usize, step: Step<S>) -> Serial<S> {
        Serial {
            queue: Arc::new(Mutex::new(Queue {
                batches: VecDeque::new(),
                state: Some(state),
                running: false,
                failed: None,
            })),
            room: Arc::new(Semaphore::new(depth)),
            step,
            drain: None,
        }
    }

    /// Queue `batch` (waiting for room), starting a drain if none runs. Once a batch has
    /// failed, this returns that failure (and drops `batch`).
    pub(super) async fn push(&mut self, batch: Batch) -> io::Result<()> {
        let permit = self
            .room
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        self.enqueue(batch, permit)
    }

    /// Queue `batch` if there is room now: `Ok(false)` (and `batch` dropped) if there is not.
    pub(super) fn try_push(&mut self, batch: Batch) -> io::Result<bool> {
        match self.room.clone().try_acquire_owned() {
            Ok(permit) => self.enqueue(batch, permit).map(|()| true),
            Err(_) => self.failure().map_or(Ok(false), Err),
        }
    }

    fn failure(&self) -> Option<io::Error> {
        lock(&self.queue).failed.as_ref().map(copy_error)
    }

    fn enqueue(&mut self, batch: Batch, permit: OwnedSemaphorePermit) -> io::Result<()> {
        let mut q = lock(&self.queue);
        if let Some(e) = &q.failed {
            return Err(copy_error(e));
        }
        q.batches.push_back((batch, permit));
        if !q.running {
            q.running = true;
            drop(q);
            let (queue, step) = (self.queue.clone(), self.step);
            self.drain = Some(tokio::task::spawn_blocking(move || drain(&queue, step)));
        }
        Ok(())
    }

    /// Wait until every queued batch is done and hand the state back, or the first failure.
    pub(super) async fn finish(mut self) -> io::Result<S> {
        if let Some(handle) = self.drain.take()
            && let Err(e) = handle.await
        {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            return Err(io::Error::other(e));
        }
        let mut q = lock(&self.queue);
        if let Some(e) = q.failed.take() {
            return Err(e);
        }
        q.state
            .take()
            .ok_or_else(|| io::Error::other("upload stage lost its state"))
    }
}

impl<S: Send + 'static> Drop for Serial<S> {
    /// An abandoned upload: what is still queued is not worth doing.
    fn drop(&mut self) {
        lock(&self.queue).batches.clear();
    }
}

/// The failure of a stage, as often as it is asked for: an OS error keeps its code (callers
/// tell a full disk from other failures by it).
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// Run `step` over the queued batches until none is left. A panic in `step` is re-raised to
/// whoever awaits this drain ([`Serial::finish`]); the queue is emptied first, so the
/// reader never waits for room that a dead drain would have made.
fn drain<S>(queue: &Mutex<Queue<S>>, step: Step<S>) {
    let Some(mut state) = lock(queue).state.take() else {
        let mut q = lock(queue);
        q.batches.clear();
        q.failed = Some(io::Error::other("upload stage lost its state"));
        q.running = false;
        return;
    };
    loop {
        let next = {
            let mut q = lock(queue);
            match q.batches.pop_front() {
                Some(next) => next,
                None => {
                    q.state = Some(state);
                    q.running = false;
                    return;
                }
            }
        };
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&mut state, &next.0)));
        drop(next);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let mut q = lock(queue);
                q.batches.clear();
                q.failed = Some(e);
                q.state = Some(state);
                q.running = false;
                return;
            }
            Err(panic) => {
                let mut q = lock(queue);
                q.batches.clear();
                q.failed = Some(io::Error::other("upload stage panicked"));
                q.running = false;
                drop(q);
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(parts: &[&'static [u8]]) -> Batch {
        Arc::new(parts.iter().map(|p| Bytes::from_static(p)).collect())
    }

    fn append(out: &mut Vec<u8>, chunks: &[Bytes]) -> io::Result<()> {
        for c in chunks {
            if c.as_ref() == b"bad" {
                return Err(io::Error::other("bad batch"));
            }
            out.extend_from_slice(c);
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_taken_in_order_through_a_small_queue() {
        let mut stage = Serial::new(Vec::new(), 2, append);
        let mut expected = Vec::new();
        for i in 0..2_000u32 {
            let bytes = Bytes::from(i.to_le_bytes().to_vec());
            expected.extend_from_slice(&bytes);
            stage.push(Arc::new(vec![bytes])).await.unwrap();
            if i % 97 == 0 {
                // Let the drain run dry, so that the next push starts a new one.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        assert_eq!(stage.finish().await.unwrap(), expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batch_fails_a_later_push_or_the_finish() {
        let mut stage = Serial::new(Vec::new(), 1, append);
        stage.push(batch(&[b"ok"])).await.unwrap();
        stage.push(batch(&[b"bad"])).await.unwrap();
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = stage.push(batch(&[b"more"])).await {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => stage.finish().await.unwrap_err(),
        };
        assert_eq!(e.to_string(), "bad batch");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_os_error_keeps_its_code() {
        fn full(_: &mut (), _: &[Bytes]) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(28))
        }
        let mut stage = Serial::new((), 1, full);
        stage.push(batch(&[b"x"])).await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..100 {
            if let Err(e) = stage.push(batch(&[b"y"])).await {
                seen.push(e);
                break;
            }
        }
        seen.push(stage.finish().await.unwrap_err());
        for e in seen {
            assert_eq!(e.raw_os_error(), Some(28), "{e}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn try_push_takes_what_fits_and_never_waits() {
        let mut stage = Serial::new(Vec::new(), 0, append);
        assert!(!stage.try_push(batch(&[b"no room"])).unwrap());
        assert_eq!(stage.finish().await.unwrap(), Vec::<u8>::new());

        let mut stage = Serial::new(Vec::new(), 3, append);
        let mut taken = Vec::new();
        for i in 0..50u8 {
            if stage
                .try_push(Arc::new(vec![Bytes::from(vec![i])]))
                .unwrap()
            {
                taken.push(i);
            }
        }
        // The first three always fit; what the drain made room for since, in order.
        assert!(taken.len() >= 3 && taken[..3] == [0, 1, 2]);
        assert_eq!(stage.finish().await.unwrap(), taken);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finish_without_batches_hands_the_state_back() {
        let stage = Serial::new(vec![7u8], 4, append);
        assert_eq!(stage.finish().await.unwrap(), vec![7u8]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_step_reaches_finish_and_never_blocks_push() {
        fn boom(_: &mut (), _: &[Bytes]) -> io::Result<()> {
            panic!("step exploded")
        }
        let mut stage = Serial::new((), 1, boom);
        stage.push(batch(&[b"x"])).await.unwrap();
        // Every later push gets room (the dead drain emptied the queue) or the failure.
        for _ in 0..10 {
            if stage.push(batch(&[b"y"])).await.is_err() {
                break;
            }
        }
        let joined = tokio::spawn(stage.finish()).await;
        assert!(joined.is_err_and(|e| e.is_panic()));
    }
}
