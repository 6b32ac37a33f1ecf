//! Run-based artifact routes (`mlflow/artifacts/list`, `/get-artifact`, `upload-artifact`) on a
//! real SQLite tracking store and a real `LocalStore`, proxied and direct.

use crate::common::{ART, Options, app};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn list_and_get_through_the_proxy_destination() {
    let t = app(Options::default()).await;
    let (run, root) = t.new_run().await;
    assert_eq!(root, format!("mlflow-artifacts:/0/{run}/artifacts"));
    t.put(&format!("{ART}/0/{run}/artifacts/d/f.txt"), b"abc")
        .await;
    t.put(&format!("{ART}/0/{run}/artifacts/top.bin"), b"")
        .await;

    for prefix in ["/api/2.0", "/ajax-api/2.0"] {
        let r = t
            .get(&format!("{prefix}/mlflow/artifacts/list?run_id={run}"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.json(),
            json!({"root_uri": root, "files": [
                {"path": "d", "is_dir": true},
                {"path": "top.bin", "is_dir": false}
            ]})
        );
    }
    let r = t
        .get(&format!(
            "/api/2.0/mlflow/artifacts/list?run_uuid={run}&path=d"
        ))
        .await;
    assert_eq!(
        r.json(),
        json!({"root_uri": root, "files": [{"path": "d/f.txt", "is_dir": false, "file_size": 3}]})
    );
    let r = t
        .get(&format!(
            "/api/2.0/mlflow/artifacts/list?run_id={run}&path=d/f.txt"
        ))
        .await;
    assert_eq!(r.json(), json!({"root_uri": root}));

    let r = t
        .get(&format!("/get-artifact?run_id={run}&path=d/f.txt"))
        .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"abc"[..]));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=f.txt")
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let r = t
        .get(&format!("/get-artifact?run_uuid={run}&path=zz"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.error().1,
        format!("No such artifact: '0/{run}/artifacts/zz'")
    );
    let r = t.get(&format!("/get-artifact?run_uuid={run}&path=d")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // `/get-artifact` exists only at the top level.
    let r = t
        .get(&format!(
            "/ajax-api/get-artifact?run_uuid={run}&path=d/f.txt"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn run_route_errors() {
    let t = app(Options::default()).await;
    let (run, _) = t.new_run().await;
    let r = t.get("/api/2.0/mlflow/artifacts/list").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error()
            .1
            .starts_with("Missing value for required parameter 'run_id'")
    );
    let r = t.get("/api/2.0/mlflow/artifacts/list?run_id=nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().0, "RESOURCE_DOES_NOT_EXIST");
    for path in ["../x", "%2e%2e/x", "/etc", "a%23b"] {
        let r = t
            .get(&format!(
                "/api/2.0/mlflow/artifacts/list?run_id={run}&path={path}"
            ))
            .await;
        assert_eq!(
            r.error(),
            ("INVALID_PARAMETER_VALUE".into(), "Invalid path".into())
        );
        let r = t
            .get(&format!("/get-artifact?run_id={run}&path={path}"))
            .await;
        assert_eq!(
            r.error(),
            ("INVALID_PARAMETER_VALUE".into(), "Invalid path".into())
        );
    }
    let r = t.get("/get-artifact?path=x").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error().1, "Run with id=None not found");
    let r = t.get(&format!("/get-artifact?run_id={run}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

fn upload(run: &str, path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(format!(
            "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path={path}"
        ))
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn ui_upload_lands_in_the_run_root() {
    let t = app(Options::default()).await;
    let (run, _) = t.new_run().await;
    let r = t
        .send(upload(
            &run,
            "tables/eval.json",
            "application/octet-stream",
            "{\"a\":1}",
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.body.is_empty());
    assert_eq!(
        std::fs::read(t.dest.join(format!("0/{run}/artifacts/tables/eval.json"))).unwrap(),
        b"{\"a\":1}"
    );
    let r = t
        .get(&format!("/get-artifact?run_id={run}&path=tables/eval.json"))
        .await;
    assert_eq!(&r.body[..], b"{\"a\":1}");
    // Only under /ajax-api.
    let mut req = upload(&run, "x", "application/octet-stream", "x");
    *req.uri_mut() = format!("/api/2.0/mlflow/upload-artifact?run_uuid={run}&path=x")
        .parse()
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ui_upload_errors_match_mlflow() {
    let t = app(Options::default()).await;
    let (run, _) = t.new_run().await;
    let bin = "application/octet-stream";
    let cases: Vec<(Request<Body>, &str)> = vec![
        (upload("", "x", bin, "x"), "Request must specify run_uuid."),
        (upload(&run, "", bin, "x"), "Request must specify path."),
        (upload(&run, "../x", bin, "x"), "Invalid path"),
        (upload(&run, "x", bin, ""), "Request must specify data."),
        // Flask reads form bodies as forms, leaving no raw data.
        (
            upload(&run, "x", "application/x-www-form-urlencoded", "a=b"),
            "Request must specify data.",
        ),
        (
            upload(&run, "x", bin, vec![0u8; 10 * 1024 * 1024 + 1]),
            "Artifact size is too large. Max size is 10MB.",
        ),
    ];
    for (req, want) in cases {
        let r = t.send(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{want}");
        assert_eq!(r.error(), ("INVALID_PARAMETER_VALUE".into(), want.into()));
    }
    // A declared length over the limit is refused before anything is read.
    let mut req = upload(&run, "x", bin, "x");
    req.headers_mut()
        .insert("content-length", "10485761".parse().unwrap());
    assert_eq!(
        t.send(req).await.error().1,
        "Artifact size is too large. Max size is 10MB."
    );
    // `run_id` is not read by MLflow's upload handler.
    let mut req = upload(&run, "x", bin, "x");
    *req.uri_mut() = format!("/ajax-api/2.0/mlflow/upload-artifact?run_id={run}&path=x")
        .parse()
        .unwrap();
    assert_eq!(
        t.send(req).await.error().1,
        "Request must specify run_uuid."
    );
    // A body that only reveals its size while streaming is cut off at the limit, and nothing
    // is published.
    let chunks = (0..11).map(|_| Ok::<_, std::io::Error>(vec![7u8; 1024 * 1024]));
    let streamed = Body::from_stream(futures_util::stream::iter(chunks));
    let r = t.send(upload(&run, "big.bin", bin, streamed)).await;
    assert_eq!(r.error().1, "Artifact size is too large. Max size is 10MB.");
    assert!(!t.dest.join(format!("0/{run}/artifacts/big.bin")).exists());
    let r = t.send(upload("nope", "x", bin, "x")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn direct_local_roots_without_serving() {
    let t = app(Options {
        serve_artifacts: false,
        with_destination: false,
        direct_root: Some("direct"),
        ..Options::default()
    })
    .await;
    let (run, root) = t.new_run().await;
    let dir = t.tmp.path().join(format!("direct/0/{run}/artifacts"));
    assert_eq!(root, dir.display().to_string());
    // A run without artifacts lists as empty, its root not even created yet.
    let r = t
        .get(&format!("/api/2.0/mlflow/artifacts/list?run_id={run}"))
        .await;
    assert_eq!(r.json(), json!({"root_uri": root}));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/h.txt"), b"hi\n").unwrap();
    let r = t
        .get(&format!(
            "/api/2.0/mlflow/artifacts/list?run_id={run}&path=sub"
        ))
        .await;
    assert_eq!(
        r.json(),
        json!({"root_uri": root, "files": [{"path": "sub/h.txt", "is_dir": false, "file_size": 3}]})
    );
    let r = t
        .get(&format!("/get-artifact?run_id={run}&path=sub/h.txt"))
        .await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"hi\n"[..]));
    let r = t
        .get(&format!("/get-artifact?run_id={run}&path=sub/nope"))
        .await;
    assert_eq!(r.error().1, "No such artifact: 'sub/nope'");
    let r = t
        .send(upload(
            &run,
            "up/u.txt",
            "application/octet-stream",
            "hello",
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(std::fs::read(dir.join("up/u.txt")).unwrap(), b"hello");
    // A symlink in the run's root cannot reach the rest of the disk.
    std::os::unix::fs::symlink(t.tmp.path(), dir.join("escape")).unwrap();
    let r = t
        .get(&format!("/get-artifact?run_id={run}&path=escape/mlflow.db"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.error().1,
        "Invalid path: resolved path is outside the artifact directory"
    );
}

#[tokio::test]
async fn proxied_roots_need_serving() {
    // Runs created while serving keep `mlflow-artifacts:` roots after a restart without it.
    let t = app(Options {
        serve_artifacts: false,
        ..Options::default()
    })
    .await;
    let (run, _) = t.new_run().await;
    let r = t
        .get(&format!("/api/2.0/mlflow/artifacts/list?run_id={run}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert!(r.error().1.contains("--no-serve-artifacts"));
}

#[tokio::test]
async fn artifacts_only_disables_tracking_side_routes() {
    let t = app(Options {
        artifacts_only: true,
        ..Options::default()
    })
    .await;
    let text = |rule: &str| {
        format!(
            "Endpoint: {rule} disabled due to the mlflow server running in `--artifacts-only` mode. \
             To enable tracking server functionality, run `mlflow server` without `--artifacts-only`"
        )
    };
    for (method, uri, rule) in [
        (
            Method::GET,
            "/api/2.0/mlflow/artifacts/list?run_id=x",
            "/api/2.0/mlflow/artifacts/list",
        ),
        (
            Method::GET,
            "/ajax-api/2.0/mlflow/artifacts/list?run_id=x",
            "/ajax-api/2.0/mlflow/artifacts/list",
        ),
        (
            Method::GET,
            "/get-artifact?run_id=x&path=y",
            "/get-artifact",
        ),
        (
            Method::POST,
            "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=x&path=y",
            "/ajax-api/2.0/mlflow/upload-artifact",
        ),
    ] {
        let r = t.call(method, uri, "x").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.text(), text(rule));
    }
    // The proxy keeps working, and unknown routes are still a 404.
    assert_eq!(
        t.put(&format!("{ART}/a.txt"), b"x").await.status,
        StatusCode::OK
    );
    assert_eq!(t.get(&format!("{ART}/a.txt")).await.text(), "x");
    assert_eq!(
        t.get("/api/2.0/mlflow/nonexistent").await.status,
        StatusCode::NOT_FOUND
    );
}
