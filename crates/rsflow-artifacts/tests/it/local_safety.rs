//! `LocalStore` under attack and under failure: symlink escapes, dropped uploads, concurrent
//! writers, and the startup sweep of abandoned temp files.

use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use rsflow_artifacts::{
    ArtifactPath, ArtifactStore, ByteStream, GetOptions, LocalStore, PathError, StoreError,
};

fn p(s: &str) -> ArtifactPath {
    ArtifactPath::parse(s).unwrap()
}

fn body(data: &[u8]) -> ByteStream {
    let chunk: io::Result<Bytes> = Ok(Bytes::copy_from_slice(data));
    Box::pin(stream::iter([chunk]))
}

/// Every name under `dir`, recursively, hidden ones included.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn is_outside(e: &StoreError) -> bool {
    matches!(e, StoreError::Path(PathError::OutsideRoot))
}

struct Escape {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    store: LocalStore,
}

/// A root holding `link -> <outside dir>` and `filelink -> <outside>/canary.txt`.
async fn escape_setup() -> Escape {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("canary.txt"), b"canary").unwrap();
    std::fs::write(outside.join("sub/deep.txt"), b"deep").unwrap();
    symlink(&outside, root.join("link")).unwrap();
    symlink(outside.join("canary.txt"), root.join("filelink")).unwrap();
    symlink("../outside", root.join("rellink")).unwrap();
    let store = LocalStore::open(&root).await.unwrap();
    Escape {
        root,
        outside,
        store,
        _tmp: tmp,
    }
}

fn assert_outside_untouched(e: &Escape) {
    assert_eq!(tree(&e.outside), vec!["canary.txt", "sub", "sub/deep.txt"]);
    assert_eq!(
        std::fs::read(e.outside.join("canary.txt")).unwrap(),
        b"canary"
    );
    assert_eq!(
        std::fs::read(e.outside.join("sub/deep.txt")).unwrap(),
        b"deep"
    );
}

#[tokio::test]
async fn symlinks_cannot_read_outside() {
    let e = escape_setup().await;
    for path in [
        "link/canary.txt",
        "rellink/canary.txt",
        "filelink",
        "link/sub/deep.txt",
    ] {
        let err = e
            .store
            .get(&p(path), GetOptions::default())
            .await
            .unwrap_err();
        assert!(is_outside(&err), "{path}: {err}");
    }
    assert!(is_outside(
        &e.store.stat(&p("link/canary.txt")).await.unwrap_err()
    ));
    assert_outside_untouched(&e);
}

#[tokio::test]
async fn symlinks_cannot_write_outside() {
    let e = escape_setup().await;
    for path in [
        "link/new.txt",
        "link/sub/new.txt",
        "rellink/x/y.txt",
        "link/canary.txt",
    ] {
        let err = e.store.put(&p(path), body(b"pwned")).await.unwrap_err();
        assert!(is_outside(&err), "{path}: {err}");
    }
    // Writing to the name of a symlink replaces the link itself, never its target.
    e.store.put(&p("filelink"), body(b"mine")).await.unwrap();
    assert!(
        !std::fs::symlink_metadata(e.root.join("filelink"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(std::fs::read(e.root.join("filelink")).unwrap(), b"mine");
    assert_outside_untouched(&e);
}

#[tokio::test]
async fn symlinks_cannot_list_or_delete_outside() {
    let e = escape_setup().await;
    assert!(is_outside(&e.store.list(&p("link")).await.unwrap_err()));
    assert!(is_outside(&e.store.list(&p("link/sub")).await.unwrap_err()));
    // Links that leave the root are not listed at all.
    let names: Vec<String> = e
        .store
        .list(&ArtifactPath::root())
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(names.is_empty(), "{names:?}");
    for path in ["link/canary.txt", "link/sub", "rellink/sub/deep.txt"] {
        let err = e.store.delete(&p(path)).await.unwrap_err();
        assert!(is_outside(&err), "{path}: {err}");
    }
    assert_outside_untouched(&e);
    // Deleting a link removes the link only; a directory holding links is removed without
    // following them.
    e.store.delete(&p("link")).await.unwrap();
    std::fs::create_dir(e.root.join("d")).unwrap();
    symlink(&e.outside, e.root.join("d/inner")).unwrap();
    symlink(e.outside.join("canary.txt"), e.root.join("d/f")).unwrap();
    e.store.delete(&p("d")).await.unwrap();
    assert_eq!(tree(&e.root), vec!["filelink", "rellink"]);
    assert_outside_untouched(&e);
}

#[tokio::test]
async fn symlinks_inside_the_root_still_work() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    store.put(&p("real/f.txt"), body(b"inside")).await.unwrap();
    symlink("real", tmp.path().join("alias")).unwrap();
    // With openat2 a link that stays beneath the root resolves; the O_NOFOLLOW fallback
    // refuses every link. Either way nothing outside is reachable.
    match store.get(&p("alias/f.txt"), GetOptions::default()).await {
        Ok(mut obj) => {
            let chunk = obj.body.next().await.unwrap().unwrap();
            assert_eq!(&chunk[..], b"inside");
            let listed = store.list(&ArtifactPath::root()).await.unwrap();
            assert!(listed.iter().any(|f| f.path == "alias" && f.is_dir));
        }
        Err(e) => assert!(is_outside(&e), "{e}"),
    }
}

/// A body that sends `first`, then fails as a client disconnect does.
fn failing_body(first: &'static [u8]) -> ByteStream {
    let items: Vec<io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(first)),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ];
    Box::pin(stream::iter(items))
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_and_keeps_the_old_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    let err = store
        .put(&p("d/new.bin"), failing_body(b"partial"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Body(_)), "{err}");
    assert_eq!(tree(tmp.path()), vec!["d"]);
    store
        .put(&p("d/old.bin"), body(b"version 1"))
        .await
        .unwrap();
    store
        .put(&p("d/old.bin"), failing_body(b"version 2 partial"))
        .await
        .unwrap_err();
    assert_eq!(tree(tmp.path()), vec!["d", "d/old.bin"]);
    assert_eq!(
        std::fs::read(tmp.path().join("d/old.bin")).unwrap(),
        b"version 1"
    );
}

#[tokio::test]
async fn a_dropped_upload_future_removes_its_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(tmp.path()).await.unwrap());
    // One chunk, then a body that never ends: the client stalls and the request is dropped.
    let stalled: ByteStream = Box::pin(
        stream::iter([Ok::<_, io::Error>(Bytes::from_static(b"some bytes"))])
            .chain(stream::pending()),
    );
    let task = {
        let store = store.clone();
        tokio::spawn(async move { store.put(&p("run/big.bin"), stalled).await })
    };
    let temp_seen = async {
        loop {
            let names = tree(tmp.path());
            if names
                .iter()
                .any(|n| n.starts_with("run/.artifact.uploading."))
            {
                return names;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), temp_seen)
        .await
        .unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(tree(tmp.path()), vec!["run"]);
}

#[tokio::test]
async fn concurrent_writers_leave_exactly_one_body() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(tmp.path()).await.unwrap());
    const WRITERS: u8 = 16;
    const LEN: usize = 3 * 1024 * 1024;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // 48 chunks of 64 KiB, yielding between them so writers interleave.
            let chunks = stream::iter(0..LEN / 65536).then(move |_| async move {
                tokio::task::yield_now().await;
                Ok::<_, io::Error>(Bytes::from(vec![b'a' + i; 65536]))
            });
            store.put(&p("same/target.bin"), Box::pin(chunks)).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), LEN as u64);
    }
    let data = std::fs::read(tmp.path().join("same/target.bin")).unwrap();
    assert_eq!(data.len(), LEN);
    assert!(
        data.iter().all(|b| *b == data[0]) && (b'a'..b'a' + WRITERS).contains(&data[0]),
        "bytes of several writers were mixed"
    );
    assert_eq!(tree(tmp.path()), vec!["same", "same/target.bin"]);
}

#[tokio::test]
async fn reopening_sweeps_abandoned_temp_files_but_not_live_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("1/run/artifacts/deep/er")).unwrap();
    std::fs::write(root.join(".artifact.uploading.top"), b"x").unwrap();
    std::fs::write(
        root.join("1/run/artifacts/deep/er/.artifact.uploading.abc"),
        b"x",
    )
    .unwrap();
    std::fs::write(root.join("1/run/artifacts/.rsflow-upload.old"), b"x").unwrap();
    std::fs::write(root.join("1/run/artifacts/keep.txt"), b"keep").unwrap();
    // A live upload (in this or another process) holds an exclusive lock on its temp file.
    let live = std::fs::File::create(root.join("1/.artifact.uploading.live")).unwrap();
    rustix::fs::flock(&live, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();

    let store = LocalStore::open(root).await.unwrap();
    assert_eq!(
        tree(root),
        vec![
            "1",
            "1/.artifact.uploading.live",
            "1/run",
            "1/run/artifacts",
            "1/run/artifacts/deep",
            "1/run/artifacts/deep/er",
            "1/run/artifacts/keep.txt",
        ]
    );
    drop(live);
    let report = store.sweep_temp_files().await.unwrap();
    assert_eq!(
        (report.removed, report.in_use, report.truncated),
        (1, 0, false)
    );
    assert!(!root.join("1/.artifact.uploading.live").exists());
}
