//! Behaviour of `LocalStore` on a real temp directory: layout, listing, deletes, ranges.

use std::io;
use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use rsflow_artifacts::{
    ArtifactPath, ArtifactStore, ByteRange, ByteStream, FileInfo, GetOptions, IfRange, LocalStore,
    Stat, StoreError,
};

fn p(s: &str) -> ArtifactPath {
    ArtifactPath::parse(s).unwrap()
}

fn body(parts: &[&[u8]]) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = parts
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(stream::iter(chunks))
}

async fn read_all(store: &LocalStore, path: &str, opts: GetOptions) -> Result<Vec<u8>, StoreError> {
    let mut obj = store.get(&p(path), opts).await?;
    let mut out = Vec::new();
    while let Some(chunk) = obj.body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    Ok(out)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn file(path: &str, size: Option<u64>) -> FileInfo {
    FileInfo {
        path: path.into(),
        is_dir: false,
        file_size: size,
    }
}

fn dir(path: &str) -> FileInfo {
    FileInfo {
        path: path.into(),
        is_dir: true,
        file_size: None,
    }
}

#[tokio::test]
async fn put_get_overwrite_and_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path().join("dest")).await.unwrap();
    assert_eq!(
        store
            .put(&p("1/run/artifacts/d/f.txt"), body(&[b"hello ", b"world"]))
            .await
            .unwrap(),
        11
    );
    assert_eq!(
        std::fs::read(tmp.path().join("dest/1/run/artifacts/d/f.txt")).unwrap(),
        b"hello world"
    );
    store
        .put(&p("1/run/artifacts/d/f.txt"), body(&[b"new"]))
        .await
        .unwrap();
    assert_eq!(
        read_all(&store, "1/run/artifacts/d/f.txt", GetOptions::default())
            .await
            .unwrap(),
        b"new"
    );
    assert_eq!(store.put(&p("e.bin"), body(&[])).await.unwrap(), 0);
    assert_eq!(
        std::fs::metadata(tmp.path().join("dest/e.bin"))
            .unwrap()
            .len(),
        0
    );
    // No temp files are left beside published files.
    assert_eq!(
        names(&tmp.path().join("dest/1/run/artifacts/d")),
        vec!["f.txt"]
    );
    assert!(matches!(
        store.put(&ArtifactPath::root(), body(&[b"x"])).await,
        Err(StoreError::Path(rsflow_artifacts::PathError::NoFileName))
    ));
}

#[tokio::test]
async fn get_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    store.put(&p("a/b.txt"), body(&[b"x"])).await.unwrap();
    assert!(matches!(
        read_all(&store, "a/zzz", GetOptions::default()).await,
        Err(StoreError::NotFound(path)) if path.as_str() == "a/zzz"
    ));
    assert!(matches!(
        read_all(&store, "a/b.txt/c", GetOptions::default()).await,
        Err(StoreError::NotFound(_))
    ));
    let e = read_all(&store, "a", GetOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Artifact path refers to a directory, not a file: 'a'"
    );
    // Writing below a file names a parent that is not a directory.
    assert!(matches!(
        store.put(&p("a/b.txt/c"), body(&[b"x"])).await,
        Err(StoreError::NotADirectory(_))
    ));
    // Writing over a directory is refused, the directory is untouched.
    assert!(matches!(
        store.put(&p("a"), body(&[b"x"])).await,
        Err(StoreError::IsDirectory(_))
    ));
    assert_eq!(names(&tmp.path().join("a")), vec!["b.txt"]);
    // A store whose root does not exist yet reads as empty.
    let missing = LocalStore::attach(tmp.path().join("nope/run/artifacts")).unwrap();
    assert!(
        missing
            .list(&ArtifactPath::root())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        read_all(&missing, "x", GetOptions::default()).await,
        Err(StoreError::NotFound(_))
    ));
    missing.delete(&p("x")).await.unwrap();
    missing.put(&p("x"), body(&[b"1"])).await.unwrap();
    assert_eq!(
        std::fs::read(tmp.path().join("nope/run/artifacts/x")).unwrap(),
        b"1"
    );
}

#[tokio::test]
async fn listing_matches_mlflow() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    store.put(&p("a/b/c.txt"), body(&[b"abc"])).await.unwrap();
    store.put(&p("a/empty.bin"), body(&[])).await.unwrap();
    store.put(&p("a/z.txt"), body(&[b"zz"])).await.unwrap();
    std::fs::write(tmp.path().join("a/.artifact.uploading.orphan"), b"partial").unwrap();
    std::fs::write(tmp.path().join("a/.rsflow-upload.x"), b"partial").unwrap();
    // Names the API could not address are not listed.
    std::fs::write(tmp.path().join("a/odd%20name"), b"x").unwrap();
    std::fs::write(tmp.path().join("a/back\\slash"), b"x").unwrap();
    assert_eq!(
        store.list(&p("a")).await.unwrap(),
        vec![dir("b"), file("empty.bin", None), file("z.txt", Some(2))]
    );
    assert_eq!(
        store.list(&ArtifactPath::root()).await.unwrap(),
        vec![dir("a")]
    );
    assert!(store.list(&p("a/b/c.txt")).await.unwrap().is_empty());
    assert!(store.list(&p("missing/dir")).await.unwrap().is_empty());
    assert!(store.list(&p("a/b/c.txt/x")).await.unwrap().is_empty());
    assert_eq!(store.stat(&p("a")).await.unwrap(), Some(Stat::Dir));
    assert!(matches!(
        store.stat(&p("a/z.txt")).await.unwrap(),
        Some(Stat::File(m)) if m.size == 2 && m.etag.is_some() && m.modified.is_some()
    ));
    assert_eq!(store.stat(&p("a/nope")).await.unwrap(), None);
}

#[tokio::test]
async fn deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    for f in [
        "r/artifacts/x.txt",
        "r/artifacts/d/e/f.txt",
        "r/artifacts/d/g.txt",
        "keep.txt",
    ] {
        store.put(&p(f), body(&[b"data"])).await.unwrap();
    }
    store.delete(&p("r/artifacts/x.txt")).await.unwrap();
    assert!(!tmp.path().join("r/artifacts/x.txt").exists());
    store.delete(&p("r/artifacts/d")).await.unwrap();
    assert!(!tmp.path().join("r/artifacts/d").exists());
    // A trailing slash parses to the same directory: `mlflow gc` deletes `<run>/artifacts/`.
    store.delete(&p("r/artifacts/")).await.unwrap();
    assert_eq!(names(&tmp.path().join("r")), Vec::<String>::new());
    // Missing paths, and paths under a file, are already deleted.
    store.delete(&p("r/artifacts/nope")).await.unwrap();
    store.delete(&p("nope/at/all")).await.unwrap();
    store.delete(&p("keep.txt/below")).await.unwrap();
    // The root itself is never a target.
    assert!(matches!(
        store.delete(&ArtifactPath::root()).await,
        Err(StoreError::RootTarget)
    ));
    assert!(matches!(
        store.delete(&p(".")).await,
        Err(StoreError::RootTarget)
    ));
    assert_eq!(std::fs::read(tmp.path().join("keep.txt")).unwrap(), b"data");
}

#[tokio::test]
async fn ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    store
        .put(&p("c.txt"), body(&[b"hello world"]))
        .await
        .unwrap();
    store.put(&p("empty"), body(&[])).await.unwrap();
    let ranged = |r: ByteRange| GetOptions {
        range: Some(r),
        if_range: None,
    };
    let obj = store
        .get(&p("c.txt"), ranged(ByteRange::FromTo(0, 4)))
        .await
        .unwrap();
    assert_eq!((obj.range, obj.meta.size), (Some((0, 4)), 11));
    assert_eq!(
        read_all(&store, "c.txt", ranged(ByteRange::FromTo(0, 4)))
            .await
            .unwrap(),
        b"hello"
    );
    assert_eq!(
        read_all(&store, "c.txt", ranged(ByteRange::From(6)))
            .await
            .unwrap(),
        b"world"
    );
    assert_eq!(
        read_all(&store, "c.txt", ranged(ByteRange::Suffix(3)))
            .await
            .unwrap(),
        b"rld"
    );
    assert_eq!(
        read_all(&store, "c.txt", ranged(ByteRange::Suffix(99)))
            .await
            .unwrap(),
        b"hello world"
    );
    assert_eq!(
        read_all(&store, "c.txt", ranged(ByteRange::FromTo(10, 99)))
            .await
            .unwrap(),
        b"d"
    );
    assert!(matches!(
        read_all(&store, "c.txt", ranged(ByteRange::FromTo(11, 20))).await,
        Err(StoreError::Range(u)) if u.size == 11
    ));
    assert!(matches!(
        read_all(&store, "empty", ranged(ByteRange::From(0))).await,
        Err(StoreError::Range(u)) if u.size == 0
    ));
    // If-Range: a matching validator keeps the range, a stale one gets the whole file.
    let meta = store
        .get(&p("c.txt"), GetOptions::default())
        .await
        .unwrap()
        .meta;
    let etag = meta.etag.clone().unwrap();
    let with = |cond: IfRange| GetOptions {
        range: Some(ByteRange::FromTo(0, 1)),
        if_range: Some(cond),
    };
    assert_eq!(
        read_all(&store, "c.txt", with(IfRange::ETag(etag.clone())))
            .await
            .unwrap(),
        b"he"
    );
    assert_eq!(
        read_all(&store, "c.txt", with(IfRange::ETag("\"stale\"".into())))
            .await
            .unwrap(),
        b"hello world"
    );
    assert_eq!(
        read_all(&store, "c.txt", with(IfRange::ETag(format!("W/{etag}"))))
            .await
            .unwrap(),
        b"hello world"
    );
    assert_eq!(
        read_all(&store, "c.txt", with(IfRange::Date(meta.modified.unwrap())))
            .await
            .unwrap(),
        b"he"
    );
    // An overwrite with other bytes gets a new validator (the strong ETag is the content's
    // SHA-256, so the same bytes written again keep theirs, as a strong validator should).
    store
        .put(&p("c.txt"), body(&[b"hello, world"]))
        .await
        .unwrap();
    let again = store
        .get(&p("c.txt"), GetOptions::default())
        .await
        .unwrap()
        .meta;
    assert_ne!(again.etag, meta.etag);
}

#[tokio::test]
async fn destinations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("from uri");
    let uri = format!("file://{}", dir.display()).replace(' ', "%20");
    let store = rsflow_artifacts::open_destination(&uri).await.unwrap();
    assert!(dir.is_dir(), "the destination is created at startup");
    assert_eq!(store.uri(), format!("file://{}", dir.display()));
    store.put(&p("x"), body(&[b"1"])).await.unwrap();
    assert_eq!(std::fs::read(dir.join("x")).unwrap(), b"1");
    for refused in [
        "ftp://host/prefix",
        "hdfs://namenode:8020/prefix",
        "mlflow-artifacts:/x",
        "http://h/api/2.0/mlflow-artifacts/artifacts",
        "file://remote/x",
    ] {
        assert!(
            matches!(
                rsflow_artifacts::open_destination(refused).await,
                Err(StoreError::Unsupported(_))
            ),
            "{refused}"
        );
    }
}

/// Past 64 MiB an upload is flushed to disk in the background while it is still received; the
/// file must still hold every byte, in order.
#[tokio::test]
async fn a_large_upload_flushed_while_received_is_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(tmp.path()).await.unwrap();
    const MIB: usize = 1 << 20;
    let parts = 150;
    // Each MiB starts with its index, so a lost or reordered piece shows.
    let chunks: Vec<io::Result<Bytes>> = (0..parts)
        .map(|i| {
            let mut block = vec![(i % 251) as u8; MIB];
            block[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Ok(Bytes::from(block))
        })
        .collect();
    let written = store
        .put(&p("1/r/artifacts/big.bin"), Box::pin(stream::iter(chunks)))
        .await
        .unwrap();
    assert_eq!(written, (parts * MIB) as u64);
    let data = std::fs::read(tmp.path().join("1/r/artifacts/big.bin")).unwrap();
    assert_eq!(data.len(), parts * MIB);
    for (i, block) in data.chunks(MIB).enumerate() {
        assert_eq!(block[..8], (i as u64).to_le_bytes(), "block {i}");
        assert!(
            block[8..].iter().all(|&b| b == (i % 251) as u8),
            "block {i}"
        );
    }
    assert_eq!(names(&tmp.path().join("1/r/artifacts")), vec!["big.bin"]);
}
