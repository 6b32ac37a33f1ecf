//! The web UI routes (`/`, `/static-files/*`) over a small build directory on disk.

use crate::common::{Options, TestApp, app};
use axum::http::StatusCode;

const INDEX: &str = "<!doctype html><title>MLflow</title>";
const BUNDLE: &str = "console.log(1)";
const SECRET: &str = "the content of a file outside the build";

/// A UI build in `<tmp>/ui`, with a secret next to it that no request may reach; the build
/// lives as long as the returned directory.
async fn ui_app(static_prefix: &str) -> (TestApp, tempfile::TempDir) {
    let outside = tempfile::tempdir().unwrap();
    let ui = outside.path().join("ui");
    std::fs::create_dir_all(ui.join("static/js")).unwrap();
    std::fs::write(ui.join("index.html"), INDEX).unwrap();
    std::fs::write(ui.join("static/js/main.1.js"), BUNDLE).unwrap();
    std::fs::write(outside.path().join("secret.txt"), SECRET).unwrap();
    // The symlink points outside the build: the kernel-checked open must refuse it.
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), ui.join("link.txt")).unwrap();
    let t = app(Options {
        static_prefix: static_prefix.to_owned(),
        ui_dir: Some(ui),
        ..Options::default()
    })
    .await;
    (t, outside)
}

#[tokio::test]
async fn index_and_static_files_are_served_with_flask_headers() {
    let (t, _ui) = ui_app("").await;
    let r = t.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), INDEX);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let etag = r.header("etag").unwrap().to_owned();

    let r = t.get("/static-files/static/js/main.1.js").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), BUNDLE);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("public, max-age=2419200"));
    assert!(r.header("expires").is_some());

    // A revalidation of the index costs no body.
    let req = axum::http::Request::get("/")
        .header("if-none-match", &etag)
        .body(axum::body::Body::empty())
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());

    // The UI routes on the client side with `#/...`; other paths are not pages.
    for path in [
        "/static-files/nope.js",
        "/static-files/",
        "/static-files/static",
        "/index.html",
    ] {
        assert_eq!(t.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn no_path_leaves_the_build_directory() {
    let (t, _ui) = ui_app("").await;
    for path in [
        "/static-files/../secret.txt",
        "/static-files/%2e%2e/secret.txt",
        "/static-files/%252e%252e/secret.txt",
        "/static-files/static/..%2f..%2f..%2fsecret.txt",
        "/static-files/..%5csecret.txt",
        "/static-files/%2fetc%2fpasswd",
        "/static-files//etc/passwd",
        "/static-files/link.txt",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
        assert!(!r.text().contains(SECRET), "{path}");
    }
}

#[tokio::test]
async fn the_static_prefix_moves_every_ui_route() {
    let (t, _ui) = ui_app("/mlflow").await;
    let r = t.get("/mlflow/").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, INDEX));
    let r = t.get("/mlflow").await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), Some("/mlflow/"));
    let r = t.get("/mlflow/static-files/static/js/main.1.js").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, BUNDLE));
    assert_eq!(t.get("/").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get("/static-files/static/js/main.1.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn without_a_build_the_index_says_how_to_install_it() {
    let t = app(Options::default()).await;
    let r = t.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(page.contains("not installed"), "{page}");
    assert!(page.contains("bash scripts/ui.sh"), "{page}");
    assert_eq!(
        t.get("/static-files/index.html").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The calls every UI page makes to the AI gateway proxy and the assistant answer as
/// `mlflow server` answers them when neither is set up (a 404 would show an error toast).
#[tokio::test]
async fn gateway_proxy_and_assistant_answer_as_unconfigured_mlflow() {
    for (prefix, artifacts_only) in [("", false), ("/mlflow", false), ("", true)] {
        let t = app(Options {
            static_prefix: prefix.to_owned(),
            artifacts_only,
            ..Options::default()
        })
        .await;
        for query in [
            "?gateway_path=api/2.0/endpoints/",
            "?gateway_path=gateway/x/invocations",
            "",
        ] {
            let r = t
                .get(&format!(
                    "{prefix}/ajax-api/2.0/mlflow/gateway-proxy{query}"
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{prefix} {query}");
            assert_eq!(r.json(), serde_json::json!({"endpoints": []}));
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
        let r = t
            .post_json(
                &format!("{prefix}/ajax-api/2.0/mlflow/gateway-proxy"),
                serde_json::json!({"gateway_path": "gateway/x/invocations", "json_data": {}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json(), serde_json::json!({"endpoints": []}));
        // As in MLflow, only the UI's prefix serves it.
        let r = t
            .get(&format!("{prefix}/api/2.0/mlflow/gateway-proxy"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);

        let r = t
            .get(&format!("{prefix}/ajax-api/3.0/mlflow/assistant/config"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.json(),
            serde_json::json!({"providers": {}, "projects": {}, "remote_access_allowed": false})
        );
        let r = t
            .get(&format!("{prefix}/ajax-api/3.0/mlflow/assistant/providers"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        let names: Vec<&str> = body["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["claude_code", "codex", "mlflow_gateway", "ollama"]);
        assert_eq!(body["resolved"]["name"], "ollama");
        // Everything else of the assistant stays unrouted.
        let r = t
            .get(&format!("{prefix}/ajax-api/3.0/mlflow/assistant/sessions"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

/// Slashes as Flask merges them: a doubled leading slash routes as one (some clients build
/// `//model-versions/get-artifact?...`), a doubled slash further in is a 308 to the merged
/// path, and nothing merged ever changes what the path names.
#[tokio::test]
async fn doubled_slashes_route_as_in_mlflow() {
    for prefix in ["", "/mlflow"] {
        let t = app(Options {
            static_prefix: prefix.to_owned(),
            ..Options::default()
        })
        .await;
        for lead in ["//", "///"] {
            let r = t
                .get(&format!(
                    "{lead}{}model-versions/get-artifact?name=m&version=1&path=../x",
                    prefix.trim_start_matches('/').to_owned()
                        + if prefix.is_empty() { "" } else { "/" }
                ))
                .await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{prefix} {lead}: {}",
                r.text()
            );
            assert_eq!(r.error().1, "Invalid path");
        }
        let r = t
            .get(&format!("/{}/health", prefix.trim_start_matches('/')))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{prefix}");
        let r = t
            .get(&format!(
                "{prefix}/api//2.0/mlflow/experiments/get?experiment_id=0"
            ))
            .await;
        assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            r.header("location"),
            Some(format!("{prefix}/api/2.0/mlflow/experiments/get?experiment_id=0").as_str())
        );
        // A path nothing routes stays a JSON 404.
        let r = t
            .get(&format!("{prefix}/api/2.0/mlflow/nothing/here"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}
