//! [`StorageEnv`]: the variables that configure artifact storage (MLflow's `MLFLOW_S3_*`,
//! `AWS_*`, `AZURE_*`, `GOOGLE_*`, rsflow's `RSFLOW_STORAGE_*`, ...), read once by the binary
//! at start and handed to every store it opens, then or later (direct-mode roots). Nothing in
//! this crate reads the process environment.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::remote::StorageTimeouts;

/// Settings by variable name; empty values count as unset, as boto and the Azure SDK do.
#[derive(Clone, Default)]
pub struct StorageEnv {
    vars: Arc<HashMap<String, String>>,
}

impl StorageEnv {
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        StorageEnv {
            vars: Arc::new(
                vars.into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .filter(|(_, v)| !v.is_empty())
                    .collect(),
            ),
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }

    /// The same settings with `key` set (a detected AWS region, say).
    pub fn with(&self, key: &str, value: impl Into<String>) -> Self {
        let mut vars = (*self.vars).clone();
        vars.insert(key.to_owned(), value.into());
        StorageEnv {
            vars: Arc::new(vars),
        }
    }

    /// How long a store may take (`RSFLOW_STORAGE_TIMEOUT`, `RSFLOW_STORAGE_CONNECT_TIMEOUT`,
    /// `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`).
    pub fn timeouts(&self) -> StorageTimeouts {
        StorageTimeouts::from_env(&|k| self.get(k))
    }

    /// `MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES`: schemes whose URIs may name any host
    /// (MLflow's host policy, security.md §1c), lower case.
    pub fn allowed_host_schemes(&self) -> Vec<String> {
        self.get("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The names that are set, sorted: what the start-up log shows (values may be secrets).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// Names only: the values hold credentials.
impl fmt::Debug for StorageEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageEnv")
            .field("set", &self.names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_out_of_debug_and_empty_is_unset() {
        let env = StorageEnv::from_vars([
            ("AWS_SECRET_ACCESS_KEY", "hunter2"),
            ("AWS_REGION", ""),
            (
                "MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES",
                " HTTP, ftp ,",
            ),
        ]);
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY").as_deref(), Some("hunter2"));
        assert_eq!(env.get("AWS_REGION"), None);
        assert!(!format!("{env:?}").contains("hunter2"));
        assert_eq!(env.allowed_host_schemes(), ["http", "ftp"]);
        assert_eq!(
            env.with("AWS_REGION", "eu").get("AWS_REGION").as_deref(),
            Some("eu")
        );
    }
}
