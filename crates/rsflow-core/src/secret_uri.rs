//! [`SecretUri`]: a URI that may carry a password (a database URI, `sftp://user:pw@host`),
//! shown everywhere (`Display`, `Debug`, errors, logs) with the password replaced by `***`.

use std::fmt;

/// A URI whose password is never printed. [`SecretUri::expose`] gives the real text to the
/// code that connects; everything else formats it.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct SecretUri(String);

impl SecretUri {
    pub fn new(uri: impl Into<String>) -> Self {
        SecretUri(uri.into())
    }

    /// The URI as given, password included: for connecting, never for showing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A borrowed URI shown redacted (`format!("{}", SecretUri::show(uri))`).
    pub fn show(uri: &str) -> Shown<'_> {
        Shown(uri)
    }
}

impl From<String> for SecretUri {
    fn from(s: String) -> Self {
        SecretUri(s)
    }
}

impl From<&str> for SecretUri {
    fn from(s: &str) -> Self {
        SecretUri(s.to_owned())
    }
}

impl fmt::Display for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Shown(&self.0), f)
    }
}

impl fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUri({:?})", Shown(&self.0).to_string())
    }
}

/// A borrowed URI that formats redacted; see [`SecretUri::show`].
#[derive(Clone, Copy)]
pub struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(self.0))
    }
}

/// The password in the user info (`user:***@host`) and a `password=` query parameter
/// (PostgreSQL accepts both) replaced by `***`. A password may itself hold `@`, `/` or `?`
/// (unencoded, as people paste them): the user info runs to the last `@` before the first `/`
/// that follows an `@`, so such a password is hidden too (at worst too much is hidden).
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        // No scheme to go by (`bob:pw@host/db`): hide whatever stands between `:` and `@`.
        return match uri.rsplit_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{user}:***@{host}")
            }
            _ => uri.to_owned(),
        };
    };
    let (authority, tail) = match rest.find('@') {
        Some(first_at) if rest[..first_at].contains(':') => {
            let host_end = rest[first_at..]
                .find(['/', '?', '#'])
                .map_or(rest.len(), |i| first_at + i);
            rest.split_at(host_end)
        }
        _ => rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len())),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        SecretUri::from(s).to_string()
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            shown("postgresql://u:secret@db:5432/x"),
            "postgresql://u:***@db:5432/x"
        );
        assert_eq!(
            shown("mysql://bob:s3cr3tpw@host/db"),
            "mysql://bob:***@host/db"
        );
        assert_eq!(shown("sftp://u:pw@h:22/x"), "sftp://u:***@h:22/x");
        assert_eq!(
            shown("postgresql+psycopg2://u:p%40ss@db/x?sslmode=disable&password=s3&a=b"),
            "postgresql+psycopg2://u:***@db/x?sslmode=disable&password=***&a=b"
        );
        assert_eq!(
            shown("postgresql://u:pw@db?password=x"),
            "postgresql://u:***@db?password=***"
        );
        // Unencoded `@`, `/` and `?` in the password.
        assert_eq!(shown("postgresql://u:p@ss@db/x"), "postgresql://u:***@db/x");
        assert_eq!(
            shown("postgresql://u:pa/ss@db/x"),
            "postgresql://u:***@db/x"
        );
        assert_eq!(
            shown("postgresql://u:pa?ss@db/x"),
            "postgresql://u:***@db/x"
        );
        assert_eq!(shown("bob:pw@host/db"), "bob:***@host/db");
    }

    #[test]
    fn the_rest_is_kept() {
        for same in [
            "sqlite:///mlflow.db",
            "postgresql://u@db/x",
            "s3://bucket/path@x:y",
            "mlflow-artifacts:/x",
            "/local/path",
            "",
        ] {
            assert_eq!(shown(same), same);
        }
        let s = SecretUri::from("postgresql://u:pw@h/db");
        assert_eq!(s.expose(), "postgresql://u:pw@h/db");
        assert!(!format!("{s:?}").contains("pw@"), "{s:?}");
    }
}
