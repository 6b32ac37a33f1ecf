//! `search_experiments`: attribute and tag filters with MLflow's store-side checks, ordering
//! with its `experiment_id` tie-breaker.

use rsflow_core::search::{
    Clause, Comparator, Entity, OrderBy, Value, parse_experiment_filter, parse_experiment_order_by,
};
use rsflow_core::wire::{Experiment, Page};
use rsflow_core::{MlflowError, Result, page_token};

use super::{bind_number, compare, entity_name, page, validate_max_results};
use crate::SearchExperiments;
use crate::sql::SqlStore;
use crate::sql::experiments::{fetch_experiments_by_sql, parse_experiment_id, stages_sql};
use crate::sql::query::{Dialect, Sql};
use rsflow_core::pyfmt::repr_str;

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
                        repr_str(s)
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
            // The key compares case-sensitively (BINARY on MySQL) beside a value comparison,
            // with a plain `=` for IS [NOT] NULL, as in MLflow.
            let exists = |q: &mut Sql, case_sensitive: bool| {
                q.push("EXISTS (SELECT 1 FROM experiment_tags WHERE experiment_tags.experiment_id = experiments.experiment_id AND ");
                let p = q.arg_placeholder(c.key.as_str());
                if case_sensitive {
                    q.push(&dialect.compare_str("experiment_tags.key", "=", &p));
                } else {
                    q.push(&format!("experiment_tags.key = {p}"));
                }
            };
            match cmp {
                Comparator::IsNull => {
                    q.push("NOT ");
                    exists(q, false);
                    q.push(")");
                }
                Comparator::IsNotNull => {
                    exists(q, false);
                    q.push(")");
                }
                Comparator::Eq | Comparator::Ne | Comparator::Like | Comparator::ILike => {
                    exists(q, true);
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

impl SqlStore {
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
