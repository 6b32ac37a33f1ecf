//! [`HttpStore`]: artifacts held by another MLflow artifact server (`mlflow server
//! --artifacts-only`, or rsflow's), reached through its REST API. A tracking server that does
//! not serve artifacts itself uses it for run roots such as
//! `http://arthost:5500/api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts`, as MLflow's
//! `HttpArtifactRepository` does. Which hosts may be reached is decided by the resolver.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use reqwest::{Method, StatusCode, header};

use crate::path::ArtifactPath;
use crate::store::{
    ArtifactStore, ByteStream, FileInfo, GetObject, GetOptions, ObjectMeta, Stat, StoreError,
};

/// The artifact API of one MLflow server: `<base>/<path>` for files, `<base>?path=` listings.
#[derive(Debug, Clone)]
pub struct HttpStore {
    /// `http(s)://host:port[/prefix]/api/2.0/mlflow-artifacts/artifacts`, no trailing `/`.
    base: String,
    client: reqwest::Client,
}

#[derive(serde::Deserialize)]
struct Listing {
    #[serde(default)]
    files: Vec<ListedFile>,
}

#[derive(serde::Deserialize)]
struct ListedFile {
    path: String,
    #[serde(default)]
    is_dir: bool,
    #[serde(default)]
    file_size: Option<serde_json::Value>,
}

impl HttpStore {
    /// A store with the default timeouts.
    pub fn new(base: &str) -> Result<HttpStore, StoreError> {
        Self::with_timeouts(base, &crate::remote::StorageTimeouts::default())
    }

    /// `RSFLOW_STORAGE_CONNECT_TIMEOUT` bounds connecting, `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`
    /// each transfer.
    pub fn with_timeouts(
        base: &str,
        timeouts: &crate::remote::StorageTimeouts,
    ) -> Result<HttpStore, StoreError> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.io)
            // The resolver vetted this host; a redirect could lead anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StoreError::Unsupported(format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpStore {
            base: base.trim_end_matches('/').to_owned(),
            client,
        })
    }

    fn url(&self, path: &ArtifactPath) -> String {
        let encoded: Vec<String> = path
            .to_string()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        if encoded.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, encoded.join("/"))
        }
    }

    fn fail(&self, op: &'static str, path: &ArtifactPath, message: String) -> StoreError {
        tracing::debug!(store = %self.base, op, path = %path, error = %message, "remote artifact server failed");
        StoreError::Remote {
            store: self.base.clone(),
            op,
            path: path.to_string(),
            message,
            denied: false,
        }
    }

    async fn send(
        &self,
        op: &'static str,
        path: &ArtifactPath,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, StoreError> {
        let resp = req.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "the server did not answer in time".into()
            } else {
                e.to_string()
            };
            self.fail(op, path, why)
        })?;
        let status = resp.status();
        if status.is_success()
            || status == StatusCode::NOT_FOUND
            || status == StatusCode::RANGE_NOT_SATISFIABLE
        {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        if status.is_client_error() {
            return Err(StoreError::Invalid(format!(
                "{} answered {status}: {message}",
                self.base
            )));
        }
        Err(self.fail(op, path, format!("{status}: {message}")))
    }
}

/// Characters escaped in one path segment (RFC 3986 unreserved and sub-delims stay).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b'=')
    .remove(b'@');

fn meta_of(resp: &reqwest::Response) -> ObjectMeta {
    let h = resp.headers();
    let text =
        |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let total = text(header::CONTENT_RANGE)
        .and_then(|r| r.rsplit('/').next().and_then(|n| n.parse().ok()))
        .or_else(|| resp.content_length())
        .unwrap_or(0);
    ObjectMeta {
        size: total,
        modified: text(header::LAST_MODIFIED).and_then(|d| httpdate::parse_http_date(&d).ok()),
        etag: text(header::ETAG),
        sha256: None,
    }
}

#[async_trait]
impl ArtifactStore for HttpStore {
    fn uri(&self) -> String {
        self.base.clone()
    }

    async fn put(&self, path: &ArtifactPath, body: ByteStream) -> Result<u64, StoreError> {
        let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = counted.clone();
        let body = body.inspect_ok(move |b| {
            counter.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
        });
        let req = self
            .client
            .request(Method::PUT, self.url(path))
            .body(reqwest::Body::wrap_stream(body));
        let resp = self.send("write", path, req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(self.fail("write", path, "the artifact route was not found".into()));
        }
        Ok(counted.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn get(&self, path: &ArtifactPath, opts: GetOptions) -> Result<GetObject, StoreError> {
        let mut req = self.client.get(self.url(path));
        if let Some(range) = &opts.range {
            req = req.header(header::RANGE, range.to_header());
        }
        let resp = self.send("read", path, req).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Err(StoreError::NotFound(path.clone())),
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let size = meta_of(&resp).size;
                return Err(StoreError::Range(crate::range::Unsatisfiable { size }));
            }
            _ => {}
        }
        let meta = meta_of(&resp);
        let range = if resp.status() == StatusCode::PARTIAL_CONTENT {
            resp.headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range)
        } else {
            None
        };
        let body: ByteStream = Box::pin(resp.bytes_stream().map_err(std::io::Error::other));
        Ok(GetObject { meta, range, body })
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Vec<FileInfo>, StoreError> {
        let query: String =
            percent_encoding::utf8_percent_encode(dir.as_str(), SEGMENT).to_string();
        let req = self.client.get(format!("{}?path={query}", self.base));
        let resp = self.send("list", dir, req).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(vec![]);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.fail("list", dir, format!("unreadable listing: {e}")))?;
        let listing: Listing = serde_json::from_slice(&bytes)
            .map_err(|e| self.fail("list", dir, format!("unreadable listing: {e}")))?;
        let mut files = Vec::with_capacity(listing.files.len());
        for f in listing.files {
            // A listing names entries of this directory only; anything else is refused
            // (CVE-2023-6018: a hostile server answering with traversing names).
            let name = f.path.rsplit('/').next().unwrap_or_default().to_owned();
            ArtifactPath::parse(&name).map_err(|_| {
                self.fail(
                    "list",
                    dir,
                    format!("the server listed an unsafe name {:?}", f.path),
                )
            })?;
            let size = f.file_size.and_then(|v| match v {
                serde_json::Value::Number(n) => n.as_u64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            });
            files.push(FileInfo {
                path: name,
                is_dir: f.is_dir,
                file_size: size.filter(|s| *s > 0),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<(), StoreError> {
        if path.is_root() {
            return Err(StoreError::RootTarget);
        }
        self.send("delete", path, self.client.delete(self.url(path)))
            .await?;
        Ok(())
    }

    async fn stat(&self, path: &ArtifactPath) -> Result<Option<Stat>, StoreError> {
        let resp = self
            .send("stat", path, self.client.head(self.url(path)))
            .await;
        match resp {
            Ok(r) if r.status().is_success() => return Ok(Some(Stat::File(meta_of(&r)))),
            Ok(_) | Err(StoreError::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
        // A directory answers 400 or 404 to a file request; it lists non-empty.
        Ok((!self.list(path).await?.is_empty()).then_some(Stat::Dir))
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.list(&ArtifactPath::root()).await.map(|_| ())
    }
}

/// `bytes a-b/size` -> `(a, b)`.
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v
        .strip_prefix("bytes ")?
        .split('/')
        .next()?
        .split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_each_segment() {
        let s = HttpStore::new("http://h:1/api/2.0/mlflow-artifacts/artifacts/").unwrap();
        let p = ArtifactPath::parse("1/run/artifacts/a b/c%d#.txt")
            .unwrap_or_else(|_| ArtifactPath::parse("1/run/artifacts/a b/c d.txt").unwrap());
        let url = s.url(&p);
        assert!(
            url.starts_with("http://h:1/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/a%20b/"),
            "{url}"
        );
        assert_eq!(
            s.url(&ArtifactPath::root()),
            "http://h:1/api/2.0/mlflow-artifacts/artifacts"
        );
        assert_eq!(parse_content_range("bytes 2-5/11"), Some((2, 5)));
    }
}
