//! Search filters and `order_by` clauses: the AST the stores consume, and MLflow's parsers.
//!
//! The reference parses filters with `sqlparse` and then validates them partly in
//! `mlflow/utils/search_utils.py` and partly in the SQLAlchemy stores. The parsers here do both
//! steps, so an AST that parses is one the SQL store can run as is, and every rejection is a 400
//! INVALID_PARAMETER_VALUE with the reference's wording.

mod datasets;
mod experiments;
mod group;
mod keywords;
mod lex;
mod logged;
pub mod parse;
pub(crate) mod pylit;
mod registry;
mod runs;
#[cfg(test)]
mod tests;
pub mod traces;

pub use datasets::{parse_dataset_filter, parse_dataset_order_by, parse_issue_filter};
pub use parse::{
    parse_experiment_filter, parse_experiment_order_by, parse_logged_model_filter,
    parse_model_version_filter, parse_model_version_order_by, parse_registered_model_filter,
    parse_registered_model_order_by, parse_run_filter, parse_run_order_by,
};
pub use traces::{
    MetricsFilter, TraceClause, TraceEntity, TraceOrderBy, TraceValue, parse_trace_filter,
    parse_trace_metrics_filter, parse_trace_order_by,
};

/// What a clause or an order-by key refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Comparator {
    /// The SQL operator text.
    pub fn sql(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }

    /// From an upper-cased comparator as MLflow spells it.
    pub(crate) fn from_upper(s: &str) -> Option<Comparator> {
        Some(match s {
            "=" => Comparator::Eq,
            "!=" => Comparator::Ne,
            "<" => Comparator::Lt,
            "<=" => Comparator::Le,
            ">" => Comparator::Gt,
            ">=" => Comparator::Ge,
            "LIKE" => Comparator::Like,
            "ILIKE" => Comparator::ILike,
            "IN" => Comparator::In,
            "NOT IN" => Comparator::NotIn,
            "IS NULL" => Comparator::IsNull,
            "IS NOT NULL" => Comparator::IsNotNull,
            _ => return None,
        })
    }
}

/// A clause's right-hand side: `Num` for metrics and numeric attributes, `Str` for strings,
/// `List` for `IN` / `NOT IN`, `None` for `IS [NOT] NULL`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    List(Vec<String>),
    None,
}

/// One `AND`-ed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub key: String,
    pub comparator: Comparator,
    pub value: Value,
}

/// One `order_by` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub entity: Entity,
    pub key: String,
    pub ascending: bool,
}

/// Longest filter accepted. MLflow itself has no length cap, but its parser gives up past
/// 10,000 tokens; the byte cap bounds the work done before that check.
pub const MAX_FILTER_LEN: usize = 64 * 1024;
/// sqlparse's `MAX_GROUPING_TOKENS`: more tokens in one statement is a parse error.
pub(crate) const MAX_TOKENS: usize = 10_000;
/// sqlparse's `MAX_GROUPING_DEPTH`: deeper parenthesis nesting is a parse error.
pub(crate) const MAX_DEPTH: usize = 100;
/// Most clauses in one filter (the token cap allows about 1,250).
pub const MAX_CLAUSES: usize = 1000;
