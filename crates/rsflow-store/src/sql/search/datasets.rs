//! `search_datasets`: attribute and tag filters, experiment links, ordering with MLflow's
//! `dataset_id DESC` tie-breaker.

use rsflow_core::genai::SearchDatasets;
use rsflow_core::search::{Entity, parse_dataset_filter, parse_dataset_order_by};
use rsflow_core::{Result, page_token};

use super::{compare, validate_max_results};
use crate::sql::datasets::{ASSOC_DATASET, ASSOC_EXPERIMENT};
use crate::sql::query::{Dialect, Sql};

/// The statement (LIMIT max+1) and the offset it starts at.
pub(crate) fn search_sql(dialect: Dialect, query: &SearchDatasets) -> Result<(Sql, i64)> {
    validate_max_results(query.max_results)?;
    let offset = page_token::decode_offset(query.page_token.as_deref())?;
    let clauses = parse_dataset_filter(&query.filter)?;
    let order = if query.order_by.is_empty() {
        parse_dataset_order_by(&["created_time DESC".to_string()])?
    } else {
        parse_dataset_order_by(&query.order_by)?
    };
    let mut q = Sql::new(
        "SELECT d.dataset_id, d.name, d.schema, d.profile, d.digest, d.created_time, \
         d.last_update_time, d.created_by, d.last_updated_by FROM evaluation_datasets d WHERE 1 = 1",
    );
    if !query.experiment_ids.is_empty() {
        q.push(
            " AND d.dataset_id IN (SELECT source_id FROM entity_associations WHERE \
             destination_type = ",
        )
        .bind(ASSOC_EXPERIMENT)
        .push(" AND source_type = ")
        .bind(ASSOC_DATASET)
        .push(" AND destination_id IN ")
        .bind_list(&query.experiment_ids)
        .push(")");
    }
    for c in &clauses {
        q.push(" AND ");
        match c.entity {
            Entity::Tag => {
                q.push(
                    "EXISTS (SELECT 1 FROM evaluation_dataset_tags t WHERE t.dataset_id = \
                     d.dataset_id AND t.key = ",
                )
                .bind(c.key.as_str())
                .push(" AND ");
                compare(&mut q, dialect, "t.value", c.comparator, &c.value)?;
                q.push(")");
            }
            _ => {
                let column = format!("d.{}", c.key);
                compare(&mut q, dialect, &column, c.comparator, &c.value)?;
            }
        }
    }
    q.push(" ORDER BY ");
    for o in &order {
        q.push(&format!(
            "d.{} {}, ",
            o.key,
            if o.ascending { "ASC" } else { "DESC" }
        ));
    }
    q.push("d.dataset_id DESC LIMIT ")
        .bind(query.max_results + 1)
        .push(" OFFSET ")
        .bind(offset);
    Ok((q, offset))
}
