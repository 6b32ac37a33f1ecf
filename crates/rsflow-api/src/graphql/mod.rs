//! `GET|POST /graphql`: the part of MLflow's GraphQL schema that the web UI queries (spec
//! mlflow-tracking §2.5): `mlflowGetRun` (run page), `mlflowGetExperiment` (experiment page),
//! `mlflowGetMetricHistoryBulkInterval`, `mlflowSearchRuns`, `mlflowListArtifacts`,
//! `mlflowSearchModelVersions` and the mutation `mlflowSearchDatasets`.
//!
//! Each root field runs the typed core of the same RPC, as MLflow's resolvers call the `*_impl`
//! function behind the REST handler: the input object is read as MLflow's `parse_dict` fills
//! the request proto (absent fields take the proto defaults) and no REST request schema runs,
//! so the store's checks, errors and data are the reference's. The typed answer is then
//! projected onto the selection set with [`schema`]'s types: int64 fields become strings
//! (MLflow's `LongString`), missing proto fields their defaults, `__typename` MLflow's type
//! names. A failing root field is `null` with its message in `errors`, as graphene answers.
//!
//! - `parse`: the query language.
//! - `schema`: the object types and fields MLflow declares for these queries.

mod parse;
mod schema;

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use rsflow_core::MlflowError;
use rsflow_core::wire::ViewType;
use serde_json::{Map, Value as Json, json};

use crate::AppState;
use crate::error::json_body;
use crate::extract::Params;
use parse::{Directive, Document, Field, Fragment, OperationKind, Selection};
use schema::Ty;

/// MLflow's `graphql_no_batching` limits: nesting depth and selected fields in all.
const MAX_DEPTH: usize = 10;
const MAX_SELECTIONS: usize = 1000;
/// Defaults of `MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS` and `MLFLOW_SERVER_GRAPHQL_MAX_ALIASES`.
pub(crate) const MAX_ROOT_FIELDS: usize = 10;
pub(crate) const MAX_ALIASES: usize = 10;

/// The request: `{query, variables, operationName}` as a JSON body, or query parameters
/// (`variables` then a JSON string).
pub async fn handler(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    Params(p): Params,
) -> Response {
    let caller = caller.map(|axum::Extension(c)| c);
    let (data, errors) = match execute(&state, caller.as_ref(), &p).await {
        Ok((data, errors)) => (data, errors),
        Err(message) => (Json::Null, vec![message]),
    };
    let errors = if errors.is_empty() {
        Json::Null
    } else {
        json!(errors)
    };
    json_body(&json!({ "data": data, "errors": errors }))
}

async fn execute(
    state: &AppState,
    caller: Option<&crate::auth::Caller>,
    p: &Map<String, Json>,
) -> Result<(Json, Vec<String>), String> {
    let query = match p.get("query") {
        Some(Json::String(q)) => q,
        _ => return Err("Must provide query string.".into()),
    };
    let variables = match p.get("variables") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(Json::String(s)) if s.is_empty() => Map::new(),
        Some(Json::String(s)) => match serde_json::from_str(s) {
            Ok(Json::Object(m)) => m,
            _ => return Err("Variables are invalid JSON.".into()),
        },
        Some(_) => return Err("Variables must be an object.".into()),
    };
    let operation_name = p.get("operationName").and_then(Json::as_str);
    let doc = parse::parse(query)?;
    let op = select_operation(&doc, operation_name)?;
    let mut vars = variables;
    for (name, default) in &op.variables {
        if !vars.contains_key(name)
            && let Some(d) = default
        {
            vars.insert(name.clone(), d.resolve(&Map::new()));
        }
    }
    let root_type = match op.kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => {
            return Err("Schema is not configured to execute subscription operation.".into());
        }
    };
    let ctx = Ctx {
        fragments: &doc.fragments,
        vars: &vars,
    };
    let limits = (
        state.config.mlflow.graphql_max_root_fields,
        state.config.mlflow.graphql_max_aliases,
    );
    check_limits(&ctx, &op.selection, limits)?;
    // Validation first, as GraphQL does: an unknown field fails the whole request.
    ctx.validate(root_type, &op.selection)?;

    let mut data = Map::new();
    let mut errors = Vec::new();
    for field in ctx.collect(root_type, &op.selection) {
        let value = if field.name == "__typename" {
            Json::from(root_type)
        } else {
            let ty = schema::field(root_type, &field.name).expect("validated");
            let input = field
                .args
                .iter()
                .find(|(n, _)| n == "input" || n == "inputString")
                .map(|(_, v)| v.resolve(&vars))
                .unwrap_or(Json::Null);
            // Basic auth: a field the caller may not read resolves to null (MLflow's
            // Graphene middleware).
            if !crate::auth::graphql_field_allowed(
                state,
                caller,
                &field.name,
                &rest_params(&input).0,
            )
            .await
            {
                data.insert(field.key().to_owned(), Json::Null);
                continue;
            }
            match resolve_root(state, &ctx, field, &input).await {
                Ok(raw) => ctx.project(&raw, ty, &field.selection, &mut errors),
                // graphene reports an exception by its message alone.
                Err(e) => {
                    errors.push(e.message);
                    Json::Null
                }
            }
        };
        data.insert(field.key().to_owned(), value);
    }
    Ok((Json::Object(data), errors))
}

/// Everything a request goes through before any store is touched: parsing, choosing the
/// operation, MLflow's limits and validation against the schema. The fuzz target drives it.
pub fn check_query(query: &str, operation_name: Option<&str>) -> Result<(), String> {
    let doc = parse::parse(query)?;
    let op = select_operation(&doc, operation_name)?;
    let root_type = match op.kind {
        OperationKind::Query => "Query",
        OperationKind::Mutation => "Mutation",
        OperationKind::Subscription => {
            return Err("Schema is not configured to execute subscription operation.".into());
        }
    };
    let vars = Map::new();
    let ctx = Ctx {
        fragments: &doc.fragments,
        vars: &vars,
    };
    check_limits(&ctx, &op.selection, (MAX_ROOT_FIELDS, MAX_ALIASES))?;
    ctx.validate(root_type, &op.selection)?;
    // What the executor then walks: the merged fields of the root.
    let _ = ctx.collect(root_type, &op.selection);
    Ok(())
}

fn select_operation<'d>(
    doc: &'d Document,
    name: Option<&str>,
) -> Result<&'d parse::Operation, String> {
    match name {
        Some(n) => doc
            .operations
            .iter()
            .find(|o| o.name.as_deref() == Some(n))
            .ok_or_else(|| format!("Unknown operation named '{n}'.")),
        None => match doc.operations.as_slice() {
            [op] => Ok(op),
            [] => Err("Must provide an operation.".into()),
            _ => Err("Must provide operation name if query contains multiple operations.".into()),
        },
    }
}

/// Depth, total selections, root fields and aliases per level, counted as MLflow does
/// (fragments merged into the level that spreads them).
/// `max_roots` and `max_aliases` are `MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS` and
/// `MLFLOW_SERVER_GRAPHQL_MAX_ALIASES`.
fn check_limits(
    ctx: &Ctx<'_>,
    selection: &[Selection],
    (max_roots, max_aliases): (usize, usize),
) -> Result<(), String> {
    let mut total = 0;
    let mut most_aliases = 0;
    let mut stack = vec![(selection, 1usize)];
    let roots = ctx.all_fields(selection).len();
    while let Some((sel, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("Query exceeds maximum depth of {MAX_DEPTH}"));
        }
        let fields = ctx.all_fields(sel);
        most_aliases = most_aliases.max(fields.iter().filter(|f| f.alias.is_some()).count());
        for f in fields {
            total += 1;
            if total > MAX_SELECTIONS {
                return Err(format!(
                    "Query exceeds maximum total selections of {MAX_SELECTIONS}"
                ));
            }
            if !f.selection.is_empty() {
                stack.push((&f.selection, depth + 1));
            }
        }
    }
    let over = |what: &str, var: &str, max: usize, got: usize| {
        format!(
            "GraphQL queries should have at most {max} {what}, got {got} {what}. To increase the \
             limit, set the {var} environment variable."
        )
    };
    if roots > max_roots {
        return Err(over(
            "root fields",
            "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS",
            max_roots,
            roots,
        ));
    }
    if most_aliases > max_aliases {
        return Err(over(
            "aliases",
            "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES",
            max_aliases,
            most_aliases,
        ));
    }
    Ok(())
}

struct Ctx<'d> {
    fragments: &'d HashMap<String, Fragment>,
    vars: &'d Map<String, Json>,
}

impl<'d> Ctx<'d> {
    /// Every field of a selection set, fragments included, ignoring type conditions and
    /// directives (for the limits).
    fn all_fields(&self, selection: &'d [Selection]) -> Vec<&'d Field> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.walk(selection, &mut |_, _| true, &mut seen, &mut out);
        out
    }

    /// The fields to answer for an object of type `ty`: fragments whose type condition
    /// matches are merged in, `@skip`/`@include` applied.
    fn collect(&self, ty: &str, selection: &'d [Selection]) -> Vec<&'d Field> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut applies = |cond: Option<&str>, directives: &[Directive]| {
            cond.is_none_or(|c| schema::is_a(ty, c)) && self.included(directives)
        };
        self.walk(selection, &mut applies, &mut seen, &mut out);
        // Fields with one response key are merged, first one wins (the UI never repeats one
        // with different sub-selections).
        let mut keys = HashSet::new();
        out.retain(|f| keys.insert(f.key()));
        out
    }

    fn walk(
        &self,
        selection: &'d [Selection],
        applies: &mut dyn FnMut(Option<&str>, &[Directive]) -> bool,
        seen: &mut HashSet<&'d str>,
        out: &mut Vec<&'d Field>,
    ) {
        for s in selection {
            match s {
                Selection::Field(f) => {
                    if applies(None, &f.directives) {
                        out.push(f);
                    }
                }
                Selection::Inline {
                    type_condition,
                    directives,
                    selection,
                } => {
                    if applies(type_condition.as_deref(), directives) {
                        self.walk(selection, applies, seen, out);
                    }
                }
                Selection::Spread { name, directives } => {
                    if let Some(frag) = self.fragments.get(name)
                        && seen.insert(name.as_str())
                        && applies(Some(&frag.type_condition), directives)
                    {
                        self.walk(&frag.selection, applies, seen, out);
                    }
                }
            }
        }
    }

    fn included(&self, directives: &[Directive]) -> bool {
        directives.iter().all(|d| {
            let flag = d
                .args
                .iter()
                .find(|(n, _)| n == "if")
                .map(|(_, v)| v.resolve(self.vars))
                .and_then(|v| v.as_bool());
            match d.name.as_str() {
                "skip" => flag != Some(true),
                "include" => flag != Some(false),
                _ => true,
            }
        })
    }

    fn validate(&self, ty: &str, selection: &'d [Selection]) -> Result<(), String> {
        if let Some(Selection::Spread { name, .. }) = selection.iter().find(
            |s| matches!(s, Selection::Spread { name, .. } if !self.fragments.contains_key(name)),
        ) {
            return Err(format!("Unknown fragment '{name}'."));
        }
        for f in self.collect(ty, selection) {
            if f.name == "__typename" {
                continue;
            }
            let Some(field_ty) = schema::field(ty, &f.name) else {
                return Err(format!("Cannot query field '{}' on type '{ty}'.", f.name));
            };
            match (field_ty.object(), f.selection.is_empty()) {
                (Some(obj), false) => self.validate(obj, &f.selection)?,
                (Some(obj), true) => {
                    return Err(format!(
                        "Field '{}' of type '{obj}' must have a selection of subfields. Did you mean '{} {{ ... }}'?",
                        f.name, f.name
                    ));
                }
                (None, false) => {
                    return Err(format!(
                        "Field '{}' must not have a selection since type '{}' has no subfields.",
                        f.name,
                        field_ty.scalar_name()
                    ));
                }
                (None, true) => {}
            }
        }
        Ok(())
    }

    /// `raw` (REST JSON, snake_case) as a value of type `ty` with the given selection.
    fn project(
        &self,
        raw: &Json,
        ty: Ty,
        selection: &'d [Selection],
        errors: &mut Vec<String>,
    ) -> Json {
        match ty {
            Ty::Str => match raw {
                Json::Null => Json::from(""),
                Json::String(_) => raw.clone(),
                other => Json::from(other.to_string()),
            },
            Ty::Enum => match raw {
                Json::String(_) => raw.clone(),
                _ => Json::Null,
            },
            Ty::Long => match raw {
                Json::Null => Json::from("0"),
                Json::String(_) => raw.clone(),
                other => Json::from(other.to_string()),
            },
            Ty::Bool => Json::Bool(raw.as_bool().unwrap_or(false)),
            Ty::Float | Ty::MetricValue => match raw {
                Json::Number(_) => raw.clone(),
                Json::Null => Json::from(0.0),
                other => {
                    // MLflow's `MlflowMetricExtension` answers NaN as null on purpose; other
                    // float fields fail graphene's serialisation with this message.
                    if ty == Ty::Float {
                        let shown = match other.as_str() {
                            Some("NaN") => "nan".to_owned(),
                            Some("Infinity") => "inf".to_owned(),
                            Some("-Infinity") => "-inf".to_owned(),
                            _ => other.to_string(),
                        };
                        errors.push(format!("Float cannot represent non numeric value: {shown}"));
                    }
                    Json::Null
                }
            },
            Ty::List(item) => match raw {
                Json::Array(items) => Json::Array(
                    items
                        .iter()
                        .map(|v| self.project(v, *item, selection, errors))
                        .collect(),
                ),
                _ => Json::Array(Vec::new()),
            },
            Ty::Obj(name) => {
                let empty = Map::new();
                let obj = match raw {
                    Json::Object(m) => m,
                    // Extension fields (apiError, a run's experiment) are null when absent;
                    // a proto message field reads as its default instance.
                    _ if schema::nullable_object(name) => return Json::Null,
                    _ => &empty,
                };
                let mut out = Map::new();
                for f in self.collect(name, selection) {
                    let v = if f.name == "__typename" {
                        Json::from(name)
                    } else {
                        let field_ty = schema::field(name, &f.name).expect("validated");
                        let raw = obj.get(&snake_case(&f.name)).unwrap_or(&Json::Null);
                        self.project(raw, field_ty, &f.selection, errors)
                    };
                    out.insert(f.key().to_owned(), v);
                }
                Json::Object(out)
            }
        }
    }
}

/// `runUuid` -> `run_uuid`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The input object as REST parameters.
fn rest_params(input: &Json) -> Params {
    let map = match input {
        Json::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (snake_case(k), v.clone()))
            .collect(),
        _ => Map::new(),
    };
    Params(map)
}

/// A string field of the input object as MLflow's `parse_dict` leaves it in the request proto
/// (`""` when absent).
fn in_str(input: &Json, key: &str) -> String {
    match input.get(key) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A repeated string field of the input object.
fn in_strs(input: &Json, key: &str) -> Vec<String> {
    match input.get(key) {
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// An int64 field of the input object (a number, or a string as `LongString` carries it).
fn in_i64(input: &Json, key: &str) -> Option<i64> {
    match input.get(key)? {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `run_id`, else `run_uuid`, as MLflow's `*_impl` functions read them.
fn in_run_id(input: &Json) -> String {
    let id = in_str(input, "runId");
    if id.is_empty() {
        in_str(input, "runUuid")
    } else {
        id
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Json, MlflowError> {
    serde_json::to_value(value).map_err(|e| MlflowError::internal(format!("{e}")))
}

/// Each root field runs the typed core of its RPC (what MLflow's resolvers call: the `*_impl`
/// function behind the REST handler, without the REST request schema), so the store's errors
/// and codes come back as they are.
async fn resolve_root(
    state: &AppState,
    ctx: &Ctx<'_>,
    field: &Field,
    input: &Json,
) -> Result<Json, MlflowError> {
    use crate::{artifacts, registry, tracking};
    match field.name.as_str() {
        "mlflowGetExperiment" => {
            // MLflow's store reads an empty id as the Default experiment's.
            let id = Some(in_str(input, "experimentId"))
                .filter(|id| !id.is_empty())
                .unwrap_or_else(|| "0".to_owned());
            let exp = tracking::get_experiment_core(state, &id).await?;
            Ok(json!({ "experiment": exp }))
        }
        "mlflowGetMetricHistoryBulkInterval" => {
            // MLflow's `get_metric_history_bulk_interval_impl` takes `max_results`,
            // `start_step` and `end_step` from the HTTP query string, not from the input: for
            // GraphQL, 2500 points per run over all steps.
            let query = rsflow_store::BulkIntervalQuery {
                run_ids: in_strs(input, "runIds"),
                metric_key: in_str(input, "metricKey"),
                start_step: None,
                end_step: None,
                max_results: tracking::MAX_RESULTS_BULK_INTERVAL,
            };
            tracking::bulk_interval_core(state, &query).await
        }
        "mlflowListArtifacts" => {
            let path = input.get("path").and_then(Json::as_str);
            let body = artifacts::list_artifacts_core(state, &in_run_id(input), path).await?;
            Ok(Json::Object(body))
        }
        "mlflowSearchModelVersions" => {
            let query = rsflow_store::SearchRegistry {
                filter: in_str(input, "filter"),
                max_results: in_i64(input, "maxResults")
                    .unwrap_or(registry::SEARCH_MODEL_VERSIONS_DEFAULT),
                order_by: in_strs(input, "orderBy"),
                page_token: Some(in_str(input, "pageToken")).filter(|t| !t.is_empty()),
            };
            registry::search_model_versions_core(state, &query).await
        }
        "mlflowSearchDatasets" => {
            let ids = in_strs(input, "experimentIds");
            Ok(Json::Object(
                tracking::search_datasets_core(state, &ids).await?,
            ))
        }
        "mlflowGetRun" => {
            let run = tracking::get_run_core(state, &in_run_id(input)).await?;
            let mut body = json!({ "run": run });
            let wanted = run_extensions(ctx, field, "run");
            if let Some(run) = body.get_mut("run") {
                extend_run(state, run, wanted, &mut HashMap::new()).await?;
            }
            Ok(body)
        }
        "mlflowSearchRuns" => {
            let view_type = match input.get("runViewType") {
                Some(Json::String(v)) => ViewType::parse(v).unwrap_or(ViewType::ActiveOnly),
                _ => ViewType::ActiveOnly,
            };
            let query = rsflow_store::SearchRuns {
                experiment_ids: in_strs(input, "experimentIds"),
                filter: in_str(input, "filter"),
                view_type,
                // The proto's default.
                max_results: in_i64(input, "maxResults").unwrap_or(1000),
                order_by: in_strs(input, "orderBy"),
                page_token: Some(in_str(input, "pageToken")).filter(|t| !t.is_empty()),
            };
            let found = tracking::search_runs_core(state, &query).await?;
            let mut body = to_json(&found)?;
            let wanted = run_extensions(ctx, field, "runs");
            let mut experiments = HashMap::new();
            if let Some(Json::Array(runs)) = body.get_mut("runs") {
                for run in runs {
                    extend_run(state, run, wanted, &mut experiments).await?;
                }
            }
            Ok(body)
        }
        "test" | "testMutation" => {
            let echo = field
                .args
                .iter()
                .find(|(n, _)| n == "inputString")
                .map(|(_, v)| v.resolve(ctx.vars))
                .unwrap_or(Json::Null);
            Ok(json!({ "output": echo }))
        }
        other => Err(MlflowError::not_implemented(format!(
            "{other} is not supported by rsflow"
        ))),
    }
}

/// Which of `MlflowRunExtension`'s computed fields (`experiment`, `modelVersions`) the query
/// selects under the response field `runs_field`.
fn run_extensions(ctx: &Ctx<'_>, root: &Field, runs_field: &str) -> (bool, bool) {
    let response_ty = schema::field("Query", &root.name)
        .and_then(|t| t.object())
        .unwrap_or_default();
    let mut wanted = (false, false);
    for f in ctx.collect(response_ty, &root.selection) {
        if f.name == runs_field {
            for g in ctx.collect("MlflowRunExtension", &f.selection) {
                wanted.0 |= g.name == "experiment";
                wanted.1 |= g.name == "modelVersions";
            }
        }
    }
    wanted
}

/// Adds a run's experiment and the model versions made from it, as MLflow's
/// `MlflowRunExtension` resolves them (one `experiments/get` and one `model-versions/search`).
async fn extend_run(
    state: &AppState,
    run: &mut Json,
    (experiment, model_versions): (bool, bool),
    experiments: &mut HashMap<String, Json>,
) -> Result<(), MlflowError> {
    use crate::{registry, tracking};
    let info = &run["info"];
    let run_id = info["run_id"].as_str().unwrap_or_default().to_owned();
    let experiment_id = info["experiment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if experiment {
        let exp = match experiments.get(&experiment_id) {
            Some(e) => e.clone(),
            None => {
                let exp = to_json(&tracking::get_experiment_core(state, &experiment_id).await?)?;
                experiments.insert(experiment_id, exp.clone());
                exp
            }
        };
        run["experiment"] = exp;
    }
    if model_versions {
        let query = rsflow_store::SearchRegistry {
            filter: format!("run_id='{run_id}'"),
            max_results: registry::SEARCH_MODEL_VERSIONS_DEFAULT,
            order_by: Vec::new(),
            page_token: None,
        };
        let body = registry::search_model_versions_core(state, &query).await?;
        run["model_versions"] = body
            .get("model_versions")
            .cloned()
            .unwrap_or_else(|| json!([]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert_to_the_rest_spelling() {
        assert_eq!(snake_case("runUuid"), "run_uuid");
        assert_eq!(snake_case("experimentIds"), "experiment_ids");
        assert_eq!(snake_case("path"), "path");
    }

    #[test]
    fn limits_follow_mlflow() {
        let check = |q: &str| {
            let doc = parse::parse(q).unwrap();
            let vars = Map::new();
            let ctx = Ctx {
                fragments: &doc.fragments,
                vars: &vars,
            };
            check_limits(
                &ctx,
                &doc.operations[0].selection,
                (MAX_ROOT_FIELDS, MAX_ALIASES),
            )
        };
        assert!(check("{ a { b { c } } }").is_ok());
        let deep = format!("{}x{}", "{ a ".repeat(11), " }".repeat(11));
        assert!(check(&deep).unwrap_err().contains("maximum depth of 10"));
        let roots: String = (0..11).map(|i| format!("f{i}: test ")).collect();
        let err = check(&format!("{{ {roots} }}")).unwrap_err();
        assert!(err.contains("at most 10 root fields"), "{err}");
        let aliases: String = (0..11).map(|i| format!("a{i}: b ")).collect();
        let err = check(&format!("{{ x {{ {aliases} }} }}")).unwrap_err();
        assert!(err.contains("at most 10 aliases"), "{err}");
    }
}
