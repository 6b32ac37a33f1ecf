//! GCS uploads of any size through the JSON API's resumable protocol (`uploadType=resumable`),
//! the protocol Google's own client libraries use, which real GCS and its emulators accept.
//!
//! OpenDAL 0.59 writes a GCS object larger than one chunk through the XML multipart API, which
//! `gcp-storage-emulator` (and other emulators) answer with 501, and uses the resumable
//! protocol only for conditional writes. So a proxied PUT goes here instead:
//!
//! - a body that ends within the first chunk is one request through OpenDAL (`write_once`);
//! - a longer one opens a session, then sends chunks of [`RESUMABLE_CHUNK`] bytes (a multiple
//!   of 256 KiB, as GCS requires of every chunk but the last) one after the other, while the
//!   next chunk is read from the client, so at most three chunks are in memory;
//! - a chunk that fails (a dropped connection, a timeout, a 5xx or 429) is resumed where the
//!   session says it stands: a status query (`Content-Range: bytes */*`) answers how many
//!   bytes were committed, and only the rest of the chunk is sent again;
//! - the last request carries the total size, which commits the object: an upload that never
//!   gets there (client gone, server killed) leaves no object, and the session is cancelled.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HOST, LOCATION, RANGE};
use http::{Method, StatusCode};
use opendal::Operator;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_core::{Context, OsEnv, ProvideCredentialChain, Signer};
use reqsign_file_read_tokio::TokioFileRead;
use reqsign_google::{
    Credential, DefaultCredentialProvider, FileCredentialProvider, RequestSigner,
};
use tokio::sync::mpsc;

use super::build::StorageTimeouts;
use super::errors::remote_error;
use super::s3_mpu::ReqwestSend;
use super::{CONTENT_TYPE as OBJECT_TYPE, PartBuffers};
use crate::path::ArtifactPath;
use crate::store::{ByteStream, StoreError};

/// Bytes per resumable chunk: 32 × 256 KiB (Google's libraries use 8-100 MiB).
pub const RESUMABLE_CHUNK: usize = 8 * 1024 * 1024;
/// GCS wants every chunk but the last to be a multiple of this.
const GRANULE: usize = 256 * 1024;
/// Failed attempts (of one chunk, or of starting the session) before the upload fails.
const ATTEMPTS: u32 = 6;
/// OpenDAL's default scope for GCS, so both ask for the same token.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
pub(crate) const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// Object names go in a query value: everything but unreserved characters is encoded.
const NAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Resumable uploads into one bucket, under one root prefix.
pub(crate) struct GcsResumable {
    client: reqwest::Client,
    /// `https://storage.googleapis.com`, or the emulator's address; no trailing `/`.
    endpoint: String,
    bucket: String,
    root: ArtifactPath,
    /// `None` for emulators, which take unsigned requests (as OpenDAL's `skip_signature`).
    signer: Option<Signer<Credential>>,
    timeouts: StorageTimeouts,
    chunk: usize,
    /// For errors, credentials removed (`gs://bucket/prefix`).
    uri: String,
}

impl std::fmt::Debug for GcsResumable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsResumable")
            .field("uri", &self.uri)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

/// What the body reader hands the sender: a full chunk, or the last (possibly empty) piece.
enum Piece {
    Chunk(Bytes),
    Last(Bytes),
}

/// Where a session stands after a request.
enum Standing {
    /// The object exists: the session is finished (with the object's generation, when the
    /// store's answer gives it).
    Complete(Option<String>),
    /// The session holds this many bytes and waits for more.
    Incomplete(u64),
}

/// Why a request did not give a standing.
enum Failure {
    /// Worth another try: a transport error, a timeout, 408, 429 or a 5xx.
    Transient(String),
    /// It will not get better (the session is gone, access denied, a bad request).
    Fatal { message: String, denied: bool },
}

/// Cancels an unfinished session when the upload stops (client gone, error), so the store
/// does not keep its bytes; GCS would drop them after a week anyway.
struct SessionGuard {
    client: reqwest::Client,
    session: Option<String>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        handle.spawn(async move {
            // Real GCS answers 499; emulators may not implement it (the bytes stay hidden).
            let sent = client
                .delete(&session)
                .header(CONTENT_LENGTH, 0)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "cancelling an unfinished GCS upload session failed");
            }
        });
    }
}

impl GcsResumable {
    /// `endpoint` is GCS's or an emulator's; `credential_path` as OpenDAL's builder takes it
    /// (`GOOGLE_APPLICATION_CREDENTIALS`); `signed: false` for emulators.
    pub(crate) fn new(
        endpoint: &str,
        bucket: &str,
        root: &ArtifactPath,
        signed: bool,
        credential_path: Option<&str>,
        timeouts: StorageTimeouts,
        uri: String,
    ) -> Result<Self, StoreError> {
        // 308 is GCS's "resume incomplete", never a redirect to follow.
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                StoreError::Unsupported(format!("cannot build the HTTP client for GCS: {e}"))
            })?;
        let signer = signed.then(|| {
            // The chain OpenDAL's GCS builder makes from the same settings: a key file named
            // in the configuration first, then Application Default Credentials (the
            // GOOGLE_APPLICATION_CREDENTIALS file, gcloud's well-known file, the VM's metadata
            // server).
            let ctx = Context::new()
                .with_file_read(TokioFileRead)
                .with_env(OsEnv)
                .with_http_send(ReqwestSend(client.clone()));
            let mut chain = ProvideCredentialChain::new().push(DefaultCredentialProvider::new());
            if let Some(path) = credential_path {
                chain = chain.push_front(FileCredentialProvider::new(path).with_scope(SCOPE));
            }
            Signer::new(ctx, chain, RequestSigner::new("storage").with_scope(SCOPE))
        });
        Ok(GcsResumable {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            bucket: bucket.to_owned(),
            root: root.clone(),
            signer,
            timeouts,
            chunk: RESUMABLE_CHUNK,
            uri,
        })
    }

    /// Chunks of `bytes` (rounded down to a multiple of 256 KiB): tests use small ones.
    #[cfg(test)]
    fn with_chunk(mut self, bytes: usize) -> Self {
        self.chunk = (bytes / GRANULE).max(1) * GRANULE;
        self
    }

    /// Stream `body` to `path` (relative to the store's root). `op` is the store's operator,
    /// rooted at the same prefix, for bodies that fit in one request. Returns the bytes
    /// written and, for a resumable upload, the generation GCS gave the object.
    pub(crate) async fn put(
        &self,
        op: &Operator,
        path: &ArtifactPath,
        mut body: ByteStream,
    ) -> Result<(u64, Option<String>), StoreError> {
        debug_assert!(self.chunk.is_multiple_of(GRANULE));
        let (tx, mut rx) = mpsc::channel::<Piece>(1);
        // Reads the client's body into chunk-sized buffers, one ahead of the sender.
        let read = async move {
            let mut parts = PartBuffers::new(self.chunk, 3);
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let mut chunk = chunk.map_err(StoreError::Body)?;
                written += chunk.len() as u64;
                while !chunk.is_empty() {
                    if let Some(part) = parts.fill(&mut chunk)
                        && tx.send(Piece::Chunk(part)).await.is_err()
                    {
                        // The sender stopped: its error is the upload's.
                        return Ok(written);
                    }
                }
            }
            let _ = tx.send(Piece::Last(parts.rest().unwrap_or_default())).await;
            Ok::<u64, StoreError>(written)
        };
        let send = async move {
            let mut guard = SessionGuard {
                client: self.client.clone(),
                session: None,
            };
            let mut offset = 0u64;
            while let Some(piece) = rx.recv().await {
                let (bytes, last) = match piece {
                    Piece::Chunk(b) => (b, false),
                    Piece::Last(b) => (b, true),
                };
                let session = match &guard.session {
                    Some(s) => s.clone(),
                    None if last => {
                        // The whole body fits in one chunk: one request, OpenDAL's retries.
                        let written = op
                            .write_with(path.as_str(), bytes)
                            .content_type(OBJECT_TYPE)
                            .await
                            .map_err(|e| remote_error(&self.uri, "write", path, e))?;
                        return Ok(written.version().map(str::to_owned));
                    }
                    None => {
                        let s = self.start(path).await?;
                        guard.session = Some(s.clone());
                        s
                    }
                };
                let len = bytes.len() as u64;
                let total = last.then_some(offset + len);
                let generation = self
                    .send_chunk(&session, path, offset, bytes, total)
                    .await?;
                offset += len;
                if last {
                    guard.session = None;
                    return Ok(generation);
                }
            }
            // The reader failed; `try_join!` returns its error, not this one.
            Err(StoreError::Body(std::io::Error::other(
                "the upload body ended early",
            )))
        };
        let (written, generation) = tokio::try_join!(read, send)?;
        Ok((written, generation))
    }

    fn fail(&self, path: &ArtifactPath, message: String, denied: bool) -> StoreError {
        tracing::warn!(store = %self.uri, path = %path, error = %message, "GCS resumable upload failed");
        StoreError::Remote {
            store: self.uri.clone(),
            op: "write",
            path: path.to_string(),
            message,
            denied,
        }
    }

    /// Open a session for `path`; its URI is where the bytes go.
    async fn start(&self, path: &ArtifactPath) -> Result<String, StoreError> {
        let key = self
            .root
            .join(path)
            .map_err(|e| self.fail(path, e.to_string(), false))?;
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=resumable&name={}",
            self.endpoint,
            self.bucket,
            utf8_percent_encode(key.as_str(), NAME_ENCODE)
        );
        let metadata = Bytes::from(format!("{{\"contentType\":\"{OBJECT_TYPE}\"}}"));
        let mut failures = 0;
        loop {
            let headers = [
                (CONTENT_TYPE, "application/json; charset=UTF-8".to_owned()),
                (
                    http::HeaderName::from_static("x-upload-content-type"),
                    OBJECT_TYPE.to_owned(),
                ),
            ];
            let outcome = match self
                .call(
                    Method::POST,
                    &url,
                    &headers,
                    metadata.clone(),
                    self.timeouts.control,
                )
                .await
            {
                Ok(resp) if resp.status().is_success() => {
                    match resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) {
                        Some(session) => return Ok(session.to_owned()),
                        None => Failure::Fatal {
                            message: "the store opened an upload session without a Location"
                                .to_owned(),
                            denied: false,
                        },
                    }
                }
                Ok(resp) => failure_of(resp).await,
                Err(f) => f,
            };
            match outcome {
                Failure::Transient(why) if failures + 1 < ATTEMPTS => {
                    failures += 1;
                    tracing::debug!(path = %path, error = %why, "starting a GCS upload failed, retrying");
                    tokio::time::sleep(backoff(failures)).await;
                }
                Failure::Transient(why) => {
                    return Err(self.fail(path, format!("cannot start the upload: {why}"), false));
                }
                Failure::Fatal { message, denied } => {
                    return Err(self.fail(
                        path,
                        format!("cannot start the upload: {message}"),
                        denied,
                    ));
                }
            }
        }
    }

    /// Send the bytes `start..start + bytes.len()` of the object; `total` on the last piece
    /// commits the object (then the object's generation, if the store says). A failed attempt
    /// asks the session what it holds and sends the rest.
    async fn send_chunk(
        &self,
        session: &str,
        path: &ArtifactPath,
        start: u64,
        bytes: Bytes,
        total: Option<u64>,
    ) -> Result<Option<String>, StoreError> {
        let end = start + bytes.len() as u64;
        let mut from = start;
        let mut failures = 0;
        let mut ask_first = false;
        loop {
            let result = if ask_first {
                self.status(session, total).await
            } else {
                let piece = bytes.slice((from - start) as usize..);
                let range = match (piece.is_empty(), total) {
                    (true, Some(t)) => format!("bytes */{t}"),
                    (true, None) => return Ok(None),
                    (false, t) => format!(
                        "bytes {from}-{}/{}",
                        end - 1,
                        t.map_or_else(|| "*".to_owned(), |t| t.to_string())
                    ),
                };
                let headers = [(CONTENT_RANGE, range)];
                match self
                    .call(Method::PUT, session, &headers, piece, self.timeouts.io)
                    .await
                {
                    Ok(resp) => standing_of(resp).await,
                    Err(f) => Err(f),
                }
            };
            match result {
                Ok(Standing::Complete(generation)) if total.is_some() => return Ok(generation),
                Ok(Standing::Complete(_)) => {
                    return Err(self.fail(
                        path,
                        "the store committed the object before its last chunk".to_owned(),
                        false,
                    ));
                }
                Ok(Standing::Incomplete(held)) => {
                    if held < start || held > end {
                        return Err(self.fail(
                            path,
                            format!(
                                "the upload session holds {held} bytes, outside the chunk {start}..{end} being sent"
                            ),
                            false,
                        ));
                    }
                    if held == end && total.is_none() {
                        return Ok(None);
                    }
                    // A status answer, or a piece the store took only part of: send the rest.
                    if !ask_first && held == from {
                        failures += 1;
                        if failures >= ATTEMPTS {
                            return Err(self.fail(
                                path,
                                format!("the store keeps refusing the bytes from offset {from}"),
                                false,
                            ));
                        }
                    }
                    from = held;
                    ask_first = false;
                }
                Err(Failure::Transient(why)) => {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        return Err(self.fail(
                            path,
                            format!("sending bytes {from}..{end} failed {failures} times: {why}"),
                            false,
                        ));
                    }
                    tracing::debug!(path = %path, from, end, error = %why, "a GCS upload chunk failed, resuming");
                    tokio::time::sleep(backoff(failures)).await;
                    ask_first = true;
                }
                Err(Failure::Fatal { message, denied }) => {
                    return Err(self.fail(path, message, denied));
                }
            }
        }
    }

    /// How many bytes the session holds (`Content-Range: bytes */*`, or `*/total` once the
    /// size is known, which also lets the store commit an object it has whole).
    async fn status(&self, session: &str, total: Option<u64>) -> Result<Standing, Failure> {
        let range = match total {
            Some(t) => format!("bytes */{t}"),
            None => "bytes */*".to_owned(),
        };
        let resp = self
            .call(
                Method::PUT,
                session,
                &[(CONTENT_RANGE, range)],
                Bytes::new(),
                self.timeouts.control,
            )
            .await?;
        standing_of(resp).await
    }

    /// Sign (unless an emulator) and send one request.
    async fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(http::HeaderName, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<reqwest::Response, Failure> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k, v.as_str());
        }
        req = req.header(CONTENT_LENGTH, body.len());
        let (mut parts, ()) = req
            .body(())
            .map_err(|e| Failure::Fatal {
                message: format!("cannot build the request: {e}"),
                denied: false,
            })?
            .into_parts();
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut parts, None)
                .await
                .map_err(|e| Failure::Fatal {
                    message: format!("cannot sign the request: {e}"),
                    denied: true,
                })?;
            // As OpenDAL: let the client set Host (Google may reset streams that carry one).
            parts.headers.remove(HOST);
        }
        self.client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transient(transport_message(&e)))
    }
}

/// GCS rewrites an object's metadata with `objects.patch` of the JSON API (`metadata` holds the
/// object's custom metadata with the digest added: real GCS merges the keys, emulators may
/// replace the map, both end the same). It is made only while the object is still the
/// generation the upload produced (`ifGenerationMatch`); the bytes and content type stay.
#[async_trait::async_trait]
impl super::MetadataWriter for GcsResumable {
    async fn set_user_metadata(
        &self,
        path: &ArtifactPath,
        current: &opendal::Metadata,
        user: &[(String, String)],
    ) -> Result<(), String> {
        let generation = current
            .version()
            .ok_or("the store reported no generation for the object")?;
        let key = self.root.join(path).map_err(|e| e.to_string())?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?ifGenerationMatch={}",
            self.endpoint,
            self.bucket,
            utf8_percent_encode(key.as_str(), NAME_ENCODE),
            utf8_percent_encode(generation, NAME_ENCODE)
        );
        let metadata: serde_json::Map<String, serde_json::Value> = user
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let body = serde_json::json!({ "metadata": metadata }).to_string();
        let headers = [(CONTENT_TYPE, "application/json; charset=UTF-8".to_owned())];
        match self
            .call(
                Method::PATCH,
                &url,
                &headers,
                Bytes::from(body),
                self.timeouts.control,
            )
            .await
        {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(match failure_of(resp).await {
                Failure::Transient(m) | Failure::Fatal { message: m, .. } => m,
            }),
            Err(Failure::Transient(m) | Failure::Fatal { message: m, .. }) => Err(m),
        }
    }
}

/// Where the session stands after an upload or status request.
async fn standing_of(resp: reqwest::Response) -> Result<Standing, Failure> {
    match resp.status() {
        StatusCode::OK | StatusCode::CREATED => {
            // The object resource; its generation binds the digest written after to these bytes.
            let body = resp.bytes().await.unwrap_or_default();
            let generation = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| match &v["generation"] {
                    serde_json::Value::String(g) => Some(g.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
            Ok(Standing::Complete(generation))
        }
        StatusCode::PERMANENT_REDIRECT => {
            // `Range: bytes=0-N` means N + 1 bytes are held; no Range means none.
            let held = match resp.headers().get(RANGE).and_then(|v| v.to_str().ok()) {
                None => 0,
                Some(r) => parse_held(r).ok_or_else(|| Failure::Fatal {
                    message: format!("the store answered an unreadable Range '{r}'"),
                    denied: false,
                })?,
            };
            Ok(Standing::Incomplete(held))
        }
        _ => Err(failure_of(resp).await),
    }
}

/// `bytes=0-N` → `N + 1`.
fn parse_held(range: &str) -> Option<u64> {
    let (first, last) = range.trim().strip_prefix("bytes=")?.split_once('-')?;
    if first.trim() != "0" {
        return None;
    }
    last.trim().parse::<u64>().ok()?.checked_add(1)
}

/// A failed response, in one line (GCS's JSON `error.message` where it gives one).
async fn failure_of(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut message = format!("HTTP {}", status.as_u16());
    if !detail.is_empty() {
        message.push_str(": ");
        message.extend(detail.chars().take(300));
    }
    match status.as_u16() {
        408 | 429 | 500..=599 => Failure::Transient(message),
        // A session that is gone (expired, cancelled) cannot be resumed.
        401 | 403 => Failure::Fatal {
            message: format!("access denied: {message}"),
            denied: true,
        },
        _ => Failure::Fatal {
            message,
            denied: false,
        },
    }
}

fn transport_message(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the store did not answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect to the store".to_owned()
    } else {
        let mut out = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    }
}

/// 0.2 s, 0.4 s, 0.8 s, ... up to 4 s, with jitter.
fn backoff(failures: u32) -> Duration {
    let base = 200u64 << failures.saturating_sub(1).min(5);
    Duration::from_millis(base.min(4_000) + fastrand::u64(0..100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_bytes_from_range() {
        assert_eq!(parse_held("bytes=0-0"), Some(1));
        assert_eq!(parse_held("bytes=0-8388607"), Some(8 * 1024 * 1024));
        assert_eq!(parse_held("bytes=5-9"), None);
        assert_eq!(parse_held("nonsense"), None);
    }

    #[test]
    fn chunks_are_whole_granules() {
        assert_eq!(RESUMABLE_CHUNK % GRANULE, 0);
        let r = GcsResumable::new(
            "http://127.0.0.1:1/",
            "b",
            &ArtifactPath::root(),
            false,
            None,
            StorageTimeouts {
                control: Duration::from_secs(1),
                io: Duration::from_secs(1),
                connect: Duration::from_secs(1),
            },
            "gs://b".into(),
        )
        .unwrap()
        .with_chunk(300 * 1024);
        assert_eq!(r.chunk, GRANULE);
        assert_eq!(r.endpoint, "http://127.0.0.1:1");
    }
}
