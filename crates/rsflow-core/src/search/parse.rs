//! The filter and `order_by` parsers (re-exported from per-entity modules: `runs.rs`,
//! `experiments.rs`, `registry.rs`, `logged.rs`) and the steps they share: statement checks,
//! comparisons, quoted values, lists, `order_by` tokens.
//!
//! Each parser runs the reference's two phases in its order: first every clause is parsed as
//! `search_utils.py` does, then every clause is checked the way the SQLAlchemy store does before
//! it builds SQL. The first error of the first phase wins over any error of the second.

use super::group::{Kind, Node, join_in_comparisons, join_timestamp_comparisons, parse_statements};
use super::lex::Tt;
use super::pylit::{Lit, literal_eval, py_float, shlex_split};
use super::{Clause, Comparator, Entity, MAX_CLAUSES, MAX_FILTER_LEN, Value};
use crate::pyfmt::{repr_list, repr_str};
use crate::{MlflowError, Result};

pub use super::experiments::{parse_experiment_filter, parse_experiment_order_by};
pub use super::logged::parse_logged_model_filter;
pub use super::registry::{
    parse_model_version_filter, parse_model_version_order_by, parse_registered_model_filter,
    parse_registered_model_order_by,
};
pub use super::runs::{parse_run_filter, parse_run_order_by};

pub(crate) fn invalid(msg: impl Into<String>) -> MlflowError {
    MlflowError::invalid_param(msg)
}

/// How "Invalid clause(s)" lists the offending tokens: runs quote each, the others don't.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidStyle {
    Quoted,
    Plain,
    /// Quoted, and a bare `timestamp > 1` is one comparison (trace search).
    Traces,
}

fn check_length(filter: &str, what: &str) -> Result<()> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(invalid(format!(
            "Error on parsing {what}: it is {} bytes long, more than the limit of {MAX_FILTER_LEN}.",
            filter.len()
        )));
    }
    Ok(())
}

/// `parse_search_filter` up to the list of comparison groups.
pub(crate) fn filter_comparisons(filter: &str, style: InvalidStyle) -> Result<Vec<Node>> {
    check_length(filter, "filter")?;
    let statements = parse_statements(filter)
        .map_err(|_| invalid(format!("Error on parsing filter '{filter}'")))?;
    if statements.is_empty() {
        return Err(invalid(format!(
            "Invalid filter '{filter}'. Could not be parsed."
        )));
    }
    if statements.len() > 1 {
        return Err(invalid(format!(
            "Search filter contained multiple expression {}. Provide AND-ed expression list.",
            repr_str(filter)
        )));
    }
    let mut tokens = join_in_comparisons(statements.into_iter().next().unwrap_or_default());
    if style == InvalidStyle::Traces {
        tokens = join_timestamp_comparisons(tokens);
    }
    let invalids: Vec<String> = tokens
        .iter()
        .filter(|t| !t.is(Kind::Comparison) && !t.is_kw("AND"))
        .map(|t| match style {
            InvalidStyle::Quoted | InvalidStyle::Traces => format!("'{}'", t.text()),
            InvalidStyle::Plain => t.text(),
        })
        .collect();
    if !invalids.is_empty() {
        return Err(invalid(format!(
            "Invalid clause(s) in filter string: {}",
            invalids.join(", ")
        )));
    }
    let comparisons: Vec<Node> = tokens
        .into_iter()
        .filter(|t| t.is(Kind::Comparison))
        .collect();
    if comparisons.len() > MAX_CLAUSES {
        return Err(invalid(format!(
            "Search filter has {} clauses; at most {MAX_CLAUSES} are supported.",
            comparisons.len()
        )));
    }
    Ok(comparisons)
}

/// A comparison's tokens without whitespace, checked as `_validate_comparison` does.
pub(crate) fn comparison_parts(comparison: &Node) -> Result<Vec<Node>> {
    comparison_parts_with(comparison, |_| false)
}

/// [`comparison_parts`], also accepting a 3-token comparison whose first token is not an
/// identifier when `allow_first` says so (trace search's bare `timestamp`).
pub(crate) fn comparison_parts_with(
    comparison: &Node,
    allow_first: impl Fn(&Node) -> bool,
) -> Result<Vec<Node>> {
    let parts: Vec<Node> = comparison
        .children()
        .iter()
        .filter(|t| !t.is_whitespace())
        .cloned()
        .collect();
    let base = "Invalid comparison clause";
    if parts.len() == 2 {
        let op = parts[1].text().to_uppercase();
        if op == "IS NULL" || op == "IS NOT NULL" {
            if !parts[0].is(Kind::Identifier) {
                return Err(invalid(format!(
                    "{base}. Expected 'Identifier' found '{}'",
                    parts[0].text()
                )));
            }
            return Ok(parts);
        }
    }
    if parts.len() != 3 {
        return Err(invalid(format!(
            "{base}. Expected 3 tokens found {}",
            parts.len()
        )));
    }
    if !parts[0].is(Kind::Identifier) && !allow_first(&parts[0]) {
        return Err(invalid(format!(
            "{base}. Expected 'Identifier' found '{}'",
            parts[0].text()
        )));
    }
    Ok(parts)
}

fn is_quoted(v: &str, q: char) -> bool {
    v.chars().count() >= 2 && v.starts_with(q) && v.ends_with(q)
}

fn trim_ends(v: &str) -> String {
    let mut c = v.chars();
    c.next();
    c.next_back();
    c.as_str().to_string()
}

pub(crate) fn trim_backticks(v: &str) -> String {
    if is_quoted(v, '`') {
        trim_ends(v)
    } else {
        v.to_string()
    }
}

/// `_strip_quotes`.
pub(crate) fn strip_quotes(v: &str, expect_quoted: bool) -> Result<String> {
    if is_quoted(v, '\'') || is_quoted(v, '"') {
        Ok(trim_ends(v))
    } else if expect_quoted {
        Err(invalid(format!(
            "Parameter value is either not quoted or unidentified quote types used for string \
             value {v}. Use either single or double quotes."
        )))
    } else {
        Ok(v.to_string())
    }
}

/// A value token is a quoted string (`'..'`) or an identifier (which covers `".."`).
pub(crate) fn is_string_token(n: &Node) -> bool {
    n.tt() == Some(Tt::Single) || n.is(Kind::Identifier)
}

pub(crate) fn is_numeric_token(n: &Node) -> bool {
    matches!(n.tt(), Some(Tt::Integer | Tt::Float))
}

/// `_parse_list_from_sql_token`: a non-empty tuple of strings.
pub(crate) fn parse_list(n: &Node) -> Result<Vec<String>> {
    let parsed = literal_eval(&n.text()).ok_or_else(|| {
        invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but \
             got ill-formed list.",
        )
    })?;
    let items = match parsed {
        Lit::Tuple(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        return Err(invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but \
             got empty list",
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        match item {
            Lit::Str(s) => out.push(s.clone()),
            _ => {
                return Err(invalid(format!(
                    "While parsing a list in the query, expected string value, punctuation, or \
                     whitespace, but got different type in list: {}",
                    Lit::Tuple(items.clone()).repr()
                )));
            }
        }
    }
    Ok(out)
}

/// `validate_list_supported`.
pub(crate) fn check_list_supported(key: &str, supported: &[&str]) -> Result<()> {
    if !supported.contains(&key) {
        let mut sorted = supported.to_vec();
        sorted.sort_unstable();
        return Err(invalid(format!(
            "Only {} attributes support comparison with a list of quoted string values.",
            repr_list(&sorted)
        )));
    }
    Ok(())
}

/// A parsed right-hand side before the store-level checks.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    Str(String),
    /// A numeric token's text and whether it lexed as an integer.
    Num(String, bool),
    List(Vec<String>),
    Null,
}

impl Raw {
    pub fn into_value(self) -> Value {
        match self {
            Raw::Str(s) => Value::Str(s),
            Raw::Num(t, _) => Value::Num(py_float(&t).unwrap_or(f64::NAN)),
            Raw::List(l) => Value::List(l),
            Raw::Null => Value::None,
        }
    }
}

/// A clause after the parse phase: MLflow's entity name, key, raw comparator and value.
#[derive(Debug, Clone)]
pub(crate) struct RawClause {
    pub etype: &'static str,
    pub key: String,
    pub comparator: String,
    pub value: Raw,
}

/// `(order_by string) -> (identifier text, ascending)`: `_parse_order_by_string`.
pub(crate) fn order_by_token(order_by: &str) -> Result<(String, bool)> {
    check_length(order_by, "order_by clause")?;
    let unparsable = || {
        invalid(format!(
            "Invalid order_by clause '{order_by}'. Could not be parsed."
        ))
    };
    let statements = parse_statements(order_by)
        .map_err(|_| invalid(format!("Error on parsing order_by clause '{order_by}'")))?;
    if statements.len() != 1 {
        return Err(unparsable());
    }
    let st = &statements[0];
    let is_timestamp = |n: &Node| n.tt() == Some(Tt::Builtin) && n.text() == "timestamp";
    let token_value = if st.len() == 1 && st[0].is(Kind::Identifier) {
        st[0].text()
    } else if st.len() == 1 && is_timestamp(&st[0]) {
        "timestamp".to_string()
    } else if is_timestamp(&st[0])
        && st.len() >= 2
        && st[1..st.len() - 1].iter().all(Node::is_whitespace)
        && st[st.len() - 1].tt() == Some(Tt::Order)
    {
        format!("timestamp {}", st[st.len() - 1].text())
    } else {
        return Err(unparsable());
    };
    let tokens = shlex_split(&token_value.replace('`', "\"")).ok_or_else(unparsable)?;
    match tokens.len() {
        0 | 1 => Ok((token_value, true)),
        2 => match tokens[1].to_lowercase().as_str() {
            "asc" => Ok((tokens[0].clone(), true)),
            "desc" => Ok((tokens[0].clone(), false)),
            _ => Err(invalid(format!(
                "Invalid ordering key in order_by clause '{order_by}'."
            ))),
        },
        _ => Err(unparsable()),
    }
}

/// Python's `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace())
}

pub(crate) fn entity_of(etype: &str) -> Entity {
    match etype {
        "metric" => Entity::Metric,
        "parameter" => Entity::Param,
        "tag" => Entity::Tag,
        "dataset" => Entity::Dataset,
        _ => Entity::Attribute,
    }
}

fn comparator_of(upper: &str) -> Result<Comparator> {
    Comparator::from_upper(upper).ok_or_else(|| invalid(format!("Invalid comparator '{upper}'")))
}

/// A list value only makes sense with `IN` / `NOT IN` (MLflow fails deep in the database driver
/// otherwise); a scalar never reaches `IN`, since the grammar only forms `IN` with a list.
pub(crate) fn build_clause(
    rc: RawClause,
    entity: Entity,
    key: String,
    upper: &str,
) -> Result<Clause> {
    let comparator = comparator_of(upper)?;
    if matches!(rc.value, Raw::List(_)) && !matches!(comparator, Comparator::In | Comparator::NotIn)
    {
        return Err(invalid(format!(
            "Invalid comparator '{}' for a list of values: use IN or NOT IN.",
            rc.comparator
        )));
    }
    Ok(Clause {
        entity,
        key,
        comparator,
        value: rc.value.into_value(),
    })
}
