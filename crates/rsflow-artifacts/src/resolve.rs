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

    /// MLflow's host policy at connect time (security.md §1c): a stored location may come
    /// from a database an older server wrote, so it is checked again before every use.
    fn check_host(&self, artifact_uri: &str) -> Result<(), MlflowError> {
        if crate::uri::may_connect(artifact_uri, &self.trusted_roots) {
            return Ok(());
        }
        Err(MlflowError::permission_denied(format!(
            "The artifact location '{artifact_uri}' addresses a host other than the server's \
             configured artifact storage; the server does not connect to it. Set the \
             MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server \
             to allow it."
        )))
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
                    self.check_host(artifact_uri)?;
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
                self.check_host(artifact_uri)?;
                let (store, prefix) = crate::remote::resolve_remote(&uri)?;
                Ok(ResolvedRoot { store, prefix })
            }
            ArtifactUri::Unsupported { scheme } => {
                // A refusal on policy grounds (403) comes before "not supported" (501).
                self.check_host(artifact_uri)?;
                Err(MlflowError::not_implemented(format!(
                    "Artifact storage with scheme '{scheme}' is not supported by rsflow \
                 (artifact root '{artifact_uri}')."
                )))
            }
        }
    }
}
