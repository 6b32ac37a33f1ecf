//! Mapping a stored artifact URI to a store and a prefix inside it, the way `mlflow server`
//! does for its run-based routes (spec mlflow-artifacts §1, `_is_servable_proxied_run_artifact_root`).

use std::sync::Arc;

use rsflow_core::MlflowError;

use crate::local::LocalStore;
use crate::path::{ArtifactPath, PathError};
use crate::store::ArtifactStore;
use crate::uri::ArtifactUri;

/// Where the files of one artifact root live.
#[derive(Debug, Clone)]
pub struct ResolvedRoot {
    pub store: Arc<dyn ArtifactStore>,
    /// The root's own path inside `store` (empty for a direct local root).
    pub prefix: ArtifactPath,
}

impl ResolvedRoot {
    /// The store path of `rel`, a path relative to the artifact root.
    pub fn path(&self, rel: &ArtifactPath) -> Result<ArtifactPath, PathError> {
        self.prefix.join(rel)
    }
}

/// Resolves run (and later logged-model and trace) artifact roots: proxied roots go to the
/// destination, local ones to their directory, remote ones (direct mode) to a shared store.
#[derive(Debug, Clone, Default)]
pub struct ArtifactResolver {
    /// The proxy destination; `None` when the server does not serve artifacts.
    destination: Option<Arc<dyn ArtifactStore>>,
    /// The server's own `--default-artifact-root` and `--artifacts-destination`: the only hosts
    /// a stored location may make it connect to (MLflow's host policy).
    trusted_roots: Vec<String>,
}

impl ArtifactResolver {
    pub fn new(destination: Option<Arc<dyn ArtifactStore>>) -> Self {
        ArtifactResolver {
            destination,
            trusted_roots: vec![],
        }
    }

    /// Allow connections to the hosts of these locations (and no others).
    pub fn with_trusted_roots(mut self, roots: Vec<String>) -> Self {
        self.trusted_roots = roots;
        self
    }

    fn host_trusted(&self, uri: &str) -> bool {
        let Some(target) = crate::uri::host_target(uri) else {
            return true;
        };
        let allowed = std::env::var("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES")
            .unwrap_or_default()
            .split(',')
            .any(|s| {
                s.trim()
                    .eq_ignore_ascii_case(uri.split(':').next().unwrap_or(""))
            });
        allowed
            || self
                .trusted_roots
                .iter()
                .filter_map(|r| crate::uri::host_target(r))
                .any(|t| t == target)
    }

    pub fn destination(&self) -> Option<&Arc<dyn ArtifactStore>> {
        self.destination.as_ref()
    }

    /// Proxied roots resolve through the destination (their host is ignored, as MLflow does);
    /// local roots get a store confined to that directory.
    pub fn resolve(&self, artifact_uri: &str) -> Result<ResolvedRoot, MlflowError> {
        match ArtifactUri::parse(artifact_uri)? {
            ArtifactUri::Proxied { path, server } => match (&self.destination, server) {
                (Some(store), _) => Ok(ResolvedRoot {
                    store: store.clone(),
                    prefix: path,
                }),
                // Not serving: the root lives on the artifact server it names.
                (None, Some(base)) => {
                    if !self.host_trusted(artifact_uri) {
                        return Err(MlflowError::invalid_param(format!(
                            "The tracking server does not connect to artifact location \
                             '{artifact_uri}': it addresses a host other than the server's \
                             configured artifact storage. Set the \
                             MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable \
                             on the server to allow it."
                        )));
                    }
                    Ok(ResolvedRoot {
                        store: Arc::new(crate::http::HttpStore::new(&base)?),
                        prefix: path,
                    })
                }
                (None, None) => Err(MlflowError::not_implemented(format!(
                    "The artifact root '{artifact_uri}' is served by an MLflow artifact proxy, \
                     but this server runs with `--no-serve-artifacts`."
                ))),
            },
            ArtifactUri::Local(dir) => {
                let store = LocalStore::attach(&dir).map_err(|e| {
                    MlflowError::internal(format!(
                        "Cannot resolve the local artifact root '{artifact_uri}': {e}"
                    ))
                })?;
                Ok(ResolvedRoot {
                    store: Arc::new(store),
                    prefix: ArtifactPath::root(),
                })
            }
            // Direct mode: the server reads the store with its own credentials.
            ArtifactUri::Remote { uri, .. } => {
                let (store, prefix) = crate::remote::resolve_remote(&uri)?;
                Ok(ResolvedRoot { store, prefix })
            }
            ArtifactUri::Unsupported { scheme } => Err(MlflowError::not_implemented(format!(
                "Artifact storage with scheme '{scheme}' is not supported by rsflow \
                 (artifact root '{artifact_uri}')."
            ))),
        }
    }
}
