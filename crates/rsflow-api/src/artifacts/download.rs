//! Sending a stored file: MLflow's attachment headers (spec mlflow-artifacts §3.3), one byte
//! range, and a streamed body.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rsflow_artifacts::{ArtifactPath, ArtifactStore, ByteRange, GetOptions, IfRange, StoreError};
use rsflow_core::MlflowError;

use crate::error::ApiError;

use super::mime_table;

/// Extensions (and extensionless names) MLflow serves as `text/plain`
/// (`mlflow/utils/mime_type_utils.py`), so previews work and nothing renders as HTML. The two
/// names are `MLMODEL_FILE_NAME` and `MLPROJECT_FILE_NAME`, compared case-sensitively: MLflow
/// spells the latter `mlproject`, so a file named `MLproject` is not in the list.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "ipynb",
    "MLmodel",
    "mlproject",
];

/// Stream `path` from `store` as an attachment, honouring one `Range` (and `If-Range`).
/// `no_cache` adds the `Cache-Control: no-cache` of MLflow's Flask download routes.
pub(crate) async fn send_artifact(
    store: &dyn ArtifactStore,
    path: &ArtifactPath,
    request_headers: &HeaderMap,
    no_cache: bool,
) -> Response {
    let header_str = |name| {
        request_headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let opts = GetOptions {
        range: header_str(header::RANGE).and_then(ByteRange::parse_header),
        if_range: header_str(header::IF_RANGE).and_then(IfRange::parse_header),
    };
    let obj = match store.get(path, opts).await {
        Ok(obj) => obj,
        Err(StoreError::Range(bad)) => {
            let err = MlflowError::invalid_param(StoreError::Range(bad).to_string());
            let mut resp = ApiError(err).into_response();
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            insert(
                &mut resp,
                header::CONTENT_RANGE,
                format!("bytes */{}", bad.size),
            );
            return resp;
        }
        Err(e) => return ApiError(e.into()).into_response(),
    };
    let name = path.file_name().unwrap_or_default();
    let (status, length) = match obj.range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, obj.meta.size),
    };
    let mut resp = Response::new(Body::from_stream(obj.body));
    *resp.status_mut() = status;
    insert(&mut resp, header::CONTENT_TYPE, guess_mime_type(name));
    insert(
        &mut resp,
        header::CONTENT_DISPOSITION,
        content_disposition(name),
    );
    insert(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    insert(&mut resp, header::ACCEPT_RANGES, "bytes".into());
    insert(&mut resp, header::CONTENT_LENGTH, length.to_string());
    if let Some((start, end)) = obj.range {
        insert(
            &mut resp,
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{}", obj.meta.size),
        );
    }
    if let Some(modified) = obj.meta.modified {
        insert(
            &mut resp,
            header::LAST_MODIFIED,
            httpdate::fmt_http_date(modified),
        );
    }
    if let Some(etag) = obj.meta.etag {
        insert(&mut resp, header::ETAG, etag);
    }
    // The digest of the whole artifact (RFC 9530 `Repr-Digest`, and RFC 3230 `Digest`), on
    // ranged answers too: a resumed download checks the file it has assembled against it.
    if let Some(hex) = obj.meta.sha256.as_deref() {
        if let Some(v) = rsflow_artifacts::digest::repr_digest(hex) {
            insert(&mut resp, HeaderName::from_static("repr-digest"), v);
        }
        if let Some(v) = rsflow_artifacts::digest::legacy_digest(hex) {
            insert(&mut resp, HeaderName::from_static("digest"), v);
        }
    }
    if no_cache {
        insert(&mut resp, header::CACHE_CONTROL, "no-cache".into());
    }
    resp
}

fn insert(resp: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(name, v);
    }
}

/// MLflow's `_guess_mime_type`: the text list first, then Python's `mimetypes.guess_type` as
/// `mlflow server` runs it on Debian, else `application/octet-stream`. Every download goes out
/// as an attachment with `nosniff`, whatever its type.
pub(crate) fn guess_mime_type(file_name: &str) -> String {
    let (_, ext) = splitext(file_name);
    let ext = ext.strip_prefix('.').unwrap_or(ext);
    let key = if ext.is_empty() { file_name } else { ext };
    if TEXT_EXTENSIONS.contains(&key) {
        return "text/plain".into();
    }
    python_guess_type(file_name)
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Python 3.11's `MimeTypes.guess_type(url, strict=True)[0]` over the generated tables: a
/// `scheme:` prefix is split off (`data:` URLs name their own type), archive shorthands expand
/// (`.tgz` -> `.tar.gz`), a compression suffix is set aside, and the extension is looked up
/// lower-cased.
fn python_guess_type(name: &str) -> Option<&'static str> {
    // urllib.parse._splittype: `([^/:]+):(.*)`.
    let url = match name.split_once(':') {
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains('/') => {
            if scheme.eq_ignore_ascii_case("data") {
                return data_url_type(rest);
            }
            rest
        }
        _ => name,
    };
    let (mut base, mut ext) = {
        let (b, e) = splitext(url);
        (b.to_owned(), e.to_owned())
    };
    while let Some((_, expanded)) = mime_table::SUFFIXES
        .iter()
        .find(|(k, _)| *k == ext.to_ascii_lowercase())
    {
        let joined = format!("{base}{expanded}");
        let (b, e) = splitext(&joined);
        (base, ext) = (b.to_owned(), e.to_owned());
    }
    if mime_table::ENCODINGS.contains(&ext.as_str()) {
        let (_, e) = splitext(&base);
        ext = e.to_owned();
    }
    let ext = ext.to_ascii_lowercase();
    mime_table::TYPES
        .binary_search_by(|(k, _)| (*k).cmp(ext.as_str()))
        .ok()
        .map(|i| mime_table::TYPES[i].1)
}

/// The type a `data:` URL declares (`text/plain` when it declares none), as `guess_type` reads
/// it; a `data:` name without a comma has none. Only `'static` answers are possible here, so
/// a declared type is honoured when the tables know it.
fn data_url_type(rest: &str) -> Option<&'static str> {
    let comma = rest.find(',')?;
    let head = &rest[..comma];
    let ty = head.split(';').next().unwrap_or("");
    if ty.contains('=') || !ty.contains('/') {
        return Some("text/plain");
    }
    mime_table::TYPES.iter().map(|(_, t)| *t).find(|t| *t == ty)
}

/// Python's `posixpath.splitext`: the extension starts at the last dot of the last component,
/// unless that component is all leading dots before it.
fn splitext(path: &str) -> (&str, &str) {
    let start = path.rfind('/').map_or(0, |i| i + 1);
    let Some(dot) = path[start..].rfind('.').map(|i| start + i) else {
        return (path, "");
    };
    if path[start..dot].bytes().all(|b| b == b'.') {
        return (path, "");
    }
    (&path[..dot], &path[dot..])
}

/// MLflow's `_content_disposition_attachment`: a token or quoted `filename`, plus an RFC 5987
/// `filename*` and an ASCII fallback for non-ASCII names.
pub(crate) fn content_disposition(file_name: &str) -> String {
    if file_name.is_ascii() {
        return format!("attachment; filename={}", quote_header_value(file_name));
    }
    // Python's NFKD + ASCII-ignore, for the Latin letters that decompose (é -> e).
    let fallback: String = file_name.chars().filter_map(ascii_fold).collect();
    let fallback = if fallback.is_empty() {
        "download".to_owned()
    } else {
        fallback
    };
    format!(
        "attachment; filename={}; filename*=UTF-8''{}",
        quote_header_value(&fallback),
        rfc5987_encode(file_name)
    )
}

/// The ASCII letter a Latin character decomposes to under NFKD, or the character if ASCII.
fn ascii_fold(c: char) -> Option<char> {
    const FROM: &str = "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľĿŀŃńŅņŇňŉŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſ";
    const TO: &str = "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlLlNnNnNnnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
    if c.is_ascii() {
        return Some(c);
    }
    FROM.chars()
        .position(|f| f == c)
        .and_then(|i| TO.chars().nth(i))
}

/// werkzeug's `quote_header_value`: bare if every character is a token character.
fn quote_header_value(v: &str) -> String {
    const TOKEN_EXTRA: &[u8] = b"!#$%&'*+-.^_`|~";
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || TOKEN_EXTRA.contains(&b))
    {
        return v.to_owned();
    }
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Python's `urllib.parse.quote(v, safe="!#$&+-.^_`|~")` over UTF-8.
fn rfc5987_encode(v: &str) -> String {
    const SAFE: &[u8] = b"_.-~!#$&+^`|";
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || SAFE.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_follow_python_on_debian() {
        // What `mlflow server` 3.17.2 answered for these names on Debian 12.
        for (name, want) in [
            ("MLproject", "application/octet-stream"),
            ("mlproject", "text/plain"),
            ("model.tar.gz", "application/x-tar"),
            ("model.tgz", "application/x-tar"),
            ("weights.gz", "application/octet-stream"),
            ("x.parquet", "application/octet-stream"),
            ("weights.pt", "application/vnd.snesdev-page-table"),
            ("script.ts", "text/vnd.trolltech.linguist"),
            ("w.h5", "application/x-hdf5"),
            ("a.md", "text/plain"),
            ("b.MD", "text/markdown"),
            ("chart.svg", "image/svg+xml"),
            ("clip.mp4", "video/mp4"),
            ("a:b.png", "image/png"),
            ("data:,x", "text/plain"),
            ("PLOT.PNG", "image/png"),
        ] {
            assert_eq!(guess_mime_type(name), want, "{name}");
        }
    }

    #[test]
    fn mime_types_follow_mlflow() {
        assert_eq!(guess_mime_type("c.txt"), "text/plain");
        assert_eq!(guess_mime_type("MLmodel"), "text/plain");
        assert_eq!(guess_mime_type("conda.yaml"), "text/plain");
        assert_eq!(guess_mime_type("page.html"), "text/html");
        assert_eq!(guess_mime_type("plot.png"), "image/png");
        assert_eq!(guess_mime_type("model.pkl"), "application/octet-stream");
        assert_eq!(guess_mime_type("empty.bin"), "application/octet-stream");
        assert_eq!(guess_mime_type("noext"), "application/octet-stream");
        assert_eq!(guess_mime_type("MLproject"), "application/octet-stream");
        assert_eq!(guess_mime_type(".txt"), "application/octet-stream");
        assert_eq!(guess_mime_type("txt"), "text/plain");
        assert_eq!(guess_mime_type("A.TXT"), "text/plain");
    }

    #[test]
    fn content_disposition_matches_mlflow() {
        assert_eq!(content_disposition("c.txt"), "attachment; filename=c.txt");
        assert_eq!(
            content_disposition("x y\"z.json"),
            "attachment; filename=\"x y\\\"z.json\""
        );
        assert_eq!(
            content_disposition("日本.csv"),
            "attachment; filename=.csv; filename*=UTF-8''%E6%97%A5%E6%9C%AC.csv"
        );
        assert_eq!(
            content_disposition("déjà vu.txt"),
            "attachment; filename=\"deja vu.txt\"; filename*=UTF-8''d%C3%A9j%C3%A0%20vu.txt"
        );
        assert_eq!(
            content_disposition("日本"),
            "attachment; filename=download; filename*=UTF-8''%E6%97%A5%E6%9C%AC"
        );
    }
}
