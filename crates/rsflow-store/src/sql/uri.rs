//! URIs as MLflow handles them: the backend store URI (SQLAlchemy forms) and artifact locations
//! (`append_to_uri_path`, `resolve_uri_if_local`), following Python's `urllib.parse` rules so
//! that the strings stored in the database are the ones MLflow would store.

use std::path::{Component, Path, PathBuf};

use rsflow_core::{MlflowError, Result};

/// Where a backend store URI points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTarget {
    /// An SQLite file, made absolute against the working directory like SQLAlchemy does.
    SqliteFile(PathBuf),
    /// `sqlite://` or `sqlite:///:memory:`.
    SqliteMemory,
    /// A PostgreSQL URL with any SQLAlchemy driver suffix removed (`postgresql://...`).
    Postgres(String),
    /// A MySQL or MariaDB URL in sqlx's form (`mysql://...`, see [`mysql_url`]).
    Mysql(String),
}

/// Parse a backend store URI in SQLAlchemy's forms: `sqlite:///relative.db`,
/// `sqlite:////abs/path.db`, `sqlite://` (memory), `postgresql[+driver]://...`,
/// `mysql[+driver]://...` (and `mariadb[+driver]://`).
pub fn parse_backend_uri(uri: &str) -> std::result::Result<BackendTarget, String> {
    // Every message shows the URI without its password.
    let shown = rsflow_core::SecretUri::show(uri);
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("Invalid database URI '{shown}': expected <scheme>://..."))?;
    let dialect = scheme.split('+').next().unwrap_or_default();
    match dialect {
        "sqlite" => {
            if rest.is_empty() {
                return Ok(BackendTarget::SqliteMemory);
            }
            let Some(path) = rest.strip_prefix('/') else {
                return Err(format!(
                    "Invalid SQLite URI '{shown}': use sqlite:///relative.db or sqlite:////absolute.db"
                ));
            };
            if path.contains('?') {
                return Err(format!(
                    "Invalid SQLite URI '{shown}': query parameters are not supported"
                ));
            }
            if path.is_empty() || path == ":memory:" {
                return Ok(BackendTarget::SqliteMemory);
            }
            let path = Path::new(path);
            let abs = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|e| format!("Cannot resolve '{shown}': {e}"))?
                    .join(path)
            };
            Ok(BackendTarget::SqliteFile(abs))
        }
        "postgresql" | "postgres" => Ok(BackendTarget::Postgres(format!("postgresql://{rest}"))),
        "mysql" | "mariadb" => mysql_url(rest)
            .map(BackendTarget::Mysql)
            .map_err(|e| format!("Invalid MySQL URI '{shown}': {e}")),
        _ => Err(format!(
            "Unsupported database URI scheme '{scheme}' in '{shown}'. Supported: sqlite, \
             postgresql, mysql"
        )),
    }
}

/// The query options of SQLAlchemy's MySQL drivers (PyMySQL, mysqlclient) that have a
/// meaning here, under sqlx's names. `ssl_mode` is mysqlclient's; `ssl_ca` alone means the
/// server's certificate is verified against it (PyMySQL), `ssl_check_hostname=false` stops at
/// the CA check, `ssl=true`/`ssl_disabled=false` ask for TLS without verification.
fn mysql_option(key: &str, value: &str) -> Result<Option<(&'static str, String)>, String> {
    let mode = |m: &str| Ok(Some(("ssl-mode", m.to_string())));
    match key {
        "charset" => Ok(Some(("charset", value.to_string()))),
        "collation" => Ok(Some(("collation", value.to_string()))),
        "unix_socket" => Ok(Some(("socket", value.to_string()))),
        "ssl_ca" | "ssl-ca" | "sslca" => Ok(Some(("ssl-ca", value.to_string()))),
        "ssl_cert" | "ssl-cert" | "sslcert" => Ok(Some(("ssl-cert", value.to_string()))),
        "ssl_key" | "ssl-key" | "sslkey" => Ok(Some(("ssl-key", value.to_string()))),
        "ssl_mode" | "ssl-mode" | "sslmode" => match value.to_ascii_uppercase().as_str() {
            m @ ("DISABLED" | "PREFERRED" | "REQUIRED" | "VERIFY_CA" | "VERIFY_IDENTITY") => {
                mode(m)
            }
            _ => Err(format!(
                "ssl_mode must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, \
                 VERIFY_IDENTITY (got {value:?})"
            )),
        },
        "ssl" | "ssl_disabled" => {
            let on = matches!(
                value.to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            );
            let tls = if key == "ssl" { on } else { !on };
            mode(if tls { "REQUIRED" } else { "DISABLED" })
        }
        "ssl_check_hostname" | "ssl_verify_identity" | "ssl_verify_cert" => Ok(None),
        // Driver tuning that changes nothing here (rsflow's own timeouts are RSFLOW_DB_*).
        "connect_timeout" | "read_timeout" | "write_timeout" | "autocommit" | "local_infile"
        | "binary_prefix" | "program_name" | "client_flag" | "use_unicode" => Ok(None),
        _ => Err(format!(
            "unsupported query option {key:?} (supported: charset, collation, unix_socket, \
             ssl_ca, ssl_cert, ssl_key, ssl_mode, ssl, ssl_disabled, ssl_check_hostname, \
             connect_timeout, read_timeout, write_timeout)"
        )),
    }
}

/// `user:password@host:port/database?options` (after `mysql[+driver]://`) as sqlx's MySQL
/// URL. The user, password and database stay percent-encoded as they came (SQLAlchemy's
/// rules); the options are translated by [`mysql_option`].
pub fn mysql_url(rest: &str) -> Result<String, String> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = main.split_once('/').unwrap_or((main, ""));
    if database.is_empty() {
        return Err(
            "a database name is required (mysql://user:password@host:port/database)".into(),
        );
    }
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut opts: Vec<(&'static str, String)> = Vec::new();
    let mut verify_ca = None;
    let mut check_hostname = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "ssl_ca" | "ssl-ca" | "sslca" => verify_ca = Some(()),
            "ssl_check_hostname" | "ssl_verify_identity" => {
                check_hostname = !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "no");
            }
            _ => {}
        }
        if let Some(o) = mysql_option(k, &v)? {
            opts.retain(|(name, _)| *name != o.0);
            opts.push(o);
        }
    }
    if verify_ca.is_some() && !opts.iter().any(|(n, _)| *n == "ssl-mode") {
        let m = if check_hostname {
            "VERIFY_IDENTITY"
        } else {
            "VERIFY_CA"
        };
        opts.push(("ssl-mode", m.to_string()));
    }
    let socket_only = host.is_empty() && opts.iter().any(|(n, _)| *n == "socket");
    let authority = if socket_only {
        format!("{authority}localhost")
    } else {
        authority.to_string()
    };
    let mut url = format!("mysql://{authority}/{database}");
    for (i, (k, v)) in opts.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(k);
        url.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
                url.push(b as char);
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(url)
}

/// `urllib.parse.urlparse` result.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct UrlParts {
    scheme: String,
    netloc: String,
    path: String,
    params: String,
    query: String,
    fragment: String,
}

const USES_PARAMS: &[&str] = &[
    "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip", "sips",
    "mms", "sftp", "tel",
];
const USES_NETLOC: &[&str] = &[
    "",
    "ftp",
    "http",
    "gopher",
    "nntp",
    "telnet",
    "imap",
    "wais",
    "file",
    "mms",
    "https",
    "shttp",
    "snews",
    "prospero",
    "rtsp",
    "rtspu",
    "rsync",
    "svn",
    "svn+ssh",
    "sftp",
    "nfs",
    "git",
    "git+ssh",
    "ws",
    "wss",
    "itms-services",
];

fn urlparse(url: &str) -> UrlParts {
    let url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest = url.as_str();
    let mut parts = UrlParts::default();
    if let Some(i) = rest.find(':')
        && i > 0
        && rest.as_bytes()[0].is_ascii_alphabetic()
        && rest[..i]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        parts.scheme = rest[..i].to_ascii_lowercase();
        rest = &rest[i + 1..];
    }
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        parts.netloc = after[..end].to_string();
        rest = &after[end..];
    }
    let mut rest = rest.to_string();
    if let Some((a, f)) = rest.split_once('#') {
        parts.fragment = f.to_string();
        rest = a.to_string();
    }
    if let Some((a, q)) = rest.split_once('?') {
        parts.query = q.to_string();
        rest = a.to_string();
    }
    if USES_PARAMS.contains(&parts.scheme.as_str()) && rest.contains(';') {
        let from = rest.rfind('/').unwrap_or(0);
        if let Some(i) = rest[from..].find(';').map(|i| i + from) {
            parts.params = rest[i + 1..].to_string();
            rest.truncate(i);
        }
    }
    parts.path = rest;
    parts
}

fn urlunparse(p: &UrlParts) -> String {
    let mut url = p.path.clone();
    if !p.params.is_empty() {
        url = format!("{url};{}", p.params);
    }
    if !p.netloc.is_empty()
        || (!p.scheme.is_empty()
            && USES_NETLOC.contains(&p.scheme.as_str())
            && !url.starts_with("//"))
    {
        if !url.is_empty() && !url.starts_with('/') {
            url = format!("/{url}");
        }
        url = format!("//{}{url}", p.netloc);
    }
    if !p.scheme.is_empty() {
        url = format!("{}:{url}", p.scheme);
    }
    if !p.query.is_empty() {
        url = format!("{url}?{}", p.query);
    }
    if !p.fragment.is_empty() {
        url = format!("{url}#{}", p.fragment);
    }
    url
}

/// `posixpath.join(a, b)` for a `b` without a leading slash.
fn posix_join(a: &str, b: &str) -> String {
    if b.starts_with('/') {
        b.to_string()
    } else if a.is_empty() || a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// MLflow's `_join_posixpaths_and_append_absolute_suffixes`.
fn join_append_absolute(prefix: &str, suffix: &str) -> String {
    if prefix.is_empty() {
        return suffix.to_string();
    }
    posix_join(prefix, suffix.trim_start_matches('/'))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (
                (bytes[i + 1] as char).to_digit(16),
                (bytes[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// MLflow's `append_to_uri_path(uri, *paths)`: append POSIX paths to the path of a URI,
/// keeping its scheme, authority and query.
pub fn append_to_uri_path(uri: &str, paths: &[&str]) -> Result<String> {
    let mut path = String::new();
    for p in paths {
        path = join_append_absolute(&path, p);
    }
    let mut parsed = urlparse(uri);
    // A `..` in the query would be resolved into the path by some consumers.
    if percent_decode(&parsed.query).contains("..") {
        return Err(MlflowError::invalid_param("Invalid query string"));
    }
    if parsed.scheme.is_empty() {
        return Ok(join_append_absolute(uri, &path));
    }
    let mut prefix = String::new();
    if !parsed.path.starts_with('/') {
        // urlunparse would turn a relative path absolute for schemes like `file:`.
        prefix = format!("{}:", parsed.scheme);
        parsed.scheme.clear();
    }
    parsed.path = join_append_absolute(&parsed.path, &path);
    Ok(prefix + &urlunparse(&parsed))
}

/// `pathlib.Path.cwd().joinpath(p).as_posix()`: joins and drops `.` and empty segments.
fn absolutize(p: &str) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let joined = cwd.join(p);
    let mut out = String::new();
    for c in joined.components() {
        match c {
            Component::RootDir => {}
            Component::CurDir => {}
            Component::Normal(s) => {
                out.push('/');
                out.push_str(&s.to_string_lossy());
            }
            Component::ParentDir => out.push_str("/.."),
            Component::Prefix(_) => {}
        }
    }
    if out.is_empty() { "/".to_string() } else { out }
}

/// MLflow's `resolve_uri_if_local`: a relative local path (or relative `file:` URI) becomes
/// absolute against the server's working directory; anything else is returned unchanged.
pub fn resolve_uri_if_local(uri: &str) -> String {
    let parsed = urlparse(uri);
    if !(parsed.scheme.is_empty() || parsed.scheme == "file") {
        return uri.to_string();
    }
    let local_path = if uri.starts_with("file:") {
        percent_decode(&parsed.path)
    } else {
        percent_decode(uri)
    };
    if local_path.starts_with('/') {
        return uri.to_string();
    }
    let abs = absolutize(&local_path);
    if parsed.scheme.is_empty() {
        return abs;
    }
    urlunparse(&UrlParts {
        scheme: "file".into(),
        path: abs,
        query: parsed.query,
        fragment: parsed.fragment,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_matches_mlflow_examples() {
        let a = |u: &str, p: &[&str]| append_to_uri_path(u, p).unwrap();
        assert_eq!(
            a(
                "s3://root/base/path?param=value",
                &["some/subpath", "/anotherpath"]
            ),
            "s3://root/base/path/some/subpath/anotherpath?param=value"
        );
        assert_eq!(
            a("a/posix/path", &["/some", "subpath"]),
            "a/posix/path/some/subpath"
        );
        assert_eq!(a("mlflow-artifacts:/", &["0"]), "mlflow-artifacts:/0");
        assert_eq!(a("mlflow-artifacts:", &["3"]), "mlflow-artifacts:3");
        assert_eq!(a("file:///tmp/mlruns", &["1"]), "file:///tmp/mlruns/1");
        assert_eq!(a("/tmp/art/", &["1"]), "/tmp/art/1");
        assert_eq!(
            a("/tmp/art/1", &["abc", "artifacts"]),
            "/tmp/art/1/abc/artifacts"
        );
        assert_eq!(a("S3://Bucket/x", &["1"]), "s3://Bucket/x/1");
        assert_eq!(a("file:relative/dir", &["1"]), "file:relative/dir/1");
        assert!(append_to_uri_path("s3://b/p?x=%2E%2E/", &["1"]).is_err());
    }

    #[test]
    fn resolve_keeps_remote_and_absolute() {
        assert_eq!(resolve_uri_if_local("s3://b/x"), "s3://b/x");
        assert_eq!(resolve_uri_if_local("/abs/p"), "/abs/p");
        assert_eq!(resolve_uri_if_local("file:///abs/p"), "file:///abs/p");
        let cwd = std::env::current_dir().unwrap();
        let cwd = cwd.to_str().unwrap();
        assert_eq!(resolve_uri_if_local("./rel//x/"), format!("{cwd}/rel/x"));
        assert_eq!(
            resolve_uri_if_local("file:rel/x"),
            format!("file://{cwd}/rel/x")
        );
    }

    #[test]
    fn backend_uris() {
        assert_eq!(
            parse_backend_uri("sqlite:////tmp/a.db").unwrap(),
            BackendTarget::SqliteFile("/tmp/a.db".into())
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            parse_backend_uri("sqlite:///rel.db").unwrap(),
            BackendTarget::SqliteFile(cwd.join("rel.db"))
        );
        assert_eq!(
            parse_backend_uri("sqlite://").unwrap(),
            BackendTarget::SqliteMemory
        );
        assert_eq!(
            parse_backend_uri("sqlite:///:memory:").unwrap(),
            BackendTarget::SqliteMemory
        );
        assert_eq!(
            parse_backend_uri("postgresql+psycopg2://u:p@h/db").unwrap(),
            BackendTarget::Postgres("postgresql://u:p@h/db".into())
        );
        assert!(parse_backend_uri("mysql://x").is_err());
        assert!(parse_backend_uri("mssql://u@h/db").is_err());
        for scheme in ["mysql", "mysql+pymysql", "mysql+mysqldb", "mariadb+pymysql"] {
            assert_eq!(
                parse_backend_uri(&format!("{scheme}://u:p%40w@h:3306/db")).unwrap(),
                BackendTarget::Mysql("mysql://u:p%40w@h:3306/db".into())
            );
        }
        assert_eq!(
            parse_backend_uri("mysql+pymysql://u@h/db?charset=utf8mb4&ssl_ca=/c%20a.pem").unwrap(),
            BackendTarget::Mysql(
                "mysql://u@h/db?charset=utf8mb4&ssl-ca=/c%20a.pem&ssl-mode=VERIFY_IDENTITY".into()
            )
        );
        assert_eq!(
            parse_backend_uri("mysql://u@h/db?ssl_ca=/ca&ssl_check_hostname=false").unwrap(),
            BackendTarget::Mysql("mysql://u@h/db?ssl-ca=/ca&ssl-mode=VERIFY_CA".into())
        );
        assert_eq!(
            parse_backend_uri("mysql+mysqldb://u@/db?unix_socket=/run/m.sock&ssl_mode=disabled")
                .unwrap(),
            BackendTarget::Mysql(
                "mysql://u@localhost/db?socket=/run/m.sock&ssl-mode=DISABLED".into()
            )
        );
        let err = parse_backend_uri("mysql://u:secret@h/db?bogus=1").unwrap_err();
        assert!(
            err.contains("unsupported query option") && !err.contains("secret"),
            "{err}"
        );
        assert!(parse_backend_uri("mysql://u@h").is_err());
        assert!(parse_backend_uri("sqlite:rel.db").is_err());
    }
}
