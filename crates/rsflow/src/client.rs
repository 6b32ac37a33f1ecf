//! `rsflow artifacts upload|download|list|rm`: the artifacts of a run on a running server,
//! through its artifact proxy (`mlflow artifacts`' flags and `MLFLOW_TRACKING_URI`), several
//! files at once, with a progress bar (bytes, rate, ETA) on a terminal, resumable downloads
//! (`Range` on a `.part` file) and each file checked against the server's `Repr-Digest`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use futures_util::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use rsflow_artifacts::digest::{Hasher, parse_digest_header};
use tokio::io::AsyncWriteExt as _;

use crate::config::ClientSettings;

const PROXY: &str = "/api/2.0/mlflow-artifacts/artifacts";
/// Characters escaped in one path segment of the proxy URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Characters escaped in a query value.
const QUERY: &AsciiSet = &SEGMENT.add(b'&').add(b'=').add(b'+');

/// One file of a listing, relative to the artifact root.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
}

/// A run's artifact root on a server's proxy.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    /// The root's path under the proxy (`1/<run>/artifacts`).
    root: String,
}

fn join(a: &str, b: &str) -> String {
    match (a.trim_matches('/'), b.trim_matches('/')) {
        ("", b) => b.to_owned(),
        (a, "") => a.to_owned(),
        (a, b) => format!("{a}/{b}"),
    }
}

fn proxied_path(uri: &str) -> Option<String> {
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        let rest = match rest.strip_prefix("//") {
            Some(r) => r.find('/').map_or("", |i| &r[i..]),
            None => rest,
        };
        return Some(rest.trim_matches('/').to_owned());
    }
    uri.split_once(PROXY)
        .map(|(_, p)| p.trim_matches('/').to_owned())
}

impl Remote {
    pub async fn open(s: &ClientSettings) -> anyhow::Result<Remote> {
        let http = reqwest::Client::builder()
            .build()
            .context("cannot build the HTTP client")?;
        let mut base = s
            .tracking_uri
            .clone()
            .context("set MLFLOW_TRACKING_URI (or --tracking-uri) to the server's URL")?
            .trim_end_matches('/')
            .to_owned();
        let uri = match (&s.run_id, &s.artifact_uri) {
            (Some(run_id), _) => {
                let resp = http
                    .get(format!(
                        "{base}/api/2.0/mlflow/runs/get?run_id={}",
                        utf8_percent_encode(run_id, QUERY)
                    ))
                    .send()
                    .await?;
                let status = resp.status();
                let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
                if !status.is_success() {
                    bail!("runs/get {run_id}: {status}: {body}");
                }
                body["run"]["info"]["artifact_uri"]
                    .as_str()
                    .context("runs/get answered no artifact_uri")?
                    .to_owned()
            }
            (None, Some(uri)) => {
                if let Some((server, _)) = uri.split_once(PROXY)
                    && (server.starts_with("http://") || server.starts_with("https://"))
                {
                    base = server.to_owned();
                }
                uri.clone()
            }
            (None, None) => bail!("give --run-id or --artifact-uri"),
        };
        let root = proxied_path(&uri).with_context(|| {
            format!(
                "the artifact root {uri} is not served by the server's artifact proxy \
                 (an mlflow-artifacts: URI)"
            )
        })?;
        Ok(Remote {
            http,
            base,
            root: join(&root, s.artifact_path.as_deref().unwrap_or("")),
        })
    }

    fn url(&self, rel: &str) -> String {
        let full = join(&self.root, rel);
        let encoded: Vec<String> = full
            .split('/')
            .map(|seg| utf8_percent_encode(seg, SEGMENT).to_string())
            .collect();
        format!("{}{PROXY}/{}", self.base, encoded.join("/"))
    }

    async fn list_dir(&self, rel: &str) -> anyhow::Result<Vec<Entry>> {
        let resp = self
            .http
            .get(format!(
                "{}{PROXY}?path={}",
                self.base,
                utf8_percent_encode(&join(&self.root, rel), QUERY)
            ))
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
        if !status.is_success() {
            bail!("list {}: {status}: {body}", join(&self.root, rel));
        }
        let mut out = Vec::new();
        for f in body["files"].as_array().into_iter().flatten() {
            let name = f["path"].as_str().unwrap_or_default();
            out.push(Entry {
                path: join(rel, name),
                is_dir: f["is_dir"].as_bool().unwrap_or(false),
                size: f["file_size"].as_u64().unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Direct children (`recursive` false) or every file below.
    pub async fn list(&self, recursive: bool) -> anyhow::Result<Vec<Entry>> {
        if !recursive {
            return self.list_dir("").await;
        }
        let mut files = Vec::new();
        let mut todo = vec![String::new()];
        while let Some(d) = todo.pop() {
            for e in self.list_dir(&d).await? {
                if e.is_dir {
                    todo.push(e.path);
                } else {
                    files.push(e);
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    pub async fn delete(&self) -> anyhow::Result<()> {
        if self.root.is_empty() {
            bail!("refusing to delete the root of the artifact proxy");
        }
        let resp = self.http.delete(self.url("")).send().await?;
        if !resp.status().is_success() {
            bail!("delete {}: {}", self.root, resp.status());
        }
        Ok(())
    }

    /// Download one file to `dst`, resuming a `<dst>.part` left by an earlier attempt, and
    /// check it against the server's digest. Returns the bytes received.
    async fn download_file(
        &self,
        rel: &str,
        dst: &Path,
        bar: &ProgressBar,
        verify: bool,
    ) -> anyhow::Result<u64> {
        if let Some(dir) = dst.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut part = dst.as_os_str().to_owned();
        part.push(".part");
        let part = PathBuf::from(part);
        for attempt in 0..2 {
            let have = match tokio::fs::metadata(&part).await {
                Ok(m) if attempt == 0 => m.len(),
                _ => 0,
            };
            let mut req = self.http.get(self.url(rel));
            if have > 0 {
                req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
            }
            let resp = req.send().await?;
            let status = resp.status();
            let (mut file, mut hasher, mut received) = if status
                == reqwest::StatusCode::PARTIAL_CONTENT
                && have > 0
            {
                // Hash what is already there, then append.
                let mut hasher = Hasher::default();
                let mut existing = tokio::fs::File::open(&part).await?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = tokio::io::AsyncReadExt::read(&mut existing, &mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                bar.inc(have);
                let file = tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(&part)
                    .await?;
                (file, hasher, have)
            } else if status.is_success() || status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                    let _ = tokio::fs::remove_file(&part).await;
                    continue;
                }
                (tokio::fs::File::create(&part).await?, Hasher::default(), 0)
            } else {
                bail!("download {rel}: {status}");
            };
            let expected = resp
                .headers()
                .get("repr-digest")
                .or_else(|| resp.headers().get("digest"))
                .and_then(|v| v.to_str().ok())
                .and_then(parse_digest_header);
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.with_context(|| format!("download {rel} interrupted"))?;
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
                received += chunk.len() as u64;
                bar.inc(chunk.len() as u64);
            }
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            let found = hasher.finish_hex();
            if verify
                && let Some(want) = expected.as_deref()
                && want != found
            {
                // A stale .part (the file changed on the server): start over once.
                let _ = tokio::fs::remove_file(&part).await;
                if attempt == 0 && have > 0 {
                    bar.set_position(bar.position().saturating_sub(received));
                    continue;
                }
                bail!("{rel}: sha256 {found} differs from the server's {want}");
            }
            tokio::fs::rename(&part, dst).await?;
            return Ok(received);
        }
        bail!("download {rel}: gave up")
    }

    async fn upload_file(&self, src: &Path, rel: &str, bar: &ProgressBar) -> anyhow::Result<()> {
        let file = tokio::fs::File::open(src)
            .await
            .with_context(|| format!("cannot open {}", src.display()))?;
        let len = file.metadata().await?.len();
        let b = bar.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect_ok(
            move |chunk: &bytes::Bytes| {
                b.inc(chunk.len() as u64);
            },
        );
        let resp = self
            .http
            .put(self.url(rel))
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!(
                "upload {}: {}: {}",
                src.display(),
                resp.status(),
                resp.text().await?
            );
        }
        Ok(())
    }
}

fn progress(total: u64, quiet: bool) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        // Hidden by indicatif itself when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Every file under `dir`, with its path relative to it ('/'-separated).
fn local_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String, u64)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let entry = entry?;
            let ty = entry.file_type()?;
            let path = entry.path();
            if ty.is_dir() {
                todo.push(path);
            } else if ty.is_file() {
                let rel = path
                    .strip_prefix(dir)?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((path.clone(), rel, entry.metadata()?.len()));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

pub async fn list(s: ClientSettings) -> anyhow::Result<()> {
    let remote = Remote::open(&s).await?;
    let entries = remote.list(false).await?;
    let prefix = s.artifact_path.clone().unwrap_or_default();
    let json: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut v = serde_json::json!({"path": join(&prefix, &e.path), "is_dir": e.is_dir});
            if !e.is_dir && e.size > 0 {
                v["file_size"] = e.size.into();
            }
            v
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

pub async fn download(s: ClientSettings) -> anyhow::Result<()> {
    let remote = Arc::new(Remote::open(&s).await?);
    let dst = s.dst_path.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut files = remote.list(true).await?;
    let single = files.is_empty() && s.artifact_path.is_some();
    if single {
        // The path names a file, not a directory.
        let name = s
            .artifact_path
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or("artifact")
            .to_owned();
        files.push(Entry {
            path: String::new(),
            is_dir: false,
            size: 0,
        });
        let bar = progress(0, s.quiet);
        let target = dst.join(&name);
        remote
            .download_file("", &target, &bar, !s.no_verify)
            .await?;
        bar.finish_and_clear();
        println!("{}", std::path::absolute(&target)?.display());
        return Ok(());
    }
    let base = match s.artifact_path.as_deref() {
        Some(p) if !p.is_empty() => dst.join(p),
        _ => dst.clone(),
    };
    let total = files.iter().map(|f| f.size).sum();
    let bar = progress(total, s.quiet);
    let jobs = files.iter().map(|f| {
        let remote = remote.clone();
        let bar = bar.clone();
        let target = base.join(&f.path);
        let verify = !s.no_verify;
        async move { remote.download_file(&f.path, &target, &bar, verify).await }
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(s.parallel.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    bar.finish_and_clear();
    println!("{}", std::path::absolute(&base)?.display());
    Ok(())
}

pub async fn upload(s: ClientSettings) -> anyhow::Result<()> {
    let remote = Arc::new(Remote::open(&s).await?);
    let files = match (&s.local_dir, &s.local_file) {
        (Some(dir), _) => local_files(dir)?,
        (None, Some(file)) => {
            let name = file
                .file_name()
                .context("--local-file has no file name")?
                .to_string_lossy()
                .into_owned();
            vec![(file.clone(), name, std::fs::metadata(file)?.len())]
        }
        (None, None) => bail!("give --local-dir or --local-file"),
    };
    let total = files.iter().map(|f| f.2).sum();
    let bar = progress(total, s.quiet);
    let jobs = files.iter().map(|(src, rel, _)| {
        let remote = remote.clone();
        let bar = bar.clone();
        async move { remote.upload_file(src, rel, &bar).await }
    });
    let mut results = futures_util::stream::iter(jobs).buffer_unordered(s.parallel.max(1));
    while let Some(r) = results.next().await {
        r?;
    }
    bar.finish_and_clear();
    eprintln!("uploaded {} files ({total} bytes)", files.len());
    Ok(())
}

pub async fn rm(s: ClientSettings) -> anyhow::Result<()> {
    if s.artifact_path.as_deref().is_none_or(str::is_empty) && s.run_id.is_some() {
        bail!("give --artifact-path: rm does not delete a run's whole artifact root");
    }
    Remote::open(&s).await?.delete().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn proxied_paths() {
        use super::proxied_path;
        assert_eq!(
            proxied_path("mlflow-artifacts:/1/r/artifacts").unwrap(),
            "1/r/artifacts"
        );
        assert_eq!(
            proxied_path("mlflow-artifacts://h:5000/1/r/artifacts").unwrap(),
            "1/r/artifacts"
        );
        assert_eq!(
            proxied_path("http://h/api/2.0/mlflow-artifacts/artifacts/1/r").unwrap(),
            "1/r"
        );
        assert_eq!(proxied_path("s3://b/x"), None);
    }
}
