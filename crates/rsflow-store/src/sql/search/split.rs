//! PostgreSQL: `search_runs` ordered by one attribute or one metric, as two consecutive
//! parts whose concatenation is exactly MLflow's order.
//!
//! MLflow orders NULLs (and, for metrics, NaN) last with `CASE` expressions, which no index
//! can produce, so PostgreSQL sorts every matching run to return the first page. Split in two,
//! the first part ("has a value", ordered by the value) is a plain `ORDER BY value, start_time,
//! run_uuid` that an index scan delivers in order and a `LIMIT` stops early; the second part
//! (no value / NaN) is only read when the first runs out. See [`SplitOrder`].

use rsflow_core::search::{Entity, OrderBy};

use crate::sql::query::Sql;

/// Where the first part's rows come from and how each part is ordered.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SplitOrder {
    /// `ORDER BY CASE WHEN col IS NULL THEN 1 ELSE 0 END, col <dir>, ...` becomes
    /// `col IS NOT NULL ORDER BY col <dir>, ...` then `col IS NULL ORDER BY ...`.
    Attribute { column: &'static str, desc: bool },
    /// `ORDER BY CASE WHEN o0.is_nan THEN 1 WHEN o0.value IS NULL THEN 2 ELSE 0 END, o0.value
    /// <dir>, ...` becomes the runs with a non-NaN latest value ordered by it, then the others
    /// (NaN before missing).
    Metric { key: String, desc: bool },
}

/// The part of a split query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    First,
    Rest,
}

impl SplitOrder {
    /// The split for an `order_by` list, when there is one worth making.
    pub(super) fn for_order(
        order_by: &[OrderBy],
        attribute_column: impl Fn(&str) -> Option<&'static str>,
    ) -> Option<SplitOrder> {
        let [o] = order_by else {
            return None;
        };
        match o.entity {
            Entity::Attribute => Some(SplitOrder::Attribute {
                column: attribute_column(&o.key)?,
                desc: !o.ascending,
            }),
            Entity::Metric => Some(SplitOrder::Metric {
                key: o.key.clone(),
                desc: !o.ascending,
            }),
            _ => None,
        }
    }

    /// Append the joins of `part` (right after `FROM runs`).
    pub(super) fn push_joins(&self, q: &mut Sql, part: Part) {
        if let SplitOrder::Metric { key, .. } = self {
            match part {
                Part::First => q.push(
                    " JOIN latest_metrics AS o0 ON o0.run_uuid = runs.run_uuid AND \
                     o0.is_nan = FALSE AND o0.key = ",
                ),
                Part::Rest => q.push(
                    " LEFT OUTER JOIN latest_metrics AS o0 ON o0.run_uuid = runs.run_uuid AND \
                     o0.key = ",
                ),
            }
            .bind(key.as_str());
        }
    }

    /// The WHERE conjunct that selects `part`'s runs, if any.
    pub(super) fn condition(&self, part: Part) -> Option<String> {
        match (self, part) {
            (SplitOrder::Attribute { column, .. }, Part::First) => {
                Some(format!("{column} IS NOT NULL"))
            }
            (SplitOrder::Attribute { column, .. }, Part::Rest) => Some(format!("{column} IS NULL")),
            (SplitOrder::Metric { .. }, Part::First) => None,
            (SplitOrder::Metric { .. }, Part::Rest) => {
                Some("(o0.run_uuid IS NULL OR o0.is_nan = TRUE)".into())
            }
        }
    }

    /// ORDER BY items of `part`, ending with MLflow's tie-breakers.
    pub(super) fn order_items(&self, part: Part) -> Vec<String> {
        let dir = |desc: bool| if desc { " DESC" } else { "" };
        let mut items = Vec::new();
        let mut by_start_time = false;
        match (self, part) {
            (SplitOrder::Attribute { column, desc }, Part::First) => {
                by_start_time = *column == "runs.start_time";
                items.push(format!("{column}{}", dir(*desc)));
            }
            (SplitOrder::Attribute { column, .. }, Part::Rest) => {
                by_start_time = *column == "runs.start_time";
            }
            (SplitOrder::Metric { desc, .. }, Part::First) => {
                items.push(format!("o0.value{}", dir(*desc)));
            }
            (SplitOrder::Metric { desc, .. }, Part::Rest) => {
                items.push("CASE WHEN o0.is_nan = TRUE THEN 1 ELSE 2 END".into());
                items.push(format!("o0.value{}", dir(*desc)));
            }
        }
        if !by_start_time {
            items.push("runs.start_time DESC".into());
        }
        items.push("runs.run_uuid".into());
        items
    }
}

/// Where the second part starts and how many rows it must give, once the first part gave
/// `got` rows for `LIMIT limit OFFSET offset` and holds `first_total` rows in all.
pub(super) fn rest_window(offset: i64, limit: i64, got: i64, first_total: i64) -> (i64, i64) {
    ((offset - first_total).max(0), limit - got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(entity: Entity, key: &str, ascending: bool) -> Vec<OrderBy> {
        vec![OrderBy {
            entity,
            key: key.into(),
            ascending,
        }]
    }

    #[test]
    fn only_single_attribute_or_metric_orders_split() {
        let col = |k: &str| (k == "start_time").then_some("runs.start_time");
        assert_eq!(
            SplitOrder::for_order(&order(Entity::Attribute, "start_time", false), col),
            Some(SplitOrder::Attribute {
                column: "runs.start_time",
                desc: true
            })
        );
        assert_eq!(
            SplitOrder::for_order(&order(Entity::Param, "p", true), col),
            None
        );
        assert_eq!(SplitOrder::for_order(&[], col), None);
        let two = [
            order(Entity::Metric, "a", true),
            order(Entity::Metric, "b", true),
        ]
        .concat();
        assert_eq!(SplitOrder::for_order(&two, col), None);
    }

    #[test]
    fn parts_cover_mlflows_order() {
        let m = SplitOrder::Metric {
            key: "acc".into(),
            desc: true,
        };
        assert_eq!(
            m.order_items(Part::First),
            ["o0.value DESC", "runs.start_time DESC", "runs.run_uuid"]
        );
        assert_eq!(
            m.order_items(Part::Rest),
            [
                "CASE WHEN o0.is_nan = TRUE THEN 1 ELSE 2 END",
                "o0.value DESC",
                "runs.start_time DESC",
                "runs.run_uuid"
            ]
        );
        let mut q = Sql::new("");
        m.push_joins(&mut q, Part::First);
        assert!(
            q.text.ends_with("o0.is_nan = FALSE AND o0.key = $1"),
            "{}",
            q.text
        );
        let a = SplitOrder::Attribute {
            column: "runs.start_time",
            desc: false,
        };
        assert_eq!(
            a.order_items(Part::First),
            ["runs.start_time", "runs.run_uuid"]
        );
        assert_eq!(a.order_items(Part::Rest), ["runs.run_uuid"]);
        assert_eq!(
            a.condition(Part::Rest).as_deref(),
            Some("runs.start_time IS NULL")
        );
    }

    #[test]
    fn rest_window_continues_where_the_first_part_ends() {
        // First page of 10 (+1): 4 rows from the first part, 7 more from the rest.
        assert_eq!(rest_window(0, 11, 4, 4), (0, 7));
        // Offset 20 with 25 rows in the first part: 5 came from it, the rest starts at 0.
        assert_eq!(rest_window(20, 11, 5, 25), (0, 6));
        // Offset 20 with only 12 rows in the first part: skip 8 of the rest.
        assert_eq!(rest_window(20, 11, 0, 12), (8, 11));
    }
}
