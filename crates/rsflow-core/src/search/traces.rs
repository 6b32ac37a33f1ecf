//! Trace filters and `order_by` (spec §2.10): `SearchTraceUtils` in `search_utils.py` plus the
//! checks of the SQLAlchemy store's `_get_filter_clauses_for_search_traces` and
//! `_get_orderby_clauses_for_search_traces`, in that order.

use super::group::{Kind, Node};
use super::lex::Tt;
use super::parse::{
    InvalidStyle, comparison_parts_with, filter_comparisons, invalid, is_numeric_token,
    is_string_token, order_by_token, parse_list, py_strip, strip_quotes, trim_backticks,
};
use super::pylit::{py_float, py_int};
use super::runs::bad_comparator;
use crate::pyfmt::{repr_list, repr_set};
use crate::trace::TAG_TRACE_NAME;
use crate::trace::{
    META_COST, META_SESSION, META_SOURCE_RUN, META_TOKEN_USAGE, TAG_LINKED_PROMPTS,
};
use crate::{MlflowError, Result};

const SEARCH_KEYS: &[&str] = &[
    "request_id",
    "timestamp",
    "timestamp_ms",
    "execution_time",
    "execution_time_ms",
    "end_time",
    "end_time_ms",
    "status",
    "client_request_id",
    "name",
    "run_id",
    "prompt",
    "text",
];
const ORDER_KEYS: &[&str] = &[
    "experiment_id",
    "timestamp",
    "timestamp_ms",
    "execution_time",
    "execution_time_ms",
    "end_time",
    "end_time_ms",
    "status",
    "request_id",
    "name",
    "run_id",
];
const NUMERIC_ATTRIBUTES: &[&str] = &[
    "timestamp_ms",
    "timestamp",
    "execution_time_ms",
    "execution_time",
    "end_time_ms",
    "end_time",
];
const IN_KEYS: &[&str] = &[
    "name",
    "status",
    "request_id",
    "run_id",
    "client_request_id",
];
const TAG_CMP: &[&str] = &[
    "!=",
    "=",
    "LIKE",
    "ILIKE",
    "RLIKE",
    "IS NULL",
    "IS NOT NULL",
];
const STRING_ATTR_CMP: &[&str] = &["!=", "=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE"];
const NUMERIC_CMP: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
const SPAN_CMP: &[&str] = &["!=", "=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE"];
const SPAN_CONTENT_CMP: &[&str] = &["LIKE", "ILIKE"];
const METADATA_CMP: &[&str] = TAG_CMP;
const NUMERIC_ASSESSMENT_CMP: &[&str] = &[">", ">=", "<", "<="];
const ASSESSMENT_CMP: &[&str] = &[
    "!=",
    "=",
    ">",
    ">=",
    "<",
    "<=",
    "LIKE",
    "ILIKE",
    "RLIKE",
    "IS NULL",
    "IS NOT NULL",
];
const IDENTIFIERS: &[&str] = &[
    "tag",
    "request_metadata",
    "attribute",
    "span",
    "feedback",
    "expectation",
    "issue",
    "tags",
    "attributes",
    "trace",
    "metadata",
];

/// What a trace clause or order-by key refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEntity {
    /// A `trace_info` column: `request_id`, `timestamp_ms`, `execution_time_ms`, `end_time_ms`
    /// (timestamp + duration), `status`, `client_request_id`, `experiment_id` (order only).
    Attribute,
    Tag,
    Metadata,
    /// Keys `name`, `type`, `status`, `content`, `attributes.<name>`.
    Span,
    Feedback,
    Expectation,
    /// Key `id`: issue references (`issue` assessments) by issue id.
    Issue,
}

impl TraceEntity {
    fn mlflow_name(self) -> &'static str {
        match self {
            TraceEntity::Attribute => "attribute",
            TraceEntity::Tag => "tag",
            TraceEntity::Metadata => "request_metadata",
            TraceEntity::Span => "span",
            TraceEntity::Feedback => "feedback",
            TraceEntity::Expectation => "expectation",
            TraceEntity::Issue => "issue",
        }
    }
}

/// A right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceValue {
    Str(String),
    Int(i64),
    Float(f64),
    List(Vec<String>),
    None,
}

/// One `AND`-ed condition. `comparator` is upper case (`=`, `!=`, `<`, ..., `LIKE`, `ILIKE`,
/// `RLIKE`, `IN`, `NOT IN`, `IS NULL`, `IS NOT NULL`), already checked against the entity.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceClause {
    pub entity: TraceEntity,
    pub key: String,
    pub comparator: String,
    pub value: TraceValue,
}

/// One `order_by` entry, keys canonical (`timestamp` is `timestamp_ms`; `name` is the tag
/// `mlflow.traceName`; `run_id` the metadata `mlflow.sourceRun`).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceOrderBy {
    pub entity: TraceEntity,
    pub key: String,
    pub ascending: bool,
}

fn entity_of(etype: &str) -> Result<TraceEntity> {
    let e = trim_backticks(etype);
    Ok(match e.as_str() {
        "tag" | "tags" => TraceEntity::Tag,
        "request_metadata" | "metadata" => TraceEntity::Metadata,
        "attribute" | "attributes" | "trace" => TraceEntity::Attribute,
        "span" => TraceEntity::Span,
        "feedback" => TraceEntity::Feedback,
        "expectation" => TraceEntity::Expectation,
        "issue" => TraceEntity::Issue,
        other => {
            return Err(invalid(format!(
                "Invalid entity type '{other}'. Valid values are {}",
                repr_set(IDENTIFIERS)
            )));
        }
    })
}

/// `_get_identifier`.
fn identifier(text: &str, valid_attributes: &[&str]) -> Result<(TraceEntity, String)> {
    let (etype, key) = match text.split_once('.') {
        None => ("attribute", text),
        Some((e, k)) => (e, k),
    };
    let entity = entity_of(etype)?;
    let key = trim_backticks(&strip_quotes(key, false)?);
    if entity == TraceEntity::Attribute && !valid_attributes.contains(&key.as_str()) {
        return Err(invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            repr_set(valid_attributes)
        )));
    }
    Ok((entity, key))
}

/// `_replace_key_to_tag_or_metadata` (not for spans): aliases whatever the entity.
fn replace_key(entity: TraceEntity, key: String) -> (TraceEntity, String) {
    if entity == TraceEntity::Span {
        return (entity, key);
    }
    match key.to_lowercase().as_str() {
        "name" => (TraceEntity::Tag, TAG_TRACE_NAME.to_string()),
        "prompt" => (TraceEntity::Tag, TAG_LINKED_PROMPTS.to_string()),
        "run_id" => (TraceEntity::Metadata, META_SOURCE_RUN.to_string()),
        "text" => (TraceEntity::Span, "content".to_string()),
        "timestamp" => (entity, "timestamp_ms".to_string()),
        "execution_time" => (entity, "execution_time_ms".to_string()),
        "end_time" => (entity, "end_time_ms".to_string()),
        _ => (entity, key),
    }
}

fn numeric(tok: &Node) -> Result<TraceValue> {
    let text = tok.text();
    if tok.tt() == Some(Tt::Integer)
        && let Some(i) = py_int(&text)
    {
        return Ok(TraceValue::Int(i));
    }
    py_float(&text)
        .map(TraceValue::Float)
        .ok_or_else(|| invalid(format!("Invalid numeric value {text}")))
}

fn expected_quoted(entity: TraceEntity, text: &str) -> MlflowError {
    invalid(format!(
        "Expected a quoted string value for {} (e.g. 'my-value'). Got value {text}",
        entity.mlflow_name()
    ))
}

/// `SearchTraceUtils._get_value`, `key` before aliasing.
fn value_of(entity: TraceEntity, key: &str, tok: &Node) -> Result<TraceValue> {
    let text = tok.text();
    let string = || Ok(TraceValue::Str(strip_quotes(&text, true)?));
    match entity {
        TraceEntity::Tag | TraceEntity::Span => {
            if is_string_token(tok) {
                string()
            } else if tok.is(Kind::Parenthesis) {
                Ok(TraceValue::List(parse_list(tok)?))
            } else {
                Err(expected_quoted(entity, &text))
            }
        }
        TraceEntity::Attribute => {
            if is_string_token(tok) {
                string()
            } else if tok.is(Kind::Parenthesis) {
                if !IN_KEYS.contains(&key) {
                    return Err(invalid(format!(
                        "Only attributes in {} supports comparison with a list of quoted string \
                         values.",
                        repr_set(IN_KEYS)
                    )));
                }
                Ok(TraceValue::List(parse_list(tok)?))
            } else if is_numeric_token(tok) {
                if !NUMERIC_ATTRIBUTES.contains(&key) {
                    return Err(invalid(format!(
                        "Only the '{}' attributes support comparison with numeric values.",
                        repr_set(NUMERIC_ATTRIBUTES)
                    )));
                }
                numeric(tok)
            } else {
                Err(invalid(format!(
                    "Expected a quoted string value or a list of quoted string values for \
                     attributes. Got value {text}"
                )))
            }
        }
        TraceEntity::Metadata | TraceEntity::Issue => {
            if is_string_token(tok) {
                string()
            } else {
                Err(expected_quoted(entity, &text))
            }
        }
        TraceEntity::Feedback | TraceEntity::Expectation => {
            if is_string_token(tok) {
                string()
            } else if is_numeric_token(tok) {
                numeric(tok)
            } else {
                Err(invalid(format!(
                    "Expected a quoted string value or numeric value for {} (e.g. 'my-value' or \
                     0.8). Got value {text}",
                    entity.mlflow_name()
                )))
            }
        }
    }
}

/// `_validate_assessment_comparison_value`.
fn check_assessment_value(entity: TraceEntity, comparator: &str, tok: &Node) -> Result<()> {
    if !matches!(entity, TraceEntity::Feedback | TraceEntity::Expectation) {
        return Ok(());
    }
    let numeric_cmp = NUMERIC_ASSESSMENT_CMP.contains(&comparator);
    let name = entity.mlflow_name();
    let text = tok.text();
    let msg = if numeric_cmp {
        format!(
            "Expected a numeric value for {name} when using comparator '{comparator}'. Got \
             value {text}"
        )
    } else {
        format!("Expected a quoted string value for {name} (e.g. 'my-value'). Got value {text}")
    };
    let ok = if is_string_token(tok) {
        !numeric_cmp
    } else if is_numeric_token(tok) {
        numeric_cmp
    } else {
        false
    };
    if ok { Ok(()) } else { Err(invalid(msg)) }
}

/// `SearchTraceUtils.is_span`, with the comparator as written.
fn check_span(key: &str, comparator: &str) -> Result<()> {
    if let Some(attr) = key.strip_prefix("attributes.") {
        if attr.is_empty() {
            return Err(invalid(
                "Span attribute name cannot be empty after 'attributes.'",
            ));
        }
        if !SPAN_CMP.contains(&comparator) {
            return Err(invalid(format!(
                "span.{key} comparator '{comparator}' not one of '{}'",
                repr_set(SPAN_CMP)
            )));
        }
    } else if matches!(key, "name" | "type" | "status") {
        if !SPAN_CMP.contains(&comparator) {
            return Err(invalid(format!(
                "span.{key} comparator '{comparator}' not one of '{}'",
                repr_set(SPAN_CMP)
            )));
        }
    } else if key == "content" {
        if !SPAN_CONTENT_CMP.contains(&comparator) {
            return Err(invalid(format!(
                "span.{key} comparator '{comparator}' not one of '{}'",
                repr_set(SPAN_CONTENT_CMP)
            )));
        }
    } else {
        return Err(invalid(format!(
            "Invalid span attribute '{key}'. Supported attributes: name, status, type, \
             attributes.<attribute_name>."
        )));
    }
    Ok(())
}

/// A comparison's parts: like the shared check, but a bare `timestamp` / `timestamp_ms`
/// (lexed as a builtin name) may lead a 3-token comparison.
fn trace_parts(cmp: &Node) -> Result<Vec<Node>> {
    comparison_parts_with(cmp, |first: &Node| {
        first.tt() == Some(Tt::Builtin)
            && matches!(first.text().as_str(), "timestamp" | "timestamp_ms")
    })
}

/// The store-side checks of one clause, in the order `_get_filter_clauses_for_search_traces`
/// makes them.
fn check_store(c: &TraceClause) -> Result<()> {
    let cmp = c.comparator.as_str();
    match c.entity {
        TraceEntity::Issue => {
            if c.key != "id" {
                return Err(invalid(format!(
                    "Invalid issue attribute '{}'. Supported attributes: id",
                    c.key
                )));
            }
            if cmp != "=" {
                return Err(invalid(format!(
                    "issue.{} comparator '{cmp}' not one of '{}'",
                    c.key,
                    repr_set(&["="])
                )));
            }
        }
        TraceEntity::Attribute => {
            if NUMERIC_ATTRIBUTES.contains(&c.key.as_str()) {
                if !NUMERIC_CMP.contains(&cmp) {
                    return Err(bad_comparator(cmp, STRING_ATTR_CMP, false));
                }
            } else if !STRING_ATTR_CMP.contains(&cmp) {
                return Err(bad_comparator(cmp, STRING_ATTR_CMP, true));
            }
        }
        TraceEntity::Tag => {
            if !TAG_CMP.contains(&cmp) {
                return Err(bad_comparator(cmp, TAG_CMP, false));
            }
            if c.key == TAG_LINKED_PROMPTS {
                if cmp != "=" {
                    return Err(invalid(format!(
                        "Invalid comparator '{cmp}' for prompts filter. Only '=' is supported \
                         with format: prompt = \"name/version\""
                    )));
                }
                if let TraceValue::Str(v) = &c.value
                    && v.matches('/').count() != 1
                {
                    return Err(invalid(format!(
                        "Invalid prompts filter value '{v}'. Expected format: prompt = \
                         \"name/version\""
                    )));
                }
            }
        }
        TraceEntity::Metadata => {
            if !METADATA_CMP.contains(&cmp) {
                return Err(bad_comparator(cmp, METADATA_CMP, true));
            }
            if (c.key == META_TOKEN_USAGE || c.key == META_COST)
                && !matches!(cmp, "=" | "!=" | "IS NULL" | "IS NOT NULL")
            {
                return Err(invalid(format!(
                    "Comparator '{cmp}' is not supported for reserved metadata '{}'. Only '=', \
                     '!=', 'IS NULL', and 'IS NOT NULL' are supported.",
                    c.key
                )));
            }
        }
        TraceEntity::Span => check_span(&c.key, cmp)?,
        TraceEntity::Feedback | TraceEntity::Expectation => {
            if c.key.is_empty() {
                return Err(invalid("Assessment field name cannot be empty"));
            }
            if !ASSESSMENT_CMP.contains(&cmp) {
                return Err(invalid(format!(
                    "assessment.{} comparator '{cmp}' not one of '{}'",
                    c.key,
                    repr_set(ASSESSMENT_CMP)
                )));
            }
        }
    }
    Ok(())
}

/// Parses a trace search filter (v2 and v3 search, correlation, metrics filters). An empty
/// filter has no clauses.
pub fn parse_trace_filter(filter: &str) -> Result<Vec<TraceClause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Traces)? {
        let parts = trace_parts(&cmp)?;
        let (entity, key) = identifier(&parts[0].text(), SEARCH_KEYS)?;
        let clause = if parts.len() == 2 {
            let (entity, key) = replace_key(entity, key);
            TraceClause {
                entity,
                key,
                comparator: parts[1].text().to_uppercase(),
                value: TraceValue::None,
            }
        } else {
            let comparator = parts[1].text();
            check_assessment_value(entity, &comparator, &parts[2])?;
            let value = value_of(entity, &key, &parts[2])?;
            if entity == TraceEntity::Span {
                check_span(&key, &comparator)?;
            }
            let (entity, key) = replace_key(entity, key);
            TraceClause {
                entity,
                key,
                comparator: comparator.to_uppercase(),
                value,
            }
        };
        clauses.push(clause);
    }
    for c in &clauses {
        check_store(c)?;
    }
    Ok(clauses)
}

/// Parses trace `order_by` entries.
pub fn parse_trace_order_by(order_by: &[String]) -> Result<Vec<TraceOrderBy>> {
    let mut out: Vec<TraceOrderBy> = Vec::with_capacity(order_by.len());
    for clause in order_by {
        let (token, ascending) = order_by_token(clause)?;
        let (entity, key) = identifier(py_strip(&token), ORDER_KEYS)?;
        let (entity, key) = replace_key(entity, key);
        match entity {
            TraceEntity::Attribute | TraceEntity::Tag => {}
            TraceEntity::Metadata => {
                if key == META_TOKEN_USAGE || key == META_COST {
                    return Err(invalid(format!(
                        "Ordering by reserved metadata '{key}' is not supported because it is \
                         represented by multiple columns."
                    )));
                }
            }
            other => {
                return Err(invalid(format!(
                    "Invalid identifier type '{}'",
                    other.mlflow_name()
                )));
            }
        }
        if out.iter().any(|o| o.entity == entity && o.key == key) {
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                repr_list(order_by)
            )));
        }
        out.push(TraceOrderBy {
            entity,
            key,
            ascending,
        });
    }
    Ok(out)
}

/// Whether an order-by key is the session column (kept next to the other metadata aliases).
pub fn is_session_key(entity: TraceEntity, key: &str) -> bool {
    entity == TraceEntity::Metadata && key == META_SESSION
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: &str) -> TraceClause {
        let mut v = parse_trace_filter(f).unwrap();
        assert_eq!(v.len(), 1, "{f}");
        v.remove(0)
    }

    fn err(f: &str) -> String {
        parse_trace_filter(f).unwrap_err().message
    }

    #[test]
    fn attributes_and_aliases() {
        let c = one("trace.status = 'OK'");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Attribute, "status")
        );
        assert_eq!(c.value, TraceValue::Str("OK".into()));
        let c = one("timestamp > 100");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Attribute, "timestamp_ms")
        );
        assert_eq!(c.value, TraceValue::Int(100));
        let c = one("attributes.execution_time <= 1.5");
        assert_eq!(c.key, "execution_time_ms");
        assert_eq!(c.value, TraceValue::Float(1.5));
        let c = one("status IN ('OK', 'ERROR')");
        assert_eq!(c.value, TraceValue::List(vec!["OK".into(), "ERROR".into()]));
        // As in 3.17.2: `name` becomes a tag, and tags take no IN.
        assert!(
            parse_trace_filter("name IN ('a', 'b')")
                .unwrap_err()
                .message
                .starts_with("Invalid comparator 'IN' not one of '{")
        );
        let c = one("name = 'a'");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Tag, "mlflow.traceName")
        );
        let c = one("run_id = 'r1'");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Metadata, "mlflow.sourceRun")
        );
        // A bare `text` is an SQL keyword to sqlparse: only the dotted form parses.
        assert_eq!(
            err("text LIKE '%a%'"),
            "Invalid clause(s) in filter string: 'text', 'LIKE', ''%a%''"
        );
        let c = one("trace.text ILIKE '%hello%'");
        assert_eq!((c.entity, c.key.as_str()), (TraceEntity::Span, "content"));
        let c = one("metadata.`mlflow.trace.session` = 's1'");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Metadata, "mlflow.trace.session")
        );
        let c = one("tags.team IS NOT NULL");
        assert_eq!(c.comparator, "IS NOT NULL");
        assert_eq!(c.value, TraceValue::None);
        let c = one("span.attributes.model LIKE '%gpt%'");
        assert_eq!(
            (c.entity, c.key.as_str()),
            (TraceEntity::Span, "attributes.model")
        );
        let c = one("feedback.quality >= 0.5");
        assert_eq!(c.entity, TraceEntity::Feedback);
        let c = one("issue.id = 'iss-1'");
        assert_eq!(c.entity, TraceEntity::Issue);
        let v = parse_trace_filter("trace.status = 'OK' AND tag.k = 'v'").unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn mlflow_error_messages() {
        assert_eq!(
            err("trace.status = 'OK' OR tag.k = 'v'"),
            "Invalid clause(s) in filter string: 'OR'"
        );
        assert!(
            err("foo.bar = 'x'").starts_with("Invalid entity type 'foo'. Valid values are {"),
            "{}",
            err("foo.bar = 'x'")
        );
        assert!(
            err("nope = 'x'")
                .starts_with("Invalid attribute key 'nope' specified. Valid keys are '{")
        );
        assert!(err("status = 5").starts_with("Only the '{"));
        assert_eq!(
            err("span.foo = 'x'"),
            "Invalid span attribute 'foo'. Supported attributes: name, status, type, \
             attributes.<attribute_name>."
        );
        assert_eq!(
            err("prompt = 'abc'"),
            "Invalid prompts filter value 'abc'. Expected format: prompt = \"name/version\""
        );
        assert_eq!(
            err("feedback.q = 5"),
            "Expected a quoted string value for feedback (e.g. 'my-value'). Got value 5"
        );
        assert!(err("feedback.q > 'x'").starts_with(
            "Expected a numeric value for feedback when using comparator '>'. Got value 'x'"
        ));
        assert!(err("tag.k > 'x'").starts_with("Invalid comparator '>' not one of '{"));
        assert!(err("metadata.`mlflow.trace.cost` LIKE 'x'").starts_with(
            "Comparator 'LIKE' is not supported for reserved metadata 'mlflow.trace.cost'."
        ));
        assert_eq!(
            err("issue.foo = 'x'"),
            "Invalid issue attribute 'foo'. Supported attributes: id"
        );
    }

    #[test]
    fn order_by() {
        let o = parse_trace_order_by(&["timestamp DESC".into(), "name".into()]).unwrap();
        assert_eq!(o[0].key, "timestamp_ms");
        assert!(!o[0].ascending);
        assert_eq!(
            (o[1].entity, o[1].key.as_str()),
            (TraceEntity::Tag, "mlflow.traceName")
        );
        let e = parse_trace_order_by(&["metadata.`mlflow.trace.tokenUsage`".into()]).unwrap_err();
        assert!(e.message.starts_with("Ordering by reserved metadata"));
        let e = parse_trace_order_by(&["timestamp_ms".into(), "timestamp".into()]).unwrap_err();
        assert!(
            e.message
                .starts_with("`order_by` contains duplicate fields: ['timestamp_ms'")
        );
        let e = parse_trace_order_by(&["bogus".into()]).unwrap_err();
        assert!(
            e.message
                .starts_with("Invalid attribute key 'bogus' specified.")
        );
    }
}

/// One filter of `POST /traces/metrics` (`SearchTraceMetricsUtils`): `<view>.<entity>[.<key>] =
/// '<value>'`, views `trace` (entities `status`, `tag.<k>`, `metadata.<k>`), `span` (`name`,
/// `status`, `type`), `assessment` (`name`, `type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsFilter {
    pub view_type: String,
    pub entity: String,
    pub key: Option<String>,
    pub value: String,
}

/// Parses one `traces/metrics` filter.
pub fn parse_trace_metrics_filter(filter: &str) -> Result<MetricsFilter> {
    let comparisons = filter_comparisons(filter, InvalidStyle::Plain)?;
    if comparisons.len() != 1 {
        return Err(invalid(format!(
            "Invalid filter: '{filter}'. Expected one filter clause."
        )));
    }
    let parts = super::parse::comparison_parts(&comparisons[0])?;
    if parts.len() != 3 {
        return Err(invalid(format!(
            "Invalid filter: '{filter}'. Expected one filter clause."
        )));
    }
    let ident = parts[0].text();
    let bad_ident = || {
        invalid(format!(
            "Invalid identifier {}. Columns should be specified as 'trace.<key>', \
             'span.<key>', 'assessment.<key>'.",
            crate::pyfmt::repr_str(&ident)
        ))
    };
    let pieces: Vec<&str> = ident.splitn(3, '.').collect();
    let (view, entity, key) = match pieces.as_slice() {
        [v, e] => (*v, *e, None),
        [v, e, k] => (*v, *e, Some(*k)),
        _ => return Err(bad_ident()),
    };
    let view = trim_backticks(view);
    let entities: &[(&str, bool)] = match view.as_str() {
        "trace" => &[("status", false), ("tag", true), ("metadata", true)],
        "span" => &[("name", false), ("status", false), ("type", false)],
        "assessment" => &[("name", false), ("type", false)],
        _ => {
            return Err(invalid(format!(
                "Invalid view type '{view}'. Valid values are dict_keys(['trace', 'span', \
                 'assessment'])"
            )));
        }
    };
    let Some((_, needs_key)) = entities.iter().find(|(e, _)| *e == entity) else {
        let names: Vec<&str> = entities.iter().map(|(e, _)| *e).collect();
        return Err(invalid(format!(
            "Invalid entity '{entity}' specified for view type '{view}'. Valid entities are {}",
            repr_list(&names)
        )));
    };
    if *needs_key && key.is_none() {
        return Err(invalid(format!(
            "Filtering by {entity} requires a key, e.g. '{view}.{entity}.<key> = <value>'"
        )));
    }
    if !needs_key && key.is_some() {
        return Err(invalid(format!(
            "Filtering by {entity} does not require a key, use '{view}.{entity}' instead"
        )));
    }
    let key = match key {
        Some(k) => Some(trim_backticks(&strip_quotes(k, false)?)),
        None => None,
    };
    let comparator = parts[1].text();
    if comparator != "=" {
        return Err(invalid(format!(
            "Invalid comparator: '{comparator}', only '=' operator is supported"
        )));
    }
    if !is_string_token(&parts[2]) {
        return Err(invalid(format!(
            "Expected a quoted string value for {entity} value (e.g. 'my-value'). Got value {}",
            parts[2].text()
        )));
    }
    Ok(MetricsFilter {
        view_type: view,
        entity: entity.to_string(),
        key,
        value: strip_quotes(&parts[2].text(), true)?,
    })
}
