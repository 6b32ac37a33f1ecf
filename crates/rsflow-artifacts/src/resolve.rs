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
}

impl ArtifactResolver {
    pub fn new(destination: Option<Arc<dyn ArtifactStore>>) -> Self {
        ArtifactResolver { destination }
    }

    pub fn destination(&self) -> Option<&Arc<dyn ArtifactStore>> {
        self.destination.as_ref()
    }

    /// Proxied roots resolve through the destination (their host is ignored, as MLflow does);
    /// local roots get a store confined to that directory.
    pub fn resolve(&self, artifact_uri: &str) -> Result<ResolvedRoot, MlflowError> {
        match ArtifactUri::parse(artifact_uri)? {
            ArtifactUri::Proxied { path } => match &self.destination {
                Some(store) => Ok(ResolvedRoot {
                    store: store.clone(),
                    prefix: path,
                }),
                None => Err(MlflowError::not_implemented(format!(
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
