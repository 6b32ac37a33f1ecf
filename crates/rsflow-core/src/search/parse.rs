//! Filter and `order_by` parsers for runs and experiments, plus the steps every entity shares
//! (statement checks, identifiers, quoted values, lists). Registry entities live in
//! `registry.rs`, logged models in `logged.rs`; all are re-exported here.
//!
//! Each parser runs the reference's two phases in its order: first every clause is parsed as
//! `search_utils.py` does, then every clause is checked the way the SQLAlchemy store does before
//! it builds SQL. The first error of the first phase wins over any error of the second.

use super::group::{Kind, Node, join_in_comparisons, parse_statements};
use super::lex::Tt;
use super::pylit::{
    Lit, literal_eval, py_float, py_int, repr_list, repr_set, repr_str, shlex_split,
};
use super::{Clause, Comparator, Entity, MAX_CLAUSES, MAX_FILTER_LEN, OrderBy, Value};
use crate::{MlflowError, Result};

pub use super::logged::parse_logged_model_filter;
pub use super::registry::{
    parse_model_version_filter, parse_model_version_order_by, parse_registered_model_filter,
    parse_registered_model_order_by,
};

pub(crate) fn invalid(msg: impl Into<String>) -> MlflowError {
    MlflowError::invalid_param(msg)
}

/// How "Invalid clause(s)" lists the offending tokens: runs quote each, the others don't.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidStyle {
    Quoted,
    Plain,
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
    let tokens = join_in_comparisons(statements.into_iter().next().unwrap_or_default());
    let invalids: Vec<String> = tokens
        .iter()
        .filter(|t| !t.is(Kind::Comparison) && !t.is_kw("AND"))
        .map(|t| match style {
            InvalidStyle::Quoted => format!("'{}'", t.text()),
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
    if !parts[0].is(Kind::Identifier) {
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

// ---------------------------------------------------------------------------------------------
// Runs (`SearchUtils` + `_get_sqlalchemy_filter_clauses` / `_get_orderby_clauses`)
// ---------------------------------------------------------------------------------------------

const RUN_SEARCH_KEYS: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
    "run name",
    "Run name",
    "Run Name",
];
const RUN_ORDER_KEYS: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
];
const RUN_NUMERIC: &[&str] = &["start_time", "end_time", "created", "Created"];
const DATASET_KEYS: &[&str] = &["name", "digest", "context"];
const METRIC_CMP: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
const PARAM_CMP: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"];
const STRING_ATTR_CMP: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];

/// `SearchUtils.translate_key_alias`.
fn translate_key_alias(key: &str) -> String {
    match key {
        "created" | "Created" => "start_time".into(),
        "run name" | "Run name" | "Run Name" => "run_name".into(),
        k => k.into(),
    }
}

/// `SearchUtils._get_identifier`: `(entity type, key)`.
fn run_identifier(identifier: &str, valid_attributes: &[&str]) -> Result<(&'static str, String)> {
    let (etype, key) = match identifier.split_once('.') {
        None => ("attribute", identifier),
        Some((e, k)) => (e, k),
    };
    let etype = trim_backticks(etype);
    let etype: &'static str = match etype.as_str() {
        "metric" | "metrics" => "metric",
        "parameter" | "parameters" | "param" | "params" => "parameter",
        "tag" | "tags" => "tag",
        "attribute" | "attr" | "attributes" | "run" => "attribute",
        "dataset" | "datasets" => "dataset",
        other => {
            return Err(invalid(format!(
                "Invalid entity type '{other}'. Valid values are ['metric', 'parameter', 'tag', \
                 'attribute', 'dataset']"
            )));
        }
    };
    let key = trim_backticks(&strip_quotes(key, false)?);
    if etype == "attribute" && !valid_attributes.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            repr_set(valid_attributes)
        )));
    }
    if etype == "dataset" && !DATASET_KEYS.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid dataset key '{key}' specified. Valid keys are '{}'",
            repr_set(DATASET_KEYS)
        )));
    }
    Ok((etype, key))
}

/// `SearchUtils._get_value` for runs.
fn run_value(etype: &str, key: &str, tok: &Node) -> Result<Raw> {
    let text = tok.text();
    match etype {
        "metric" => {
            if !is_numeric_token(tok) {
                return Err(invalid(format!(
                    "Expected numeric value type for metric. Found {text}"
                )));
            }
            Ok(Raw::Num(text, tok.tt() == Some(Tt::Integer)))
        }
        "parameter" | "tag" => {
            if is_string_token(tok) {
                return Ok(Raw::Str(strip_quotes(&text, true)?));
            }
            Err(invalid(format!(
                "Expected a quoted string value for {etype} (e.g. 'my-value'). Got value {text}"
            )))
        }
        "attribute" => {
            if RUN_NUMERIC.contains(&key) {
                if !is_numeric_token(tok) {
                    return Err(invalid(format!(
                        "Expected numeric value type for numeric attribute: {key}. Found {text}"
                    )));
                }
                Ok(Raw::Num(text, tok.tt() == Some(Tt::Integer)))
            } else if is_string_token(tok) {
                Ok(Raw::Str(strip_quotes(&text, true)?))
            } else if tok.is(Kind::Parenthesis) {
                check_list_supported(key, &["run_id"])?;
                Ok(Raw::List(parse_list(tok)?))
            } else {
                Err(invalid(format!(
                    "Expected a quoted string value for attributes. Got value {text}"
                )))
            }
        }
        _ => {
            if DATASET_KEYS.contains(&key) && is_string_token(tok) {
                Ok(Raw::Str(strip_quotes(&text, true)?))
            } else if tok.is(Kind::Parenthesis) {
                Ok(Raw::List(parse_list(tok)?))
            } else {
                Err(invalid(format!(
                    "Expected a quoted string value for dataset attributes. Got value {text}"
                )))
            }
        }
    }
}

/// "Invalid comparator" as `SearchUtils.is_*` words it; some variants lack the closing quote.
fn bad_comparator(c: &str, valid: &[&str], closing_quote: bool) -> MlflowError {
    invalid(format!(
        "Invalid comparator '{c}' not one of '{}{}",
        repr_set(valid),
        if closing_quote { "'" } else { "" }
    ))
}

/// Parses a `runs/search` filter. Attribute keys come out canonical (`created` becomes
/// `start_time`, `Run name` becomes `run_name`); `run_name` is stored as the `mlflow.runName` tag
/// by the reference, which is the store's business.
pub fn parse_run_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    let mut raws = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Quoted)? {
        let parts = comparison_parts(&cmp)?;
        let (etype, key) = run_identifier(&parts[0].text(), RUN_SEARCH_KEYS)?;
        if parts.len() == 2 {
            if etype != "tag" && etype != "parameter" {
                return Err(invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags and params, not for \
                     '{etype}' '{key}'"
                )));
            }
            raws.push(RawClause {
                etype,
                key,
                comparator: parts[1].text().to_uppercase(),
                value: Raw::Null,
            });
            continue;
        }
        let value = run_value(etype, &key, &parts[2])?;
        raws.push(RawClause {
            etype,
            key,
            comparator: parts[1].text(),
            value,
        });
    }
    raws.into_iter()
        .map(|rc| {
            let upper = rc.comparator.to_uppercase();
            let key = translate_key_alias(&rc.key);
            match rc.etype {
                "attribute"
                    if !RUN_NUMERIC.contains(&key.as_str())
                        && !STRING_ATTR_CMP.contains(&upper.as_str()) =>
                {
                    return Err(bad_comparator(&upper, STRING_ATTR_CMP, true));
                }
                "attribute"
                    if RUN_NUMERIC.contains(&key.as_str())
                        && !METRIC_CMP.contains(&upper.as_str()) =>
                {
                    return Err(bad_comparator(&upper, STRING_ATTR_CMP, false));
                }
                "metric" if !METRIC_CMP.contains(&upper.as_str()) => {
                    return Err(bad_comparator(&upper, METRIC_CMP, false));
                }
                "parameter" if !PARAM_CMP.contains(&upper.as_str()) => {
                    return Err(bad_comparator(&upper, PARAM_CMP, true));
                }
                "tag" if !PARAM_CMP.contains(&upper.as_str()) => {
                    return Err(bad_comparator(&upper, PARAM_CMP, false));
                }
                "dataset" if !STRING_ATTR_CMP.contains(&upper.as_str()) => {
                    return Err(bad_comparator(&upper, STRING_ATTR_CMP, false));
                }
                _ => {}
            }
            if let Raw::Num(text, _) = &rc.value
                && py_float(text).is_none()
            {
                return Err(invalid(format!(
                    "Expected numeric value type for metric. Found {text}"
                )));
            }
            build_clause(rc.clone(), entity_of(rc.etype), key, &upper)
        })
        .collect()
}

/// Parses `runs/search` `order_by` entries. A repeated field is a 400 here where the reference
/// answers 500, with the same message.
pub fn parse_run_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    let mut out: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for clause in order_by {
        let (token, ascending) = order_by_token(clause)?;
        let (etype, key) = run_identifier(py_strip(&token), RUN_ORDER_KEYS)?;
        let key = translate_key_alias(&key);
        if etype == "dataset" {
            return Err(invalid(format!("Invalid identifier type '{etype}'")));
        }
        let entity = entity_of(etype);
        if out.iter().any(|o| o.entity == entity && o.key == key) {
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                repr_list(order_by)
            )));
        }
        out.push(OrderBy {
            entity,
            key,
            ascending,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Experiments (`SearchExperimentsUtils` + `_get_search_experiments_filter_clauses`)
// ---------------------------------------------------------------------------------------------

const EXPERIMENT_KEYS: &[&str] = &["name", "experiment_id", "creation_time", "last_update_time"];
const EXPERIMENT_NUMERIC: &[&str] = &["creation_time", "last_update_time"];

/// `SearchExperimentsUtils._get_identifier` (also used for registry `order_by`).
pub(crate) fn experiment_identifier(
    identifier: &str,
    valid_attributes: &[&str],
) -> Result<(&'static str, String)> {
    let (etype, key): (&'static str, &str) = match identifier.split_once('.') {
        None => ("attribute", identifier),
        Some((e, k)) => match e {
            "attribute" => ("attribute", k),
            "tag" | "tags" => ("tag", k),
            other => {
                return Err(invalid(format!(
                    "Invalid entity type '{other}'. Valid entity types are ('attribute', 'tag', \
                     'tags')"
                )));
            }
        },
    };
    let key = trim_backticks(&strip_quotes(key, false)?);
    if etype == "attribute" && !valid_attributes.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            repr_set(valid_attributes)
        )));
    }
    Ok((etype, key))
}

fn experiment_value(etype: &str, key: &str, tok: &Node) -> Result<Raw> {
    let text = tok.text();
    if etype == "tag" {
        if is_string_token(tok) {
            return Ok(Raw::Str(strip_quotes(&text, true)?));
        }
        return Err(invalid(format!(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}"
        )));
    }
    if EXPERIMENT_NUMERIC.contains(&key) {
        if !is_numeric_token(tok) {
            return Err(invalid(format!(
                "Expected numeric value type for numeric attribute: {key}. Found {text}"
            )));
        }
        Ok(Raw::Num(text, tok.tt() == Some(Tt::Integer)))
    } else if is_string_token(tok) {
        Ok(Raw::Str(strip_quotes(&text, true)?))
    } else if tok.is(Kind::Parenthesis) {
        check_list_supported(key, &["experiment_id"])?;
        Ok(Raw::List(parse_list(tok)?))
    } else {
        Err(invalid(format!(
            "Expected a quoted string value for attributes. Got value {text}"
        )))
    }
}

/// MLflow's `_parse_experiment_id` message for a value that is not an integer.
fn experiment_id_int(v: &str) -> Result<String> {
    py_int(v).map(|i| i.to_string()).ok_or_else(|| {
        invalid(format!(
            "Invalid experiment ID '{v}'. Experiment ID must be a valid integer."
        ))
    })
}

/// Parses an `experiments/search` filter. The reference's store compares experiment filter
/// comparators case-sensitively (`name like 'x'` is rejected), and so does this. `experiment_id`
/// values come out as canonical integers (`' 12 '` becomes `12`).
pub fn parse_experiment_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    let mut raws = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Plain)? {
        let parts = comparison_parts(&cmp)?;
        let (etype, key) = experiment_identifier(&parts[0].text(), EXPERIMENT_KEYS)?;
        if parts.len() == 2 {
            if etype != "tag" {
                return Err(invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
                )));
            }
            raws.push(RawClause {
                etype,
                key,
                comparator: parts[1].text().to_uppercase(),
                value: Raw::Null,
            });
            continue;
        }
        let value = experiment_value(etype, &key, &parts[2])?;
        raws.push(RawClause {
            etype,
            key,
            comparator: parts[1].text(),
            value,
        });
    }
    raws.into_iter().map(experiment_store_check).collect()
}

fn experiment_store_check(mut rc: RawClause) -> Result<Clause> {
    let c = rc.comparator.clone();
    if rc.etype == "tag" {
        if !matches!(
            c.as_str(),
            "IS NULL" | "IS NOT NULL" | "=" | "!=" | "LIKE" | "ILIKE"
        ) {
            return Err(invalid(format!("Invalid comparator for tag: {c}")));
        }
    } else if rc.key == "experiment_id" {
        if !matches!(c.as_str(), "=" | "!=" | "IN" | "NOT IN") {
            return Err(invalid(format!(
                "Invalid comparator for experiment_id: {c}"
            )));
        }
        rc.value = match rc.value {
            Raw::Str(s) => Raw::Str(experiment_id_int(&s)?),
            Raw::List(l) => Raw::List(
                l.iter()
                    .map(|s| experiment_id_int(s))
                    .collect::<Result<_>>()?,
            ),
            other => other,
        };
    } else if EXPERIMENT_NUMERIC.contains(&rc.key.as_str()) {
        if !METRIC_CMP.contains(&c.as_str()) {
            return Err(bad_comparator(&c, STRING_ATTR_CMP, false));
        }
        if let Raw::Num(text, is_int) = &rc.value {
            if !is_int {
                return Err(invalid(format!(
                    "Invalid value for numeric attribute '{}': {}",
                    rc.key,
                    repr_str(&super::pylit::repr_float(
                        py_float(text).unwrap_or(f64::NAN)
                    ))
                )));
            }
            if py_int(text).is_none() {
                return Err(invalid(format!(
                    "Invalid value for numeric attribute '{}': {}",
                    rc.key,
                    repr_str(text)
                )));
            }
        }
    } else {
        if !STRING_ATTR_CMP.contains(&c.as_str()) {
            return Err(bad_comparator(&c, STRING_ATTR_CMP, true));
        }
        if !matches!(c.as_str(), "=" | "!=" | "LIKE" | "ILIKE") {
            return Err(invalid(format!(
                "Invalid comparator for string attribute: {c}"
            )));
        }
    }
    let key = rc.key.clone();
    build_clause(rc.clone(), entity_of(rc.etype), key, &c)
}

/// Parses `experiments/search` `order_by` entries (attributes only; repeats are allowed, as in
/// the reference).
pub fn parse_experiment_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    order_by
        .iter()
        .map(|clause| {
            let (token, ascending) = order_by_token(clause)?;
            let (etype, key) = experiment_identifier(py_strip(&token), EXPERIMENT_KEYS)?;
            if etype != "attribute" {
                return Err(invalid(format!("Invalid order_by entity: {etype}")));
            }
            Ok(OrderBy {
                entity: Entity::Attribute,
                key,
                ascending,
            })
        })
        .collect()
}
