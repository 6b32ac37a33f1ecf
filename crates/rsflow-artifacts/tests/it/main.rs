//! One artifact-store behaviour suite, run on every backend: local disk, S3 on s3s-fs, S3 on
//! moto, Azure Blob on Azurite, GCS on gcp-storage-emulator, SFTP on OpenSSH.
//!
//! The servers come from `scripts/storage-servers.sh start`, whose `env` output sets the
//! `RSFLOW_TEST_*` variables read here. When a backend's variable is set, its server must be
//! up: a failure to reach it fails the test with the reason. When the variable is absent (a
//! plain `cargo test` without the servers), the backend's tests print why and pass without
//! checking anything; the project's test command (`scripts/test.sh`) always sets them.
//!
//! The crate's other integration tests share this binary (one link instead of one per file):
//! `local_safety::` and `local_store::` (the former `tests/local_*.rs`).

mod cases;
mod gcs_resume;
mod local_safety;
mod local_store;
mod mpu;
mod timeouts;

use std::collections::HashMap;
use std::sync::Arc;

use rsflow_artifacts::remote::open_remote_with_env;
use rsflow_artifacts::{ArtifactStore, LocalStore};

/// A store under test, plus whatever must live as long as it.
pub struct Backend {
    pub store: Arc<dyn ArtifactStore>,
    _dir: Option<tempfile::TempDir>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A fresh prefix per test, so runs (and tests) never see each other's objects.
fn unique(label: &str) -> String {
    format!("behaviour-{label}-{}", uuid::Uuid::new_v4().simple())
}

async fn open(uri: String, env: HashMap<&'static str, String>) -> Backend {
    let lookup = move |k: &str| env.get(k).cloned();
    let store = open_remote_with_env(&uri, &lookup)
        .unwrap_or_else(|e| panic!("cannot configure {uri}: {e}"));
    if let Err(e) = store.check().await {
        panic!("{uri} is configured by the test environment but does not work: {e}");
    }
    Backend { store, _dir: None }
}

fn skip(backend: &str, var: &str) -> Option<Backend> {
    eprintln!(
        "skipping the {backend} backend: {var} is not set (`eval \"$(bash scripts/storage-servers.sh env)\"` after `start` sets it)"
    );
    None
}

pub async fn local() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).await.unwrap();
    store.check().await.unwrap();
    Some(Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    })
}

fn s3_env(endpoint: String) -> HashMap<&'static str, String> {
    HashMap::from([
        ("MLFLOW_S3_ENDPOINT_URL", endpoint),
        (
            "AWS_ACCESS_KEY_ID",
            var("RSFLOW_TEST_S3_ACCESS_KEY").unwrap_or_else(|| "rsflowtest".into()),
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            var("RSFLOW_TEST_S3_SECRET_KEY").unwrap_or_else(|| "rsflowtestsecret".into()),
        ),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        // Never ask an instance-metadata address for credentials from a test.
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ])
}

fn bucket() -> String {
    var("RSFLOW_TEST_S3_BUCKET").unwrap_or_else(|| "rsflow-test".into())
}

pub async fn s3s() -> Option<Backend> {
    let Some(endpoint) = var("RSFLOW_TEST_S3_ENDPOINT") else {
        return skip("S3 (s3s-fs)", "RSFLOW_TEST_S3_ENDPOINT");
    };
    Some(
        open(
            format!("s3://{}/{}", bucket(), unique("s3s")),
            s3_env(endpoint),
        )
        .await,
    )
}

pub async fn moto() -> Option<Backend> {
    let Some(endpoint) = var("RSFLOW_TEST_MOTO_ENDPOINT") else {
        return skip("S3 (moto)", "RSFLOW_TEST_MOTO_ENDPOINT");
    };
    Some(
        open(
            format!("s3://{}/{}", bucket(), unique("moto")),
            s3_env(endpoint),
        )
        .await,
    )
}

pub async fn azurite() -> Option<Backend> {
    let Some(conn) = var("RSFLOW_TEST_AZURE_CONNECTION_STRING") else {
        return skip(
            "Azure Blob (Azurite)",
            "RSFLOW_TEST_AZURE_CONNECTION_STRING",
        );
    };
    let base = var("RSFLOW_TEST_AZURE_URI")
        .unwrap_or_else(|| "wasbs://rsflow-test@devstoreaccount1.blob.core.windows.net".into());
    let env = HashMap::from([("AZURE_STORAGE_CONNECTION_STRING", conn)]);
    Some(open(format!("{base}/{}", unique("azure")), env).await)
}

pub async fn gcs() -> Option<Backend> {
    let Some(host) = var("RSFLOW_TEST_GCS_EMULATOR") else {
        return skip("GCS (gcp-storage-emulator)", "RSFLOW_TEST_GCS_EMULATOR");
    };
    let bucket = var("RSFLOW_TEST_GCS_BUCKET").unwrap_or_else(|| "rsflow-test".into());
    let env = HashMap::from([("STORAGE_EMULATOR_HOST", host)]);
    Some(open(format!("gs://{bucket}/{}", unique("gcs")), env).await)
}

pub async fn sftp() -> Option<Backend> {
    let Some(uri) = var("RSFLOW_TEST_SFTP_URI") else {
        return skip("SFTP (OpenSSH)", "RSFLOW_TEST_SFTP_URI");
    };
    let home =
        var("RSFLOW_TEST_SFTP_HOME").expect("RSFLOW_TEST_SFTP_HOME goes with RSFLOW_TEST_SFTP_URI");
    let env = HashMap::from([("HOME", home)]);
    Some(
        open(
            format!("{}/{}", uri.trim_end_matches('/'), unique("sftp")),
            env,
        )
        .await,
    )
}

/// The same cases for every backend. A case a test server cannot run is listed with the
/// reason, which the test prints.
macro_rules! behaviour {
    ($backend:ident $(, except $skipped:ident: $why:literal)?) => {
        mod $backend {
            use crate::cases;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        $(
                            if stringify!($name) == stringify!($skipped) {
                                eprintln!("skipping {} on {}: {}", stringify!($name), stringify!($backend), $why);
                                return;
                            }
                        )?
                        if let Some(b) = crate::$backend().await {
                            cases::$name(b.store.as_ref()).await;
                        }
                    }
                };
            }

            case!(put_get_roundtrip);
            case!(ranges);
            case!(listing);
            case!(missing_paths);
            case!(empty_file);
            case!(overwrite);
            case!(nested_dirs_and_delete);
            case!(delete_is_prefix_safe);
            case!(delete_twice);
            case!(large_streamed_file);
            case!(size_boundaries);
            case!(failed_body_leaves_nothing);
            case!(digests);
        }
    };
}

behaviour!(local);
behaviour!(s3s);
behaviour!(moto);
behaviour!(azurite);
behaviour!(gcs);
behaviour!(sftp);

/// MLflow's SFTP store finds hosts, ports, users and keys in `~/.ssh/config`; so does rsflow
/// (with `~` = `$HOME`): an alias with `HostName`/`Port`/`User`/`IdentityFile` is enough.
#[tokio::test]
async fn sftp_host_alias_from_ssh_config() {
    let (Some(uri), Some(home)) = (var("RSFLOW_TEST_SFTP_URI"), var("RSFLOW_TEST_SFTP_HOME"))
    else {
        skip("SFTP (OpenSSH)", "RSFLOW_TEST_SFTP_URI");
        return;
    };
    // sftp://user@127.0.0.1:PORT/abs/dir
    let rest = uri.split_once("://").unwrap().1;
    let (authority, dir) = rest.split_once('/').unwrap();
    let (user, hostport) = authority.split_once('@').unwrap();
    let port = hostport.rsplit_once(':').unwrap().1;
    let alt = tempfile::tempdir().unwrap();
    let ssh = alt.path().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    // The key lives elsewhere and is named only in the config, as MLflow's docs suggest.
    let key = alt.path().join("deploy-key");
    std::fs::copy(format!("{home}/.ssh/id_ed25519"), &key).unwrap();
    std::fs::copy(format!("{home}/.ssh/known_hosts"), ssh.join("known_hosts")).unwrap();
    std::fs::write(
        ssh.join("config"),
        format!(
            "Host artifact-box\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {}\n",
            key.display()
        ),
    )
    .unwrap();
    let env = HashMap::from([("HOME", alt.path().display().to_string())]);
    let b = open(
        format!("sftp://artifact-box/{dir}/{}", unique("alias")),
        env,
    )
    .await;
    cases::put_get_roundtrip(b.store.as_ref()).await;
}
