//! Mapping a stored artifact URI to a store and a prefix inside it, the way `mlflow server`
//! does for its run-based routes (spec mlflow-artifacts §1, `_is_servable_proxied_run_artifact_root`).

use std::sync::Arc;

use rsflow_core::MlflowError;

use crate::StorageEnv;
use crate::local::LocalStore;
use crate::path::{ArtifactPath, PathError};
use crate::remote::{RemoteCache, StorageTimeouts};
use crate::store::ArtifactStore;
use crate::uri::{ArtifactUri, HostPolicy};

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
/// destination, local ones to their directory, remote ones (direct mode) to a store opened once
/// per bucket with the server's storage settings and kept in this resolver's cache. Clones
/// share the cache; build one per server.
#[derive(Debug, Clone, Default)]
pub struct ArtifactResolver {
    /// The proxy destination; `None` when the server does not serve artifacts.
    destination: Option<Arc<dyn ArtifactStore>>,
    /// The only hosts a stored location may make the server connect to (MLflow's host policy).
    policy: HostPolicy,
    /// Credentials, endpoints and timeouts for the stores of direct-mode roots.
    env: StorageEnv,
    /// Those stores, one per bucket/container/host.
    remotes: RemoteCache,
}

impl ArtifactResolver {
    pub fn new(destination: Option<Arc<dyn ArtifactStore>>) -> Self {
        ArtifactResolver {
            destination,
            ..ArtifactResolver::default()
        }
    }

    /// Allow connections to the hosts of these locations (and no others).
    pub fn with_trusted_roots(mut self, roots: Vec<String>) -> Self {
        self.policy.trusted_roots = roots;
        self
    }

    /// The whole host policy (trusted roots and the schemes the operator allowed).
    pub fn with_host_policy(mut self, policy: HostPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The storage settings for the stores this resolver opens.
    pub fn with_storage_env(mut self, env: StorageEnv) -> Self {
        self.env = env;
        self
    }

    /// MLflow's host policy at connect time (security.md §1c): a stored location may come
    /// from a database an older server wrote, so it is checked again before every use.
    fn check_host(&self, artifact_uri: &str) -> Result<(), MlflowError> {
        if crate::uri::may_connect(artifact_uri, &self.policy) {
            return Ok(());
        }
        Err(MlflowError::permission_denied(format!(
            "The artifact location '{artifact_uri}' addresses a host other than the server's \
             configured artifact storage; the server does not connect to it. Set the \
             MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server \
             to allow it."
        )))
    }

    fn timeouts(&self) -> StorageTimeouts {
        self.env.timeouts()
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
                        store: Arc::new(crate::http::HttpStore::with_timeouts(
                            &base,
                            &self.timeouts(),
                        )?),
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
                let (store, prefix) =
                    crate::remote::resolve_remote(&uri, &self.env, &self.remotes)?;
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
