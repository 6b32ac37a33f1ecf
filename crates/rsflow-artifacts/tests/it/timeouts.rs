//! A store that is down or hangs gives a 503 within a bounded time, never a hang.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rsflow_artifacts::remote::open_remote_with_env;
use rsflow_artifacts::{ArtifactPath, GetOptions, StoreError};
use rsflow_core::MlflowError;

fn env(endpoint: String) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<&str, String> = HashMap::from([
        ("MLFLOW_S3_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "k".into()),
        ("AWS_SECRET_ACCESS_KEY", "s".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("RSFLOW_STORAGE_TIMEOUT", "1".into()),
        ("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "1".into()),
        ("RSFLOW_STORAGE_CONNECT_TIMEOUT", "1".into()),
    ]);
    move |k| map.get(k).cloned()
}

fn assert_unavailable(e: StoreError, started: Instant) {
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    let m: MlflowError = e.into();
    assert_eq!(m.http_status(), 503, "{}", m.message);
    assert!(m.message.contains("s3://bkt"), "{}", m.message);
}

#[tokio::test]
async fn a_store_that_is_down_fails_fast_with_503() {
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store =
        open_remote_with_env("s3://bkt/x", &env(format!("http://127.0.0.1:{port}"))).unwrap();
    let started = Instant::now();
    let e = store.list(&ArtifactPath::root()).await.unwrap_err();
    assert_unavailable(e, started);
    let started = Instant::now();
    let e = store.check().await.unwrap_err();
    assert!(e.to_string().contains("probe"), "{e}");
    assert_unavailable(e, started);
}

#[tokio::test]
async fn a_store_that_hangs_times_out_with_503() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let store =
        open_remote_with_env("s3://bkt/x", &env(format!("http://127.0.0.1:{port}"))).unwrap();
    let started = Instant::now();
    let e = store
        .get(
            &ArtifactPath::parse("a.txt").unwrap(),
            GetOptions::default(),
        )
        .await
        .unwrap_err();
    assert_unavailable(e, started);
    hold.abort();
}
