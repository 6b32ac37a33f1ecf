//! The proxy routes (`mlflow-artifacts/*`) against a real `LocalStore`, compared with what
//! `mlflow server` 3.17.2 answers.

use crate::common::{ART, Options, app};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn upload_download_and_headers() {
    let t = app(Options::default()).await;
    let r = t.put(&format!("{ART}/a/b/c.txt"), b"hello world").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(
        std::fs::read(t.dest.join("a/b/c.txt")).unwrap(),
        b"hello world"
    );

    let r = t.get(&format!("{ART}/a/b/c.txt")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"hello world");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=c.txt")
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-length"), Some("11"));
    assert!(r.header("etag").unwrap().starts_with('"'));
    assert!(r.header("last-modified").unwrap().ends_with(" GMT"));
    assert_eq!(r.header("cache-control"), None);

    // Same routes under the ajax prefix; empty bodies are fine; overwrites replace.
    let ajax = "/ajax-api/2.0/mlflow-artifacts/artifacts";
    assert_eq!(
        t.put(&format!("{ajax}/a/empty.bin"), b"").await.status,
        StatusCode::OK
    );
    let r = t.get(&format!("{ajax}/a/empty.bin")).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, 0));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    t.put(&format!("{ART}/a/b/c.txt"), b"v2").await;
    assert_eq!(&t.get(&format!("{ART}/a/b/c.txt")).await.body[..], b"v2");

    // Percent-encoded names are stored decoded; non-ASCII names get RFC 5987.
    t.put(&format!("{ART}/a/x%20y.json"), b"{}").await;
    assert!(t.dest.join("a/x y.json").is_file());
    t.put(&format!("{ART}/a/%E6%97%A5%E6%9C%AC.csv"), b"u")
        .await;
    let r = t.get(&format!("{ART}/a/%E6%97%A5%E6%9C%AC.csv")).await;
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=.csv; filename*=UTF-8''%E6%97%A5%E6%9C%AC.csv")
    );
}

#[tokio::test]
async fn download_errors() {
    let t = app(Options::default()).await;
    t.put(&format!("{ART}/a/b/c.txt"), b"x").await;
    let r = t.get(&format!("{ART}/a/zzz")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.error(),
        (
            "RESOURCE_DOES_NOT_EXIST".into(),
            "No such artifact: 'a/zzz'".into()
        )
    );
    let r = t.get(&format!("{ART}/a/b")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.error(),
        (
            "INVALID_PARAMETER_VALUE".into(),
            "Artifact path refers to a directory, not a file: 'a/b'".into()
        )
    );
    let r = t.get(&format!("{ART}/")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.error().1,
        "Artifact path refers to a directory, not a file: ''"
    );
}

#[tokio::test]
async fn ranges() {
    let t = app(Options::default()).await;
    t.put(&format!("{ART}/c.txt"), b"hello world").await;
    let ranged = |range: &'static str| {
        axum::http::Request::builder()
            .uri(format!("{ART}/c.txt"))
            .header("range", range)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    for (range, status, body, content_range) in [
        ("bytes=0-4", 206, "hello", Some("bytes 0-4/11")),
        ("bytes=6-", 206, "world", Some("bytes 6-10/11")),
        ("bytes=-3", 206, "rld", Some("bytes 8-10/11")),
        ("bytes=0-100", 206, "hello world", Some("bytes 0-10/11")),
        ("bytes=20-30", 416, "", Some("bytes */11")),
        // Several ranges, or a malformed one, are ignored: the whole file.
        ("bytes=0-1,3-4", 200, "hello world", None),
        ("bytes=5-2", 200, "hello world", None),
    ] {
        let r = t.send(ranged(range)).await;
        assert_eq!(r.status.as_u16(), status, "{range}");
        assert_eq!(r.header("content-range"), content_range, "{range}");
        if status == 416 {
            assert_eq!(r.error().0, "INVALID_PARAMETER_VALUE");
        } else {
            assert_eq!(r.text(), body, "{range}");
            assert_eq!(
                r.header("content-length"),
                Some(body.len().to_string().as_str())
            );
        }
    }
    // If-Range with the current ETag keeps the range; a stale one gets everything.
    let etag = t
        .get(&format!("{ART}/c.txt"))
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    for (if_range, want) in [(etag.as_str(), "he"), ("\"stale\"", "hello world")] {
        let req = axum::http::Request::builder()
            .uri(format!("{ART}/c.txt"))
            .header("range", "bytes=0-1")
            .header("if-range", if_range)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(t.send(req).await.text(), want);
    }
}

#[tokio::test]
async fn listing() {
    let t = app(Options::default()).await;
    t.put(&format!("{ART}/a/b/c.txt"), b"abc").await;
    t.put(&format!("{ART}/a/empty.bin"), b"").await;
    std::fs::write(t.dest.join("a/.artifact.uploading.zz"), b"orphan").unwrap();
    let r = t.get(&format!("{ART}?path=a")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"files": [{"path": "b", "is_dir": true}, {"path": "empty.bin", "is_dir": false}]})
    );
    assert_eq!(
        t.get(&format!("{ART}?path=a/b")).await.json(),
        json!({"files": [{"path": "c.txt", "is_dir": false, "file_size": 3}]})
    );
    for root in [
        ART.to_owned(),
        format!("{ART}?path="),
        format!("{ART}?path=."),
    ] {
        assert_eq!(
            t.get(&root).await.json(),
            json!({"files": [{"path": "a", "is_dir": true}]}),
            "{root}"
        );
    }
    // A file or a missing path lists as `{}`; the client relies on it.
    assert_eq!(
        t.get(&format!("{ART}?path=a/b/c.txt")).await.json(),
        json!({})
    );
    assert_eq!(t.get(&format!("{ART}?path=nope")).await.json(), json!({}));
    // Form-decoded query: `+` is a space.
    t.put(&format!("{ART}/dir%20x/f"), b"1").await;
    assert_eq!(
        t.get(&format!("{ART}?path=dir+x")).await.json(),
        json!({"files": [{"path": "f", "is_dir": false, "file_size": 1}]})
    );
}

#[tokio::test]
async fn deletes() {
    let t = app(Options::default()).await;
    t.put(&format!("{ART}/1/r/artifacts/a.txt"), b"a").await;
    t.put(&format!("{ART}/1/r/artifacts/d/b.txt"), b"b").await;
    t.put(&format!("{ART}/keep.txt"), b"k").await;
    let r = t.delete(&format!("{ART}/1/r/artifacts/a.txt")).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({})));
    assert!(!t.dest.join("1/r/artifacts/a.txt").exists());
    // `mlflow gc` sends the run root with a trailing slash.
    let r = t.delete(&format!("{ART}/1/r/artifacts/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!t.dest.join("1/r/artifacts").exists());
    // Missing paths are already gone (never a 5xx the client would retry).
    let r = t.delete(&format!("{ART}/1/r/artifacts/")).await;
    assert_eq!((r.status, r.json()), (StatusCode::OK, json!({})));
    // The destination root is never deleted (MLflow 3.17.2 deletes it all for `%2e`).
    for root in ["/", "/%2e", "/.", "/%252e/", "/./"] {
        let r = t.delete(&format!("{ART}{root}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{root}");
        assert_eq!(r.error().0, "INVALID_PARAMETER_VALUE");
    }
    assert_eq!(std::fs::read(t.dest.join("keep.txt")).unwrap(), b"k");
}

#[tokio::test]
async fn bad_paths_are_refused_on_every_method() {
    let t = app(Options::default()).await;
    std::fs::write(t.tmp.path().join("secret.txt"), b"secret").unwrap();
    let bad = [
        "../secret.txt",
        "%2e%2e/secret.txt",
        "%252e%252e%252fsecret.txt",
        "a/%2E%2E/%2E%2E/secret.txt",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "C:%5Cwindows",
        "%5C%5Chost%5Cshare",
        "a%5Cb",
        "a%23b",
        "a%00b",
        "a%01b",
        "file:%2F%2F%2Fetc%2Fpasswd",
    ];
    for p in bad {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let r = t.call(method.clone(), &format!("{ART}/{p}"), "x").await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {p}");
            assert_eq!(
                r.error(),
                ("INVALID_PARAMETER_VALUE".into(), "Invalid path".into()),
                "{method} {p}"
            );
        }
        let r = t.get(&format!("{ART}?path={p}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "list {p}");
    }
    let r = t.get(&format!("{ART}?path=/")).await;
    assert_eq!(r.error().1, "Invalid path");
    let long = "a".repeat(256);
    assert_eq!(
        t.put(&format!("{ART}/{long}"), b"x").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        std::fs::read(t.tmp.path().join("secret.txt")).unwrap(),
        b"secret"
    );
    assert!(!t.tmp.path().join("mlartifacts/secret.txt").exists());
}

#[tokio::test]
async fn upload_targets_need_a_file_name() {
    let t = app(Options::default()).await;
    for p in ["a/dir/", "", "a/.", "a%2F"] {
        let r = t.put(&format!("{ART}/{p}"), b"x").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{p:?}");
        assert_eq!(
            r.error().1,
            "Artifact path must include a filename (cannot end with '/').",
            "{p:?}"
        );
    }
    let r = t.put(&format!("{ART}/a/.artifact.uploading.x"), b"x").await;
    assert_eq!(
        r.error().1,
        "Invalid artifact file name: '.artifact.uploading.x'. Artifact names starting with '.artifact.uploading.' are reserved."
    );
    // Writing below a file, or over a directory, is a 400, not a 500.
    t.put(&format!("{ART}/f.txt"), b"x").await;
    assert_eq!(
        t.put(&format!("{ART}/f.txt/g"), b"x").await.status,
        StatusCode::BAD_REQUEST
    );
    t.put(&format!("{ART}/d/g"), b"x").await;
    assert_eq!(
        t.put(&format!("{ART}/d"), b"x").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn multipart_and_presigned_answer_501() {
    let t = app(Options::default()).await;
    let base = "/api/2.0/mlflow-artifacts";
    let r = t
        .post_json(&format!("{base}/mpu/create/a"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error()
            .1
            .starts_with("Missing value for required parameter 'path'")
    );
    let r = t
        .post_json(&format!("{base}/mpu/complete/a"), json!({"path": "x"}))
        .await;
    assert!(
        r.error()
            .1
            .starts_with("Missing value for required parameter 'parts'")
    );
    for (step, body) in [
        ("create", json!({"path": "x", "num_parts": 2})),
        ("complete", json!({"path": "x", "parts": []})),
        ("abort", json!({"path": "x", "upload_id": "u"})),
    ] {
        let r = t.post_json(&format!("{base}/mpu/{step}/a/b"), body).await;
        assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{step}");
        assert_eq!(
            r.error(),
            (
                "NOT_IMPLEMENTED".into(),
                "Multipart upload is not supported for the current artifact repository".into()
            )
        );
    }
    let r = t
        .post_json(&format!("{base}/mpu/create/%2e%2e/x"), json!({"path": "x"}))
        .await;
    assert_eq!(r.error().1, "Invalid path");
    let r = t.get(&format!("{base}/presigned/a/b.txt")).await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(
        r.error().1,
        "Multipart download is not supported for the current artifact repository"
    );
}

#[tokio::test]
async fn no_serve_artifacts_answers_503_like_mlflow() {
    let t = app(Options {
        serve_artifacts: false,
        ..Options::default()
    })
    .await;
    for (method, prefix) in [(Method::GET, "/api/2.0"), (Method::PUT, "/ajax-api/2.0")] {
        let r = t
            .call(
                method,
                &format!("{prefix}/mlflow-artifacts/artifacts/a.txt"),
                "x",
            )
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.json(),
            json!({"detail": "Artifact serving is disabled. Run `mlflow server` with `--serve-artifacts` to enable."})
        );
    }
    let text = |rule: &str| {
        format!(
            "Endpoint: {rule} disabled due to the mlflow server running with `--no-serve-artifacts`. \
             To enable artifacts server functionality, run `mlflow server` with `--serve-artifacts`"
        )
    };
    let r = t.get(&format!("{ART}?path=a")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.text(), text("/api/2.0/mlflow-artifacts/artifacts"));
    let r = t.delete(&format!("{ART}/a")).await;
    assert_eq!(
        r.text(),
        text("/api/2.0/mlflow-artifacts/artifacts/<path:artifact_path>")
    );
    let r = t
        .post_json(
            "/ajax-api/2.0/mlflow-artifacts/mpu/create/a",
            json!({"path": "x"}),
        )
        .await;
    assert_eq!(
        r.text(),
        text("/ajax-api/2.0/mlflow-artifacts/mpu/create/<path:artifact_path>")
    );
    let r = t.get("/api/2.0/mlflow-artifacts/presigned/a").await;
    assert_eq!(
        r.text(),
        text("/api/2.0/mlflow-artifacts/presigned/<path:artifact_path>")
    );
    assert!(!t.dest.join("a.txt").exists());
}

#[tokio::test]
async fn serving_without_a_destination_is_not_configured() {
    let t = app(Options {
        with_destination: false,
        ..Options::default()
    })
    .await;
    let r = t.put(&format!("{ART}/a.txt"), b"x").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json(),
        json!({"detail": "Artifact serving is not configured."})
    );
}

#[tokio::test]
async fn static_prefix_moves_every_route() {
    let t = app(Options {
        static_prefix: "/mlflow".into(),
        ..Options::default()
    })
    .await;
    let r = t
        .put("/mlflow/api/2.0/mlflow-artifacts/artifacts/p/x.txt", b"x")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .get("/mlflow/api/2.0/mlflow-artifacts/artifacts?path=p")
        .await;
    assert_eq!(
        r.json(),
        json!({"files": [{"path": "x.txt", "is_dir": false, "file_size": 1}]})
    );
    assert_eq!(
        t.get(&format!("{ART}?path=p")).await.status,
        StatusCode::NOT_FOUND
    );
}
