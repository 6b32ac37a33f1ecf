//! The behaviour every `ArtifactStore` must have, whatever is behind it.

use std::io;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use rsflow_artifacts::{
    ArtifactPath, ArtifactStore, ByteRange, ByteStream, FileInfo, GetOptions, Stat, StoreError,
};
use sha2::{Digest, Sha256};

pub fn p(s: &str) -> ArtifactPath {
    ArtifactPath::parse(s).unwrap()
}

pub fn body(parts: &[&[u8]]) -> ByteStream {
    let chunks: Vec<io::Result<Bytes>> = parts
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(stream::iter(chunks))
}

pub async fn read(
    store: &dyn ArtifactStore,
    path: &str,
    opts: GetOptions,
) -> Result<Vec<u8>, StoreError> {
    let mut obj = store.get(&p(path), opts).await?;
    let mut out = Vec::new();
    while let Some(chunk) = obj.body.next().await {
        out.extend_from_slice(&chunk.expect("body chunk"));
    }
    Ok(out)
}

fn file(name: &str, size: Option<u64>) -> FileInfo {
    FileInfo {
        path: name.into(),
        is_dir: false,
        file_size: size,
    }
}

fn dir(name: &str) -> FileInfo {
    FileInfo {
        path: name.into(),
        is_dir: true,
        file_size: None,
    }
}

pub async fn put_get_roundtrip(store: &dyn ArtifactStore) {
    let n = store
        .put(
            &p("run/artifacts/model.txt"),
            body(&[b"hello ", b"", b"world"]),
        )
        .await
        .unwrap();
    assert_eq!(n, 11);
    let obj = store
        .get(&p("run/artifacts/model.txt"), GetOptions::default())
        .await
        .unwrap();
    assert_eq!(obj.meta.size, 11);
    assert_eq!(obj.range, None);
    let etag = obj.meta.etag.clone().expect("stores give an entity tag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    drop(obj);
    assert_eq!(
        read(store, "run/artifacts/model.txt", GetOptions::default())
            .await
            .unwrap(),
        b"hello world"
    );
    match store.stat(&p("run/artifacts/model.txt")).await.unwrap() {
        Some(Stat::File(meta)) => assert_eq!(meta.size, 11),
        other => panic!("stat of a file: {other:?}"),
    }
    assert_eq!(
        store.stat(&p("run/artifacts")).await.unwrap(),
        Some(Stat::Dir)
    );
}

pub async fn ranges(store: &dyn ArtifactStore) {
    store
        .put(&p("r/digits.bin"), body(&[b"0123456789"]))
        .await
        .unwrap();
    let range = |r| GetOptions {
        range: Some(r),
        if_range: None,
    };
    let obj = store
        .get(&p("r/digits.bin"), range(ByteRange::FromTo(2, 5)))
        .await
        .unwrap();
    assert_eq!(obj.range, Some((2, 5)));
    assert_eq!(obj.meta.size, 10);
    drop(obj);
    assert_eq!(
        read(store, "r/digits.bin", range(ByteRange::FromTo(2, 5)))
            .await
            .unwrap(),
        b"2345"
    );
    assert_eq!(
        read(store, "r/digits.bin", range(ByteRange::From(7)))
            .await
            .unwrap(),
        b"789"
    );
    assert_eq!(
        read(store, "r/digits.bin", range(ByteRange::Suffix(3)))
            .await
            .unwrap(),
        b"789"
    );
    assert_eq!(
        read(store, "r/digits.bin", range(ByteRange::FromTo(8, 100)))
            .await
            .unwrap(),
        b"89"
    );
    match store
        .get(&p("r/digits.bin"), range(ByteRange::From(10)))
        .await
    {
        Err(StoreError::Range(u)) => assert_eq!(u.size, 10),
        other => panic!("range past the end: {other:?}"),
    }
}

pub async fn listing(store: &dyn ArtifactStore) {
    store.put(&p("l/b.txt"), body(&[b"bb"])).await.unwrap();
    store
        .put(&p("l/a/deep/x.bin"), body(&[b"x"]))
        .await
        .unwrap();
    store.put(&p("l/zero"), body(&[])).await.unwrap();
    store
        .put(&p("l/with space.txt"), body(&[b"s"]))
        .await
        .unwrap();
    assert_eq!(
        store.list(&p("l")).await.unwrap(),
        vec![
            dir("a"),
            file("b.txt", Some(2)),
            file("with space.txt", Some(1)),
            file("zero", None),
        ]
    );
    assert_eq!(store.list(&p("l/a")).await.unwrap(), vec![dir("deep")]);
    assert_eq!(
        store.list(&p("l/a/deep")).await.unwrap(),
        vec![file("x.bin", Some(1))]
    );
    // A file path and a missing path list as empty: the client tells files from dirs by that.
    assert_eq!(store.list(&p("l/b.txt")).await.unwrap(), vec![]);
    assert_eq!(store.list(&p("l/nope")).await.unwrap(), vec![]);
    assert_eq!(store.list(&p("nowhere/at/all")).await.unwrap(), vec![]);
    let root = store.list(&ArtifactPath::root()).await.unwrap();
    assert!(root.contains(&dir("l")), "{root:?}");
}

pub async fn missing_paths(store: &dyn ArtifactStore) {
    match store.get(&p("m/absent.txt"), GetOptions::default()).await {
        Err(StoreError::NotFound(path)) => assert_eq!(path.as_str(), "m/absent.txt"),
        other => panic!("missing file: {other:?}"),
    }
    store.put(&p("m/d/f.txt"), body(&[b"f"])).await.unwrap();
    match store.get(&p("m/d"), GetOptions::default()).await {
        Err(StoreError::IsDirectory(path)) => assert_eq!(path.as_str(), "m/d"),
        other => panic!("directory read as a file: {other:?}"),
    }
    assert_eq!(store.stat(&p("m/absent.txt")).await.unwrap(), None);
    assert!(matches!(
        store.delete(&ArtifactPath::root()).await,
        Err(StoreError::RootTarget)
    ));
    store.delete(&p("m/absent.txt")).await.unwrap();
    store.delete(&p("m/no/such/dir")).await.unwrap();
    let e: rsflow_core::MlflowError = StoreError::NotFound(p("m/absent.txt")).into();
    assert_eq!(e.http_status(), 404);
}

pub async fn empty_file(store: &dyn ArtifactStore) {
    assert_eq!(store.put(&p("e/empty.txt"), body(&[])).await.unwrap(), 0);
    let obj = store
        .get(&p("e/empty.txt"), GetOptions::default())
        .await
        .unwrap();
    assert_eq!(obj.meta.size, 0);
    drop(obj);
    assert_eq!(
        read(store, "e/empty.txt", GetOptions::default())
            .await
            .unwrap(),
        b""
    );
    assert_eq!(
        store.list(&p("e")).await.unwrap(),
        vec![file("empty.txt", None)]
    );
    assert!(matches!(
        store
            .get(
                &p("e/empty.txt"),
                GetOptions {
                    range: Some(ByteRange::FromTo(0, 0)),
                    if_range: None
                }
            )
            .await,
        Err(StoreError::Range(_))
    ));
}

pub async fn overwrite(store: &dyn ArtifactStore) {
    store
        .put(&p("o/f.txt"), body(&[b"first version"]))
        .await
        .unwrap();
    store.put(&p("o/f.txt"), body(&[b"second"])).await.unwrap();
    assert_eq!(
        read(store, "o/f.txt", GetOptions::default()).await.unwrap(),
        b"second"
    );
    assert_eq!(
        store.list(&p("o")).await.unwrap(),
        vec![file("f.txt", Some(6))]
    );
}

pub async fn nested_dirs_and_delete(store: &dyn ArtifactStore) {
    for path in ["n/a/1.txt", "n/a/b/2.txt", "n/a/b/c/3.txt", "n/keep.txt"] {
        store.put(&p(path), body(&[path.as_bytes()])).await.unwrap();
    }
    store.delete(&p("n/a/b/2.txt")).await.unwrap();
    assert_eq!(
        store.list(&p("n/a/b")).await.unwrap(),
        vec![dir("c")],
        "deleting a file leaves its siblings"
    );
    store.delete(&p("n/a")).await.unwrap();
    assert_eq!(
        store.list(&p("n")).await.unwrap(),
        vec![file("keep.txt", Some(10))]
    );
    assert_eq!(store.list(&p("n/a")).await.unwrap(), vec![]);
    assert!(matches!(
        store.get(&p("n/a/b/c/3.txt"), GetOptions::default()).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn delete_twice(store: &dyn ArtifactStore) {
    store
        .put(&p("t/run/artifacts/a/1.txt"), body(&[b"1"]))
        .await
        .unwrap();
    store
        .put(&p("t/run/artifacts/2.txt"), body(&[b"2"]))
        .await
        .unwrap();
    store.delete(&p("t/run/artifacts")).await.unwrap();
    // Idempotent, as `mlflow gc` needs (a 5xx there makes the client retry, then gc abort).
    store.delete(&p("t/run/artifacts")).await.unwrap();
    assert_eq!(store.list(&p("t/run")).await.unwrap(), vec![]);
}

pub async fn delete_is_prefix_safe(store: &dyn ArtifactStore) {
    store.put(&p("d/foo/x.txt"), body(&[b"x"])).await.unwrap();
    store
        .put(&p("d/foobar/y.txt"), body(&[b"y"]))
        .await
        .unwrap();
    store.put(&p("d/foo.txt"), body(&[b"z"])).await.unwrap();
    store.delete(&p("d/foo")).await.unwrap();
    assert_eq!(
        store.list(&p("d")).await.unwrap(),
        vec![file("foo.txt", Some(1)), dir("foobar")]
    );
}

pub async fn large_streamed_file(store: &dyn ArtifactStore) {
    // 20 MiB in 1 MiB chunks: several upload parts on object stores.
    const MIB: usize = 1024 * 1024;
    let chunk: Vec<u8> = (0..MIB).map(|i| (i * 31 % 251) as u8).collect();
    let mut want = Sha256::new();
    for i in 0..20u8 {
        let mut c = chunk.clone();
        c[0] = i;
        want.update(&c);
    }
    let stream = stream::iter((0..20u8).map(move |i| {
        let mut c = chunk.clone();
        c[0] = i;
        Ok::<_, io::Error>(Bytes::from(c))
    }));
    let n = store
        .put(&p("big/blob.bin"), Box::pin(stream))
        .await
        .unwrap();
    assert_eq!(n, 20 * MIB as u64);
    let mut obj = store
        .get(&p("big/blob.bin"), GetOptions::default())
        .await
        .unwrap();
    assert_eq!(obj.meta.size, 20 * MIB as u64);
    let mut got = Sha256::new();
    let mut largest = 0;
    while let Some(c) = obj.body.next().await {
        let c = c.unwrap();
        largest = largest.max(c.len());
        got.update(&c);
    }
    assert_eq!(got.finalize(), want.finalize());
    assert!(
        largest <= 16 * MIB,
        "downloads stream in bounded pieces, got one of {largest} bytes"
    );
    assert_eq!(
        store.list(&p("big")).await.unwrap(),
        vec![file("blob.bin", Some(20 * MIB as u64))]
    );
}

/// A body of `len` bytes in pieces of at most 1 MiB, each byte a function of its offset and
/// `seed`, and its SHA-256.
pub fn patterned(len: usize, seed: u8) -> (ByteStream, [u8; 32]) {
    const PIECE: usize = 1024 * 1024;
    let byte = move |i: usize| ((i.wrapping_mul(31) ^ (i >> 13)) as u8).wrapping_add(seed);
    let mut want = Sha256::new();
    let mut offset = 0;
    while offset < len {
        let n = PIECE.min(len - offset);
        let piece: Vec<u8> = (offset..offset + n).map(byte).collect();
        want.update(&piece);
        offset += n;
    }
    let pieces = (0..len.div_ceil(PIECE)).map(move |k| {
        let start = k * PIECE;
        let end = (start + PIECE).min(len);
        Ok::<_, io::Error>(Bytes::from((start..end).map(byte).collect::<Vec<u8>>()))
    });
    (Box::pin(stream::iter(pieces)), want.finalize().into())
}

/// The SHA-256 and length of a stored file, read back as a stream.
pub async fn digest(store: &dyn ArtifactStore, path: &str) -> ([u8; 32], u64) {
    let mut obj = store.get(&p(path), GetOptions::default()).await.unwrap();
    let mut got = Sha256::new();
    let mut n = 0u64;
    while let Some(c) = obj.body.next().await {
        let c = c.unwrap();
        n += c.len() as u64;
        got.update(&c);
    }
    (got.finalize().into(), n)
}

/// Sizes at the edges of the stores' upload units: empty, one byte, either side of S3's 5 MiB
/// part, GCS's 8 MiB resumable chunk exactly (the object is committed by an empty last
/// request), and 64 MiB (many parts or chunks). Each comes back byte for byte.
pub async fn size_boundaries(store: &dyn ArtifactStore) {
    const MIB: usize = 1024 * 1024;
    for (i, len) in [0, 1, 5 * MIB - 1, 5 * MIB + 1, 8 * MIB, 64 * MIB]
        .into_iter()
        .enumerate()
    {
        let path = format!("sizes/f{i}-{len}.bin");
        let (body, want) = patterned(len, i as u8);
        let n = store.put(&p(&path), body).await.unwrap();
        assert_eq!(n, len as u64, "{path}");
        let (got, size) = digest(store, &path).await;
        assert_eq!(size, len as u64, "{path}");
        assert_eq!(got, want, "{path}: SHA-256 differs");
        match store.stat(&p(&path)).await.unwrap() {
            Some(Stat::File(meta)) => assert_eq!(meta.size, len as u64, "{path}"),
            other => panic!("stat of {path}: {other:?}"),
        }
    }
}

/// A body that fails after several upload parts (the client went away) fails the upload and
/// leaves no object: no partial file, no multipart leftovers visible as a file.
pub async fn failed_body_leaves_nothing(store: &dyn ArtifactStore) {
    const MIB: usize = 1024 * 1024;
    let (good, _) = patterned(12 * MIB + 5, 7);
    let broken = good.chain(stream::iter([Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "client went away",
    ))]));
    match store.put(&p("gone/partial.bin"), Box::pin(broken)).await {
        Err(StoreError::Body(_)) => {}
        other => panic!("a failed body must fail the upload: {other:?}"),
    }
    assert_eq!(store.stat(&p("gone/partial.bin")).await.unwrap(), None);
    assert_eq!(store.list(&p("gone")).await.unwrap(), vec![]);
    assert!(matches!(
        store
            .get(&p("gone/partial.bin"), GetOptions::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Every upload gets the SHA-256 of its bytes, computed as it streamed, kept where the backend
/// keeps it (xattr, object metadata, SFTP sidecar) and returned by `get`, whole or ranged, for
/// a body sent in one request and one sent in parts; nothing but the files is listed, and a
/// deleted file leaves the digest index.
pub async fn digests(store: &dyn ArtifactStore) {
    let small = vec![7u8; 1000];
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 3000)
        .map(|i| (i % 251) as u8)
        .collect();
    store
        .put(&p("dg/small.bin"), body(&[&small]))
        .await
        .unwrap();
    let (a, b) = big.split_at(3_000_000);
    store.put(&p("dg/big.bin"), body(&[a, b])).await.unwrap();
    for (name, data) in [("dg/small.bin", &small), ("dg/big.bin", &big)] {
        let want = hex(&Sha256::digest(data));
        let whole = store.get(&p(name), GetOptions::default()).await.unwrap();
        assert_eq!(whole.meta.sha256.as_deref(), Some(want.as_str()), "{name}");
        // What `verify` reads, where the store keeps it apart (object metadata, sidecar).
        if let Some(stored) = store.stored_digest(&p(name)).await.unwrap() {
            assert_eq!(stored, want, "{name} stored");
        }
        let opts = GetOptions {
            range: Some(ByteRange::parse_header("bytes=10-").unwrap()),
            if_range: None,
        };
        let part = store.get(&p(name), opts).await.unwrap();
        assert_eq!(
            part.meta.sha256.as_deref(),
            Some(want.as_str()),
            "{name} ranged"
        );
    }
    let listed: Vec<String> = store
        .list(&p("dg"))
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(listed, ["big.bin", "small.bin"]);
    let index = store.digest_index(&p("dg")).await.unwrap();
    assert!(
        index
            .iter()
            .all(|f| [p("dg/big.bin"), p("dg/small.bin")].contains(f)),
        "{index:?}"
    );
    store.delete(&p("dg/big.bin")).await.unwrap();
    assert!(
        !store
            .digest_index(&p("dg"))
            .await
            .unwrap()
            .contains(&p("dg/big.bin"))
    );
    store.delete(&p("dg")).await.unwrap();
    assert!(store.list(&p("dg")).await.unwrap().is_empty());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
