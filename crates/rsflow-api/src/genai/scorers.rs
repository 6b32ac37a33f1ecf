//! `/api/3.0/mlflow/scorers/*` (spec §5.2). A serialized scorer is stored as text and never
//! run: `@scorer` code is refused unless the operator allows it, exactly as MLflow refuses it.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use rsflow_core::MlflowError;
use rsflow_core::genai::{
    CUSTOM_SCORER_REFUSED, OnlineScoringConfig, ScorerVersion, has_call_source,
    third_party_scorer_problem,
};
use rsflow_core::pyfmt::{json_dumps, repr_float};
use serde_json::{Map, Value, json};

use super::{bad, type_name};
use crate::AppState;
use crate::error::{ApiResult, json_ok};
use crate::extract::{Params, invalid_type, parse_f64};

type Handler = ApiResult<Response>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/scorers/register", post(register))
        .route("/mlflow/scorers/list", get(list))
        .route("/mlflow/scorers/versions", get(versions))
        .route("/mlflow/scorers/get", get(get_scorer))
        .route("/mlflow/scorers/delete", delete(delete_scorer))
        .route("/mlflow/scorers/online-configs", get(online_configs))
        .route("/mlflow/scorers/online-config", put(upsert_online_config))
}

/// The `Scorer` message: `experiment_id` is an int32 there.
fn scorer_json(v: &ScorerVersion) -> Value {
    json!({
        "experiment_id": v.experiment_id,
        "scorer_name": v.scorer_name,
        "scorer_version": v.scorer_version,
        "serialized_scorer": v.serialized_scorer,
        "creation_time": v.creation_time,
        "scorer_id": v.scorer_id,
    })
}

fn config_json(c: &OnlineScoringConfig) -> Value {
    let mut m = Map::new();
    m.insert(
        "online_scoring_config_id".into(),
        json!(c.online_scoring_config_id),
    );
    m.insert("scorer_id".into(), json!(c.scorer_id));
    m.insert("sample_rate".into(), json!(c.sample_rate));
    m.insert("experiment_id".into(), json!(c.experiment_id));
    if let Some(f) = &c.filter_string {
        m.insert("filter_string".into(), json!(f));
    }
    Value::Object(m)
}

/// `_validate_serialized_scorer_payload`.
fn check_payload(text: &str, allow_custom: bool) -> ApiResult<()> {
    let data: Value =
        serde_json::from_str(text).map_err(|_| bad("serialized_scorer must be valid JSON"))?;
    if has_call_source(&data) && !allow_custom {
        return Err(bad(CUSTOM_SCORER_REFUSED));
    }
    if let Some(msg) = third_party_scorer_problem(&data) {
        return Err(bad(msg));
    }
    Ok(())
}

async fn register(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let serialized = p.req_str("serialized_scorer")?;
    check_payload(&serialized, s.config.mlflow.enable_custom_scorers)?;
    let v = s
        .genai
        .register_scorer(&experiment_id, &name, &serialized)
        .await?;
    json_ok(&json!({
        "version": v.scorer_version,
        "scorer_id": v.scorer_id,
        "experiment_id": v.experiment_id.to_string(),
        "name": v.scorer_name,
        "serialized_scorer": v.serialized_scorer,
        "creation_time": v.creation_time,
    }))
}

fn scorers_body(list: &[ScorerVersion]) -> Value {
    if list.is_empty() {
        return json!({});
    }
    json!({ "scorers": list.iter().map(scorer_json).collect::<Vec<_>>() })
}

async fn list(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.opt_str("experiment_id")?.filter(|e| !e.is_empty());
    let has_ids = p.has("experiment_ids");
    if experiment_id.is_some() && has_ids {
        return Err(bad(
            "Cannot specify both 'experiment_id' and 'experiment_ids'. Use 'experiment_ids' to \
             scope the query to multiple experiments, or 'experiment_id' to scope it to a single \
             experiment.",
        ));
    }
    let list = if has_ids {
        let mut ids = p.str_list("experiment_ids")?;
        ids.dedup();
        if ids.is_empty() {
            vec![]
        } else {
            let mut active = Vec::new();
            for id in &ids {
                match s.tracking.get_experiment(id).await {
                    Ok(e) if e.lifecycle_stage == "active" => active.push(e.experiment_id),
                    Ok(_) => {}
                    Err(e) if e.code == rsflow_core::ErrorCode::ResourceDoesNotExist => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if active.is_empty() {
                vec![]
            } else {
                s.genai.list_scorers(&active).await?
            }
        }
    } else if let Some(id) = experiment_id {
        let e = s.tracking.get_experiment(&id).await?;
        if e.lifecycle_stage != "active" {
            return Err(bad(format!(
                "The experiment {} must be in the 'active' state. Current state is {}.",
                e.experiment_id, e.lifecycle_stage
            )));
        }
        s.genai.list_scorers(&[e.experiment_id]).await?
    } else {
        s.genai.list_scorers(&[]).await?
    };
    json_ok(&scorers_body(&list))
}

async fn versions(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let list = s.genai.list_scorer_versions(&experiment_id, &name).await?;
    json_ok(&scorers_body(&list))
}

async fn get_scorer(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let version = p.opt_i64("version")?;
    let v = s.genai.get_scorer(&experiment_id, &name, version).await?;
    json_ok(&json!({ "scorer": scorer_json(&v) }))
}

async fn delete_scorer(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let version = p.opt_i64("version")?;
    s.genai
        .delete_scorer(&experiment_id, &name, version)
        .await?;
    json_ok(&json!({}))
}

async fn online_configs(State(s): State<AppState>, p: Params) -> Handler {
    if !p.has("scorer_ids") {
        return Err(MlflowError::missing_param("scorer_ids").into());
    }
    let ids = p.str_list("scorer_ids")?;
    let configs = s.genai.online_scoring_configs(&ids).await?;
    json_ok(&json!({ "configs": configs.iter().map(config_json).collect::<Vec<_>>() }))
}

async fn upsert_online_config(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let rate = match p.get("sample_rate") {
        None => return Err(MlflowError::missing_param("sample_rate").into()),
        Some(v @ Value::Bool(_)) => return Err(invalid_type("sample_rate", v)),
        Some(v) => parse_f64(v).ok_or_else(|| {
            bad(format!(
                "sample_rate must be a number, got {}",
                type_name(v)
            ))
        })?,
    };
    if !(0.0..=1.0).contains(&rate) {
        return Err(bad(format!(
            "sample_rate must be between 0.0 and 1.0, got {}",
            repr_float(rate)
        )));
    }
    let filter = match p.get("filter_string") {
        None => None,
        Some(Value::String(f)) => Some(f.clone()),
        Some(other) => {
            return Err(bad(format!(
                "Invalid value {} for parameter 'filter_string' supplied: Value was of type \
                 '{}'. Expected type 'str' or None.",
                json_dumps(other),
                type_name(other)
            )));
        }
    };
    if let Some(f) = filter.as_deref().filter(|f| !f.is_empty()) {
        rsflow_core::search::parse_trace_filter(f)?;
    }
    let config = s
        .genai
        .upsert_online_scoring_config(&experiment_id, &name, rate, filter.as_deref())
        .await?;
    json_ok(&json!({ "config": config_json(&config) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_code_is_refused_unless_allowed() {
        let custom = r#"{"name": "m", "call_source": "return 1", "builtin_scorer_class": null}"#;
        let e = check_payload(custom, false).unwrap_err().0;
        assert_eq!(e.message, CUSTOM_SCORER_REFUSED);
        assert!(check_payload(custom, true).is_ok());
        let nested = r#"{"ensemble_scorer_data": {"scorers": [{"call_source": "x"}]}}"#;
        assert!(check_payload(nested, false).is_err());
        assert_eq!(
            check_payload("{", false).unwrap_err().0.message,
            "serialized_scorer must be valid JSON"
        );
        let steer = r#"{"third_party_scorer_data": {"kwargs": {"x": {"api_base": "h"}}}}"#;
        assert!(
            check_payload(steer, true)
                .unwrap_err()
                .0
                .message
                .contains("'api_base'")
        );
        let builtin =
            r#"{"name": "safety", "call_source": null, "builtin_scorer_class": "Safety"}"#;
        assert!(check_payload(builtin, false).is_ok());
    }
}
