//! Interim mirror of `rsflow_core::search` (being written on branch `search`): the AST shapes
//! the SQL rendering consumes. Replaced by `rsflow_core::search` when that branch is merged.

use rsflow_core::{MlflowError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    List(Vec<String>),
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub entity: Entity,
    pub key: String,
    pub comparator: Comparator,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub entity: Entity,
    pub key: String,
    pub ascending: bool,
}

fn pending() -> MlflowError {
    MlflowError::not_implemented("search filters are not available in this build yet")
}

pub fn parse_run_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        Ok(vec![])
    } else {
        Err(pending())
    }
}

pub fn parse_run_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    if order_by.is_empty() {
        Ok(vec![])
    } else {
        Err(pending())
    }
}

pub fn parse_experiment_filter(filter: &str) -> Result<Vec<Clause>> {
    parse_run_filter(filter)
}

pub fn parse_experiment_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    parse_run_order_by(order_by)
}
