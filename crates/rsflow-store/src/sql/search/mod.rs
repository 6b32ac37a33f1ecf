//! `search_runs` and `search_experiments`: the parsed filter and `order_by` rendered to SQL with
//! bound parameters (values never enter the text), paged with offset tokens.
//!
//! Runs: metric clauses match the latest value; filters on metrics, params, tags, run names
//! and datasets are `EXISTS` subqueries (MLflow joins subqueries and adds DISTINCT; EXISTS
//! selects the same runs without duplicate rows); ordering puts NULLs last, and for metrics
//! NaN after values and NULL after NaN, then `start_time DESC`, then `run_uuid`.

pub(crate) mod datasets;
mod experiments;
mod runs;
mod split;

use rsflow_core::search::{Comparator, Entity, Value};
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result, page_token};

use super::query::{Dialect, Sql};

/// `SEARCH_MAX_RESULTS_THRESHOLD`.
const MAX_RESULTS_THRESHOLD: i64 = 50_000;

/// MLflow's `_validate_max_results_param`.
pub(super) fn validate_max_results(max_results: i64) -> Result<()> {
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
pub(super) fn bind_number(q: &mut Sql, v: f64) {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        q.bind(v as i64);
    } else {
        q.bind(v);
    }
}

/// `<column> <comparator> <value>` with the value bound.
pub(super) fn compare(
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
            q.push(&dialect.in_column(column))
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
            let p = q.arg_placeholder(s.as_str());
            q.push(&dialect.ilike(column, &p));
        }
        Comparator::IsNull | Comparator::IsNotNull => {
            q.push(column).push(" ").push(comparator.sql());
        }
        _ => match value {
            Value::Str(s) => {
                let p = q.arg_placeholder(s.as_str());
                q.push(&dialect.compare_str(column, comparator.sql(), &p));
            }
            Value::Num(n) => {
                q.push(column).push(" ").push(comparator.sql()).push(" ");
                bind_number(q, *n)
            }
            _ => return Err(bad()),
        },
    }
    Ok(())
}

pub(super) fn entity_name(e: &Entity) -> &'static str {
    match e {
        Entity::Metric => "metric",
        Entity::Param => "parameter",
        Entity::Tag => "tag",
        Entity::Attribute => "attribute",
        Entity::Dataset => "dataset",
    }
}

/// LIMIT max+1 OFFSET offset, then cut the extra row into a next-page token.
pub(super) fn page<T>(mut items: Vec<T>, max_results: i64, offset: i64) -> Page<T> {
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
