//! `search_runs` and `search_experiments`: the parsed filter and `order_by` rendered to SQL with
//! bound parameters (values never enter the text), paged with offset tokens.
//!
//! Runs: metric clauses match the latest value; filters on metrics, params, tags, run names
//! and datasets are `EXISTS` subqueries (MLflow joins subqueries and adds DISTINCT; EXISTS
//! selects the same runs without duplicate rows); ordering puts NULLs last, and for metrics
//! NaN after values and NULL after NaN, then `start_time DESC`, then `run_uuid`.

use rsflow_core::wire::{Experiment, Page, Run};
use rsflow_core::{MlflowError, Result, page_token};

use super::SqlStore;
use super::experiments::{fetch_experiments_by_sql, parse_experiment_id, stages_sql};
use super::pyrepr::str_repr;
use super::query::{Dialect, Sql, db_err};
use super::runs::{RUN_COLUMNS, RunRow, assemble, fetch_children};
use crate::{SearchExperiments, SearchRuns};
use rsflow_core::search::{
    Clause, Comparator, Entity, OrderBy, Value, parse_experiment_filter, parse_experiment_order_by,
    parse_run_filter, parse_run_order_by,
};

/// `SEARCH_MAX_RESULTS_THRESHOLD`.
const MAX_RESULTS_THRESHOLD: i64 = 50_000;

/// MLflow's `_validate_max_results_param`.
fn validate_max_results(max_results: i64) -> Result<()> {
    if max_results < 1 {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be a \
             positive integer"
        )));
    }
    if max_results > MAX_RESULTS_THRESHOLD {
        return Err(MlflowError::invalid_param(format!(
            "Invalid value {max_results} for parameter 'max_results' supplied. It must be at \
             most {MAX_RESULTS_THRESHOLD}"
        )));
    }
    Ok(())
}

/// A numeric filter value: integral values bind as integers (timestamps are BIGINT).
fn bind_number(q: &mut Sql, v: f64) {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        q.bind(v as i64);
    } else {
        q.bind(v);
    }
}

/// `<column> <comparator> <value>` with the value bound.
fn compare(
    q: &mut Sql,
    dialect: Dialect,
    column: &str,
    comparator: Comparator,
    value: &Value,
) -> Result<()> {
    let bad = || {
        MlflowError::invalid_param(format!(
            "Invalid value for comparator '{}' on '{column}'",
            comparator.sql()
        ))
    };
    match comparator {
        Comparator::In | Comparator::NotIn => {
            let Value::List(items) = value else {
                return Err(bad());
            };
            q.push(column)
                .push(if comparator == Comparator::In {
                    " IN "
                } else {
                    " NOT IN "
                })
                .bind_list(items);
        }
        Comparator::ILike => {
            let Value::Str(s) = value else {
                return Err(bad());
            };
            let p = q.arg(s.as_str());
            q.push(&dialect.ilike(column, &p));
        }
        Comparator::IsNull | Comparator::IsNotNull => {
            q.push(column).push(" ").push(comparator.sql());
        }
        _ => {
            q.push(column).push(" ").push(comparator.sql()).push(" ");
            match value {
                Value::Str(s) => {
                    q.bind(s.as_str());
                }
                Value::Num(n) => bind_number(q, *n),
                _ => return Err(bad()),
            }
        }
    }
    Ok(())
}

/// The `runs` column behind an attribute key (keys arrive canonicalised).
fn run_attribute_column(key: &str) -> Result<&'static str> {
    Ok(match key {
        "run_id" => "runs.run_uuid",
        "run_name" => "runs.name",
        "status" => "runs.status",
        "user_id" => "runs.user_id",
        "artifact_uri" => "runs.artifact_uri",
        "start_time" => "runs.start_time",
        "end_time" => "runs.end_time",
        other => {
            return Err(MlflowError::invalid_param(format!(
                "Invalid attribute key '{other}' specified."
            )));
        }
    })
}

/// One run filter clause as a WHERE conjunct.
fn run_clause(q: &mut Sql, dialect: Dialect, c: &Clause) -> Result<()> {
    let (table, value_col) = match c.entity {
        Entity::Attribute if c.key == "run_name" => {
            // MLflow matches run names on the mlflow.runName tag: the name column is empty for
            // runs logged by MLflow <= 1.29.
            q.push("EXISTS (SELECT 1 FROM tags WHERE tags.run_uuid = runs.run_uuid AND tags.key = 'mlflow.runName' AND ");
            compare(q, dialect, "tags.value", c.comparator, &c.value)?;
            q.push(")");
            return Ok(());
        }
        Entity::Attribute => {
            compare(
                q,
                dialect,
                run_attribute_column(&c.key)?,
                c.comparator,
                &c.value,
            )?;
            return Ok(());
        }
        Entity::Dataset => {
            q.push(
                "EXISTS (SELECT 1 FROM inputs JOIN datasets ON inputs.source_id = datasets.dataset_uuid",
            );
            let column = match c.key.as_str() {
                "name" => "datasets.name",
                "digest" => "datasets.digest",
                "context" => {
                    q.push(" JOIN input_tags ON input_tags.input_uuid = inputs.input_uuid AND input_tags.name = 'mlflow.data.context'");
                    "input_tags.value"
                }
                other => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid dataset key '{other}' specified."
                    )));
                }
            };
            q.push(" WHERE inputs.destination_type = 'RUN' AND inputs.destination_id = runs.run_uuid AND ");
            compare(q, dialect, column, c.comparator, &c.value)?;
            q.push(")");
            return Ok(());
        }
        Entity::Metric => ("latest_metrics", "latest_metrics.value"),
        Entity::Param => ("params", "params.value"),
        Entity::Tag => ("tags", "tags.value"),
    };
    let exists = |q: &mut Sql| {
        q.push(&format!(
            "EXISTS (SELECT 1 FROM {table} WHERE {table}.run_uuid = runs.run_uuid AND {table}.key = "
        ))
        .bind(c.key.as_str());
    };
    match c.comparator {
        Comparator::IsNull => {
            q.push("NOT ");
            exists(q);
            q.push(")");
        }
        Comparator::IsNotNull => {
            exists(q);
            q.push(")");
        }
        _ => {
            exists(q);
            q.push(" AND ");
            if c.entity == Entity::Metric {
                // NaN is stored as 0 with is_nan: it satisfies only `!=`, and the placeholder 0
                // must never satisfy anything.
                q.push("(");
                compare(q, dialect, value_col, c.comparator, &c.value)?;
                if c.comparator == Comparator::Ne {
                    q.push(" OR latest_metrics.is_nan = TRUE)");
                } else {
                    q.push(" AND latest_metrics.is_nan = FALSE)");
                }
            } else {
                compare(q, dialect, value_col, c.comparator, &c.value)?;
            }
            q.push(")");
        }
    }
    Ok(())
}

/// Python's `str()` of the `order_by` list, for the duplicate-field message.
fn py_list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| str_repr(s)).collect();
    format!("[{}]", v.join(", "))
}

/// Append the LEFT JOINs that ordering by metrics, params or tags needs; return the ORDER BY
/// items.
fn run_order(q: &mut Sql, order_by: &[OrderBy], raw: &[String]) -> Result<Vec<String>> {
    let mut items = Vec::new();
    let mut seen: Vec<(&Entity, &str)> = Vec::new();
    let mut has_start_time = false;
    for (i, o) in order_by.iter().enumerate() {
        if seen.contains(&(&o.entity, o.key.as_str())) {
            // MLflow raises this as a 500; a client error is a 400.
            return Err(MlflowError::invalid_param(format!(
                "`order_by` contains duplicate fields: {}",
                py_list(raw)
            )));
        }
        seen.push((&o.entity, &o.key));
        let dir = if o.ascending { "" } else { " DESC" };
        match o.entity {
            Entity::Attribute => {
                let col = run_attribute_column(&o.key)?;
                has_start_time |= o.key == "start_time";
                items.push(format!("CASE WHEN {col} IS NULL THEN 1 ELSE 0 END"));
                items.push(format!("{col}{dir}"));
            }
            Entity::Metric | Entity::Param | Entity::Tag => {
                let alias = format!("o{i}");
                let table = match o.entity {
                    Entity::Metric => "latest_metrics",
                    Entity::Param => "params",
                    _ => "tags",
                };
                q.push(&format!(
                    " LEFT OUTER JOIN {table} AS {alias} ON {alias}.run_uuid = runs.run_uuid AND {alias}.key = "
                ))
                .bind(o.key.as_str());
                if o.entity == Entity::Metric {
                    items.push(format!(
                        "CASE WHEN {alias}.is_nan = TRUE THEN 1 WHEN {alias}.value IS NULL THEN 2 ELSE 0 END"
                    ));
                } else {
                    items.push(format!("CASE WHEN {alias}.value IS NULL THEN 1 ELSE 0 END"));
                }
                items.push(format!("{alias}.value{dir}"));
            }
            Entity::Dataset => {
                return Err(MlflowError::invalid_param(
                    "Invalid identifier type 'dataset'",
                ));
            }
        }
    }
    if !has_start_time {
        items.push("runs.start_time DESC".into());
    }
    items.push("runs.run_uuid".into());
    Ok(items)
}

fn experiment_column(key: &str) -> Result<&'static str> {
    Ok(match key {
        "name" => "experiments.name",
        "experiment_id" => "experiments.experiment_id",
        "creation_time" => "experiments.creation_time",
        "last_update_time" => "experiments.last_update_time",
        other => {
            return Err(MlflowError::invalid_param(format!(
                "Invalid attribute key '{other}' specified."
            )));
        }
    })
}

/// One experiment filter clause, with MLflow's store-side checks.
fn experiment_clause(q: &mut Sql, dialect: Dialect, c: &Clause) -> Result<()> {
    let cmp = c.comparator;
    match &c.entity {
        Entity::Attribute if c.key == "experiment_id" => {
            if !matches!(
                cmp,
                Comparator::Eq | Comparator::Ne | Comparator::In | Comparator::NotIn
            ) {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid comparator for experiment_id: {}",
                    cmp.sql()
                )));
            }
            let parse = |s: &str| -> Result<i64> {
                // Ids beyond 64 bits match nothing; -1 is never an experiment id.
                Ok(parse_experiment_id(s)?.0.unwrap_or(-1))
            };
            match &c.value {
                Value::List(items) => {
                    let ids = items
                        .iter()
                        .map(|s| parse(s))
                        .collect::<Result<Vec<i64>>>()?;
                    q.push("experiments.experiment_id")
                        .push(if cmp == Comparator::In {
                            " IN "
                        } else {
                            " NOT IN "
                        })
                        .bind_list(&ids);
                }
                Value::Str(s) => {
                    q.push("experiments.experiment_id ")
                        .push(cmp.sql())
                        .push(" ")
                        .bind(parse(s)?);
                }
                Value::Num(n) => {
                    q.push("experiments.experiment_id ")
                        .push(cmp.sql())
                        .push(" ");
                    bind_number(q, *n);
                }
                Value::None => {
                    return Err(MlflowError::invalid_param(
                        "Invalid value for experiment_id",
                    ));
                }
            }
        }
        Entity::Attribute if c.key == "name" => {
            if !matches!(
                cmp,
                Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike
            ) {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid comparator for string attribute: {}",
                    cmp.sql()
                )));
            }
            compare(q, dialect, "experiments.name", cmp, &c.value)?;
        }
        Entity::Attribute => {
            let column = experiment_column(&c.key)?;
            if !matches!(
                cmp,
                Comparator::Eq
                    | Comparator::Ne
                    | Comparator::Lt
                    | Comparator::Le
                    | Comparator::Gt
                    | Comparator::Ge
            ) {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid comparator for numeric attribute: {}",
                    cmp.sql()
                )));
            }
            let v = match &c.value {
                Value::Num(n) if n.fract() == 0.0 => *n as i64,
                Value::Num(n) => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid value for numeric attribute '{}': '{n}'",
                        c.key
                    )));
                }
                Value::Str(s) => s.trim().parse::<i64>().map_err(|_| {
                    MlflowError::invalid_param(format!(
                        "Invalid value for numeric attribute '{}': {}",
                        c.key,
                        str_repr(s)
                    ))
                })?,
                _ => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid value for numeric attribute '{}'",
                        c.key
                    )));
                }
            };
            q.push(column).push(" ").push(cmp.sql()).push(" ").bind(v);
        }
        Entity::Tag => {
            let exists = |q: &mut Sql| {
                q.push("EXISTS (SELECT 1 FROM experiment_tags WHERE experiment_tags.experiment_id = experiments.experiment_id AND experiment_tags.key = ")
                    .bind(c.key.as_str());
            };
            match cmp {
                Comparator::IsNull => {
                    q.push("NOT ");
                    exists(q);
                    q.push(")");
                }
                Comparator::IsNotNull => {
                    exists(q);
                    q.push(")");
                }
                Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike => {
                    exists(q);
                    q.push(" AND ");
                    compare(q, dialect, "experiment_tags.value", cmp, &c.value)?;
                    q.push(")");
                }
                _ => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid comparator for tag: {}",
                        cmp.sql()
                    )));
                }
            }
        }
        other => {
            return Err(MlflowError::invalid_param(format!(
                "Invalid token type: {}",
                entity_name(other)
            )));
        }
    }
    Ok(())
}

fn entity_name(e: &Entity) -> &'static str {
    match e {
        Entity::Metric => "metric",
        Entity::Param => "parameter",
        Entity::Tag => "tag",
        Entity::Attribute => "attribute",
        Entity::Dataset => "dataset",
    }
}

/// LIMIT max+1 OFFSET offset, then cut the extra row into a next-page token.
fn page<T>(mut items: Vec<T>, max_results: i64, offset: i64) -> Page<T> {
    let mut next_page_token = None;
    if items.len() as i64 > max_results {
        items.truncate(max_results as usize);
        next_page_token = Some(page_token::encode_offset(offset + max_results));
    }
    Page {
        items,
        next_page_token,
    }
}

impl SqlStore {
    pub(crate) async fn search_runs_impl(&self, query: &SearchRuns) -> Result<Page<Run>> {
        validate_max_results(query.max_results)?;
        let clauses = parse_run_filter(&query.filter)?;
        let order_by = parse_run_order_by(&query.order_by)?;
        let offset = page_token::decode_offset(query.page_token.as_deref())?;
        let experiment_ids = query
            .experiment_ids
            .iter()
            .map(|id| parse_experiment_id(id).map(|(id, _)| id))
            .collect::<Result<Vec<_>>>()?;
        let experiment_ids: Vec<i64> = experiment_ids.into_iter().flatten().collect();
        if experiment_ids.is_empty() {
            return Ok(Page {
                items: vec![],
                next_page_token: None,
            });
        }

        let mut q = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM runs"));
        let order_items = run_order(&mut q, &order_by, &query.order_by)?;
        q.push(" WHERE runs.experiment_id IN ")
            .bind_list(&experiment_ids)
            .push(" AND runs.lifecycle_stage IN ")
            .push(stages_sql(query.view_type));
        for c in &clauses {
            q.push(" AND ");
            run_clause(&mut q, self.dialect, c)?;
        }
        q.push(" ORDER BY ")
            .push(&order_items.join(", "))
            .push(" LIMIT ")
            .bind(query.max_results + 1)
            .push(" OFFSET ")
            .bind(offset);

        let mut tx = self.read_tx().await?;
        let rows = q
            .query()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(RunRow::from_row)
            .collect::<Result<Vec<_>>>()?;
        let rows = page(rows, query.max_results, offset);
        let ids: Vec<String> = rows.items.iter().map(|r| r.run_uuid.clone()).collect();
        // MLflow's search returns dataset inputs and model outputs, not model inputs.
        let children = fetch_children(&mut tx, &ids, false).await?;
        Ok(Page {
            items: assemble(rows.items, children),
            next_page_token: rows.next_page_token,
        })
    }

    pub(crate) async fn search_experiments_impl(
        &self,
        query: &SearchExperiments,
    ) -> Result<Page<Experiment>> {
        validate_max_results(query.max_results)?;
        let clauses = parse_experiment_filter(&query.filter)?;
        let order_by = if query.order_by.is_empty() {
            // MLflow's default: ["creation_time DESC", "experiment_id ASC"].
            vec![
                OrderBy {
                    entity: Entity::Attribute,
                    key: "creation_time".into(),
                    ascending: false,
                },
                OrderBy {
                    entity: Entity::Attribute,
                    key: "experiment_id".into(),
                    ascending: true,
                },
            ]
        } else {
            parse_experiment_order_by(&query.order_by)?
        };
        let offset = page_token::decode_offset(query.page_token.as_deref())?;

        let mut q = Sql::new(
            "SELECT experiments.experiment_id, experiments.name, experiments.artifact_location, \
             experiments.lifecycle_stage, experiments.creation_time, experiments.last_update_time \
             FROM experiments WHERE experiments.lifecycle_stage IN ",
        );
        q.push(stages_sql(query.view_type));
        for c in &clauses {
            q.push(" AND ");
            experiment_clause(&mut q, self.dialect, c)?;
        }
        let mut items = Vec::new();
        for o in &order_by {
            if o.entity != Entity::Attribute {
                return Err(MlflowError::invalid_param(format!(
                    "Invalid order_by entity: {}",
                    entity_name(&o.entity)
                )));
            }
            let col = experiment_column(&o.key)?;
            items.push(format!(
                "{col} {}",
                if o.ascending { "ASC" } else { "DESC" }
            ));
        }
        // MLflow's tie-breaker is experiment_id DESC unless the order already names it.
        if !order_by.iter().any(|o| o.key == "experiment_id") {
            items.push("experiments.experiment_id DESC".into());
        }
        q.push(" ORDER BY ")
            .push(&items.join(", "))
            .push(" LIMIT ")
            .bind(query.max_results + 1)
            .push(" OFFSET ")
            .bind(offset);
        let mut tx = self.read_tx().await?;
        let experiments = fetch_experiments_by_sql(&mut tx, &q).await?;
        Ok(page(experiments, query.max_results, offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(entity: Entity, key: &str, comparator: Comparator, value: Value) -> Clause {
        Clause {
            entity,
            key: key.into(),
            comparator,
            value,
        }
    }

    #[test]
    fn run_clauses_bind_every_value() {
        let mut q = Sql::new("");
        run_clause(
            &mut q,
            Dialect::Sqlite,
            &clause(Entity::Metric, "loss", Comparator::Lt, Value::Num(0.5)),
        )
        .unwrap();
        assert_eq!(
            q.text,
            "EXISTS (SELECT 1 FROM latest_metrics WHERE latest_metrics.run_uuid = runs.run_uuid \
             AND latest_metrics.key = $1 AND (latest_metrics.value < $2 AND latest_metrics.is_nan = FALSE))"
        );
        let mut q = Sql::new("");
        run_clause(
            &mut q,
            Dialect::Sqlite,
            &clause(
                Entity::Tag,
                "t'; DROP",
                Comparator::ILike,
                Value::Str("%x%".into()),
            ),
        )
        .unwrap();
        assert!(
            q.text.contains("LOWER(tags.value) LIKE LOWER($2)"),
            "{}",
            q.text
        );
        assert!(!q.text.contains("DROP"));
        let mut q = Sql::new("");
        run_clause(
            &mut q,
            Dialect::Postgres,
            &clause(
                Entity::Attribute,
                "run_id",
                Comparator::NotIn,
                Value::List(vec!["a".into(), "b".into()]),
            ),
        )
        .unwrap();
        assert_eq!(q.text, "runs.run_uuid NOT IN ($1, $2)");
    }

    #[test]
    fn order_by_rejects_duplicates_and_adds_tie_breakers() {
        let o = |entity, key: &str, ascending| OrderBy {
            entity,
            key: key.into(),
            ascending,
        };
        let mut q = Sql::new("");
        let items = run_order(&mut q, &[o(Entity::Metric, "m", false)], &[]).unwrap();
        assert_eq!(
            items,
            vec![
                "CASE WHEN o0.is_nan = TRUE THEN 1 WHEN o0.value IS NULL THEN 2 ELSE 0 END",
                "o0.value DESC",
                "runs.start_time DESC",
                "runs.run_uuid"
            ]
        );
        assert_eq!(
            q.text,
            " LEFT OUTER JOIN latest_metrics AS o0 ON o0.run_uuid = runs.run_uuid AND o0.key = $1"
        );
        let items = run_order(&mut q, &[o(Entity::Attribute, "start_time", true)], &[]).unwrap();
        assert_eq!(items.last().unwrap(), "runs.run_uuid");
        assert!(!items.contains(&"runs.start_time DESC".to_string()));
        let raw = vec!["metrics.a".to_string(), "metrics.a DESC".to_string()];
        let e = run_order(
            &mut q,
            &[o(Entity::Metric, "a", true), o(Entity::Metric, "a", false)],
            &raw,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "`order_by` contains duplicate fields: ['metrics.a', 'metrics.a DESC']"
        );
    }

    #[test]
    fn experiment_clause_checks() {
        let mut q = Sql::new("");
        let e = experiment_clause(
            &mut q,
            Dialect::Sqlite,
            &clause(
                Entity::Attribute,
                "experiment_id",
                Comparator::Gt,
                Value::Str("1".into()),
            ),
        )
        .unwrap_err();
        assert_eq!(e.message, "Invalid comparator for experiment_id: >");
        let e = experiment_clause(
            &mut q,
            Dialect::Sqlite,
            &clause(
                Entity::Attribute,
                "experiment_id",
                Comparator::Eq,
                Value::Str("x".into()),
            ),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid experiment ID 'x'. Experiment ID must be a valid integer."
        );
        let e = experiment_clause(
            &mut q,
            Dialect::Sqlite,
            &clause(
                Entity::Attribute,
                "creation_time",
                Comparator::Gt,
                Value::Num(1.5),
            ),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value for numeric attribute 'creation_time': '1.5'"
        );
    }
}
