//! Model-version `source` admission (security.md §1a): MLflow 3.17.2's rules, checked on a source
//! parsed once. Local and proxied sources must lie inside the artifact root of the run (or
//! logged model) the request names; other stores are registered as given, as MLflow registers
//! them, and the server never reads those on a client's behalf (`model_artifacts`). The store
//! gets exactly the validated text together with the location its artifacts are read from.

use rsflow_artifacts::uri::may_connect;
use rsflow_core::model_source::{
    self, Location, ModelSource, VersionSelector, is_proxy_location, local_source_error,
    source_owner_error,
};
use rsflow_core::wire::KeyValue;
use rsflow_core::wire_models::{IS_PROMPT_TAG_KEY, PROMPT_SOURCE_PLACEHOLDERS};
use rsflow_core::{ErrorCode, MlflowError, Result};

use crate::AppState;

/// A source the registry may store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedSource {
    /// The text to store as `source` (`models:/name@alias` is pinned to `models:/name/<v>`).
    pub source: String,
    /// What `get-download-uri` answers.
    pub storage_location: String,
    /// The run to record: the request's, or the one the logged model or version came from.
    pub run_id: Option<String>,
}

/// The request fields that decide admission.
#[derive(Debug, Clone, Copy)]
pub struct SourceRequest<'a> {
    pub source: &'a str,
    /// `None` when the request had no `run_id` field at all.
    pub run_id: Option<&'a str>,
    pub model_id: Option<&'a str>,
    pub tags: &'a [KeyValue],
}

/// A prompt is requested when the last `mlflow.prompt.is_prompt` tag says "true" in any case,
/// as MLflow's `_is_prompt_request` decides.
pub fn is_prompt_request(tags: &[KeyValue]) -> bool {
    tags.iter()
        .rev()
        .find(|t| t.key == IS_PROMPT_TAG_KEY)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"))
}

/// Decide whether `req.source` may be registered, and how: MLflow 3.17.2's
/// `_create_model_version` checks, in its order. The server never reads a source on a client's
/// behalf outside its own roots; `model_artifacts` enforces that when a version is read.
pub async fn admit(state: &AppState, req: SourceRequest<'_>) -> Result<AdmittedSource> {
    let source = req.source;
    let run_id = req.run_id.filter(|r| !r.is_empty());
    let model_id = req.model_id.filter(|m| !m.is_empty());

    // MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX comes first, prompts included.
    if let Some(pattern) = &state.config.model_version_source_pattern
        && !source.is_empty()
        && !pattern.is_match(source)
    {
        return Err(MlflowError::invalid_param(format!(
            "Invalid model version source: '{source}'."
        )));
    }

    // CVE-2026-2614: the prompt tag once skipped every check. A prompt's source is only ever
    // one of MLflow's fixed placeholders, which name nothing on disk.
    if is_prompt_request(req.tags) {
        if !PROMPT_SOURCE_PLACEHOLDERS.contains(&source) {
            return Err(MlflowError::invalid_param(format!(
                "Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
            )));
        }
        return Ok(AdmittedSource {
            source: source.to_string(),
            storage_location: source.to_string(),
            run_id: req.run_id.map(str::to_string),
        });
    }

    // MLflow's `_validate_artifact_uri_scheme(source, "source")`: the host policy.
    if !may_connect(source, &state.config.host_policy()) {
        let scheme = rsflow_core::uri::Uri::parse(source).scheme_lower;
        return Err(MlflowError::invalid_param(format!(
            "'source' cannot use the '{scheme}' scheme: the '{scheme}' scheme addresses a host \
             other than the tracking server's configured artifact storage, so the server would \
             connect to the host named in the URI. Set the \
             MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server \
             to allow it."
        )));
    }

    match model_source::parse_source(source)? {
        ModelSource::RegisteredVersion { name, selector } => {
            admit_registered_version(state, req, &name, selector).await
        }
        ModelSource::LoggedModel {
            model_id: source_model,
        } => {
            if model_id != Some(source_model.as_str()) {
                return Err(source_owner_error(source, "model_id"));
            }
            let model = state
                .logged_models
                .get_logged_model(&source_model, false)
                .await
                .map_err(|e| owner_missing(e, source, "model_id"))?;
            let run_id = run_id
                .map(str::to_string)
                .or(model.info.source_run_id.filter(|r| !r.is_empty()))
                .or(req.run_id.map(str::to_string));
            Ok(AdmittedSource {
                source: source.to_string(),
                storage_location: model.info.artifact_uri,
                run_id,
            })
        }
        ModelSource::Run {
            run_id: source_run, ..
        } => {
            if model_id.is_some() || run_id != Some(source_run.as_str()) {
                let id_name = if model_id.is_some() {
                    "model_id"
                } else {
                    "run_id"
                };
                return Err(source_owner_error(source, id_name));
            }
            // As in MLflow, the run is not looked up: a registry migrated from another server
            // names runs this one never saw. Reading the version resolves the run then.
            Ok(AdmittedSource {
                source: source.to_string(),
                storage_location: source.to_string(),
                run_id: Some(source_run),
            })
        }
        ModelSource::Location(loc) => admit_location(state, req, &loc).await,
    }
}

/// A missing run or model is the caller's fault: say which id failed to identify the source.
fn owner_missing(e: MlflowError, source: &str, id_name: &str) -> MlflowError {
    if e.code == ErrorCode::ResourceDoesNotExist {
        source_owner_error(source, id_name)
    } else {
        e
    }
}

/// The artifact root of the run or logged model that is to contain a source (MLflow's
/// `_get_source_run` / `_get_source_model`); a model_id decides even when a run_id is sent.
async fn owner_root(
    state: &AppState,
    source: &str,
    run_id: Option<&str>,
    model_id: Option<&str>,
) -> Result<Option<(String, Option<String>)>> {
    if let Some(mid) = model_id {
        let model = state
            .logged_models
            .get_logged_model(mid, false)
            .await
            .map_err(|e| owner_missing(e, source, "model_id"))?;
        return Ok(Some((
            model.info.artifact_uri,
            model.info.source_run_id.filter(|r| !r.is_empty()),
        )));
    }
    if let Some(rid) = run_id {
        let run = state
            .tracking
            .get_run(rid)
            .await
            .map_err(|e| owner_missing(e, source, "run_id"))?;
        return Ok(Some((run.info.artifact_uri, None)));
    }
    Ok(None)
}

async fn admit_location(
    state: &AppState,
    req: SourceRequest<'_>,
    loc: &Location,
) -> Result<AdmittedSource> {
    let source = req.source;
    let run_id = req.run_id.filter(|r| !r.is_empty());
    let model_id = req.model_id.filter(|m| !m.is_empty());
    let id_name = if model_id.is_some() {
        "model_id"
    } else {
        "run_id"
    };
    let admitted = |filled_run_id: Option<String>| AdmittedSource {
        source: source.to_string(),
        storage_location: source.to_string(),
        // The request's run wins; MLflow's store falls back to the logged model's run.
        run_id: run_id
            .map(str::to_string)
            .or(filled_run_id)
            .or(req.run_id.map(str::to_string)),
    };

    if loc.scheme == "file" {
        // A local path must lie in the local artifact directory of the run (or model) named
        // by the request; MLflow then quotes the path it resolved.
        let Some((root, filled)) = owner_root(state, source, run_id, model_id).await? else {
            return Err(local_source_error(source, id_name));
        };
        let inside = Location::parse_root(&root)
            .filter(|r| r.scheme == "file")
            .is_some_and(|r| loc.is_within(&r));
        if !inside {
            let resolved = format!("/{}", loc.segments.join("/"));
            return Err(local_source_error(&resolved, id_name));
        }
        return Ok(admitted(filled));
    }
    if is_proxy_location(loc) {
        // The artifact proxy serves every run's files: a proxied source must lie inside the
        // root of the run (or model) named by the request.
        let owner = owner_root(state, source, run_id, model_id).await?;
        return match owner {
            Some((root, filled))
                if Location::parse_root(&root).is_some_and(|r| loc.is_within(&r)) =>
            {
                Ok(admitted(filled))
            }
            _ => Err(source_owner_error(source, id_name)),
        };
    }
    // Other stores (`s3://another-bucket/...`, `gs://`, ...) are registered as given, as MLflow
    // registers them; clients read them with their own credentials.
    // MLflow's store then takes the run of the logged model, when only a model_id is sent.
    let filled = match model_id {
        Some(mid) if run_id.is_none() => state
            .logged_models
            .get_logged_model(mid, false)
            .await?
            .info
            .source_run_id
            .filter(|r| !r.is_empty()),
        _ => None,
    };
    Ok(admitted(filled))
}

async fn admit_registered_version(
    state: &AppState,
    req: SourceRequest<'_>,
    name: &str,
    selector: VersionSelector,
) -> Result<AdmittedSource> {
    let source = req.source;
    let registry = &state.registry;
    let model = registry.get_registered_model(name).await?;
    if model.is_prompt() {
        return Err(MlflowError::invalid_param(format!(
            "Invalid model version source: '{source}'. Prompt versions cannot be used as model \
             version sources."
        )));
    }
    let version = match selector {
        VersionSelector::Version(v) => v.to_string(),
        VersionSelector::Alias(alias) => {
            registry
                .get_model_version_by_alias(name, &alias)
                .await?
                .version
        }
        VersionSelector::Latest => latest_of(state, name, None).await?,
        VersionSelector::Stage(stage) => latest_of(state, name, Some(stage)).await?,
    };
    let mv = registry.get_model_version(name, &version).await?;
    let mv_run = mv.run_id.clone().unwrap_or_default();
    let run_mismatch = req.run_id.is_some_and(|r| r != mv_run);
    // The OSS registry never records a version's model_id, so any non-empty one mismatches.
    let model_mismatch = req.model_id.is_some_and(|m| !m.is_empty());
    if run_mismatch || model_mismatch {
        return Err(MlflowError::invalid_param(format!(
            "Invalid model version source: '{source}'. The run_id and model_id request \
             parameters must match the referenced model version."
        )));
    }
    let storage_location = registry
        .get_model_version_download_uri(name, &mv.version)
        .await?;
    Ok(AdmittedSource {
        source: format!("models:/{name}/{}", mv.version),
        storage_location,
        run_id: req.run_id.map(str::to_string).or(mv.run_id),
    })
}

async fn latest_of(state: &AppState, name: &str, stage: Option<String>) -> Result<String> {
    let stages: Vec<String> = stage.iter().cloned().collect();
    let latest = state.registry.get_latest_versions(name, &stages).await?;
    latest
        .iter()
        .map(|mv| mv.version_number())
        .max()
        .map(|v| v.to_string())
        .ok_or_else(|| {
            let stage_str = stage
                .map(|s| format!(" and stage '{s}'"))
                .unwrap_or_default();
            MlflowError::not_found(format!(
                "No versions of model with name '{name}'{stage_str} found"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn prompt_detection_uses_the_last_tag() {
        assert!(is_prompt_request(&[tag(IS_PROMPT_TAG_KEY, "TRUE")]));
        assert!(!is_prompt_request(&[
            tag(IS_PROMPT_TAG_KEY, "true"),
            tag(IS_PROMPT_TAG_KEY, "false")
        ]));
        assert!(!is_prompt_request(&[tag("other", "true")]));
    }
}

/// `MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX`: when set, every new version's source
/// must contain a match (Python's `re.search`), else MLflow's 400.
#[derive(Debug, Clone)]
pub struct SourcePattern(regex::Regex);

impl SourcePattern {
    pub fn new(pattern: &str) -> std::result::Result<Self, String> {
        regex::Regex::new(pattern)
            .map(SourcePattern)
            .map_err(|e| e.to_string())
    }

    pub fn is_match(&self, source: &str) -> bool {
        self.0.is_match(source)
    }
}
