//! `rsflow artifacts verify`: read every artifact under a root and check it against the
//! SHA-256 stored when it was uploaded (see `rsflow_artifacts::digest`).

use std::sync::Arc;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use rsflow_artifacts::digest::Hasher;
use rsflow_artifacts::indexed::indexed_under;
use rsflow_artifacts::{
    ArtifactPath, ArtifactResolver, ArtifactStore, GetOptions, HostPolicy, ResolvedRoot,
};
use rsflow_core::SecretUri;

use crate::config::VerifySettings;

/// What one file's check found.
enum Verdict {
    Ok,
    NoDigest,
    Corrupted(String),
    Missing,
}

/// Every file under `dir`, as store paths.
async fn walk(store: &dyn ArtifactStore, dir: &ArtifactPath) -> anyhow::Result<Vec<ArtifactPath>> {
    Ok(walk_with_index(store, dir, false).await?.0)
}

/// Every file under `dir`, and (with `index`) every file the store's digest index names
/// (files with a digest sidecar), sorted.
async fn walk_with_index(
    store: &dyn ArtifactStore,
    dir: &ArtifactPath,
    index: bool,
) -> anyhow::Result<(Vec<ArtifactPath>, Vec<ArtifactPath>)> {
    let mut files = Vec::new();
    let mut indexed = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        if index {
            indexed.extend(store.digest_index(&d).await?);
        }
        for entry in store.list(&d).await? {
            let child = d.join(&ArtifactPath::parse(&entry.path)?)?;
            if entry.is_dir {
                todo.push(child);
            } else {
                files.push(child);
            }
        }
    }
    files.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    indexed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok((files, indexed))
}

async fn check(store: &dyn ArtifactStore, path: &ArtifactPath) -> anyhow::Result<Verdict> {
    let obj = match store.get(path, GetOptions::default()).await {
        Ok(o) => o,
        Err(rsflow_artifacts::StoreError::NotFound(_)) => return Ok(Verdict::Missing),
        Err(e) => return Err(e.into()),
    };
    // The digest served with the file; else one stored for it that no longer describes this
    // version (an SFTP sidecar, metadata for another size): its bytes must still match.
    let expected = match obj.meta.sha256.clone() {
        Some(d) => d,
        None => match store.stored_digest(path).await? {
            Some(d) => d,
            None => return Ok(Verdict::NoDigest),
        },
    };
    let mut hasher = Hasher::default();
    let mut size = 0u64;
    let mut body = obj.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("cannot read {path}"))?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let found = hasher.finish_hex();
    if found != expected {
        return Ok(Verdict::Corrupted(format!(
            "sha256 {found} ({size} bytes), stored at upload {expected}"
        )));
    }
    Ok(Verdict::Ok)
}

async fn open_backend(
    settings: &VerifySettings,
) -> anyhow::Result<Arc<dyn rsflow_store::MetadataStore>> {
    rsflow_store::open_metadata_store_with(
        settings.backend_store_uri.expose(),
        "./mlruns",
        rsflow_store::ALEMBIC_HEAD,
        &settings.store,
    )
    .await
    .with_context(|| format!("cannot open backend store {}", settings.backend_store_uri))
}

/// The root to check, and the backend store when it is known (for the digest index).
async fn root_of(
    settings: &VerifySettings,
) -> anyhow::Result<(ResolvedRoot, Option<Arc<dyn rsflow_store::MetadataStore>>)> {
    let destination = match &settings.artifacts_destination {
        Some(d) => Some(
            rsflow_artifacts::open_destination_with(d, &settings.storage)
                .await
                .with_context(|| {
                    format!("cannot open artifacts destination {}", SecretUri::show(d))
                })?,
        ),
        None => None,
    };
    let mut schemes: Vec<String> = rsflow_core::uri::STORE_SCHEMES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    schemes.extend(["http".to_owned(), "https".to_owned()]);
    let resolver = ArtifactResolver::new(destination.clone())
        .with_host_policy(HostPolicy {
            trusted_roots: Vec::new(),
            allowed_schemes: schemes,
        })
        .with_storage_env(settings.storage.clone());
    let backend = if settings.run_id.is_some() || settings.backend_store_given {
        Some(open_backend(settings).await?)
    } else {
        None
    };
    let uri = match (&settings.run_id, &settings.artifact_uri, &backend) {
        (Some(run_id), _, Some(store)) => {
            let run = store
                .get_run(run_id)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            run.info.artifact_uri
        }
        (None, Some(uri), _) => uri.clone(),
        (None, None, _) => {
            let Some(store) = destination else {
                anyhow::bail!("give --run-id, --artifact-uri or --artifacts-destination");
            };
            let root = ResolvedRoot {
                store,
                prefix: ArtifactPath::root(),
            };
            return Ok((root, backend));
        }
        (Some(_), _, None) => unreachable!("a run id opens the backend store"),
    };
    let root = resolver
        .resolve(&uri)
        .map_err(|e| anyhow::anyhow!("cannot resolve {uri}: {}", e.message))?;
    Ok((root, backend))
}

/// `rsflow artifacts verify`: exit status 1 when any file is corrupted or missing.
pub async fn verify(settings: VerifySettings) -> anyhow::Result<()> {
    let (root, backend) = root_of(&settings).await?;
    let store: Arc<dyn ArtifactStore> = root.store.clone();
    let (files, mut indexed) = walk_with_index(store.as_ref(), &root.prefix, true).await?;
    // The digest index in the backend database: every file rsflow published under the root,
    // whole directories deleted behind its back included.
    match &backend {
        Some(db) if db.has_artifact_index().await.unwrap_or(false) => {
            let index = rsflow_api::DbDigestIndex(db.clone());
            let rows = indexed_under(&index, store.as_ref(), &root.prefix)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the artifact digest index: {e}"))?;
            indexed.extend(rows);
            indexed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            indexed.dedup();
        }
        Some(_) => eprintln!(
            "note: the backend store has no artifact digest index (no rsflow server with \
             --serve-artifacts wrote to it): files deleted behind rsflow's back are not found"
        ),
        None => eprintln!(
            "note: no --backend-store-uri: files deleted behind rsflow's back are found only \
             where the store keeps its own index (SFTP sidecars)"
        ),
    }
    // Files the digest index names whose bytes are gone (read again: a file uploaded since
    // the listing is not missing).
    let listed: std::collections::HashSet<&str> = files.iter().map(|p| p.as_str()).collect();
    let mut gone: Vec<&ArtifactPath> = Vec::new();
    for p in indexed.iter().filter(|p| !listed.contains(p.as_str())) {
        if !matches!(store.stat(p).await?, Some(rsflow_artifacts::Stat::File(_))) {
            gone.push(p);
        }
    }
    let checks = files.iter().map(|p| {
        let store = store.clone();
        async move { (p, check(store.as_ref(), p).await) }
    });
    let mut results = futures_util::stream::iter(checks).buffered(settings.concurrency.max(1));
    let (mut ok, mut bad, mut unverified) = (0u64, 0u64, 0u64);
    let shown = |p: &ArtifactPath| -> String {
        p.as_str()
            .strip_prefix(root.prefix.as_str())
            .unwrap_or(p.as_str())
            .trim_start_matches('/')
            .to_owned()
    };
    while let Some((path, verdict)) = results.next().await {
        match verdict? {
            Verdict::Ok => ok += 1,
            Verdict::NoDigest => {
                unverified += 1;
                if settings.strict {
                    bad += 1;
                    println!("NO DIGEST {}", shown(path));
                }
            }
            Verdict::Corrupted(why) => {
                bad += 1;
                println!("CORRUPTED {}: {why}", shown(path));
            }
            Verdict::Missing => {
                bad += 1;
                println!("MISSING {}", shown(path));
            }
        }
    }
    for path in &gone {
        bad += 1;
        println!("MISSING {}", shown(path));
    }
    println!(
        "{} files: {ok} verified, {bad} corrupted or missing, {unverified} without a stored digest",
        files.len() + gone.len()
    );
    if bad > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// SHA-256 of a stored file, read through (`None` when it is not there).
async fn hash_of(store: &dyn ArtifactStore, path: &ArtifactPath) -> anyhow::Result<Option<String>> {
    let obj = match store.get(path, GetOptions::default()).await {
        Ok(o) => o,
        Err(rsflow_artifacts::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut hasher = Hasher::default();
    let mut body = obj.body;
    while let Some(chunk) = body.next().await {
        hasher.update(&chunk.with_context(|| format!("cannot read {path}"))?);
    }
    Ok(Some(hasher.finish_hex()))
}

/// What migrating one file did.
enum Moved {
    Copied(u64),
    AlreadyThere,
}

async fn migrate_one(
    from: &dyn ArtifactStore,
    to: &dyn ArtifactStore,
    path: &ArtifactPath,
) -> anyhow::Result<Moved> {
    let src = from.get(path, GetOptions::default()).await?;
    let size = src.meta.size;
    // Resume: a file already at the destination with the same size and bytes is kept.
    if let Ok(Some(rsflow_artifacts::Stat::File(meta))) = to.stat(path).await
        && meta.size == size
    {
        drop(src);
        let (a, b) = tokio::try_join!(hash_of(from, path), hash_of(to, path))?;
        if a.is_some() && a == b {
            return Ok(Moved::AlreadyThere);
        }
    }
    let src = from.get(path, GetOptions::default()).await?;
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(Hasher::default()));
    let h = hasher.clone();
    let body = src.body.inspect(move |chunk| {
        if let Ok(c) = chunk {
            h.lock().unwrap_or_else(|e| e.into_inner()).update(c);
        }
    });
    to.put(path, Box::pin(body)).await?;
    let sent = std::mem::take(&mut *hasher.lock().unwrap_or_else(|e| e.into_inner())).finish_hex();
    let stored = hash_of(to, path).await?;
    if stored.as_deref() != Some(sent.as_str()) {
        anyhow::bail!(
            "{path}: the copy reads back as sha256 {} but {sent} was sent",
            stored.unwrap_or_else(|| "(missing)".into())
        );
    }
    Ok(Moved::Copied(size))
}

/// `rsflow artifacts migrate --from URI --to URI`: copy every file, read each copy back and
/// compare its SHA-256 with the source's; files already copied are skipped (resume).
pub async fn migrate(settings: crate::config::MigrateSettings) -> anyhow::Result<()> {
    let open = |uri: String| {
        let storage = settings.storage.clone();
        async move {
            rsflow_artifacts::open_destination_with(&uri, &storage)
                .await
                .with_context(|| format!("cannot open {}", SecretUri::show(&uri)))
        }
    };
    let from = open(settings.from.clone()).await?;
    let to = open(settings.to.clone()).await?;
    let files = walk(from.as_ref(), &ArtifactPath::root()).await?;
    let jobs = files.iter().map(|p| {
        let (from, to) = (from.clone(), to.clone());
        async move { (p, migrate_one(from.as_ref(), to.as_ref(), p).await) }
    });
    let mut results = futures_util::stream::iter(jobs).buffered(settings.concurrency.max(1));
    let (mut copied, mut kept, mut bytes, mut failed) = (0u64, 0u64, 0u64, 0u64);
    while let Some((path, r)) = results.next().await {
        match r {
            Ok(Moved::Copied(n)) => {
                copied += 1;
                bytes += n;
            }
            Ok(Moved::AlreadyThere) => kept += 1,
            Err(e) => {
                failed += 1;
                println!("FAILED {path}: {e:#}");
            }
        }
    }
    println!(
        "{} files: {copied} copied ({bytes} bytes) and verified, {kept} already there, {failed} failed",
        files.len()
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
