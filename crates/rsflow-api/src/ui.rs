//! MLflow's web UI: `GET /` answers the React `index.html`, `GET /static-files/<path>` the
//! files of the UI build directory, as `mlflow server` does (spec mlflow-tracking §1.1, §7).
//!
//! The build (`mlflow/server/js/build` of the mlflow wheel) is not compiled in: the binary reads
//! it from `--ui-dir` (see `scripts/ui.sh`). Files are opened through [`LocalStore`], so a
//! request path gets the same canonical-path check as an artifact path and is opened beneath
//! the UI directory by the kernel; the body streams from disk. Without a UI directory `/`
//! answers a short page that says how to install it.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rsflow_artifacts::store::ObjectMeta;
use rsflow_artifacts::{
    ArtifactPath, ArtifactStore, ByteRange, GetOptions, IfRange, LocalStore, StoreError,
};

use crate::AppState;

/// `max_age` of MLflow's `serve_static_file`: the bundle's file names carry content hashes.
const STATIC_MAX_AGE: Duration = Duration::from_secs(2_419_200);

/// Where the UI build comes from, decided once at startup (`--ui-dir` or a default place).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiConfig {
    /// The build directory (it holds `index.html`), if one was found.
    pub dir: Option<PathBuf>,
    /// The places looked at, for the not-installed page.
    pub searched: Vec<PathBuf>,
    /// Where `scripts/ui.sh` should put the build for this binary to find it.
    pub install_to: Option<PathBuf>,
}

/// The UI build directory, opened once at startup.
#[derive(Debug, Clone)]
pub struct UiFiles {
    store: LocalStore,
}

impl UiFiles {
    pub fn new(config: &UiConfig) -> Option<UiFiles> {
        let dir = config.dir.as_ref()?;
        LocalStore::attach(dir).ok().map(|store| UiFiles { store })
    }
}

/// `GET /`: the UI's `index.html`, revalidated on every load (`Cache-Control: no-cache`, as
/// Flask's `send_from_directory` without `max_age`).
pub async fn index(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(ui) = state.ui.as_ref() else {
        return not_installed(&state);
    };
    let path = ArtifactPath::parse("index.html").expect("a constant, valid path");
    match send(ui, &path, &headers, Caching::Revalidate).await {
        Some(resp) => resp,
        None => crate::meta::endpoint_not_found(&uri),
    }
}

/// `GET <prefix>` without the trailing slash: Flask's 308 to `<prefix>/`, so the UI's
/// relative `static-files/...` and `ajax-api/...` URLs resolve under the prefix.
pub async fn redirect_to_index(State(state): State<AppState>) -> Response {
    let location = format!("{}/", state.config.static_prefix);
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// `GET /static-files/<path>`: a file of the UI build, cached for four weeks.
/// Anything that is not a file beneath the build directory is the JSON 404.
pub async fn static_file(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let found = match (state.ui.as_ref(), ArtifactPath::parse(&raw)) {
        (Some(ui), Ok(path)) if !path.is_root() => {
            send(ui, &path, &headers, Caching::Immutable).await
        }
        _ => None,
    };
    match found {
        Some(resp) => resp,
        None => crate::meta::endpoint_not_found(&uri),
    }
}

#[derive(Clone, Copy)]
enum Caching {
    Revalidate,
    Immutable,
}

/// Stream one file with Flask's headers; `None` when there is no such file.
async fn send(
    ui: &UiFiles,
    path: &ArtifactPath,
    headers: &HeaderMap,
    caching: Caching,
) -> Option<Response> {
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let opts = GetOptions {
        range: header_str(header::RANGE).and_then(ByteRange::parse_header),
        if_range: header_str(header::IF_RANGE).and_then(IfRange::parse_header),
    };
    let obj = match ui.store.get(path, opts).await {
        Ok(obj) => obj,
        Err(StoreError::Range(bad)) => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            set(
                &mut resp,
                header::CONTENT_RANGE,
                format!("bytes */{}", bad.size),
            );
            return Some(resp);
        }
        Err(e) => {
            if !matches!(
                e,
                StoreError::NotFound(_) | StoreError::IsDirectory(_) | StoreError::Path(_)
            ) {
                tracing::warn!(path = %path, error = %e, "cannot read a UI file");
            }
            return None;
        }
    };
    let name = path.file_name().unwrap_or_default();
    let mut resp = if not_modified(headers, &obj.meta) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let (status, length) = match obj.range {
            Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
            None => (StatusCode::OK, obj.meta.size),
        };
        let mut resp = Response::new(Body::from_stream(obj.body));
        *resp.status_mut() = status;
        set(&mut resp, header::CONTENT_TYPE, content_type(name).into());
        set(&mut resp, header::CONTENT_LENGTH, length.to_string());
        set(
            &mut resp,
            header::CONTENT_DISPOSITION,
            format!("inline; filename={name}"),
        );
        if let Some((start, end)) = obj.range {
            set(
                &mut resp,
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", obj.meta.size),
            );
        }
        resp
    };
    set(&mut resp, header::ACCEPT_RANGES, "bytes".into());
    if let Some(modified) = obj.meta.modified {
        set(
            &mut resp,
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(modified),
        );
    }
    if let Some(etag) = &obj.meta.etag {
        set(&mut resp, header::ETAG, etag.clone());
    }
    match caching {
        Caching::Revalidate => set(&mut resp, header::CACHE_CONTROL, "no-cache".into()),
        Caching::Immutable => {
            let max_age = STATIC_MAX_AGE.as_secs();
            set(
                &mut resp,
                header::CACHE_CONTROL,
                format!("public, max-age={max_age}"),
            );
            set(
                &mut resp,
                header::EXPIRES,
                httpdate::fmt_http_date(SystemTime::now() + STATIC_MAX_AGE),
            );
        }
    }
    Some(resp)
}

/// `If-None-Match` (weak comparison), else `If-Modified-Since` (RFC 9110 §13.2.2).
fn not_modified(headers: &HeaderMap, meta: &ObjectMeta) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let Some(etag) = meta.etag.as_deref() else {
            return false;
        };
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || bare(t) == bare(etag))
        });
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok());
    match (since, meta.modified) {
        (Some(since), Some(modified)) => {
            let secs = |t: SystemTime| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
            };
            secs(modified) <= secs(since)
        }
        _ => false,
    }
}

fn set(resp: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
}

/// The `Content-Type` Flask sends: Python's `mimetypes` table (with Debian's
/// `/etc/mime.types`, as the reference runs) and werkzeug's `; charset=utf-8` for text types.
fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "ico" => "image/vnd.microsoft.icon",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        // `cjs` and `map` are unknown to Python's table: Flask sends the fallback.
        _ => "application/octet-stream",
    }
}

/// `GET /` when no UI build was found: what is missing and the one command that installs it.
fn not_installed(state: &AppState) -> Response {
    let ui = &state.config.ui;
    let searched: String = ui
        .searched
        .iter()
        .map(|p| format!("<li><code>{}</code></li>", escape(&p.display().to_string())))
        .collect();
    let install_to = ui
        .install_to
        .as_ref()
        .map_or_else(|| "DIR".to_owned(), |p| p.display().to_string());
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>rsflow: the MLflow UI is not installed</title></head><body>\
         <h1>The MLflow web UI is not installed</h1>\
         <p>rsflow serves the MLflow tracking API here, but it found no UI build \
         (<code>index.html</code>) to show. It looked in:</p><ul>{searched}</ul>\
         <p>Install the UI of MLflow {version} (from the mlflow wheel on PyPI) with the command \
         below, run from the rsflow source tree, then reload this page:</p>\
         <pre>bash scripts/ui.sh {target}</pre>\
         <p>or start rsflow with <code>--ui-dir DIR</code> (<code>RSFLOW_UI_DIR</code>) \
         pointing at an extracted <code>mlflow/server/js/build</code> directory.</p>\
         </body></html>\n",
        version = crate::MLFLOW_COMPAT_VERSION,
        target = escape(&install_to),
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_flask() {
        assert_eq!(
            content_type("main.c2f5.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("favicon.ico"), "image/vnd.microsoft.icon");
        assert_eq!(content_type("manifest.json"), "application/json");
        assert_eq!(content_type("a.SVG"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("x.cjs"), "application/octet-stream");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn conditional_requests() {
        let meta = ObjectMeta {
            size: 3,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)),
            etag: Some("\"abc\"".into()),
            sha256: None,
        };
        let with = |name: header::HeaderName, v: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(not_modified(&with(header::IF_NONE_MATCH, "\"abc\""), &meta));
        assert!(not_modified(
            &with(header::IF_NONE_MATCH, "\"x\", W/\"abc\""),
            &meta
        ));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "\"x\""), &meta));
        let date = httpdate::fmt_http_date(meta.modified.unwrap());
        assert!(not_modified(&with(header::IF_MODIFIED_SINCE, &date), &meta));
        let earlier = httpdate::fmt_http_date(SystemTime::UNIX_EPOCH);
        assert!(!not_modified(
            &with(header::IF_MODIFIED_SINCE, &earlier),
            &meta
        ));
        assert!(!not_modified(&HeaderMap::new(), &meta));
    }
}
