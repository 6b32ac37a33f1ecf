//! WAL checkpoints off the request path (SQLite files): a background task copies the WAL into
//! the database on its own connection, so that the request whose commit crosses SQLite's
//! auto-checkpoint threshold does not pay for the copy and its fsyncs.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

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
pub(crate) struct Checkpointer(tokio::task::JoinHandle<()>);

impl Checkpointer {
    pub(crate) fn stop(&self) {
        self.0.abort();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start checkpointing the database that `opts` opens, on one lazily opened connection.
pub(crate) fn spawn(opts: AnyConnectOptions, busy_timeout_ms: u64) -> Arc<Checkpointer> {
    let pragmas: Arc<str> = format!("PRAGMA busy_timeout = {busy_timeout_ms};").into();
    let pool: AnyPool = AnyPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                sqlx::Executor::execute(&mut *conn, &*pragmas).await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    Arc::new(Checkpointer(tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                // The writer's own auto-checkpoint still bounds the WAL.
                tracing::debug!(error = %e, "background WAL checkpoint failed");
            }
        }
    })))
}
