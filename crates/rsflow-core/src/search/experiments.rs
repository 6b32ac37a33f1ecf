//! Experiment filters and `order_by` (`SearchExperimentsUtils` plus the tracking store's
//! `_get_search_experiments_filter_clauses`).

use super::group::{Kind, Node};
use super::lex::Tt;
use super::parse::{
    InvalidStyle, Raw, RawClause, build_clause, check_list_supported, comparison_parts, entity_of,
    filter_comparisons, invalid, is_numeric_token, is_string_token, order_by_token, parse_list,
    py_strip, strip_quotes, trim_backticks,
};
use super::pylit::{py_float, py_int};
use super::runs::{METRIC_CMP, STRING_ATTR_CMP, bad_comparator};
use super::{Clause, Entity, OrderBy};
use crate::Result;
use crate::pyfmt::{repr_float, repr_set, repr_str};

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
                    repr_str(&repr_float(py_float(text).unwrap_or(f64::NAN)))
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
