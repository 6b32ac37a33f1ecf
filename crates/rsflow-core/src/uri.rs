//! [`Uri`]: the one reading of an artifact location, a model-version source or a stored root.
//! Every classifier (`rsflow_artifacts::uri::ArtifactUri` and its host policy,
//! `rsflow_artifacts::remote::RemoteLocation`, [`crate::model_source`], the API's location
//! checks) splits a URI here and decides from its [`Kind`]; their rules differ on purpose, the
//! parsing does not. RFC 3986: the scheme is a letter then letters, digits, `+`, `-` or `.`, up to
//! the first `:`; the authority follows `//` up to `/`, `?` or `#`; the query follows `?`, the
//! fragment `#`. Nothing is decoded.

/// What a URI designates, by its scheme (compared without case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No scheme: a path on this machine.
    Path,
    /// A one-letter scheme: a Windows drive (`C:\x`, `c:/x`).
    Drive,
    /// `file:`.
    File,
    /// `mlflow-artifacts:`: MLflow's artifact proxy, this server's or the host's it names.
    Proxy,
    /// `http:`/`https:`; a proxy URL when its path holds [`PROXY_ROUTE`].
    Http,
    /// `runs:/<run_id>/<path>`.
    Runs,
    /// `models:/<name>/<selector>` or `models:/<model_id>`.
    Models,
    /// Object storage or SFTP that rsflow opens itself.
    Store(Store),
    /// Storage MLflow has a repository for and rsflow does not serve (`abfss`, `ftp`, `hdfs`,
    /// `viewfs`, `dbfs`, `oci`).
    Unserved,
    /// Any other scheme.
    Unknown,
}

/// The remote stores rsflow opens itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    S3,
    B2,
    R2,
    Gcs,
    Wasbs,
    Sftp,
}

/// The route under which proxied artifacts are served; a proxied `http(s)` URL contains it.
pub const PROXY_ROUTE: &str = "/api/2.0/mlflow-artifacts/artifacts";

/// Schemes of [`Kind::Store`], lower case.
pub const STORE_SCHEMES: &[&str] = &["s3", "b2", "r2", "gs", "wasbs", "sftp"];

/// A URI split into its parts, as written (`scheme_lower` aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    pub kind: Kind,
    /// The scheme lowercased; `""` for a plain path.
    pub scheme_lower: String,
    /// After `//`, up to `/`, `?` or `#`; `None` without `//`.
    pub authority: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

impl<'a> Uri<'a> {
    pub fn parse(s: &'a str) -> Uri<'a> {
        let (scheme, rest) = match split_scheme(s) {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, s),
        };
        let scheme_lower = scheme.map_or_else(String::new, str::to_ascii_lowercase);
        let (authority, rest) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find(['/', '?', '#']).unwrap_or(r.len());
                (Some(&r[..end]), &r[end..])
            }
            None => (None, rest),
        };
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (rest, None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let kind = match scheme_lower.as_str() {
            "" => Kind::Path,
            s if s.len() == 1 => Kind::Drive,
            "file" => Kind::File,
            "mlflow-artifacts" => Kind::Proxy,
            "http" | "https" => Kind::Http,
            "runs" => Kind::Runs,
            "models" => Kind::Models,
            "s3" => Kind::Store(Store::S3),
            "b2" => Kind::Store(Store::B2),
            "r2" => Kind::Store(Store::R2),
            "gs" => Kind::Store(Store::Gcs),
            "wasbs" => Kind::Store(Store::Wasbs),
            "sftp" => Kind::Store(Store::Sftp),
            "abfss" | "ftp" | "hdfs" | "viewfs" | "dbfs" | "oci" => Kind::Unserved,
            _ => Kind::Unknown,
        };
        Uri {
            kind,
            scheme_lower,
            authority,
            path,
            query,
            fragment,
        }
    }

    /// For a proxy URL (`http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts[/<path>]`),
    /// `(the path up to and with the route, the artifact path after it)`.
    pub fn proxy_route(&self) -> Option<(&'a str, &'a str)> {
        if self.kind != Kind::Http {
            return None;
        }
        let end = self.path.find(PROXY_ROUTE)? + PROXY_ROUTE.len();
        let (base, rest) = self.path.split_at(end);
        (rest.is_empty() || rest.starts_with('/')).then_some((base, rest))
    }

    /// `(scheme family, host, port)` a URI of a host-addressed scheme makes the server connect
    /// to (MLflow's host policy, GHSA-mr9f-g8qf-4w4j).
    pub fn host_target(&self) -> Option<(String, String, Option<u16>)> {
        let host_addressed = matches!(
            self.scheme_lower.as_str(),
            "ftp"
                | "sftp"
                | "hdfs"
                | "viewfs"
                | "http"
                | "https"
                | "mlflow-artifacts"
                | "r2"
                | "b2"
                | "abfss"
        );
        if !host_addressed {
            return None;
        }
        let netloc = self.authority.filter(|a| !a.is_empty())?;
        let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, p.parse::<u16>().ok())
            }
            _ => (hostport, None),
        };
        let family = match self.scheme_lower.as_str() {
            "viewfs" => "hdfs",
            "https" | "mlflow-artifacts" => "http",
            s => s,
        };
        Some((family.to_owned(), host.to_ascii_lowercase(), port))
    }
}

/// `(scheme, rest)` when `s` starts with a scheme and a colon; the scheme as written.
pub fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(split_scheme("s3://b/x"), Some(("s3", "//b/x")));
        assert_eq!(
            split_scheme("Mlflow-Artifacts:/x"),
            Some(("Mlflow-Artifacts", "/x"))
        );
        assert_eq!(split_scheme("c:\\x"), Some(("c", "\\x")));
        assert_eq!(split_scheme("/abs/path:x"), None);
        assert_eq!(split_scheme("1x:y"), None);
        assert_eq!(split_scheme("no colon"), None);
    }

    type Row<'a> = (
        &'a str,
        Kind,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );

    /// `(uri, kind, authority, path, query, fragment)`: benign and hostile forms alike are
    /// split without decoding; the classifiers built on this refuse the hostile ones.
    #[test]
    fn classification_table() {
        use Kind::*;
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("/srv/mlruns/1", Path, None, "/srv/mlruns/1", None, None),
            ("./rel/dir", Path, None, "./rel/dir", None, None),
            ("//proc/self/root", Path, Some("proc"), "/self/root", None, None),
            ("/abs/path:x", Path, None, "/abs/path:x", None, None),
            ("C:\\Windows", Drive, None, "\\Windows", None, None),
            ("c:/windows", Drive, None, "/windows", None, None),
            ("file:///etc/passwd", File, Some(""), "/etc/passwd", None, None),
            ("FILE:///etc", File, Some(""), "/etc", None, None),
            ("file://evil.example/etc", File, Some("evil.example"), "/etc", None, None),
            ("file://localhost:80/x", File, Some("localhost:80"), "/x", None, None),
            ("file:/srv/x", File, None, "/srv/x", None, None),
            ("file:../../etc", File, None, "../../etc", None, None),
            ("file://./etc", File, Some("."), "/etc", None, None),
            ("mlflow-artifacts:/1/x", Proxy, None, "/1/x", None, None),
            ("mlflow-artifacts:1/x", Proxy, None, "1/x", None, None),
            ("mlflow-artifacts://host/..", Proxy, Some("host"), "/..", None, None),
            ("Mlflow-Artifacts://h:5000/1", Proxy, Some("h:5000"), "/1", None, None),
            ("mlflow-artifacts:/1/%2e%2e/%2e%2e/etc", Proxy, None, "/1/%2e%2e/%2e%2e/etc", None, None),
            ("http:///#/../../etc/", Http, Some(""), "/", None, Some("/../../etc/")),
            ("http:///?/../../etc/", Http, Some(""), "/", Some("/../../etc/"), None),
            ("HTTPS://H/a?b#c", Http, Some("H"), "/a", Some("b"), Some("c")),
            ("http://h?x/y", Http, Some("h"), "", Some("x/y"), None),
            ("runs:/abc/model", Runs, None, "/abc/model", None, None),
            ("runs://host/abc", Runs, Some("host"), "/abc", None, None),
            ("models:/m@champion", Models, None, "/m@champion", None, None),
            ("s3://bucket/p", Store(super::Store::S3), Some("bucket"), "/p", None, None),
            ("s3://", Store(super::Store::S3), Some(""), "", None, None),
            ("s3:///x", Store(super::Store::S3), Some(""), "/x", None, None),
            ("S3://B/x", Store(super::Store::S3), Some("B"), "/x", None, None),
            ("b2://bk@host/x", Store(super::Store::B2), Some("bk@host"), "/x", None, None),
            ("r2://bk@acct/x", Store(super::Store::R2), Some("bk@acct"), "/x", None, None),
            ("gs://g", Store(super::Store::Gcs), Some("g"), "", None, None),
            ("wasbs://c@a.blob.core.windows.net/p", Store(super::Store::Wasbs), Some("c@a.blob.core.windows.net"), "/p", None, None),
            ("sftp://u:p@h:22/d", Store(super::Store::Sftp), Some("u:p@h:22"), "/d", None, None),
            ("abfss://fs@a.dfs.core.windows.net/p", Unserved, Some("fs@a.dfs.core.windows.net"), "/p", None, None),
            ("hdfs://nn:8020/p", Unserved, Some("nn:8020"), "/p", None, None),
            ("dbfs:/R/a%3f/../x", Unserved, None, "/R/a%3f/../x", None, None),
            ("ftp://u@h/p;type=a", Unserved, Some("u@h"), "/p;type=a", None, None),
            ("weird+x://h/p", Unknown, Some("h"), "/p", None, None),
            ("javascript:alert(1)", Unknown, None, "alert(1)", None, None),
        ];
        for &(raw, kind, authority, path, query, fragment) in table {
            let uri = Uri::parse(raw);
            assert_eq!(
                (uri.kind, uri.authority, uri.path, uri.query, uri.fragment),
                (kind, authority, path, query, fragment),
                "{raw}"
            );
        }
        assert_eq!(Uri::parse("HTTPS://h").scheme_lower, "https");
        assert_eq!(Uri::parse("./rel").scheme_lower, "");
    }

    #[test]
    fn proxy_routes() {
        fn route(s: &str) -> Option<(&str, &str)> {
            Uri::parse(s).proxy_route()
        }
        assert_eq!(
            route("http://h/p/api/2.0/mlflow-artifacts/artifacts/1/x"),
            Some(("/p/api/2.0/mlflow-artifacts/artifacts", "/1/x"))
        );
        assert_eq!(
            route("https://h/api/2.0/mlflow-artifacts/artifacts"),
            Some(("/api/2.0/mlflow-artifacts/artifacts", ""))
        );
        assert_eq!(route("http://h/api/2.0/mlflow-artifacts/artifactsX"), None);
        assert_eq!(route("http://h/other"), None);
        assert_eq!(route("s3://b/api/2.0/mlflow-artifacts/artifacts"), None);
    }

    #[test]
    fn host_targets() {
        let t = |s: &str| Uri::parse(s).host_target();
        let target = |f: &str, h: &str, p: Option<u16>| Some((f.into(), h.into(), p));
        assert_eq!(
            t("HTTPS://User@Art.Example:5500/x"),
            target("http", "art.example", Some(5500))
        );
        assert_eq!(t("mlflow-artifacts://h/.."), target("http", "h", None));
        assert_eq!(t("viewfs://nn/p"), target("hdfs", "nn", None));
        assert_eq!(t("http://[::1]:80/x"), target("http", "[::1]", Some(80)));
        assert_eq!(t("http://h#@evil/x"), target("http", "h", None));
        assert_eq!(t("mlflow-artifacts:/1/x"), None);
        assert_eq!(t("http:///x"), None);
        assert_eq!(t("s3://bucket/x"), None);
        assert_eq!(t("file://evil/etc"), None);
    }
}
