//! A router over a real `LocalStore` on a temp dir and a real SQLite `SqlStore`, driven with
//! `oneshot`.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use rsflow_api::{AppState, ServerConfig};
use rsflow_store::{CreateRun, SqlStore, TrackingStore};
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub tracking: Arc<SqlStore>,
    /// The proxy destination on disk.
    pub dest: std::path::PathBuf,
    pub tmp: tempfile::TempDir,
}

pub struct Options {
    pub serve_artifacts: bool,
    pub artifacts_only: bool,
    pub with_destination: bool,
    pub static_prefix: String,
    /// `None` means `mlflow-artifacts:/` (proxied); `Some(dir)` a direct local root under tmp.
    pub direct_root: Option<&'static str>,
    /// The web UI build directory (`--ui-dir`).
    pub ui_dir: Option<std::path::PathBuf>,
    /// `MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX`.
    pub source_pattern: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serve_artifacts: true,
            artifacts_only: false,
            with_destination: true,
            static_prefix: String::new(),
            direct_root: None,
            ui_dir: None,
            source_pattern: None,
        }
    }
}

pub async fn app(opts: Options) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("mlartifacts");
    let root = match opts.direct_root {
        Some(dir) => tmp.path().join(dir).display().to_string(),
        None => "mlflow-artifacts:/".to_owned(),
    };
    let db = format!("sqlite:///{}", tmp.path().join("mlflow.db").display());
    let tracking = Arc::new(SqlStore::open(&db, &root).await.unwrap());
    let config = ServerConfig {
        static_prefix: opts.static_prefix,
        serve_artifacts: opts.serve_artifacts,
        artifacts_only: opts.artifacts_only,
        default_artifact_root: root,
        artifacts_destination: dest.display().to_string(),
        // oneshot requests carry no Host header; the security middleware has its own tests.
        security: rsflow_api::security::SecurityConfig {
            disabled: true,
            ..Default::default()
        },
        limits: Default::default(),
        ui: rsflow_api::ui::UiConfig {
            dir: opts.ui_dir,
            ..Default::default()
        },
        model_version_source_pattern: opts
            .source_pattern
            .map(|p| rsflow_api::SourcePattern::new(p).unwrap()),
        ..Default::default()
    };
    let mut state = AppState::new(config, tracking.clone());
    if opts.with_destination {
        state = state.with_artifacts(
            rsflow_artifacts::open_destination(dest.to_str().unwrap())
                .await
                .unwrap(),
        );
    }
    TestApp {
        router: rsflow_api::router(state),
        tracking,
        dest,
        tmp,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// MLflow's error body: `(error_code, message)`.
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        (
            v["error_code"].as_str().unwrap_or_default().to_owned(),
            v["message"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        self.send(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, Body::empty()).await
    }

    pub async fn put(&self, uri: &str, body: &'static [u8]) -> Reply {
        self.call(Method::PUT, uri, body).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.call(Method::DELETE, uri, Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, json: serde_json::Value) -> Reply {
        self.send(
            Request::builder()
                .method(Method::POST)
                .uri(uri)
                .header("content-type", "application/json")
                .body(Body::from(json.to_string()))
                .unwrap(),
        )
        .await
    }

    /// A run in the Default experiment; returns `(run_id, artifact_uri)`.
    pub async fn new_run(&self) -> (String, String) {
        let run = self
            .tracking
            .create_run(CreateRun {
                experiment_id: "0".into(),
                user_id: "tester".into(),
                run_name: Some("r".into()),
                start_time: 1,
                tags: vec![],
            })
            .await
            .unwrap();
        (run.info.run_id, run.info.artifact_uri)
    }
}

pub const ART: &str = "/api/2.0/mlflow-artifacts/artifacts";
