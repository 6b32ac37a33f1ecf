//! Model-version `source` admission (security.md §1a): parse once, prove the source lies inside
//! an artifact root the server trusts, and hand the store exactly the validated text together
//! with the location its artifacts are read from.

use rsflow_core::model_source::{
    self, Location, ModelSource, VersionSelector, is_proxy_location, local_source_error,
    outside_roots_error, source_owner_error,
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

/// Decide whether `req.source` may be registered, and how.
pub async fn admit(state: &AppState, req: SourceRequest<'_>) -> Result<AdmittedSource> {
    let source = req.source;
    let run_id = req.run_id.filter(|r| !r.is_empty());
    let model_id = req.model_id.filter(|m| !m.is_empty());

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
            state
                .tracking
                .get_run(&source_run)
                .await
                .map_err(|e| owner_missing(e, source, "run_id"))?;
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
    let refuse = || {
        if loc.scheme == "file" {
            local_source_error(source, id_name)
        } else if is_proxy_location(loc) {
            source_owner_error(source, id_name)
        } else {
            outside_roots_error(source)
        }
    };

    let mut roots = Vec::new();
    let mut filled_run_id = run_id.map(str::to_string);
    // As in MLflow, a model_id decides the owner even when a run_id is sent too.
    if let Some(mid) = model_id {
        let model = state
            .logged_models
            .get_logged_model(mid, false)
            .await
            .map_err(|e| owner_missing(e, source, "model_id"))?;
        roots.push(model.info.artifact_uri.clone());
        if filled_run_id.is_none() {
            filled_run_id = model.info.source_run_id.filter(|r| !r.is_empty());
        }
    } else if let Some(rid) = run_id {
        let run = state
            .tracking
            .get_run(rid)
            .await
            .map_err(|e| owner_missing(e, source, "run_id"))?;
        roots.push(run.info.artifact_uri);
    }
    // The server's own default root: a source there stays inside artifact storage. The proxy
    // scheme is excluded because its root (`mlflow-artifacts:/`) names no path and MLflow ties
    // proxied sources to their run or model.
    if !state.config.default_artifact_root.is_empty() {
        roots.push(state.config.default_artifact_root.clone());
    }
    let inside = roots
        .iter()
        .filter_map(|r| Location::parse_root(r))
        .any(|root| loc.is_within(&root));
    if !inside {
        return Err(refuse());
    }
    Ok(AdmittedSource {
        source: source.to_string(),
        storage_location: source.to_string(),
        run_id: filled_run_id.or(req.run_id.map(str::to_string)),
    })
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
