//! Registered-model and model-version filters and `order_by` (`SearchModelUtils`,
//! `SearchModelVersionUtils` and the model-registry SQLAlchemy store's checks).

use super::experiments::experiment_identifier;
use super::group::{Kind, Node};
use super::lex::Tt;
use super::parse::{
    InvalidStyle, Raw, RawClause, build_clause, check_list_supported, comparison_parts, entity_of,
    filter_comparisons, invalid, is_numeric_token, is_string_token, order_by_token, parse_list,
    py_strip, strip_quotes, trim_backticks,
};
use super::pylit::{py_float, py_int};
use super::{Clause, Entity, OrderBy};
use crate::Result;
use crate::pyfmt::{repr_float, repr_list, repr_set, repr_str};

/// `_get_model_search_identifier` / `_get_model_version_search_identifier`: the attribute key is
/// checked before quotes are stripped, so `` `name` `` is not a valid attribute there.
fn registry_identifier(identifier: &str, valid: &[&str]) -> Result<(&'static str, String)> {
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
    if etype == "attribute" && !valid.contains(&key) {
        return Err(invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            repr_set(valid)
        )));
    }
    Ok((etype, trim_backticks(&strip_quotes(key, false)?)))
}

fn tag_value(tok: &Node) -> Result<Raw> {
    if is_string_token(tok) {
        return Ok(Raw::Str(strip_quotes(&tok.text(), true)?));
    }
    Err(invalid(format!(
        "Expected a quoted string value for tag (e.g. 'my-value'). Got value {}",
        tok.text()
    )))
}

fn not_string_or_list(tok: &Node) -> crate::MlflowError {
    invalid(format!(
        "Expected a quoted string value or a list of quoted string values for attributes. Got \
         value {}",
        tok.text()
    ))
}

/// Parses the registry comparisons of `filter` with `identify` and `value_of`.
fn registry_raws(
    filter: &str,
    valid_keys: &[&str],
    value_of: impl Fn(&str, &str, &Node) -> Result<Raw>,
) -> Result<Vec<RawClause>> {
    let mut raws = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Plain)? {
        let parts = comparison_parts(&cmp)?;
        let (etype, key) = registry_identifier(&parts[0].text(), valid_keys)?;
        // The reference unpacks three tokens and fails with a 500 on `IS [NOT] NULL`; the store
        // would reject the comparator anyway, so that is the 400 given here.
        let (comparator, value) = if parts.len() == 2 {
            (parts[1].text().to_uppercase(), Raw::Null)
        } else {
            (
                parts[1].text().to_uppercase(),
                value_of(etype, &key, &parts[2])?,
            )
        };
        raws.push(RawClause {
            etype,
            key,
            comparator,
            value,
        });
    }
    Ok(raws)
}

fn tag_comparator(c: &str) -> Result<()> {
    if !matches!(c, "=" | "!=" | "LIKE" | "ILIKE") {
        return Err(invalid(format!("Invalid comparator for tag: {c}")));
    }
    Ok(())
}

/// Parses a `registered-models/search` filter: attribute `name` and tags. The
/// ``tags.`mlflow.prompt.is_prompt` `` clause the client appends parses as an ordinary tag
/// clause; treating a missing tag as `'false'` is the store's job.
pub fn parse_registered_model_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    let raws = registry_raws(filter, &["name"], |etype, key, tok| {
        if etype == "tag" {
            return tag_value(tok);
        }
        if is_string_token(tok) {
            Ok(Raw::Str(strip_quotes(&tok.text(), true)?))
        } else if tok.is(Kind::Parenthesis) {
            check_list_supported(key, &["name"])?;
            Ok(Raw::List(parse_list(tok)?))
        } else {
            Err(not_string_or_list(tok))
        }
    })?;
    raws.into_iter()
        .map(|rc| {
            let c = rc.comparator.clone();
            if rc.etype == "tag" {
                tag_comparator(&c)?;
            } else if !matches!(c.as_str(), "=" | "!=" | "LIKE" | "ILIKE" | "IN" | "NOT IN") {
                return Err(invalid(format!("Invalid comparator for attribute: {c}")));
            }
            let key = rc.key.clone();
            build_clause(rc.clone(), entity_of(rc.etype), key, &c)
        })
        .collect()
}

const RECOMMENDED_RM_ORDER_KEYS: &[&str] = &["name", "timestamp"];

/// Parses `registered-models/search` `order_by` entries: `name`, `timestamp` or
/// `last_updated_timestamp`; both timestamps come out as `last_updated_timestamp`, the column
/// they sort by. A repeated field is a 400 (500 in the reference).
pub fn parse_registered_model_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    let mut out: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for clause in order_by {
        let (token, ascending) = order_by_token(clause)?;
        let token = py_strip(&token);
        let key = match token {
            "name" => "name",
            "timestamp" | "last_updated_timestamp" => "last_updated_timestamp",
            other => {
                return Err(invalid(format!(
                    "Invalid order by key '{other}' specified. Valid keys are '{}'",
                    repr_set(RECOMMENDED_RM_ORDER_KEYS)
                )));
            }
        };
        if out.iter().any(|o| o.key == key) {
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                repr_list(order_by)
            )));
        }
        out.push(OrderBy {
            entity: Entity::Attribute,
            key: key.to_string(),
            ascending,
        });
    }
    Ok(out)
}

const MV_SEARCH_KEYS: &[&str] = &["name", "version_number", "run_id", "source_path"];
const MV_NUMERIC: &[&str] = &[
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];
const MV_ORDER_KEYS: &[&str] = &[
    "name",
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];
const NUMERIC_CMP: &[&str] = &[">", ">=", "!=", "=", "<", "<="];

/// Parses a `model-versions/search` filter. Keys keep MLflow's filter names: `source_path`
/// (column `source`) and `version_number` (column `version`, an integer `Value::Num`, which may
/// also be given quoted: `version_number = '1'`).
pub fn parse_model_version_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    let raws = registry_raws(filter, MV_SEARCH_KEYS, |etype, key, tok| {
        if etype == "tag" {
            return tag_value(tok);
        }
        if is_string_token(tok) {
            Ok(Raw::Str(strip_quotes(&tok.text(), true)?))
        } else if tok.is(Kind::Parenthesis) {
            check_list_supported(key, &["name", "run_id"])?;
            Ok(Raw::List(parse_list(tok)?))
        } else if is_numeric_token(tok) {
            if !MV_NUMERIC.contains(&key) {
                return Err(invalid(format!(
                    "Only the '{}' attributes support comparison with numeric values.",
                    repr_set(MV_NUMERIC)
                )));
            }
            Ok(Raw::Num(tok.text(), tok.tt() == Some(Tt::Integer)))
        } else {
            Err(not_string_or_list(tok))
        }
    })?;
    raws.into_iter().map(model_version_store_check).collect()
}

fn model_version_store_check(mut rc: RawClause) -> Result<Clause> {
    let c = rc.comparator.clone();
    if rc.etype == "tag" {
        tag_comparator(&c)?;
    } else if MV_NUMERIC.contains(&rc.key.as_str()) {
        if !NUMERIC_CMP.contains(&c.as_str()) {
            return Err(invalid(format!(
                "Invalid comparator for attribute {}: {c}",
                rc.key
            )));
        }
        let bad = |shown: String| {
            invalid(format!(
                "Invalid value for numeric attribute '{}': {shown}",
                rc.key
            ))
        };
        let n = match &rc.value {
            Raw::Num(text, false) => {
                return Err(bad(repr_float(py_float(text).unwrap_or(f64::NAN))));
            }
            Raw::Num(text, true) => py_int(text).ok_or_else(|| bad(text.clone()))?,
            Raw::Str(s) => py_int(s).ok_or_else(|| bad(repr_str(s)))?,
            Raw::List(_) | Raw::Null => return Err(bad("None".into())),
        };
        rc.value = Raw::Num(n.to_string(), true);
    } else if !matches!(c.as_str(), "!=" | "=" | "LIKE" | "ILIKE" | "IN" | "NOT IN")
        || (matches!(c.as_str(), "IN" | "NOT IN") && !matches!(rc.key.as_str(), "run_id" | "name"))
    {
        return Err(invalid(format!("Invalid comparator for attribute: {c}")));
    }
    let key = rc.key.clone();
    build_clause(rc.clone(), entity_of(rc.etype), key, &c)
}

/// Parses `model-versions/search` `order_by` entries: `name`, `version_number`,
/// `creation_timestamp`, `last_updated_timestamp`. As in the reference the entity prefix is not
/// checked (`tags.name` orders by name). A repeated field is a 400 (500 in the reference).
pub fn parse_model_version_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    let mut out: Vec<OrderBy> = Vec::with_capacity(order_by.len());
    for clause in order_by {
        let (token, ascending) = order_by_token(clause)?;
        let (_, key) = experiment_identifier(py_strip(&token), MV_ORDER_KEYS)?;
        if !MV_ORDER_KEYS.contains(&key.as_str()) {
            return Err(invalid(format!(
                "Invalid order by key '{key}' specified. Valid keys are {}",
                repr_set(MV_ORDER_KEYS)
            )));
        }
        if out.iter().any(|o| o.key == key) {
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {}",
                repr_list(order_by)
            )));
        }
        out.push(OrderBy {
            entity: Entity::Attribute,
            key,
            ascending,
        });
    }
    Ok(out)
}
