//! Logging handlers: metrics, params, tags, batches, inputs and outputs (spec §2.2, §2.6).

use super::*;

/// A metric from a log-metric request or one item of a log-batch list.
pub(super) fn parse_metric(obj: &Map<String, Value>, path: &str) -> ApiResult<Metric> {
    let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
    let required = |name: &str| -> ApiResult<&Value> {
        match field(name) {
            Some(Value::String(s)) if s.is_empty() => {
                Err(MlflowError::missing_param(&format!("{path}{name}")).into())
            }
            Some(v) => Ok(v),
            None => Err(MlflowError::missing_param(&format!("{path}{name}")).into()),
        }
    };
    let key = match required("key")? {
        Value::String(s) => s.clone(),
        other => return Err(invalid_type(&format!("{path}key"), other)),
    };
    let value_json = required("value")?;
    if value_json.is_boolean() {
        return Err(invalid_type(&format!("{path}value"), value_json));
    }
    let value =
        parse_f64(value_json).ok_or_else(|| invalid_type(&format!("{path}value"), value_json))?;
    let int = |name: &str, v: &Value| -> ApiResult<i64> {
        // The common case without the one-entry map the general rules need (two per metric,
        // a thousand metrics per batch).
        if let Some(n) = v.as_i64() {
            return Ok(n);
        }
        let p = Params(Map::from_iter([(name.to_owned(), v.clone())]));
        p.opt_i64(name)?
            .ok_or_else(|| invalid_type(&format!("{path}{name}"), v))
    };
    let timestamp = int("timestamp", required("timestamp")?)?;
    let step = match field("step") {
        Some(v) => int("step", v)?,
        None => 0,
    };
    let opt_string = |name: &str| -> Option<String> {
        field(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let metric = Metric {
        key,
        value: MetricValue(value),
        timestamp,
        step,
        run_id: opt_string("run_id"),
        dataset_name: opt_string("dataset_name"),
        dataset_digest: opt_string("dataset_digest"),
        model_id: opt_string("model_id"),
    };
    Ok(metric)
}

pub(super) async fn log_metric(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let metric = parse_metric(&p.0, "")?;
    validation::metric(&metric)?;
    s.tracking.log_batch(&id, &[metric], &[], &[]).await?;
    empty()
}

pub(super) async fn log_param(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let param = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    let param = validation::param(param, s.config.mlflow.truncate_long_values)?;
    s.tracking.log_param(&id, &param).await?;
    empty()
}

pub(super) async fn set_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let tag = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    let tag = validation::run_tag(tag, s.config.mlflow.truncate_long_values)?;
    s.tracking.log_batch(&id, &[], &[], &[tag]).await?;
    empty()
}

pub(super) async fn delete_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = run_id(&p)?;
    let key = p.req_str("key")?;
    s.tracking.delete_tag(&id, &key).await?;
    empty()
}

/// Items of a repeated message field as JSON objects.
pub(super) fn objects<'a>(p: &'a Params, name: &str) -> ApiResult<Vec<&'a Map<String, Value>>> {
    match p.get(name) {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_object().ok_or_else(|| invalid_type(name, v)))
            .collect(),
        Some(other) => Err(invalid_type(name, other)),
    }
}

/// `{key, value}` items of a repeated field, with MLflow's required-field messages.
pub(super) fn key_values(p: &Params, name: &str) -> ApiResult<Vec<KeyValue>> {
    objects(p, name)?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let key = match o.get("key") {
                Some(Value::String(k)) if !k.is_empty() => k.clone(),
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    return Err(MlflowError::missing_param(&format!("{name}[{i}].key")).into());
                }
                Some(other) => return Err(invalid_type(&format!("{name}[{i}].key"), other)),
            };
            let value = match o.get("value") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(v)) => v.clone(),
                Some(other) => return Err(invalid_type(&format!("{name}[{i}].value"), other)),
            };
            Ok(KeyValue { key, value })
        })
        .collect()
}

/// `log-batch` in MLflow's order: required fields, then each entry's rules
/// (`_validate_batch_log_data`), then the batch limits, then unique param keys.
pub(super) async fn log_batch(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    let metrics = objects(&p, "metrics")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| parse_metric(o, &format!("metrics[{i}].")))
        .collect::<ApiResult<Vec<_>>>()?;
    let params = key_values(&p, "params")?;
    let tags = key_values(&p, "tags")?;
    validation::run_id(&id)?;
    let truncate = s.config.mlflow.truncate_long_values;
    for (i, m) in metrics.iter().enumerate() {
        validation::metric_in_batch(m, i)?;
    }
    let params = params
        .into_iter()
        .enumerate()
        .map(|(i, kv)| validation::param_in_batch(kv, truncate, i))
        .collect::<Result<Vec<_>>>()?;
    let tags = tags
        .into_iter()
        .enumerate()
        .map(|(i, kv)| validation::run_tag_in_batch(kv, truncate, i))
        .collect::<Result<Vec<_>>>()?;
    validation::batch_limits(metrics.len(), params.len(), tags.len())?;
    validation::unique_param_keys(&params)?;
    s.tracking.log_batch(&id, &metrics, &params, &tags).await?;
    empty()
}

/// Legacy MLflow 2 `log-model`: records the model in the run tag `mlflow.log-model.history`.
pub(super) async fn log_model(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    let model_json = p.req_str("model_json")?;
    let model: Value = serde_json::from_str(&model_json).map_err(|_| {
        MlflowError::invalid_param(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
    })?;
    let Some(obj) = model.as_object() else {
        return Err(MlflowError::invalid_param(format!(
            "Malformed model info. \n {model_json} \n is not a valid JSON."
        ))
        .into());
    };
    let mut missing: Vec<&str> = ["artifact_path", "flavors", "utc_time_created", "run_id"]
        .into_iter()
        .filter(|k| !obj.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        let set = missing
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(MlflowError::invalid_param(format!(
            "Model json is missing mandatory fields: {{{set}}}"
        ))
        .into());
    }
    let run = s.tracking.get_run(&id).await?;
    let history_key = "mlflow.log-model.history";
    let mut history: Vec<Value> = run
        .data
        .tags
        .iter()
        .find(|t| t.key == history_key)
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = KeyValue {
        key: history_key.into(),
        value: Value::Array(history).to_string(),
    };
    s.tracking.log_batch(&id, &[], &[], &[tag]).await?;
    empty()
}

pub(super) fn parse_dataset_input(o: &Map<String, Value>, i: usize) -> ApiResult<DatasetInput> {
    let path = format!("datasets[{i}]");
    let tags = match o.get("tags") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value::<Vec<KeyValue>>(v.clone())
            .map_err(|_| invalid_type(&format!("{path}.tags"), v))?,
    };
    let dataset = match o.get("dataset") {
        Some(v @ Value::Object(_)) => serde_json::from_value(v.clone())
            .map_err(|_| invalid_type(&format!("{path}.dataset"), v))?,
        _ => return Err(MlflowError::missing_param(&format!("{path}.dataset")).into()),
    };
    let input = DatasetInput { tags, dataset };
    validation::dataset_input(&input)?;
    Ok(input)
}

pub(super) async fn log_inputs(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    let datasets = objects(&p, "datasets")?
        .into_iter()
        .enumerate()
        .map(|(i, o)| parse_dataset_input(o, i))
        .collect::<ApiResult<Vec<_>>>()?;
    let models: Vec<ModelInput> = p.list("models")?;
    s.tracking.log_inputs(&id, &datasets, &models).await?;
    empty()
}

pub(super) async fn log_outputs(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("run_id")?;
    if !p.has("models") {
        return Err(MlflowError::missing_param("models").into());
    }
    let models = objects(&p, "models")?
        .into_iter()
        .map(|o| {
            let model_id = o
                .get("model_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if model_id.is_empty() {
                return Err(ApiError(MlflowError::missing_param("model_id")));
            }
            let step = Params(o.clone()).opt_i64("step")?.unwrap_or(0);
            Ok(ModelOutput {
                model_id: model_id.to_owned(),
                step,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    s.tracking.log_outputs(&id, &models).await?;
    empty()
}
