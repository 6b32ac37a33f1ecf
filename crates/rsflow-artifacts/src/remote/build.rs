//! From a [`RemoteLocation`] and the environment MLflow's artifact repositories read (spec
//! mlflow-artifacts §8) to an opened store, with bounded timeouts and retries.

use std::sync::Arc;
use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::services::{Azblob, Gcs, S3};
use opendal::{HttpTransporter, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;

use super::azure_mpu::{AzureMultipart, connection_string_parts};
use super::gcs_upload::{DEFAULT_ENDPOINT as GCS_ENDPOINT, GcsResumable};
use super::location::{RemoteLocation, S3Flavour};
use super::s3_mpu::S3Multipart;
use super::{OpendalStore, ReadWindow};
use crate::sftp::SftpStore;
use crate::store::{ArtifactStore, StoreError};

/// Reads one environment variable (tests pass a map instead of the process environment).
pub(crate) type EnvFn<'a> = dyn Fn(&str) -> Option<String> + 'a;

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// How long a store may take before a request fails with a 503 instead of hanging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageTimeouts {
    /// Metadata calls (stat, presign, delete, multipart create/complete).
    pub control: Duration,
    /// Each read, write or list call on an open transfer (one part, one chunk, one page).
    pub io: Duration,
    /// Establishing a connection.
    pub connect: Duration,
}

impl Default for StorageTimeouts {
    fn default() -> Self {
        StorageTimeouts::from_env(&|_| None)
    }
}

impl StorageTimeouts {
    /// `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` (seconds, MLflow's Azure/GCS knob) bounds each
    /// transfer call; `RSFLOW_STORAGE_TIMEOUT` (seconds) bounds metadata calls.
    pub(crate) fn from_env(env: &EnvFn<'_>) -> Self {
        let secs = |key: &str, default: u64| {
            env(key)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| *s > 0.0)
                .map_or(Duration::from_secs(default), Duration::from_secs_f64)
        };
        StorageTimeouts {
            control: secs("RSFLOW_STORAGE_TIMEOUT", 30),
            io: secs("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", 60),
            connect: secs("RSFLOW_STORAGE_CONNECT_TIMEOUT", 10),
        }
    }
}

fn config_error(location: &RemoteLocation, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unsupported(format!(
        "Cannot configure the artifact store {location}: {why}"
    ))
}

/// Open the store behind a remote URI (`--artifacts-destination s3://…` and friends), rooted at
/// the URI's path, with the settings in `storage`. AWS buckets without a configured region
/// have it detected.
pub async fn open_remote(
    uri: &str,
    storage: &crate::StorageEnv,
) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let location =
        RemoteLocation::parse(uri).map_err(|e| StoreError::Unsupported(e.to_string()))?;
    let env = |k: &str| storage.get(k);
    if let RemoteLocation::S3 {
        flavour: S3Flavour::Aws,
        bucket,
        ..
    } = &location
        && env("MLFLOW_S3_ENDPOINT_URL").is_none()
        && env("AWS_REGION").is_none()
        && env("AWS_DEFAULT_REGION").is_none()
        && let Some(region) = S3::detect_region("https://s3.amazonaws.com", bucket).await
    {
        let with_region = storage.with("AWS_REGION", region);
        return open_location(&location, &|k: &str| with_region.get(k));
    }
    open_location(&location, &env)
}

/// Open the store behind a remote URI, reading settings from `env` instead of the process
/// environment (tests, and embedders with their own configuration). No region detection.
pub fn open_remote_with_env(
    uri: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let location =
        RemoteLocation::parse(uri).map_err(|e| StoreError::Unsupported(e.to_string()))?;
    open_location(&location, env)
}

/// Open a store for `location` (its prefix becomes the store's root).
pub(crate) fn open_location(
    location: &RemoteLocation,
    env: &EnvFn<'_>,
) -> Result<Arc<dyn ArtifactStore>, StoreError> {
    let timeouts = StorageTimeouts::from_env(env);
    let window = ReadWindow::from_env(env);
    match location {
        RemoteLocation::S3 { .. } => {
            let settings = S3Settings::from_env(location, env)?;
            let op = finish(
                settings.builder(location, env)?,
                location,
                timeouts,
                settings.ignore_tls,
            )?;
            let mut store = OpendalStore::new(op, location.to_string())
                .with_presigned_downloads()
                .with_read_window(window);
            if !settings.sse_customer_key {
                let mpu = Arc::new(S3Multipart::new(
                    settings,
                    location.prefix(),
                    timeouts,
                    env,
                )?);
                // With SSE-C a copy would need the customer key twice: no rewrite, so uploads
                // sent in parts keep no digest there.
                store = store.with_multipart(mpu.clone()).with_metadata_writer(mpu);
            }
            Ok(Arc::new(store))
        }
        RemoteLocation::Azure {
            container,
            account,
            suffix,
            prefix,
        } => {
            // The account key, where one is given, also signs multipart part URLs.
            let mut signing = None;
            let mut b = match env("AZURE_STORAGE_CONNECTION_STRING") {
                Some(cs) => {
                    signing = connection_string_parts(&cs);
                    Azblob::from_connection_string(&cs)
                        .map_err(|e| config_error(location, e.message()))?
                }
                None => {
                    let endpoint = format!("https://{account}.{suffix}");
                    let mut b = Azblob::default().endpoint(&endpoint).account_name(account);
                    if let Some(key) = env("AZURE_STORAGE_ACCESS_KEY") {
                        b = b.account_key(&key);
                        signing = Some((account.clone(), key, endpoint));
                    }
                    b
                }
            };
            b = b.container(container).root(&format!("/{prefix}"));
            let insecure = truthy(env("MLFLOW_TRACKING_INSECURE_TLS"));
            let op = finish(b, location, timeouts, insecure)?;
            let mut store = OpendalStore::new(op, location.to_string()).with_read_window(window);
            if let Some((account, key, endpoint)) = signing {
                let client = http_client(timeouts, insecure).map_err(|e| {
                    config_error(location, format!("cannot build the HTTP client: {e}"))
                })?;
                if let Some(mpu) = AzureMultipart::new(
                    endpoint,
                    account,
                    &key,
                    container.clone(),
                    prefix,
                    client,
                    timeouts,
                ) {
                    // The account key also signs Set Blob Metadata (digests of uploads
                    // sent in parts); with a SAS or Entra ID those keep no digest.
                    let mpu = Arc::new(mpu);
                    store = store.with_multipart(mpu.clone()).with_metadata_writer(mpu);
                }
            }
            Ok(Arc::new(store))
        }
        RemoteLocation::Gcs { bucket, prefix } => {
            let mut b = Gcs::default().bucket(bucket).root(&format!("/{prefix}"));
            let emulator = env("STORAGE_EMULATOR_HOST").map(|host| {
                let endpoint = if host.starts_with("http") {
                    host
                } else {
                    format!("http://{host}")
                };
                endpoint.trim_end_matches('/').to_owned()
            });
            let credential_path = env("GOOGLE_APPLICATION_CREDENTIALS");
            if let Some(endpoint) = &emulator {
                // The emulator needs no credentials, and there is no metadata server to ask.
                b = b
                    .endpoint(endpoint)
                    .skip_signature()
                    .disable_vm_metadata()
                    .disable_config_load();
            } else if let Some(path) = &credential_path {
                b = b.credential_path(path);
            }
            let op = finish(b, location, timeouts, false)?;
            let uploads = GcsResumable::new(
                emulator.as_deref().unwrap_or(GCS_ENDPOINT),
                bucket,
                prefix,
                emulator.is_none(),
                credential_path.as_deref().filter(|_| emulator.is_none()),
                timeouts,
                location.to_string(),
            )?;
            let uploads = Arc::new(uploads);
            Ok(Arc::new(
                OpendalStore::new(op, location.to_string())
                    .with_resumable_uploads(uploads.clone())
                    .with_metadata_writer(uploads)
                    .with_read_window(window),
            ))
        }
        RemoteLocation::Sftp { .. } => Ok(Arc::new(SftpStore::new(location, env, timeouts)?)),
    }
}

/// An operator with rsflow's HTTP client, timeouts and retries. The timeout layer sits under
/// the retry layer, so each attempt is bounded and the retries are bounded too.
pub(crate) fn finish(
    builder: impl opendal::Builder,
    location: &RemoteLocation,
    timeouts: StorageTimeouts,
    ignore_tls: bool,
) -> Result<Operator, StoreError> {
    let op = Operator::new(builder).map_err(|e| config_error(location, e.message()))?;
    let client = http_client(timeouts, ignore_tls)
        .map_err(|e| config_error(location, format!("cannot build the HTTP client: {e}")))?;
    let ctx = op
        .base_context()
        .with_http_transport(HttpTransporter::new(ReqwestTransport::new(client)));
    Ok(op
        .with_context(ctx)
        .layer(
            TimeoutLayer::new()
                .with_timeout(timeouts.control)
                .with_io_timeout(timeouts.io),
        )
        .layer(
            RetryLayer::new()
                .with_max_times(2)
                .with_jitter()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(2)),
        ))
}

pub(crate) fn http_client(
    timeouts: StorageTimeouts,
    ignore_tls: bool,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .tls_danger_accept_invalid_certs(ignore_tls)
        .build()
}

/// Why `MLFLOW_S3_EXPECTED_BUCKET_OWNER` stops rsflow (see README "Artifact storage").
const EXPECTED_BUCKET_OWNER_UNSUPPORTED: &str = "MLFLOW_S3_EXPECTED_BUCKET_OWNER is set, but rsflow \
     cannot send the ExpectedBucketOwner check (the x-amz-expected-bucket-owner header) on its S3 \
     requests, and will not run without the check it asks for. Unset \
     MLFLOW_S3_EXPECTED_BUCKET_OWNER, or restrict the bucket to its owner with a bucket policy";

/// What MLflow's S3 repositories take from the environment.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Scheme and host (and port) of the service, no bucket, no trailing `/`.
    pub endpoint: String,
    pub region: String,
    pub virtual_host: bool,
    pub ignore_tls: bool,
    pub unsigned: bool,
    /// SSE-C is configured: presigned URLs would leak the key, so no multipart (as MLflow).
    pub sse_customer_key: bool,
    /// Headers `CreateMultipartUpload` must carry for server-side encryption.
    pub sse_headers: Vec<(String, String)>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl S3Settings {
    pub(crate) fn from_env(location: &RemoteLocation, env: &EnvFn<'_>) -> Result<Self, StoreError> {
        let RemoteLocation::S3 {
            flavour,
            bucket,
            host,
            ..
        } = location
        else {
            return Err(config_error(location, "not an S3 location"));
        };
        let custom = match flavour {
            S3Flavour::Aws => env("MLFLOW_S3_ENDPOINT_URL"),
            S3Flavour::B2 | S3Flavour::R2 => host.as_ref().map(|h| format!("https://{h}")),
        };
        if let Some(ep) = &custom
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            return Err(config_error(
                location,
                format!(
                    "MLFLOW_S3_ENDPOINT_URL must include the scheme (http:// or https://), got '{ep}'"
                ),
            ));
        }
        // MLflow sends ExpectedBucketOwner on every S3 call. OpenDAL 0.59 cannot add the
        // `x-amz-expected-bucket-owner` header before it signs, and S3 rejects unsigned x-amz
        // headers, so rsflow would silently drop the check: refuse instead.
        if env("MLFLOW_S3_EXPECTED_BUCKET_OWNER").is_some() {
            return Err(config_error(location, EXPECTED_BUCKET_OWNER_UNSUPPORTED));
        }
        let region = match flavour {
            S3Flavour::R2 => "auto".to_owned(),
            S3Flavour::B2 => {
                let host = host.as_deref().unwrap_or("");
                match host.split('.').collect::<Vec<_>>().as_slice() {
                    ["s3", region, "backblazeb2", "com"] => (*region).to_owned(),
                    _ => {
                        return Err(config_error(
                            location,
                            format!("Unable to parse region from B2 endpoint: https://{host}"),
                        ));
                    }
                }
            }
            S3Flavour::Aws => env("AWS_REGION")
                .or_else(|| env("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
        };
        let style = env("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE")
            .unwrap_or_else(|| "auto".into())
            .to_ascii_lowercase();
        let virtual_host = match flavour {
            S3Flavour::B2 => false,
            S3Flavour::R2 => true,
            // botocore's `auto`: virtual hosts on AWS for DNS-safe names, paths elsewhere.
            S3Flavour::Aws => match style.as_str() {
                "virtual" => true,
                "path" => false,
                _ => custom.is_none() && !bucket.contains('.'),
            },
        };
        let endpoint = custom
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let extra = match env("MLFLOW_S3_UPLOAD_EXTRA_ARGS") {
            Some(raw) => match serde_json::from_str::<serde_json::Value>(&raw) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => {
                    return Err(config_error(
                        location,
                        "MLFLOW_S3_UPLOAD_EXTRA_ARGS must be a JSON object",
                    ));
                }
            },
            None => serde_json::Map::new(),
        };
        let text = |k: &str| extra.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let mut sse_headers = Vec::new();
        if let Some(v) = text("ServerSideEncryption") {
            sse_headers.push(("x-amz-server-side-encryption".into(), v));
        }
        if let Some(v) = text("SSEKMSKeyId") {
            sse_headers.push(("x-amz-server-side-encryption-aws-kms-key-id".into(), v));
        }
        Ok(S3Settings {
            bucket: bucket.clone(),
            endpoint,
            region,
            virtual_host,
            ignore_tls: truthy(env("MLFLOW_S3_IGNORE_TLS")),
            unsigned: env("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION")
                .is_some_and(|v| v.eq_ignore_ascii_case("unsigned")),
            sse_customer_key: extra.contains_key("SSECustomerKey"),
            sse_headers,
            extra,
        })
    }

    pub(crate) fn builder(
        &self,
        location: &RemoteLocation,
        env: &EnvFn<'_>,
    ) -> Result<S3, StoreError> {
        let mut b = S3::default()
            .bucket(&self.bucket)
            .endpoint(&self.endpoint)
            .region(&self.region)
            .root(&format!("/{}", location.prefix()));
        if self.virtual_host {
            b = b.enable_virtual_host_style();
        }
        if self.unsigned {
            b = b.skip_signature();
        }
        if truthy(env("AWS_EC2_METADATA_DISABLED")) {
            b = b.disable_ec2_metadata();
        }
        if let Some(profile) = env("AWS_PROFILE") {
            b = b.profile(&profile);
        }
        // Keys given in the environment win over profiles and instance roles, as in boto.
        if let (Some(ak), Some(sk)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            b = b.access_key_id(&ak).secret_access_key(&sk);
            if let Some(token) = env("AWS_SESSION_TOKEN") {
                b = b.session_token(&token);
            }
        }
        let text = |k: &str| self.extra.get(k).and_then(|v| v.as_str());
        for (key, value) in &self.extra {
            let Some(v) = value.as_str() else { continue };
            b = match key.as_str() {
                "ServerSideEncryption" => b.server_side_encryption(v),
                "SSEKMSKeyId" => b.server_side_encryption_aws_kms_key_id(v),
                "SSECustomerKey" => b.server_side_encryption_with_customer_key(
                    text("SSECustomerAlgorithm").unwrap_or("AES256"),
                    v.as_bytes(),
                ),
                "SSECustomerAlgorithm" => b,
                "ACL" => b.default_acl(v),
                "StorageClass" => b.default_storage_class(v),
                other => {
                    tracing::warn!(
                        key = other,
                        "MLFLOW_S3_UPLOAD_EXTRA_ARGS key is not applied by rsflow"
                    );
                    b
                }
            };
        }
        Ok(b)
    }

    /// `https://host/bucket` (path style) or `https://bucket.host` (virtual hosts).
    /// Headers an in-place `CopyObject` (which rewrites an object's metadata) must repeat so
    /// the copy keeps what the upload set: encryption, ACL and storage class, as configured.
    pub(crate) fn copy_headers(&self) -> Vec<(String, String)> {
        let mut out = self.sse_headers.clone();
        let text = |k: &str| {
            self.extra
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        if let Some(v) = text("ACL") {
            out.push(("x-amz-acl".into(), v));
        }
        if let Some(v) = text("StorageClass") {
            out.push(("x-amz-storage-class".into(), v));
        }
        out
    }

    pub fn bucket_url(&self) -> String {
        if self.virtual_host {
            match self.endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}", self.bucket),
                None => format!("https://{}.{}", self.bucket, self.endpoint),
            }
        } else {
            format!("{}/{}", self.endpoint, self.bucket)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(uri: &str, vars: &[(&str, &str)]) -> Result<S3Settings, StoreError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        S3Settings::from_env(&RemoteLocation::parse(uri).unwrap(), &|k: &str| {
            map.get(k).cloned()
        })
    }

    #[test]
    fn custom_endpoints_use_path_style() {
        let s = settings(
            "s3://bkt/x",
            &[
                ("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000/"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
            ],
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:9000");
        assert_eq!(s.region, "eu-west-1");
        assert!(!s.virtual_host);
        assert_eq!(s.bucket_url(), "http://127.0.0.1:9000/bkt");
    }

    #[test]
    fn aws_defaults_to_virtual_hosts() {
        let s = settings("s3://bkt/x", &[("AWS_REGION", "us-west-2")]).unwrap();
        assert_eq!(s.endpoint, "https://s3.us-west-2.amazonaws.com");
        assert!(s.virtual_host);
        assert_eq!(s.bucket_url(), "https://bkt.s3.us-west-2.amazonaws.com");
        let s = settings("s3://b.k.t/x", &[]).unwrap();
        assert!(
            !s.virtual_host,
            "dotted bucket names cannot be virtual hosts"
        );
        assert_eq!(s.region, "us-east-1");
        let s = settings(
            "s3://bkt/x",
            &[("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "path")],
        )
        .unwrap();
        assert!(!s.virtual_host);
    }

    #[test]
    fn b2_and_r2() {
        let s = settings("b2://bk@s3.us-west-004.backblazeb2.com/x", &[]).unwrap();
        assert_eq!(s.endpoint, "https://s3.us-west-004.backblazeb2.com");
        assert_eq!(s.region, "us-west-004");
        assert!(!s.virtual_host);
        assert!(settings("b2://bk@example.com/x", &[]).is_err());
        let s = settings("r2://bk@acct.r2.cloudflarestorage.com/x", &[]).unwrap();
        assert_eq!(s.region, "auto");
        assert_eq!(s.bucket_url(), "https://bk.acct.r2.cloudflarestorage.com");
    }

    #[test]
    fn endpoint_needs_a_scheme_and_extra_args_json() {
        let e = settings("s3://b", &[("MLFLOW_S3_ENDPOINT_URL", "minio:9000")]).unwrap_err();
        assert!(e.to_string().contains("must include the scheme"), "{e}");
        let e = settings("s3://b", &[("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "[1]")]).unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        let s = settings(
            "s3://b",
            &[(
                "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
                r#"{"ServerSideEncryption":"aws:kms","SSEKMSKeyId":"k1"}"#,
            )],
        )
        .unwrap();
        assert!(!s.sse_customer_key);
        assert_eq!(
            s.sse_headers,
            vec![
                (
                    "x-amz-server-side-encryption".to_owned(),
                    "aws:kms".to_owned()
                ),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id".to_owned(),
                    "k1".to_owned()
                ),
            ]
        );
        let s = settings(
            "s3://b",
            &[("MLFLOW_S3_UPLOAD_EXTRA_ARGS", r#"{"SSECustomerKey":"k"}"#)],
        )
        .unwrap();
        assert!(s.sse_customer_key);
    }

    #[test]
    fn expected_bucket_owner_is_refused_not_ignored() {
        let e = settings(
            "s3://b/x",
            &[("MLFLOW_S3_EXPECTED_BUCKET_OWNER", "111122223333")],
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("MLFLOW_S3_EXPECTED_BUCKET_OWNER"), "{msg}");
        assert!(msg.contains("s3://b/x"), "{msg}");
        assert!(!msg.contains("111122223333"), "{msg}");
        // Empty counts as unset, as in boto.
        let map = |k: &str| (k == "MLFLOW_S3_EXPECTED_BUCKET_OWNER").then(String::new);
        let env = |k: &str| map(k).filter(|v| !v.is_empty());
        assert!(S3Settings::from_env(&RemoteLocation::parse("s3://b/x").unwrap(), &env).is_ok());
    }

    #[test]
    fn timeouts_from_env() {
        let t = StorageTimeouts::from_env(&|k: &str| {
            (k == "MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT").then(|| "5".to_owned())
        });
        assert_eq!(t.io, Duration::from_secs(5));
        assert_eq!(t.control, Duration::from_secs(30));
    }
}
