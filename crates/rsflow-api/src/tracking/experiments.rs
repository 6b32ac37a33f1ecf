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
        Some(l) => Some(validate_artifact_location(&l, &s.config.trusted_roots())?),
        None => None,
    };
    let id = s
        .tracking
        .create_experiment(&name, location.as_deref(), &tags)
        .await?;
    json_ok(&json!({ "experiment_id": id }))
}

pub(crate) async fn get_experiment(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("experiment_id")?;
    let exp = s.tracking.get_experiment(&id).await?;
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
    let max_results = p.opt_i64("max_results")?.unwrap_or(0);
    if max_results <= 0 || max_results > MAX_EXPERIMENTS_PER_SEARCH {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        ))
        .into());
    }
    let query = SearchExperiments {
        filter: p.opt_str("filter")?.unwrap_or_default(),
        view_type: view_type(&p, "view_type")?,
        max_results,
        order_by: p.str_list("order_by")?,
        page_token: p.opt_str("page_token")?,
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
