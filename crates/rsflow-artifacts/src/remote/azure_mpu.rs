//! Azure Blob multipart uploads for the proxy's `mpu/*` routes, as MLflow does them (spec
//! mlflow-artifacts §8.4): each part is a Put Block to a URL carrying a one-hour blob service
//! SAS (read+write), `complete` commits the block list read back from the parts' URLs, and
//! `abort` does nothing (uncommitted blocks expire after seven days). Needs the account key
//! (connection string or `AZURE_STORAGE_ACCESS_KEY`); without it the routes answer 501.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::build::StorageTimeouts;
use crate::path::ArtifactPath;
use crate::store::{CompletedPart, MultipartStore, MultipartUpload, PartCredential, StoreError};

const SAS_TTL: Duration = Duration::from_secs(3600);
const SAS_VERSION: &str = "2021-08-06";
/// Block IDs must all have the same length within a blob, so the number is zero-padded
/// (MLflow's `mlflow_block_<n>` breaks past nine parts).
const BLOCK_PREFIX: &str = "mlflow_block_";
const MAX_BLOCKS: u32 = 50_000;

const PATH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The multipart API of one container, for blobs under one root prefix.
pub struct AzureMultipart {
    /// `https://account.blob.core.windows.net` or a connection string's `BlobEndpoint`.
    endpoint: String,
    account: String,
    key: Vec<u8>,
    container: String,
    root: ArtifactPath,
    client: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for AzureMultipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureMultipart")
            .field("endpoint", &self.endpoint)
            .field("container", &self.container)
            .finish_non_exhaustive()
    }
}

/// Account name, key and blob endpoint from a connection string, when it has a key.
pub(crate) fn connection_string_parts(cs: &str) -> Option<(String, String, String)> {
    let mut fields = std::collections::HashMap::new();
    for part in cs.split(';').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part.split_once('=')?;
        fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let account = fields.get("accountname")?.clone();
    let key = fields.get("accountkey")?.clone();
    let endpoint = match fields.get("blobendpoint") {
        Some(e) => e.trim_end_matches('/').to_owned(),
        None => {
            let proto = fields
                .get("defaultendpointsprotocol")
                .map_or("https", String::as_str);
            let suffix = fields
                .get("endpointsuffix")
                .map_or("core.windows.net", String::as_str);
            format!("{proto}://{account}.blob.{suffix}")
        }
    };
    Some((account, key, endpoint))
}

impl AzureMultipart {
    pub(crate) fn new(
        endpoint: String,
        account: String,
        key: &str,
        container: String,
        root: &ArtifactPath,
        client: reqwest::Client,
        timeouts: StorageTimeouts,
    ) -> Option<Self> {
        Some(AzureMultipart {
            endpoint,
            account,
            key: B64.decode(key.trim()).ok()?,
            container,
            root: root.clone(),
            client,
            timeout: timeouts.control,
        })
    }

    fn blob_name(&self, path: &ArtifactPath) -> Result<String, StoreError> {
        Ok(self.root.join(path)?.as_str().to_owned())
    }

    fn blob_url(&self, blob: &str) -> String {
        format!(
            "{}/{}/{}",
            self.endpoint,
            self.container,
            utf8_percent_encode(blob, PATH_ENCODE)
        )
    }

    /// A blob service SAS (read + write) valid for an hour, as a query string.
    fn sas(&self, blob: &str, now: SystemTime) -> String {
        let expiry = iso8601(now + SAS_TTL);
        let resource = format!("/blob/{}/{}/{blob}", self.account, self.container);
        let permissions = "rw";
        // Fields: sp, st, se, resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct.
        let to_sign =
            format!("{permissions}\n\n{expiry}\n{resource}\n\n\n\n{SAS_VERSION}\nb\n\n\n\n\n\n\n");
        let sig = B64.encode(hmac_sha256(&self.key, to_sign.as_bytes()));
        format!(
            "sp={permissions}&se={}&sv={SAS_VERSION}&sr=b&sig={}",
            utf8_percent_encode(&expiry, QUERY_ENCODE),
            utf8_percent_encode(&sig, QUERY_ENCODE)
        )
    }

    fn fail(
        &self,
        op: &'static str,
        path: &ArtifactPath,
        message: String,
        denied: bool,
    ) -> StoreError {
        tracing::debug!(container = %self.container, op, path = %path, %message, "Azure multipart call failed");
        StoreError::Remote {
            store: format!("wasbs://{}@{}", self.container, self.account),
            op,
            path: path.to_string(),
            message,
            denied,
        }
    }
}

fn block_id(part: u32) -> String {
    B64.encode(format!("{BLOCK_PREFIX}{part:05}"))
}

/// The block ID carried by a part URL this server made (`…&blockid=<quoted base64>&…`).
fn block_id_from_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let raw = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("blockid="))?;
    let id = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
    let decoded = B64.decode(&id).ok()?;
    let text = std::str::from_utf8(&decoded).ok()?;
    let n = text.strip_prefix(BLOCK_PREFIX)?;
    (n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC), the form SAS expiry times take.
fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Azure rewrites a blob's metadata with Set Blob Metadata (`PUT ?comp=metadata`), which
/// replaces the whole set: `user` is the blob's metadata with the digest added. It is made
/// only while the blob still has the ETag the upload produced (`If-Match`), signed with the
/// same account-key SAS as the part URLs; the blob's bytes, type and properties stay.
#[async_trait]
impl super::MetadataWriter for AzureMultipart {
    async fn set_user_metadata(
        &self,
        path: &ArtifactPath,
        current: &opendal::Metadata,
        user: &[(String, String)],
    ) -> Result<(), String> {
        let etag = current
            .etag()
            .ok_or("the store reported no ETag for the blob")?;
        let blob = self.blob_name(path).map_err(|e| e.to_string())?;
        let url = format!(
            "{}?comp=metadata&{}",
            self.blob_url(&blob),
            self.sas(&blob, SystemTime::now())
        );
        let mut req = self
            .client
            .put(url)
            .header("x-ms-version", SAS_VERSION)
            .header("if-match", etag)
            .header("content-length", 0)
            .timeout(self.timeout);
        for (k, v) in user {
            req = req.header(format!("x-ms-meta-{k}"), v.as_str());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("", |(c, _)| c);
        Err(format!("HTTP {status} {code}"))
    }
}

#[async_trait]
impl MultipartStore for AzureMultipart {
    async fn create(
        &self,
        path: &ArtifactPath,
        num_parts: u32,
    ) -> Result<MultipartUpload, StoreError> {
        if num_parts == 0 || num_parts > MAX_BLOCKS {
            return Err(StoreError::Invalid(format!(
                "num_parts must be between 1 and {MAX_BLOCKS}, got {num_parts}"
            )));
        }
        let blob = self.blob_name(path)?;
        let url = self.blob_url(&blob);
        let sas = self.sas(&blob, SystemTime::now());
        let credentials = (1..=num_parts)
            .map(|part_number| PartCredential {
                part_number,
                url: format!(
                    "{url}?comp=block&blockid={}&{sas}",
                    utf8_percent_encode(&block_id(part_number), QUERY_ENCODE)
                ),
                headers: Vec::new(),
            })
            .collect();
        Ok(MultipartUpload {
            upload_id: None,
            credentials,
        })
    }

    async fn complete(
        &self,
        path: &ArtifactPath,
        _upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<(), StoreError> {
        let mut parts = parts.to_vec();
        parts.sort_by_key(|p| p.part_number);
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for p in &parts {
            let id = block_id_from_url(&p.url).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "Part {} of the upload of '{path}' does not carry a block ID this server issued",
                    p.part_number
                ))
            })?;
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let blob = self.blob_name(path)?;
        let url = format!(
            "{}?comp=blocklist&{}",
            self.blob_url(&blob),
            self.sas(&blob, SystemTime::now())
        );
        let op = "commit the blocks of";
        let resp = self
            .client
            .put(url)
            .header("content-type", "application/xml")
            .header("x-ms-version", SAS_VERSION)
            .timeout(self.timeout)
            .body(xml)
            .send()
            .await
            .map_err(|e| self.fail(op, path, e.to_string(), false))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("", |(c, _)| c);
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(StoreError::Invalid(format!(
                "Azure refused to commit the blocks of '{path}': {code}"
            )));
        }
        Err(self.fail(
            op,
            path,
            format!("HTTP {status} {code}"),
            status == reqwest::StatusCode::FORBIDDEN,
        ))
    }

    async fn abort(&self, _path: &ArtifactPath, _upload_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(1_709_210_096)),
            "2024-02-29T12:34:56Z"
        );
    }

    #[test]
    fn block_ids_round_trip_and_foreign_ones_are_refused() {
        let url = format!(
            "http://h/c/b?comp=block&blockid={}&sig=x",
            utf8_percent_encode(&block_id(12), QUERY_ENCODE)
        );
        assert_eq!(block_id_from_url(&url), Some(block_id(12)));
        assert_eq!(block_id(1).len(), block_id(10_000).len());
        let foreign = format!("http://h/c/b?comp=block&blockid={}", B64.encode("evil"));
        assert_eq!(block_id_from_url(&foreign), None);
        assert_eq!(block_id_from_url("http://h/c/b"), None);
    }

    #[test]
    fn connection_strings() {
        let (a, k, e) = connection_string_parts(
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/dev/;",
        )
        .unwrap();
        assert_eq!(
            (a.as_str(), k.as_str(), e.as_str()),
            ("dev", "a2V5", "http://127.0.0.1:10000/dev")
        );
        let (_, _, e) = connection_string_parts(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(e, "https://acct.blob.core.chinacloudapi.cn");
        assert!(connection_string_parts("AccountName=acct;SharedAccessSignature=sv=x").is_none());
    }
}
