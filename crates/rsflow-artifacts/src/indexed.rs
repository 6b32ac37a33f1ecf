//! The digest index around a store: which files rsflow published, so that
//! `rsflow artifacts verify` names the ones deleted behind its back (`MISSING`) on every
//! backend. The rows live outside the store (the backend database, see
//! `rsflow_store::artifact_index`), so MLflow's listings of the store gain nothing.
//!
//! Order of writes, so that a crash never leaves a false `MISSING`:
//! - upload: the file is published first, its row written after. A crash (or a failed index
//!   write) in between leaves a file without a row: it is checked for corruption as before,
//!   just not for being missing. A failed upload publishes nothing and writes no row.
//! - delete (a file or a whole directory, gc included): the rows go first, the files after.
//!   If the rows cannot be removed the delete fails (and is retried), so no row outlives its
//!   file; a crash in between leaves files without rows, which is harmless.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::path::ArtifactPath;
use crate::store::{
    ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, MultipartStore, PresignedDownload,
    Stat, StoreError,
};

/// Where the index rows are kept; keys are full locations (`<store uri>/<path>`, see
/// [`location`]).
#[async_trait]
pub trait DigestIndex: Send + Sync + 'static {
    async fn record(&self, location: &str, size: u64) -> Result<(), String>;
    /// Forget `location` and everything under `location/`.
    async fn forget(&self, location: &str) -> Result<(), String>;
    /// Every location recorded at `location` or under `location/`.
    async fn under(&self, location: &str) -> Result<Vec<String>, String>;
}

/// The index key of `path` in `store`: the store's URI and the path, one `/` between.
pub fn location(store: &dyn ArtifactStore, path: &ArtifactPath) -> String {
    let root = store.uri();
    let root = root.trim_end_matches('/');
    if path.is_root() {
        root.to_owned()
    } else {
        format!("{root}/{path}")
    }
}

/// The paths (relative to `store`'s root) of the index rows under `dir`.
pub async fn indexed_under(
    index: &dyn DigestIndex,
    store: &dyn ArtifactStore,
    dir: &ArtifactPath,
) -> Result<Vec<ArtifactPath>, String> {
    let root = location(store, &ArtifactPath::root());
    let mut out = Vec::new();
    for loc in index.under(&location(store, dir)).await? {
        let rel = loc
            .strip_prefix(root.as_str())
            .map(|r| r.trim_start_matches('/'));
        if let Some(p) = rel.and_then(|r| ArtifactPath::parse(r).ok()) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A store whose uploads and deletes keep the digest index.
pub struct Indexed {
    inner: Arc<dyn ArtifactStore>,
    index: Arc<dyn DigestIndex>,
}

impl Indexed {
    pub fn wrap(inner: Arc<dyn ArtifactStore>, index: Arc<dyn DigestIndex>) -> Arc<Self> {
        Arc::new(Indexed { inner, index })
    }
}

impl fmt::Debug for Indexed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Indexed")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ArtifactStore for Indexed {
    fn uri(&self) -> String {
        self.inner.uri()
    }

    async fn put(&self, path: &ArtifactPath, body: ByteStream) -> Result<u64, StoreError> {
        let n = self.inner.put(path, body).await?;
        let loc = location(self.inner.as_ref(), path);
        if let Err(e) = self.index.record(&loc, n).await {
            // Published but not indexed: verify still checks its bytes, not its absence.
            tracing::warn!(path = %path, error = %e, "artifact digest index: cannot record upload");
        }
        Ok(n)
    }

    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError> {
        self.inner.get(path, opts).await
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError> {
        self.inner.list(dir).await
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError> {
        if path.is_root() {
            return Err(StoreError::RootTarget);
        }
        let loc = location(self.inner.as_ref(), path);
        self.index
            .forget(&loc)
            .await
            .map_err(|message| StoreError::Remote {
                store: "digest index".into(),
                op: "forget",
                path: path.to_string(),
                message,
                denied: false,
            })?;
        self.inner.delete(path).await
    }

    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError> {
        self.inner.stat(path).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.inner.check().await
    }

    async fn stored_digest(&self, path: &ArtifactPath) -> Result<Option<String>, StoreError> {
        self.inner.stored_digest(path).await
    }

    async fn digest_index(&self, dir: &ArtifactPath) -> Result<Vec<ArtifactPath>, StoreError> {
        self.inner.digest_index(dir).await
    }

    fn multipart(&self) -> Option<&dyn MultipartStore> {
        self.inner.multipart()
    }

    fn presigns_downloads(&self) -> bool {
        self.inner.presigns_downloads()
    }

    async fn presign_download(
        &self,
        path: &ArtifactPath,
        ttl: Duration,
    ) -> Result<Option<PresignedDownload>, StoreError> {
        self.inner.presign_download(path, ttl).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;
    use crate::LocalStore;

    /// The rows, in memory (the SQL table is exercised by compat/test_integrity_missing.py).
    #[derive(Default)]
    struct Rows(Mutex<BTreeSet<String>>);

    #[async_trait]
    impl DigestIndex for Rows {
        async fn record(&self, location: &str, _size: u64) -> Result<(), String> {
            self.0.lock().unwrap().insert(location.to_owned());
            Ok(())
        }
        async fn forget(&self, location: &str) -> Result<(), String> {
            let dir = format!("{location}/");
            self.0
                .lock()
                .unwrap()
                .retain(|l| l != location && !l.starts_with(&dir));
            Ok(())
        }
        async fn under(&self, location: &str) -> Result<Vec<String>, String> {
            let dir = format!("{location}/");
            let rows = self.0.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|l| *l == location || l.starts_with(&dir))
                .cloned()
                .collect())
        }
    }

    fn body(chunks: Vec<std::io::Result<Bytes>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn uploads_add_rows_deletes_remove_them_first() {
        let dir = tempfile::tempdir().unwrap();
        let local: Arc<dyn ArtifactStore> = Arc::new(LocalStore::open(dir.path()).await.unwrap());
        let rows = Arc::new(Rows::default());
        let store = Indexed::wrap(local.clone(), rows.clone());
        let p = |s: &str| ArtifactPath::parse(s).unwrap();
        for f in ["r/a.bin", "r/sub/b.txt", "r2/c.txt"] {
            store
                .put(&p(f), body(vec![Ok(Bytes::from_static(b"x"))]))
                .await
                .unwrap();
        }
        // A failed upload publishes nothing and writes no row.
        let failed = store
            .put(
                &p("r/broken.bin"),
                body(vec![
                    Ok(Bytes::from_static(b"x")),
                    Err(std::io::Error::other("client went away")),
                ]),
            )
            .await;
        assert!(failed.is_err());
        let under_r = indexed_under(rows.as_ref(), store.as_ref(), &p("r"))
            .await
            .unwrap();
        // `r2` is not under `r` (a sibling whose name starts alike).
        assert_eq!(under_r, vec![p("r/a.bin"), p("r/sub/b.txt")]);
        assert_eq!(
            location(store.as_ref(), &p("r/a.bin")),
            format!("{}/r/a.bin", local.uri().trim_end_matches('/'))
        );
        store.delete(&p("r/sub")).await.unwrap();
        let left = indexed_under(rows.as_ref(), store.as_ref(), &ArtifactPath::root())
            .await
            .unwrap();
        assert_eq!(left, vec![p("r/a.bin"), p("r2/c.txt")]);
        assert!(local.stat(&p("r/sub/b.txt")).await.unwrap().is_none());
    }
}
