//! `/api/3.0/mlflow/label-schemas/*`, `review-queues/*` and `issues*` (spec §5.3): what the
//! UI's labeling and review pages call, validated as MLflow 3.17.2's handlers and store
//! validate them (`genai/label_schemas/validation.py`, `genai/review_queues/validation.py`).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use rsflow_core::MlflowError;
use rsflow_core::genai::{
    Issue, IssueUpdate, LabelSchema, LabelSchemaUpdate, ReviewQueue, ReviewQueueItem,
    ReviewQueueUpdate,
};
use rsflow_core::pyfmt::{repr_float, repr_list, repr_str};
use serde_json::{Map, Value, json};

use super::bad;
use crate::AppState;
use crate::error::{ApiResult, json_ok};
use crate::extract::{Params, invalid_type};

type Handler = ApiResult<Response>;

const MAX_RESULTS_THRESHOLD: i64 = 50_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mlflow/label-schemas/create", post(create_schema))
        .route("/mlflow/label-schemas/get", get(get_schema))
        .route("/mlflow/label-schemas/get-by-name", get(get_schema_by_name))
        .route("/mlflow/label-schemas/list", get(list_schemas))
        .route("/mlflow/label-schemas/update", patch(update_schema))
        .route("/mlflow/label-schemas/delete", delete(delete_schema))
        .route("/mlflow/review-queues/create", post(create_queue))
        .route("/mlflow/review-queues/get-or-create-user", post(user_queue))
        .route("/mlflow/review-queues/get", get(get_queue))
        .route("/mlflow/review-queues/get-by-name", get(get_queue_by_name))
        .route("/mlflow/review-queues/list", get(list_queues))
        .route("/mlflow/review-queues/update", post(update_queue))
        .route("/mlflow/review-queues/delete", post(delete_queue))
        .route("/mlflow/review-queues/items/add", post(add_items))
        .route("/mlflow/review-queues/items/remove", post(remove_items))
        .route("/mlflow/review-queues/items/list", get(list_items))
        .route(
            "/mlflow/review-queues/items/set-status",
            post(set_item_status),
        )
        .route("/mlflow/issues", post(create_issue))
        .route("/mlflow/issues/search", post(search_issues))
        .route(
            "/mlflow/issues/{issue_id}",
            get(get_issue).patch(update_issue),
        )
}

/// `max_results` in 1..=50000 (`_assert_intlike_within_range`).
fn max_results(p: &Params, default: i64) -> ApiResult<i64> {
    match p.opt_i64("max_results")? {
        None => Ok(default),
        Some(n) if (1..=MAX_RESULTS_THRESHOLD).contains(&n) => Ok(n),
        Some(_) => Err(bad(format!(
            "max_results must be between 1 and {MAX_RESULTS_THRESHOLD}. See the API docs for more \
             information about request parameters."
        ))),
    }
}

/// A proto enum given by name: unknown or lower-case names parse as 0, as protobuf does.
fn enum_param(p: &Params, name: &str, values: &[&str]) -> ApiResult<usize> {
    match p.get(name) {
        None => Ok(0),
        Some(Value::String(s)) => Ok(values.iter().position(|v| v == s).map_or(0, |i| i + 1)),
        Some(Value::Number(n)) => Ok(n
            .as_u64()
            .filter(|n| *n as usize <= values.len())
            .map_or(0, |n| n as usize)),
        Some(other) => Err(invalid_type(name, other)),
    }
}

// --------------------------------------------------------------------------- label schemas

const SCHEMA_TYPES: &[&str] = &["FEEDBACK", "EXPECTATION"];

fn schema_json(s: &LabelSchema) -> Value {
    let mut m = Map::new();
    m.insert("schema_id".into(), json!(s.schema_id));
    m.insert("experiment_id".into(), json!(s.experiment_id));
    m.insert("name".into(), json!(s.name));
    m.insert("type".into(), json!(s.schema_type.to_uppercase()));
    if let Some(i) = &s.instruction {
        m.insert("instruction".into(), json!(i));
    }
    m.insert("enable_comment".into(), json!(s.enable_comment));
    let c = &s.input_config;
    let input = match s.input_type.as_str() {
        "pass_fail" => json!({"pass_fail": {
            "positive_label": c.get("positive_label").cloned().unwrap_or(json!("")),
            "negative_label": c.get("negative_label").cloned().unwrap_or(json!("")),
        }}),
        "categorical" => json!({"categorical": {
            "options": c.get("options").cloned().unwrap_or(json!([])),
            "multi_select": c.get("multi_select").and_then(Value::as_bool).unwrap_or(false),
        }}),
        "numeric" => {
            let mut n = Map::new();
            for k in ["min_value", "max_value"] {
                if let Some(v) = c.get(k).filter(|v| !v.is_null()) {
                    n.insert(k.into(), json!(v.as_f64()));
                }
            }
            json!({ "numeric": n })
        }
        _ => {
            let mut t = Map::new();
            if let Some(v) = c.get("max_length").filter(|v| !v.is_null()) {
                t.insert("max_length".into(), v.clone());
            }
            json!({ "text": t })
        }
    };
    m.insert("input".into(), input);
    if let Some(u) = &s.created_by {
        m.insert("created_by".into(), json!(u));
    }
    m.insert("created_at".into(), json!(s.created_time));
    m.insert("last_updated_at".into(), json!(s.last_update_time));
    m.insert("is_default".into(), json!(s.is_default));
    Value::Object(m)
}

fn non_empty_label(field: &str, v: &Value) -> ApiResult<String> {
    let s = v.as_str().unwrap_or("");
    if s.is_empty() {
        return Err(bad(format!(
            "`InputPassFail.{field}` must be a non-empty string; got {}.",
            repr_str(s)
        )));
    }
    if s.chars().count() > 64 {
        return Err(bad(format!(
            "`InputPassFail.{field}` must be at most 64 characters; got {}.",
            s.chars().count()
        )));
    }
    Ok(s.to_string())
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `_input_from_proto` then `_validate_input`: (input_type, config).
fn parse_input(v: Option<&Value>) -> ApiResult<(String, Map<String, Value>)> {
    let empty = || {
        bad(
            "Label schema `input` must have exactly one of `pass_fail`, `categorical`, \
             `numeric`, or `text` set; got an empty oneof.",
        )
    };
    let Some(Value::Object(o)) = v else {
        return match v {
            None | Some(Value::Null) => Err(empty()),
            Some(other) => Err(invalid_type("input", other)),
        };
    };
    let variant = ["pass_fail", "categorical", "numeric", "text"]
        .into_iter()
        .rev()
        .find(|k| o.get(*k).is_some_and(|x| !x.is_null()))
        .ok_or_else(empty)?;
    let body = o.get(variant).cloned().unwrap_or(json!({}));
    let Value::Object(b) = body else {
        return Err(invalid_type(variant, &body));
    };
    let mut cfg = Map::new();
    match variant {
        "pass_fail" => {
            let pos = non_empty_label(
                "positive_label",
                b.get("positive_label").unwrap_or(&json!("")),
            )?;
            let neg = non_empty_label(
                "negative_label",
                b.get("negative_label").unwrap_or(&json!("")),
            )?;
            if pos == neg {
                return Err(bad(format!(
                    "`InputPassFail.positive_label` and `negative_label` must be distinct; got {} \
                     for both.",
                    repr_str(&pos)
                )));
            }
            cfg.insert("positive_label".into(), json!(pos));
            cfg.insert("negative_label".into(), json!(neg));
        }
        "categorical" => {
            let options: Vec<String> = match b.get("options") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| invalid_type("options", x))
                    })
                    .collect::<ApiResult<_>>()?,
                Some(other) => return Err(invalid_type("options", other)),
            };
            if options.is_empty() {
                return Err(bad(
                    "`InputCategorical.options` must be a non-empty list; got [].",
                ));
            }
            if options.len() > 10 {
                return Err(bad(format!(
                    "`InputCategorical.options` must have at most 10 entries; got {}.",
                    options.len()
                )));
            }
            let mut seen = std::collections::HashSet::new();
            for o in &options {
                if o.is_empty() {
                    return Err(bad(
                        "`InputCategorical.options` entries must be non-empty strings; got ''.",
                    ));
                }
                if o.chars().count() > 64 {
                    return Err(bad(format!(
                        "`InputCategorical.options` entries must be at most 64 characters; got {} \
                         for {}.",
                        o.chars().count(),
                        repr_str(o)
                    )));
                }
                if !seen.insert(o.clone()) {
                    return Err(bad(format!(
                        "`InputCategorical.options` must be deduplicated; {} appears twice.",
                        repr_str(o)
                    )));
                }
            }
            let multi = match b.get("multi_select") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(x)) => *x,
                Some(other) => return Err(invalid_type("multi_select", other)),
            };
            cfg.insert("options".into(), json!(options));
            cfg.insert("multi_select".into(), json!(multi));
        }
        "numeric" => {
            let mut bounds = [None, None];
            for (i, k) in ["min_value", "max_value"].iter().enumerate() {
                match b.get(*k) {
                    None | Some(Value::Null) => {}
                    Some(x) => bounds[i] = Some(num(x).ok_or_else(|| invalid_type(k, x))?),
                }
            }
            if let [Some(lo), Some(hi)] = bounds
                && lo >= hi
            {
                return Err(bad(format!(
                    "`InputNumeric.min_value` must be strictly less than `max_value`; got min={}, \
                     max={}.",
                    repr_float(lo),
                    repr_float(hi)
                )));
            }
            cfg.insert("min_value".into(), json!(bounds[0]));
            cfg.insert("max_value".into(), json!(bounds[1]));
        }
        _ => {
            let max = match b.get("max_length") {
                None | Some(Value::Null) => None,
                Some(x) => Some(
                    x.as_i64()
                        .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| invalid_type("max_length", x))?,
                ),
            };
            if let Some(m) = max
                && m < 1
            {
                return Err(bad(format!(
                    "`InputText.max_length` must be at least 1; got {m}."
                )));
            }
            cfg.insert("max_length".into(), json!(max));
        }
    }
    Ok((variant.to_string(), cfg))
}

fn check_schema_name(name: &str) -> ApiResult<()> {
    let n = name.chars().count();
    if n > 250 {
        return Err(bad(format!(
            "Label schema `name` must be at most 250 characters; got {n}."
        )));
    }
    if name.trim().to_lowercase() == "feedback" {
        return Err(bad(format!(
            "`{name}` is reserved for the experiment's default question and cannot be used for \
             another label schema."
        )));
    }
    Ok(())
}

fn check_instruction(i: &Option<String>) -> ApiResult<()> {
    if let Some(i) = i
        && i.chars().count() > 1000
    {
        return Err(bad(format!(
            "Label schema `instruction` must be at most 1000 characters; got {}.",
            i.chars().count()
        )));
    }
    Ok(())
}

async fn create_schema(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let ty = enum_param(&p, "type", SCHEMA_TYPES)?;
    if ty == 0 {
        return Err(bad(
            "Label schema `type` must be one of FEEDBACK or EXPECTATION; got proto enum value 0.",
        ));
    }
    let (input_type, input_config) = parse_input(p.get("input"))?;
    let instruction = p.opt_str("instruction")?;
    let enable_comment = p.opt_bool("enable_comment")?.unwrap_or(false);
    check_schema_name(&name)?;
    check_instruction(&instruction)?;
    let schema = LabelSchema {
        experiment_id,
        name,
        schema_type: SCHEMA_TYPES[ty - 1].to_lowercase(),
        instruction,
        enable_comment,
        input_type,
        input_config,
        ..Default::default()
    };
    let created = s.genai.create_label_schema(&schema).await?;
    json_ok(&json!({ "label_schema": schema_json(&created) }))
}

async fn get_schema(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("schema_id")?;
    json_ok(&json!({ "label_schema": schema_json(&s.genai.get_label_schema(&id).await?) }))
}

async fn get_schema_by_name(State(s): State<AppState>, p: Params) -> Handler {
    let exp = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let schema = s.genai.get_label_schema_by_name(&exp, &name).await?;
    json_ok(&json!({ "label_schema": schema_json(&schema) }))
}

async fn list_schemas(State(s): State<AppState>, p: Params) -> Handler {
    let exp = p.req_str("experiment_id")?;
    let max = max_results(&p, 100)?;
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let page = s
        .genai
        .list_label_schemas(&exp, max, token.as_deref())
        .await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "label_schemas".into(),
            Value::Array(page.items.iter().map(schema_json).collect()),
        );
    }
    body.insert(
        "next_page_token".into(),
        json!(page.next_page_token.unwrap_or_default()),
    );
    json_ok(&Value::Object(body))
}

async fn update_schema(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("schema_id")?;
    let update = LabelSchemaUpdate {
        name: p.opt_str("name")?,
        instruction: p.opt_str("instruction")?,
        enable_comment: p.opt_bool("enable_comment")?,
        input: match p.get("input") {
            None => None,
            some => Some(parse_input(some)?),
        },
    };
    if let Some(n) = &update.name {
        if n.is_empty() {
            return Err(bad(
                "Label schema `name` must be a non-empty string; got ''.",
            ));
        }
        check_schema_name(n)?;
    }
    check_instruction(&update.instruction)?;
    let updated = s.genai.update_label_schema(&id, &update).await?;
    json_ok(&json!({ "label_schema": schema_json(&updated) }))
}

async fn delete_schema(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("schema_id")?;
    s.genai.delete_label_schema(&id).await?;
    json_ok(&json!({}))
}

// --------------------------------------------------------------------------- review queues

const QUEUE_TYPES: &[&str] = &["USER", "CUSTOM"];
const STATUSES: &[&str] = &["PENDING", "COMPLETE", "DECLINED"];

fn queue_json(q: &ReviewQueue) -> Value {
    let mut m = Map::new();
    m.insert("queue_id".into(), json!(q.queue_id));
    m.insert("experiment_id".into(), json!(q.experiment_id));
    m.insert("name".into(), json!(q.name));
    m.insert("queue_type".into(), json!(q.queue_type.to_uppercase()));
    if let Some(c) = &q.created_by {
        m.insert("created_by".into(), json!(c));
    }
    m.insert("creation_time_ms".into(), json!(q.creation_time_ms));
    m.insert("last_update_time_ms".into(), json!(q.last_update_time_ms));
    if !q.users.is_empty() {
        m.insert("users".into(), json!(q.users));
    }
    if !q.schema_ids.is_empty() {
        m.insert("schema_ids".into(), json!(q.schema_ids));
    }
    Value::Object(m)
}

fn item_json(i: &ReviewQueueItem) -> Value {
    let mut m = Map::new();
    m.insert("queue_id".into(), json!(i.queue_id));
    m.insert("item_type".into(), json!(i.item_type.to_uppercase()));
    m.insert("item_id".into(), json!(i.item_id));
    m.insert("status".into(), json!(i.status.to_uppercase()));
    if let Some(c) = &i.completed_by {
        m.insert("completed_by".into(), json!(c));
    }
    if let Some(t) = i.completed_time_ms {
        m.insert("completed_time_ms".into(), json!(t));
    }
    m.insert("creation_time_ms".into(), json!(i.creation_time_ms));
    m.insert("last_update_time_ms".into(), json!(i.last_update_time_ms));
    Value::Object(m)
}

fn non_empty(field: &str, v: &str, max: usize) -> ApiResult<()> {
    if v.is_empty() {
        return Err(bad(format!(
            "`{field}` must be a non-empty string; got {}.",
            repr_str(v)
        )));
    }
    if v.chars().count() > max {
        return Err(bad(format!(
            "`{field}` must be at most {max} characters; got {}.",
            v.chars().count()
        )));
    }
    Ok(())
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// `normalize_users`.
fn users(list: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for u in list {
        let n = u.trim().to_lowercase();
        non_empty("user", &n, 250)?;
        out.push(n);
    }
    let out = dedup(out);
    if out.len() > 10 {
        return Err(bad(format!(
            "A review queue can have at most 10 assigned users; got {}.",
            out.len()
        )));
    }
    Ok(out)
}

/// `normalize_schema_ids`.
fn schema_ids(list: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for s in list {
        let n = s.trim().to_string();
        non_empty("schema_id", &n, 36)?;
        out.push(n);
    }
    Ok(dedup(out))
}

/// `validate_custom_queue_name`.
fn custom_name(name: &str) -> ApiResult<String> {
    let n = name.trim().to_string();
    non_empty("name", &n, 250)?;
    if n.to_lowercase() == "default" {
        return Err(bad(format!(
            "`{n}` is a reserved queue name and cannot be used for a custom queue."
        )));
    }
    Ok(n)
}

/// `validate_item_ids_for_attach`.
fn item_ids(p: &Params) -> ApiResult<Vec<String>> {
    let raw = p.str_list("item_ids")?;
    if raw.is_empty() {
        return Err(bad(
            "`item_ids` must be a non-empty list; got [].".to_string()
        ));
    }
    let mut out = Vec::new();
    for i in raw {
        let n = i.trim().to_string();
        non_empty("item_id", &n, 50)?;
        out.push(n);
    }
    Ok(dedup(out))
}

async fn create_queue(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let ty = enum_param(&p, "queue_type", QUEUE_TYPES)?;
    if ty == 0 {
        return Err(bad(
            "`queue_type` must be one of USER or CUSTOM; got proto enum value 0.",
        ));
    }
    let mut assigned = users(p.str_list("users")?)?;
    let schemas = schema_ids(p.str_list("schema_ids")?)?;
    let name = if ty == 1 {
        let n = name.trim().to_lowercase();
        non_empty("name", &n, 250)?;
        if assigned.is_empty() {
            assigned = vec![n.clone()];
        } else if assigned != [n.clone()] {
            return Err(bad(format!(
                "A user queue must have exactly one assigned user equal to its name; got name={} \
                 and users={}.",
                repr_str(&n),
                repr_list(&assigned)
            )));
        }
        if !schemas.is_empty() {
            return Err(bad(
                "A user queue cannot have explicitly-attached schemas; it resolves to all of the \
                 experiment's label schemas.",
            ));
        }
        n
    } else {
        custom_name(&name)?
    };
    let queue = ReviewQueue {
        experiment_id,
        name,
        queue_type: QUEUE_TYPES[ty - 1].to_lowercase(),
        // MLflow stamps the owner from the authenticated user only: unset without auth.
        created_by: None,
        users: assigned,
        schema_ids: schemas,
        ..Default::default()
    };
    let created = s.genai.create_review_queue(&queue).await?;
    json_ok(&json!({ "review_queue": queue_json(&created) }))
}

async fn user_queue(State(s): State<AppState>, p: Params) -> Handler {
    let experiment_id = p.req_str("experiment_id")?;
    let user = p.req_str("user")?;
    let name = user.trim().to_lowercase();
    non_empty("name", &name, 250)?;
    let queue = ReviewQueue {
        experiment_id: experiment_id.clone(),
        name: name.clone(),
        queue_type: "user".into(),
        created_by: Some(name.clone()),
        users: vec![name.clone()],
        ..Default::default()
    };
    let q = match s.genai.create_review_queue(&queue).await {
        Ok(q) => q,
        Err(e) if e.code == rsflow_core::ErrorCode::ResourceAlreadyExists => {
            let existing = s
                .genai
                .get_review_queue_by_name(&experiment_id, &name)
                .await?;
            if existing.queue_type != "user" {
                return Err(MlflowError::already_exists(format!(
                    "A non-user queue named '{name}' already exists; cannot get-or-create a user \
                     queue with that name."
                ))
                .into());
            }
            existing
        }
        Err(e) => return Err(e.into()),
    };
    json_ok(&json!({ "review_queue": queue_json(&q) }))
}

async fn get_queue(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    json_ok(&json!({ "review_queue": queue_json(&s.genai.get_review_queue(&id).await?) }))
}

async fn get_queue_by_name(State(s): State<AppState>, p: Params) -> Handler {
    let exp = p.req_str("experiment_id")?;
    let name = p.req_str("name")?;
    let q = s.genai.get_review_queue_by_name(&exp, &name).await?;
    json_ok(&json!({ "review_queue": queue_json(&q) }))
}

async fn list_queues(State(s): State<AppState>, p: Params) -> Handler {
    let exp = p.req_str("experiment_id")?;
    let max = max_results(&p, 1000)?;
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let user = p.opt_str("user")?;
    let item = p.opt_str("item_id")?;
    let page = s
        .genai
        .list_review_queues(
            &exp,
            user.as_deref(),
            item.as_deref(),
            max,
            token.as_deref(),
        )
        .await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "review_queues".into(),
            Value::Array(page.items.iter().map(queue_json).collect()),
        );
    }
    body.insert(
        "next_page_token".into(),
        json!(page.next_page_token.unwrap_or_default()),
    );
    json_ok(&Value::Object(body))
}

async fn update_queue(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    let update = ReviewQueueUpdate {
        name: match p.opt_str("name")? {
            Some(n) => Some(custom_name(&n)?),
            None => None,
        },
        users: if p.opt_bool("update_users")?.unwrap_or(false) {
            Some(users(p.str_list("users")?)?)
        } else {
            None
        },
        schema_ids: if p.opt_bool("update_schema_ids")?.unwrap_or(false) {
            Some(schema_ids(p.str_list("schema_ids")?)?)
        } else {
            None
        },
        new_owner: match p.opt_str("new_owner")? {
            Some(o) => {
                let o = o.trim().to_string();
                non_empty("new_owner", &o, 250)?;
                Some(o)
            }
            None => None,
        },
    };
    let q = s.genai.update_review_queue(&id, &update).await?;
    json_ok(&json!({ "review_queue": queue_json(&q) }))
}

async fn delete_queue(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    s.genai.delete_review_queue(&id).await?;
    json_ok(&json!({}))
}

async fn add_items(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    let ids = item_ids(&p)?;
    // `item_type` has one value (TRACE); UNSPECIFIED falls back to it, as in MLflow.
    enum_param(&p, "item_type", &["TRACE"])?;
    let items = s.genai.add_review_queue_items(&id, &ids).await?;
    if items.is_empty() {
        return json_ok(&json!({}));
    }
    json_ok(&json!({ "items": items.iter().map(item_json).collect::<Vec<_>>() }))
}

async fn remove_items(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    let ids = item_ids(&p)?;
    s.genai.remove_review_queue_items(&id, &ids).await?;
    json_ok(&json!({}))
}

async fn list_items(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    let max = max_results(&p, 1000)?;
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let status = match enum_param(&p, "status", STATUSES)? {
        0 => None,
        i => Some(STATUSES[i - 1].to_lowercase()),
    };
    let page = s
        .genai
        .list_review_queue_items(&id, status.as_deref(), max, token.as_deref())
        .await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "items".into(),
            Value::Array(page.items.iter().map(item_json).collect()),
        );
    }
    body.insert(
        "next_page_token".into(),
        json!(page.next_page_token.unwrap_or_default()),
    );
    json_ok(&Value::Object(body))
}

async fn set_item_status(State(s): State<AppState>, p: Params) -> Handler {
    let id = p.req_str("queue_id")?;
    let item = p.req_str("item_id")?.trim().to_string();
    let st = enum_param(&p, "status", STATUSES)?;
    if st == 0 {
        return Err(bad(
            "`status` must be one of PENDING, COMPLETE, or DECLINED; got proto enum value 0.",
        ));
    }
    let status = STATUSES[st - 1].to_lowercase();
    let completed_by = p.opt_str("completed_by")?.map(|c| c.trim().to_lowercase());
    if status == "pending" {
        if completed_by.is_some() {
            return Err(bad(
                "`completed_by` must not be set when reopening an item to `pending`.",
            ));
        }
    } else if completed_by.as_deref().is_none_or(str::is_empty) {
        return Err(bad(format!(
            "`completed_by` is required when setting status to `{status}`."
        )));
    }
    if let Some(c) = &completed_by
        && c.chars().count() > 250
    {
        return Err(bad(format!(
            "`completed_by` must be at most 250 characters; got {}.",
            c.chars().count()
        )));
    }
    let it = s
        .genai
        .set_review_queue_item_status(&id, &item, &status, completed_by.as_deref())
        .await?;
    json_ok(&json!({ "item": item_json(&it) }))
}

// --------------------------------------------------------------------------- issues

const ISSUE_STATUSES: &[&str] = &["pending", "rejected", "resolved"];
const SEVERITIES: &[&str] = &["not_an_issue", "low", "medium", "high"];

fn issue_json(i: &Issue) -> Value {
    let mut m = Map::new();
    m.insert("issue_id".into(), json!(i.issue_id));
    m.insert("experiment_id".into(), json!(i.experiment_id));
    m.insert("name".into(), json!(i.name));
    m.insert("description".into(), json!(i.description));
    m.insert("status".into(), json!(i.status));
    if let Some(s) = i.severity.as_ref().filter(|s| !s.is_empty()) {
        m.insert("severity".into(), json!(s));
    }
    if !i.root_causes.is_empty() {
        m.insert("root_causes".into(), json!(i.root_causes));
    }
    if let Some(r) = i.source_run_id.as_ref().filter(|s| !s.is_empty()) {
        m.insert("source_run_id".into(), json!(r));
    }
    m.insert("created_timestamp".into(), json!(i.created_timestamp));
    m.insert(
        "last_updated_timestamp".into(),
        json!(i.last_updated_timestamp),
    );
    if let Some(c) = i.created_by.as_ref().filter(|s| !s.is_empty()) {
        m.insert("created_by".into(), json!(c));
    }
    if !i.categories.is_empty() {
        m.insert("categories".into(), json!(i.categories));
    }
    if let Some(n) = i.trace_count {
        m.insert("trace_count".into(), json!(n));
    }
    Value::Object(m)
}

/// `IssueStatus(value)` / `IssueSeverity(value)`: MLflow fails with a 500 on an unknown
/// value; rsflow answers 400.
fn one_of(p: &Params, name: &str, values: &[&str], what: &str) -> ApiResult<Option<String>> {
    match p.opt_str(name)? {
        None => Ok(None),
        Some(v) if values.contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => Err(bad(format!("{} is not a valid {what}", repr_str(&v)))),
    }
}

async fn create_issue(State(s): State<AppState>, p: Params) -> Handler {
    let issue = Issue {
        name: p.req_str("name")?,
        description: p.req_str("description")?,
        experiment_id: p.req_str("experiment_id")?,
        status: one_of(&p, "status", ISSUE_STATUSES, "IssueStatus")?
            .unwrap_or_else(|| "pending".into()),
        severity: one_of(&p, "severity", SEVERITIES, "IssueSeverity")?,
        root_causes: p.str_list("root_causes")?,
        source_run_id: p.opt_str("source_run_id")?.filter(|r| !r.is_empty()),
        created_by: p.opt_str("created_by")?.filter(|r| !r.is_empty()),
        categories: p.str_list("categories")?,
        ..Default::default()
    };
    let created = s.genai.create_issue(&issue).await?;
    json_ok(&json!({ "issue": issue_json(&created) }))
}

async fn get_issue(State(s): State<AppState>, Path(id): Path<String>) -> Handler {
    json_ok(&json!({ "issue": issue_json(&s.genai.get_issue(&id).await?) }))
}

async fn update_issue(State(s): State<AppState>, Path(id): Path<String>, p: Params) -> Handler {
    if !p.has("issue_id") {
        return Err(MlflowError::missing_param("issue_id").into());
    }
    let update = IssueUpdate {
        status: one_of(&p, "status", ISSUE_STATUSES, "IssueStatus")?,
        severity: one_of(&p, "severity", SEVERITIES, "IssueSeverity")?,
        name: p.opt_str("name")?.filter(|n| !n.is_empty()),
        description: p.opt_str("description")?.filter(|n| !n.is_empty()),
        ..Default::default()
    };
    let updated = s.genai.update_issue(&id, &update).await?;
    json_ok(&json!({ "issue": issue_json(&updated) }))
}

/// `SearchIssuesUtils`: `status` / `source_run_id` with `=` or `!=`, AND-ed.
fn issue_filters(filter: &str) -> ApiResult<Vec<(String, bool, String)>> {
    let clauses = rsflow_core::search::parse_issue_filter(filter)?;
    Ok(clauses)
}

async fn search_issues(State(s): State<AppState>, p: Params) -> Handler {
    let exp = p.opt_str("experiment_id")?.filter(|e| !e.is_empty());
    let filters = match p.opt_str("filter_string")? {
        Some(f) if !f.is_empty() => issue_filters(&f)?,
        _ => vec![],
    };
    let max = match p.opt_i64("max_results")? {
        None => 100,
        Some(n) if (1..=MAX_RESULTS_THRESHOLD).contains(&n) => n,
        Some(n) => {
            return Err(bad(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be {}",
                if n < 1 {
                    "a positive integer".to_string()
                } else {
                    format!("at most {MAX_RESULTS_THRESHOLD}")
                }
            )));
        }
    };
    let token = p.opt_str("page_token")?.filter(|t| !t.is_empty());
    let with_count = p.opt_bool("include_trace_count")?.unwrap_or(false);
    let page = s
        .genai
        .search_issues(exp.as_deref(), &filters, max, token.as_deref(), with_count)
        .await?;
    let mut body = Map::new();
    if !page.items.is_empty() {
        body.insert(
            "issues".into(),
            Value::Array(page.items.iter().map(issue_json).collect()),
        );
    }
    body.insert(
        "next_page_token".into(),
        json!(page.next_page_token.unwrap_or_default()),
    );
    json_ok(&Value::Object(body))
}
