//! S3 multipart uploads for the proxy's `mpu/create|complete|abort` routes (spec
//! mlflow-artifacts §4.3): the server starts the upload, presigns one `UploadPart` URL per part
//! (OpenDAL presigns whole-object requests only, so these are signed here with reqsign, the
//! signer OpenDAL itself uses), and commits or aborts it. The parts go client → S3 directly.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_aws_v4::{
    Credential, DefaultCredentialProvider, RequestSigner, StaticCredentialProvider,
};
use reqsign_core::{Context, HttpSend, OsEnv, ProvideCredentialChain, Signer};
use reqsign_file_read_tokio::TokioFileRead;

use super::build::{EnvFn, S3Settings, StorageTimeouts, http_client};
use crate::path::ArtifactPath;
use crate::store::{CompletedPart, MultipartStore, MultipartUpload, PartCredential, StoreError};

/// boto's default expiry for presigned part URLs.
const PART_URL_TTL: Duration = Duration::from_secs(3600);
/// S3 allows at most this many parts.
const MAX_PARTS: u32 = 10_000;

/// S3 keys are encoded like URI paths: everything but unreserved characters and `/`.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// Query values: everything but unreserved characters.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The multipart API of one S3 bucket, for keys under one root prefix.
pub struct S3Multipart {
    settings: S3Settings,
    root: ArtifactPath,
    signer: Signer<Credential>,
    client: reqwest::Client,
    timeout: Duration,
    /// A server-side copy moves the whole object: a metadata call plus a transfer call.
    copy_timeout: Duration,
}

impl fmt::Debug for S3Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Multipart")
            .field("bucket", &self.settings.bucket)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// reqsign loads some credentials over HTTP (instance metadata, STS); it uses our client.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestSend(pub(crate) reqwest::Client);

impl HttpSend for ReqwestSend {
    async fn http_send(
        &self,
        req: http::Request<Bytes>,
    ) -> reqsign_core::Result<http::Response<Bytes>> {
        let req = reqwest::Request::try_from(req)
            .map_err(|e| reqsign_core::Error::unexpected(format!("bad request: {e}")))?;
        let resp = self
            .0
            .execute(req)
            .await
            .map_err(|e| reqsign_core::Error::unexpected(format!("request failed: {e}")))?;
        let mut out = http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| reqsign_core::Error::unexpected(format!("reading body failed: {e}")))?;
        out.body(body)
            .map_err(|e| reqsign_core::Error::unexpected(format!("bad response: {e}")))
    }
}

impl S3Multipart {
    pub(crate) fn new(
        settings: S3Settings,
        root: &ArtifactPath,
        timeouts: StorageTimeouts,
        env: &EnvFn<'_>,
    ) -> Result<Self, StoreError> {
        let client = http_client(timeouts, settings.ignore_tls).map_err(|e| {
            StoreError::Unsupported(format!("cannot build the HTTP client for S3: {e}"))
        })?;
        let ctx = Context::new()
            .with_file_read(TokioFileRead)
            .with_env(OsEnv)
            .with_http_send(ReqwestSend(client.clone()));
        let mut provider = DefaultCredentialProvider::builder();
        if let Some(profile) = env("AWS_PROFILE") {
            provider = provider.with_profile(profile);
        }
        if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            provider = provider.no_imds();
        }
        let mut chain = ProvideCredentialChain::new().push(provider.build());
        if let (Some(ak), Some(sk)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            let fixed = StaticCredentialProvider::new(&ak, &sk);
            let fixed = match env("AWS_SESSION_TOKEN") {
                Some(token) => fixed.with_session_token(&token),
                None => fixed,
            };
            chain = chain.push_front(fixed);
        }
        let signer = Signer::new(ctx, chain, RequestSigner::new("s3", &settings.region));
        Ok(S3Multipart {
            settings,
            root: root.clone(),
            signer,
            client,
            timeout: timeouts.control,
            copy_timeout: timeouts.control + timeouts.io,
        })
    }

    /// The object URL of `path`, without a query.
    fn object_url(&self, path: &ArtifactPath) -> Result<String, StoreError> {
        let key = self.root.join(path)?;
        Ok(format!(
            "{}/{}",
            self.settings.bucket_url(),
            utf8_percent_encode(key.as_str(), KEY_ENCODE)
        ))
    }

    /// A request head for `url`, signed in headers (`expires: None`) or in the query.
    async fn sign(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        expires: Option<Duration>,
        path: &ArtifactPath,
    ) -> Result<http::request::Parts, StoreError> {
        let mut req = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let (mut parts, ()) = req
            .body(())
            .map_err(|e| self.fail("sign a request for", path, e.to_string(), false))?
            .into_parts();
        self.signer
            .sign(&mut parts, expires)
            .await
            .map_err(|e| self.fail("sign a request for", path, e.to_string(), false))?;
        Ok(parts)
    }

    /// Sign and send one request; S3 errors come back as XML bodies (even with a 200 for
    /// `CompleteMultipartUpload`).
    async fn send(
        &self,
        op: &'static str,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        path: &ArtifactPath,
    ) -> Result<String, StoreError> {
        self.send_within(op, method, url, headers, body, path, self.timeout)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_within(
        &self,
        op: &'static str,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        path: &ArtifactPath,
        timeout: Duration,
    ) -> Result<String, StoreError> {
        let parts = self.sign(method, url, headers, None, path).await?;
        let mut req = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .timeout(timeout);
        if !body.is_empty() {
            req = req.body(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.fail(op, path, transport_message(&e), false))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| self.fail(op, path, transport_message(&e), false))?;
        let code = xml_field(&text, "Code");
        if status.is_success() && code.is_none() {
            return Ok(text);
        }
        let message = xml_field(&text, "Message").unwrap_or_default();
        Err(match code.as_deref() {
            Some("NoSuchUpload") => {
                StoreError::Invalid(format!("No such multipart upload for '{path}': {message}"))
            }
            Some("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "MalformedXML") => {
                StoreError::Invalid(format!(
                    "S3 refused to complete the upload of '{path}': {} {message}",
                    code.as_deref().unwrap_or("")
                ))
            }
            _ => self.fail(
                op,
                path,
                format!(
                    "HTTP {status} {} {message}",
                    code.as_deref().unwrap_or_default()
                ),
                status == reqwest::StatusCode::FORBIDDEN,
            ),
        })
    }

    fn fail(
        &self,
        op: &'static str,
        path: &ArtifactPath,
        message: String,
        denied: bool,
    ) -> StoreError {
        tracing::debug!(bucket = %self.settings.bucket, op, path = %path, %message, "S3 multipart call failed");
        StoreError::Remote {
            store: format!("s3://{}", self.settings.bucket),
            op,
            path: path.to_string(),
            message,
            denied,
        }
    }
}

fn transport_message(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the store did not answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect to the store".to_owned()
    } else {
        e.to_string()
    }
}

/// The text of the first `<name>…</name>` element, XML entities decoded.
fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(
        xml[start..end]
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// S3 rewrites an object's metadata only with a copy: an in-place `CopyObject` with
/// `x-amz-metadata-directive: REPLACE`, made only while the source still has the ETag the
/// upload produced (`x-amz-copy-source-if-match`). The copy must repeat everything the
/// directive would otherwise drop: the content headers and user metadata the object has, and
/// the encryption, ACL and storage class rsflow writes with. One `CopyObject` takes at most
/// 5 GiB; a larger object keeps no digest (an `UploadPartCopy` rewrite of every part would
/// double the store's work for each big upload).
#[async_trait]
impl super::MetadataWriter for S3Multipart {
    async fn set_user_metadata(
        &self,
        path: &ArtifactPath,
        current: &opendal::Metadata,
        user: &[(String, String)],
    ) -> Result<(), String> {
        const COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;
        if current.content_length() > COPY_LIMIT {
            return Err(format!(
                "objects over 5 GiB ({} bytes here) cannot be copied in one request",
                current.content_length()
            ));
        }
        let etag = current
            .etag()
            .ok_or("the store reported no ETag for the object")?;
        let key = self.root.join(path).map_err(|e| e.to_string())?;
        let mut headers = vec![
            (
                "x-amz-copy-source".to_owned(),
                format!(
                    "{}/{}",
                    self.settings.bucket,
                    utf8_percent_encode(key.as_str(), KEY_ENCODE)
                ),
            ),
            ("x-amz-copy-source-if-match".to_owned(), etag.to_owned()),
            ("x-amz-metadata-directive".to_owned(), "REPLACE".to_owned()),
        ];
        let kept = [
            ("content-type", current.content_type()),
            ("content-disposition", current.content_disposition()),
            ("content-encoding", current.content_encoding()),
            ("cache-control", current.cache_control()),
        ];
        for (name, value) in kept {
            if let Some(v) = value {
                headers.push((name.to_owned(), v.to_owned()));
            }
        }
        for (k, v) in user {
            headers.push((format!("x-amz-meta-{k}"), v.clone()));
        }
        headers.extend(self.settings.copy_headers());
        let url = self.object_url(path).map_err(|e| e.to_string())?;
        self.send_within(
            "copy in place",
            http::Method::PUT,
            &url,
            &headers,
            Vec::new(),
            path,
            self.copy_timeout,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl MultipartStore for S3Multipart {
    async fn create(
        &self,
        path: &ArtifactPath,
        num_parts: u32,
    ) -> Result<MultipartUpload, StoreError> {
        if num_parts == 0 || num_parts > MAX_PARTS {
            return Err(StoreError::Invalid(format!(
                "num_parts must be between 1 and {MAX_PARTS}, got {num_parts}"
            )));
        }
        let url = self.object_url(path)?;
        let body = self
            .send(
                "start a multipart upload of",
                http::Method::POST,
                &format!("{url}?uploads="),
                &self.settings.sse_headers,
                Vec::new(),
                path,
            )
            .await?;
        let upload_id = xml_field(&body, "UploadId").ok_or_else(|| {
            self.fail(
                "start a multipart upload of",
                path,
                "the response carries no UploadId".into(),
                false,
            )
        })?;
        let id = utf8_percent_encode(&upload_id, QUERY_ENCODE).to_string();
        let mut credentials = Vec::with_capacity(num_parts as usize);
        for part_number in 1..=num_parts {
            let part_url = format!("{url}?partNumber={part_number}&uploadId={id}");
            let signed = self
                .sign(http::Method::PUT, &part_url, &[], Some(PART_URL_TTL), path)
                .await?;
            credentials.push(PartCredential {
                part_number,
                url: signed.uri.to_string(),
                headers: Vec::new(),
            });
        }
        Ok(MultipartUpload {
            upload_id: Some(upload_id),
            credentials,
        })
    }

    async fn complete(
        &self,
        path: &ArtifactPath,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), StoreError> {
        let mut parts = parts.to_vec();
        parts.sort_by_key(|p| p.part_number);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in &parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                p.part_number,
                xml_escape(&p.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let url = format!(
            "{}?uploadId={}",
            self.object_url(path)?,
            utf8_percent_encode(upload_id, QUERY_ENCODE)
        );
        self.send(
            "complete the multipart upload of",
            http::Method::POST,
            &url,
            &[("content-type".into(), "application/xml".into())],
            xml.into_bytes(),
            path,
        )
        .await
        .map(drop)
    }

    async fn abort(&self, path: &ArtifactPath, upload_id: &str) -> Result<(), StoreError> {
        let url = format!(
            "{}?uploadId={}",
            self.object_url(path)?,
            utf8_percent_encode(upload_id, QUERY_ENCODE)
        );
        match self
            .send(
                "abort the multipart upload of",
                http::Method::DELETE,
                &url,
                &[],
                Vec::new(),
                path,
            )
            .await
        {
            // Aborting twice (the client aborts after any failure) is not an error.
            Err(StoreError::Invalid(m)) if m.starts_with("No such multipart upload") => Ok(()),
            other => other.map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_fields() {
        let body = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>\
                    <UploadId>a&amp;b~c</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(xml_field(body, "UploadId").as_deref(), Some("a&b~c"));
        assert_eq!(xml_field(body, "Code"), None);
        assert_eq!(xml_escape("\"x\"&"), "&quot;x&quot;&amp;");
    }

    #[test]
    fn keys_are_path_encoded() {
        assert_eq!(
            utf8_percent_encode("a b/c+d~e.txt", KEY_ENCODE).to_string(),
            "a%20b/c%2Bd~e.txt"
        );
        assert_eq!(
            utf8_percent_encode("x/y=", QUERY_ENCODE).to_string(),
            "x%2Fy%3D"
        );
    }
}
