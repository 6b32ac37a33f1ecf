//! Experiment handlers (spec §2.1).

use super::*;

pub(super) async fn create_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let name = p.req_str("name")?;
    let tags: Vec<ExperimentTag> = p.list("tags")?;
    validation::experiment_name(&name)?;
    for t in &tags {
        validation::experiment_tag(t)?;
    }
    let location = match p.opt_str("artifact_location")?.filter(|l| !l.is_empty()) {
        Some(l) => Some(validate_artifact_location(
            &l,
            &s.config.host_policy(),
            s.config.mlflow.artifact_location_max_length,
        )?),
        None => None,
    };
    let id = s
        .tracking
        .create_experiment(&name, location.as_deref(), &tags)
        .await?;
    json_ok(&json!({ "experiment_id": id }))
}

/// The typed core of `experiments/get`, GraphQL's `mlflowGetExperiment` and a run's
/// `experiment` extension (MLflow's `get_experiment_impl`).
pub(crate) async fn get_experiment_core(
    s: &AppState,
    id: &str,
) -> Result<rsflow_core::wire::Experiment> {
    s.tracking.get_experiment(id).await
}

pub(crate) async fn get_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let exp = get_experiment_core(&s, &id).await?;
    json_ok(&json!({ "experiment": exp }))
}

pub(super) async fn get_experiment_by_name(State(s): State<AppState>, p: Params) -> Handler {
    let name = p.req_str("experiment_name")?;
    match s.tracking.get_experiment_by_name(&name).await? {
        Some(exp) => json_ok(&json!({ "experiment": exp })),
        None => Err(MlflowError::not_found(format!(
            "Could not find experiment with name '{name}'"
        ))
        .into()),
    }
}

pub(super) async fn search_experiments(State(s): State<AppState>, p: Params) -> Handler {
    // Types first, as MLflow's request schema checks them before the store sees the range.
    let view_type = view_type(&p, "view_type")?;
    let max_results = p.opt_i64("max_results")?.unwrap_or(0);
    let order_by = p.str_list("order_by")?;
    let filter = p.opt_str("filter")?.unwrap_or_default();
    let page_token = p.opt_str("page_token")?;
    if max_results <= 0 || max_results > MAX_EXPERIMENTS_PER_SEARCH {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        ))
        .into());
    }
    let query = SearchExperiments {
        filter,
        view_type,
        max_results,
        order_by,
        page_token,
    };
    let page = s.tracking.search_experiments(&query).await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "experiments".into(),
            serde_json::to_value(&page.items).unwrap_or_default(),
        );
    }
    if let Some(t) = page.next_page_token {
        body.insert("next_page_token".into(), Value::String(t));
    }
    json_ok(&body)
}

pub(super) async fn delete_experiment(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking
        .delete_experiment(&p.req_str("experiment_id")?)
        .await?;
    empty()
}

pub(super) async fn restore_experiment(State(s): State<AppState>, p: Params) -> Handler {
    s.tracking
        .restore_experiment(&p.req_str("experiment_id")?)
        .await?;
    empty()
}

pub(super) async fn update_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let new_name = p.req_str("new_name")?;
    validation::experiment_name(&new_name)?;
    s.tracking.rename_experiment(&id, &new_name).await?;
    empty()
}

pub(super) async fn set_experiment_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let tag = KeyValue {
        key: p.req_str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    validation::experiment_tag(&tag)?;
    s.tracking.set_experiment_tag(&id, &tag).await?;
    empty()
}

pub(super) async fn delete_experiment_tag(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let key = p.req_str("key")?;
    s.tracking.delete_experiment_tag(&id, &key).await?;
    empty()
}

/// MLflow's `MAX_EXPERIMENT_IDS_PER_REQUEST` of `search_datasets_impl`.
const MAX_EXPERIMENTS_PER_DATASET_SEARCH: usize = 20;

/// `POST /ajax-api/2.0/mlflow/experiments/search-datasets`, the runs table's dataset filter.
/// MLflow checks the content type even of an empty body here.
pub(super) async fn search_datasets_route(
    State(s): State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Handler {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    require_json(content_type)?;
    search_datasets(State(s), p).await
}

async fn search_datasets(State(s): State<AppState>, p: Params) -> Handler {
    let ids = leading_strings(p.get("experiment_ids"));
    json_ok(&Value::Object(search_datasets_core(&s, &ids).await?))
}

/// What `experiments/search-datasets` and the `mlflowSearchDatasets` mutation answer (MLflow's
/// `search_datasets_impl`).
pub(crate) async fn search_datasets_core(
    s: &AppState,
    ids: &[String],
) -> Result<Map<String, Value>> {
    if ids.is_empty() {
        return Err(MlflowError::invalid_param(
            "SearchDatasets request must specify at least one experiment_id.",
        ));
    }
    if ids.len() > MAX_EXPERIMENTS_PER_DATASET_SEARCH {
        return Err(MlflowError::invalid_param(format!(
            "SearchDatasets request cannot specify more than \
             {MAX_EXPERIMENTS_PER_DATASET_SEARCH} experiment_ids. Received {} experiment_ids.",
            ids.len()
        )));
    }
    let summaries = s.tracking.search_dataset_summaries(ids).await?;
    let mut body = Map::new();
    if !summaries.is_empty() {
        body.insert(
            "dataset_summaries".into(),
            serde_json::to_value(&summaries).unwrap_or_default(),
        );
    }
    Ok(body)
}

/// A repeated string field as MLflow's lenient proto parsing leaves it: the strings before the
/// first item of another type (a number, `null`), and nothing unless the value is a list.
fn leading_strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map_while(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_ids_stop_at_the_first_non_string() {
        let ids = |v: Value| leading_strings(Some(&v));
        assert_eq!(ids(json!(["1", "2"])), ["1", "2"]);
        assert_eq!(ids(json!(["1", 2, "3"])), ["1"]);
        assert!(ids(json!([2, "1"])).is_empty());
        assert!(ids(json!("1")).is_empty());
        assert!(ids(json!([null])).is_empty());
        assert!(leading_strings(None).is_empty());
    }
}
