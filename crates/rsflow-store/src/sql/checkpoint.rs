//! WAL checkpoints off the request path (SQLite files): a background task copies the WAL into
//! the database on its own connection, so that the request whose commit crosses SQLite's
//! auto-checkpoint threshold does not pay for the copy and its fsyncs.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection as _};

/// How often the task checkpoints. PASSIVE checkpoints never wait for the writer or readers,
/// and one with nothing to copy only reads the WAL index.
const INTERVAL: Duration = Duration::from_millis(500);

/// WAL pages after which the writer checkpoints itself anyway (SQLite's default is 1000): the
/// backstop for when the task falls behind (a long reader pins the WAL, or the task failed).
/// Under a steady write load the task's checkpoints trail the writer, so the WAL only starts
/// over from its beginning in a pause or at this mark: 16 MiB of 4 KiB pages at most.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 4_000;

/// What the writer shrinks the WAL file back to when it starts over, so that a burst does not
/// leave its high-water mark on disk.
pub(crate) const WAL_SIZE_LIMIT_BYTES: u64 = 16 << 20;

/// The running task; dropping the last clone of the store stops it.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    stop: Arc<tokio::sync::Notify>,
}

impl Checkpointer {
    /// Stop the task between two checkpoints and wait until it has closed its connection, so
    /// that a caller that needs the file to itself right after the store's `close` (a journal
    /// mode change, a copy) finds no connection of the task still open. (An aborted task, or a
    /// pooled connection, is closed later, on SQLite's worker thread.)
    pub(crate) async fn close(&self) {
        self.stop.notify_one();
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// Start checkpointing the database that `opts` opens, on one connection of its own, opened
/// at the first checkpoint and again after a failure.
pub(crate) fn spawn(opts: AnyConnectOptions, busy_timeout_ms: u64) -> Arc<Checkpointer> {
    let pragmas = format!("PRAGMA busy_timeout = {busy_timeout_ms};");
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn: Option<AnyConnection> = None;
        loop {
            tokio::select! {
                _ = stopped.notified() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = checkpoint(&mut conn, &opts, &pragmas).await {
                // The writer's own auto-checkpoint still bounds the WAL.
                tracing::debug!(error = %e, "background WAL checkpoint failed");
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
            }
        }
        if let Some(c) = conn {
            let _ = c.close().await;
        }
    });
    Arc::new(Checkpointer {
        task: std::sync::Mutex::new(Some(task)),
        stop,
    })
}

/// One PASSIVE checkpoint on `conn`, opened first when there is none. (Boxed: the future of
/// an `async fn` over `&mut AnyConnection` is not provably `Send` for `tokio::spawn`.)
fn checkpoint<'a>(
    conn: &'a mut Option<AnyConnection>,
    opts: &'a AnyConnectOptions,
    pragmas: &'a str,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a>> {
    Box::pin(async move {
        let c = match conn {
            Some(c) => c,
            None => {
                let mut c = AnyConnection::connect_with(opts).await?;
                sqlx::Executor::execute(&mut c, sqlx::raw_sql(pragmas)).await?;
                conn.insert(c)
            }
        };
        sqlx::Executor::execute(&mut *c, "PRAGMA wal_checkpoint(PASSIVE)").await?;
        Ok(())
    })
}
