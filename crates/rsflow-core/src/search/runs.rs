//! Run filters and `order_by` (`SearchUtils` plus the tracking store's
//! `_get_sqlalchemy_filter_clauses` / `_get_orderby_clauses`).

use super::group::{Kind, Node};
use super::lex::Tt;
use super::parse::{
    InvalidStyle, Raw, RawClause, build_clause, check_list_supported, comparison_parts, entity_of,
    filter_comparisons, invalid, is_numeric_token, is_string_token, order_by_token, parse_list,
    py_strip, strip_quotes, trim_backticks,
};
use super::pylit::py_float;
use super::{Clause, OrderBy};
use crate::pyfmt::{repr_list, repr_set};
use crate::{MlflowError, Result};

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
pub(crate) const METRIC_CMP: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
const PARAM_CMP: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"];
pub(crate) const STRING_ATTR_CMP: &[&str] = &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];

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
pub(crate) fn bad_comparator(c: &str, valid: &[&str], closing_quote: bool) -> MlflowError {
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
            // (allowed comparators, set named in the message, closing quote in the message)
            let (allowed, shown, closing) = match rc.etype {
                "attribute" if RUN_NUMERIC.contains(&key.as_str()) => {
                    (METRIC_CMP, STRING_ATTR_CMP, false)
                }
                "attribute" => (STRING_ATTR_CMP, STRING_ATTR_CMP, true),
                "metric" => (METRIC_CMP, METRIC_CMP, false),
                "parameter" => (PARAM_CMP, PARAM_CMP, true),
                "tag" => (PARAM_CMP, PARAM_CMP, false),
                _ => (STRING_ATTR_CMP, STRING_ATTR_CMP, false),
            };
            if !allowed.contains(&upper.as_str()) {
                return Err(bad_comparator(&upper, shown, closing));
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
