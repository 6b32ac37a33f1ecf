//! `registered-models/search` and `model-versions/search`: parsed filters rendered to SQL,
//! MLflow's ordering and offset paging, and its prompt exclusion.

use rsflow_core::page_token::{decode_offset, encode_offset};
use rsflow_core::search::{
    Clause, Comparator, Entity, OrderBy, Value, parse_model_version_filter,
    parse_model_version_order_by, parse_registered_model_filter, parse_registered_model_order_by,
};
use rsflow_core::wire::Page;
use rsflow_core::wire_models::{
    IS_PROMPT_TAG_KEY, ModelVersion, RegisteredModel, STAGE_DELETED_INTERNAL,
};
use rsflow_core::{MlflowError, Result};
use sqlx::Row as _;

use super::SqlStore;
use super::query::{Dialect, Sql, db_err};
use super::registry::{MV_COLUMNS, WORKSPACE};
use super::registry_rows::{attach_version_tags, complete_models, version_from_row};
use crate::SearchRegistry;

const MAX_REGISTERED_MODELS: i64 = 1000;
const MAX_MODEL_VERSIONS: i64 = 200_000;

/// Append `<column> <op> <value>` for one comparison.
pub(crate) fn render_comparison(
    q: &mut Sql,
    dialect: Dialect,
    column: &str,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    let bind_scalar = |q: &mut Sql, v: &Value| -> Result<String> {
        Ok(match v {
            Value::Str(s) => q.arg_placeholder(s.as_str()),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => q.arg_placeholder(*n as i64),
            Value::Num(n) => q.arg_placeholder(*n),
            other => {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid value {other:?} for comparison on {column}"
                )));
            }
        })
    };
    match comparator {
        Comparator::IsNull | Comparator::IsNotNull => {
            q.push(&format!("{column} {}", comparator.sql()));
        }
        Comparator::In | Comparator::NotIn => {
            let Value::List(items) = value else {
                return Err(MlflowError::invalid_param(format!(
                    "Expected a list of values for {} on {column}",
                    comparator.sql()
                )));
            };
            q.push(&format!(
                "{} {} ",
                dialect.in_column(column),
                comparator.sql()
            ));
            q.bind_list(items);
        }
        Comparator::ILike => {
            let p = bind_scalar(q, value)?;
            q.push(&dialect.ilike(column, &p));
        }
        other => {
            let p = bind_scalar(q, value)?;
            if matches!(value, Value::Str(_)) {
                q.push(&dialect.compare_str(column, other.sql(), &p));
            } else {
                q.push(&format!("{column} {} {p}", other.sql()));
            }
        }
    }
    Ok(())
}

/// `_is_querying_prompt`: the first `mlflow.prompt.is_prompt` tag clause decides.
fn is_querying_prompt(clauses: &[Clause]) -> bool {
    clauses
        .iter()
        .find(|c| c.entity == Entity::Tag && c.key == IS_PROMPT_TAG_KEY)
        .is_some_and(|c| match (&c.comparator, &c.value) {
            (Comparator::Eq, Value::Str(v)) => v.eq_ignore_ascii_case("true"),
            (Comparator::Ne, Value::Str(v)) => v.eq_ignore_ascii_case("false"),
            _ => false,
        })
}

/// Tag clauses grouped by key (all of a key's conditions hold on one tag row), each an
/// `EXISTS` on `tag_table` joined by `join` (e.g. `t.name = rm.name`). Unless the query asks
/// for prompts, prompt-tag clauses are dropped and rows whose model has a prompt tag (found
/// through `prompt_join`) are excluded, as MLflow's anti-join does.
fn render_tag_filters(
    q: &mut Sql,
    dialect: Dialect,
    clauses: &[Clause],
    tag_table: &str,
    join: &str,
    prompt_join: &str,
) -> Result<()> {
    let querying_prompt = is_querying_prompt(clauses);
    let mut keys: Vec<&str> = Vec::new();
    for c in clauses.iter().filter(|c| c.entity == Entity::Tag) {
        if !querying_prompt && c.key == IS_PROMPT_TAG_KEY {
            continue;
        }
        if !keys.contains(&c.key.as_str()) {
            keys.push(&c.key);
        }
    }
    for key in keys {
        // MLflow's key match is its case-sensitive `=` (BINARY on MySQL).
        q.push(&format!(
            " AND EXISTS (SELECT 1 FROM {tag_table} t WHERE {join} AND "
        ));
        let p = q.arg_placeholder(key);
        q.push(&dialect.compare_str("t.key", "=", &p));
        for c in clauses
            .iter()
            .filter(|c| c.entity == Entity::Tag && c.key == key)
        {
            q.push(" AND ");
            render_comparison(q, dialect, "t.value", c.comparator, &c.value)?;
        }
        q.push(")");
    }
    if !querying_prompt {
        q.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM {tag_table} t WHERE {prompt_join} AND "
        ));
        let p = q.arg_placeholder(IS_PROMPT_TAG_KEY);
        q.push(&dialect.compare_str("t.key", "=", &p))
            .push(" AND ")
            .push(&dialect.compare_str("t.value", "=", "'true'"))
            .push(")");
    }
    Ok(())
}

fn order_clause(order: &[OrderBy], column: impl Fn(&str) -> &'static str) -> Vec<String> {
    order
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                column(&o.key),
                if o.ascending { "ASC" } else { "DESC" }
            )
        })
        .collect()
}

fn next_token(fetched: usize, max_results: i64, offset: i64) -> Option<String> {
    (fetched as i64 > max_results).then(|| encode_offset(offset + max_results))
}

fn check_max_results(max_results: i64, threshold: i64) -> Result<()> {
    if max_results < 1 {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )));
    }
    if max_results > threshold {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value for request parameter max_results. It must be at most {threshold}, \
             but got value {max_results}"
        )));
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn search_registered_models_impl(
        &self,
        query: &SearchRegistry,
    ) -> Result<Page<RegisteredModel>> {
        check_max_results(query.max_results, MAX_REGISTERED_MODELS)?;
        let clauses = parse_registered_model_filter(&query.filter)?;
        let mut order = parse_registered_model_order_by(&query.order_by)?;
        if !order.iter().any(|o| o.key == "name") {
            order.push(OrderBy {
                entity: Entity::Attribute,
                key: "name".into(),
                ascending: true,
            });
        }
        let offset = decode_offset(query.page_token.as_deref())?;
        let mut q = Sql::new(
            "SELECT rm.name, rm.creation_time, rm.last_updated_time, rm.description \
             FROM registered_models rm WHERE rm.workspace = ",
        );
        q.bind(WORKSPACE);
        for c in clauses.iter().filter(|c| c.entity == Entity::Attribute) {
            q.push(" AND ");
            render_comparison(&mut q, self.dialect, "rm.name", c.comparator, &c.value)?;
        }
        render_tag_filters(
            &mut q,
            self.dialect,
            &clauses,
            "registered_model_tags",
            "t.workspace = rm.workspace AND t.name = rm.name",
            "t.workspace = rm.workspace AND t.name = rm.name",
        )?;
        let cols = order_clause(&order, |k| match k {
            "name" => "rm.name",
            _ => "rm.last_updated_time",
        });
        q.push(&format!(" ORDER BY {} LIMIT ", cols.join(", ")))
            .bind(query.max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let token = next_token(rows.len(), query.max_results, offset);
        let mut models = Vec::with_capacity(rows.len());
        for r in rows.iter().take(query.max_results as usize) {
            let get = || -> std::result::Result<RegisteredModel, sqlx::Error> {
                Ok(RegisteredModel {
                    name: r.try_get(0)?,
                    creation_timestamp: r.try_get(1)?,
                    last_updated_timestamp: r.try_get::<Option<i64>, _>(2)?.filter(|t| *t != 0),
                    description: r.try_get::<Option<String>, _>(3)?.filter(|d| !d.is_empty()),
                    ..Default::default()
                })
            };
            models.push(get().map_err(db_err)?);
        }
        let items = complete_models(&mut tx, models).await?;
        Ok(Page {
            items,
            next_page_token: token,
        })
    }

    pub(crate) async fn search_model_versions_impl(
        &self,
        query: &SearchRegistry,
    ) -> Result<Page<ModelVersion>> {
        check_max_results(query.max_results, MAX_MODEL_VERSIONS)?;
        let clauses = parse_model_version_filter(&query.filter)?;
        let given: Vec<String> = if query.order_by.is_empty() {
            [
                "last_updated_timestamp DESC",
                "name ASC",
                "version_number DESC",
            ]
            .map(String::from)
            .to_vec()
        } else {
            query.order_by.clone()
        };
        let mut order = parse_model_version_order_by(&given)?;
        for (key, ascending) in [("name", true), ("version_number", false)] {
            if !order.iter().any(|o| o.key == key) {
                order.push(OrderBy {
                    entity: Entity::Attribute,
                    key: key.into(),
                    ascending,
                });
            }
        }
        let offset = decode_offset(query.page_token.as_deref())?;
        let cols: Vec<String> = MV_COLUMNS.split(", ").map(|c| format!("mv.{c}")).collect();
        let mut q = Sql::new(&format!(
            "SELECT {} FROM model_versions mv WHERE mv.workspace = ",
            cols.join(", ")
        ));
        q.bind(WORKSPACE)
            .push(" AND mv.current_stage != ")
            .bind(STAGE_DELETED_INTERNAL);
        for c in clauses.iter().filter(|c| c.entity == Entity::Attribute) {
            let column = match c.key.as_str() {
                "name" => "mv.name",
                "run_id" => "mv.run_id",
                "source_path" => "mv.source",
                "version_number" => "mv.version",
                other => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid attribute name: {other}"
                    )));
                }
            };
            q.push(" AND ");
            render_comparison(&mut q, self.dialect, column, c.comparator, &c.value)?;
        }
        render_tag_filters(
            &mut q,
            self.dialect,
            &clauses,
            "model_version_tags",
            // A version's tag clauses match its own tags; the prompt anti-join is on the model
            // name only, so a prompt-tagged version hides all versions of its model.
            "t.workspace = mv.workspace AND t.name = mv.name AND t.version = mv.version",
            "t.workspace = mv.workspace AND t.name = mv.name",
        )?;
        let order_cols = order_clause(&order, |k| match k {
            "name" => "mv.name",
            "version_number" => "mv.version",
            "creation_timestamp" => "mv.creation_time",
            _ => "mv.last_updated_time",
        });
        q.push(&format!(" ORDER BY {} LIMIT ", order_cols.join(", ")))
            .bind(query.max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let mut tx = self.read_tx().await?;
        let rows = q
            .search_query(self.dialect)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let token = next_token(rows.len(), query.max_results, offset);
        let mut versions = rows
            .iter()
            .take(query.max_results as usize)
            .map(version_from_row)
            .collect::<Result<Vec<_>>>()?;
        attach_version_tags(&mut tx, &mut versions).await?;
        Ok(Page {
            items: versions,
            next_page_token: token,
        })
    }
}
