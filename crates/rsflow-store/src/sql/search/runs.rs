//! `search_runs`: filter clauses as EXISTS subqueries, ordering with MLflow's NULL/NaN rules.

use rsflow_core::search::{
    Clause, Comparator, Entity, OrderBy, parse_run_filter, parse_run_order_by,
};
use rsflow_core::wire::{Page, Run};
use rsflow_core::{MlflowError, Result, page_token};
use sqlx::{Any, Row as _, Transaction};

use super::split::{Part, SplitOrder, rest_window};
use super::{compare, page, validate_max_results};
use crate::SearchRuns;
use crate::sql::SqlStore;
use crate::sql::experiments::{parse_experiment_id, stages_sql};
use crate::sql::query::{Dialect, Sql, db_err};
use crate::sql::run_data::{assemble, fetch_children};
use crate::sql::runs::{RUN_COLUMNS, RunRow};
use rsflow_core::pyfmt::repr_str;

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
    // MLflow matches the key with its case-sensitive comparison (BINARY on MySQL) when the
    // clause compares a value, and with a plain `=` for IS [NOT] NULL.
    let exists = |q: &mut Sql, case_sensitive: bool| {
        q.push(&format!(
            "EXISTS (SELECT 1 FROM {table} WHERE {table}.run_uuid = runs.run_uuid AND "
        ));
        let key = format!("{table}.key");
        let p = q.arg_placeholder(c.key.as_str());
        if case_sensitive {
            q.push(&dialect.compare_str(&key, "=", &p));
        } else {
            q.push(&format!("{key} = {p}"));
        }
    };
    match c.comparator {
        Comparator::IsNull => {
            q.push("NOT ");
            exists(q, false);
            q.push(")");
        }
        Comparator::IsNotNull => {
            exists(q, false);
            q.push(")");
        }
        _ => {
            exists(q, true);
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
    let v: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
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

/// What a runs query returns.
enum Select {
    /// The run columns, ordered, `LIMIT limit OFFSET offset`.
    Rows {
        limit: i64,
        offset: i64,
    },
    Count,
}

/// The query over the runs of `experiment_ids` that match `clauses`. `joins` appends joins
/// after `FROM runs` (binding their values first, so numbering follows the text) and returns
/// the ORDER BY items.
fn runs_sql(
    dialect: Dialect,
    query: &SearchRuns,
    experiment_ids: &[i64],
    clauses: &[Clause],
    joins: impl FnOnce(&mut Sql) -> Result<Vec<String>>,
    condition: Option<String>,
    select: Select,
) -> Result<Sql> {
    let columns = match select {
        Select::Rows { .. } => RUN_COLUMNS,
        Select::Count => "COUNT(*)",
    };
    let mut q = Sql::new(&format!("SELECT {columns} FROM runs"));
    let order = joins(&mut q)?;
    q.push(" WHERE runs.experiment_id IN ")
        .bind_list(experiment_ids)
        .push(" AND runs.lifecycle_stage IN ")
        .push(stages_sql(query.view_type));
    if let Some(c) = condition {
        q.push(" AND ").push(&c);
    }
    for c in clauses {
        q.push(" AND ");
        run_clause(&mut q, dialect, c)?;
    }
    if let Select::Rows { limit, offset } = select {
        q.push(" ORDER BY ")
            .push(&order.join(", "))
            .push(" LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
    }
    Ok(q)
}

async fn fetch_rows(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    q: &Sql,
) -> Result<Vec<RunRow>> {
    q.search_query(dialect)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err)?
        .iter()
        .map(RunRow::from_row)
        .collect()
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

        let limit = query.max_results + 1;
        // Validates the order before any split: duplicate fields and unknown keys fail alike.
        run_order(&mut Sql::default(), &order_by, &query.order_by)?;
        let split = match self.dialect {
            Dialect::Postgres => SplitOrder::for_order(&order_by, |k| run_attribute_column(k).ok()),
            Dialect::Sqlite | Dialect::Mysql => None,
        };
        let mut tx = self.read_tx().await?;
        let rows = match split {
            None => {
                let q = runs_sql(
                    self.dialect,
                    query,
                    &experiment_ids,
                    &clauses,
                    |q| run_order(q, &order_by, &query.order_by),
                    None,
                    Select::Rows { limit, offset },
                )?;
                fetch_rows(&mut tx, self.dialect, &q).await?
            }
            Some(split) => {
                let part_sql = |part: Part, select: Select| {
                    runs_sql(
                        self.dialect,
                        query,
                        &experiment_ids,
                        &clauses,
                        |q| {
                            split.push_joins(q, part);
                            Ok(split.order_items(part))
                        },
                        split.condition(part),
                        select,
                    )
                };
                let first = part_sql(Part::First, Select::Rows { limit, offset })?;
                let mut rows = fetch_rows(&mut tx, self.dialect, &first).await?;
                let got = rows.len() as i64;
                if got < limit {
                    let first_total = if got == 0 && offset > 0 {
                        part_sql(Part::First, Select::Count)?
                            .search_query(self.dialect)
                            .fetch_one(&mut *tx)
                            .await
                            .and_then(|r| r.try_get::<i64, _>(0))
                            .map_err(db_err)?
                    } else {
                        offset + got
                    };
                    let (offset, limit) = rest_window(offset, limit, got, first_total);
                    let rest = part_sql(Part::Rest, Select::Rows { limit, offset })?;
                    rows.extend(fetch_rows(&mut tx, self.dialect, &rest).await?);
                }
                rows
            }
        };
        let rows = page(rows, query.max_results, offset);
        let ids: Vec<String> = rows.items.iter().map(|r| r.run_uuid.clone()).collect();
        // MLflow's search returns dataset inputs and model outputs, not model inputs.
        let children = fetch_children(&mut tx, &ids, false).await?;
        Ok(Page {
            items: assemble(rows.items, children),
            next_page_token: rows.next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsflow_core::search::Value;

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
}
