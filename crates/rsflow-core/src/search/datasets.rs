//! Evaluation-dataset filters and `order_by` (`SearchEvaluationDatasetsUtils` plus the tracking
//! store's `_get_search_datasets_filter_clauses`).

use super::group::Node;
use super::lex::Tt;
use super::parse::{
    InvalidStyle, Raw, RawClause, build_clause, comparison_parts, entity_of, filter_comparisons,
    invalid, is_numeric_token, is_string_token, order_by_token, parse_list, py_strip, strip_quotes,
    trim_backticks,
};
use super::pylit::{py_float, py_int};
use super::{Clause, Entity, OrderBy};
use crate::Result;
use crate::pyfmt::{repr_float, repr_set, repr_str};

const SEARCH_KEYS: &[&str] = &[
    "name",
    "created_time",
    "last_update_time",
    "created_by",
    "last_updated_by",
];
const ORDER_KEYS: &[&str] = &["name", "created_time", "last_update_time"];
const NUMERIC: &[&str] = &["created_time", "last_update_time"];

/// `_get_identifier`: a bare attribute or `tags.<key>`.
fn identifier(text: &str, valid: &[&str]) -> Result<(&'static str, String)> {
    match text.split_once('.') {
        None => {
            if !valid.contains(&text) {
                return Err(invalid(format!(
                    "Invalid attribute key '{text}' specified. Valid keys are: {}",
                    repr_set(valid)
                )));
            }
            Ok(("attribute", text.to_string()))
        }
        Some(("tags", key)) => Ok(("tag", trim_backticks(&strip_quotes(key, false)?))),
        Some((other, _)) => Err(invalid(format!(
            "Invalid identifier token '{other}' specified"
        ))),
    }
}

fn value(etype: &str, key: &str, tok: &Node) -> Result<Raw> {
    let text = tok.text();
    if etype == "attribute" && NUMERIC.contains(&key) {
        if !is_numeric_token(tok) {
            return Err(invalid(format!(
                "Expected numeric value type for numeric attribute: {key}. Found {text}"
            )));
        }
        return Ok(Raw::Num(text, tok.tt() == Some(Tt::Integer)));
    }
    if is_string_token(tok) {
        return Ok(Raw::Str(strip_quotes(&text, true)?));
    }
    if etype == "attribute" && key == "name" && text.starts_with('(') {
        return Ok(Raw::List(parse_list(tok)?));
    }
    Err(invalid(format!(
        "Expected a quoted string value for {}. Got value {text}",
        if etype == "tag" { "tag" } else { "attributes" }
    )))
}

/// Parses a `datasets/search` filter.
pub fn parse_dataset_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Plain)? {
        let parts = comparison_parts(&cmp)?;
        if parts.len() != 3 {
            return Err(invalid(format!(
                "Invalid comparison clause. Expected 3 tokens found {}",
                parts.len()
            )));
        }
        let (etype, key) = identifier(&parts[0].text(), SEARCH_KEYS)?;
        let comparator = parts[1].text().to_uppercase();
        let raw = value(etype, &key, &parts[2])?;
        if matches!(raw, Raw::List(_)) && comparator != "IN" {
            return Err(invalid(
                "List values for 'name' are only supported with the IN comparator.",
            ));
        }
        if etype == "tag" {
            if !matches!(comparator.as_str(), "=" | "!=" | "LIKE" | "ILIKE") {
                return Err(invalid(format!("Invalid comparator for tag: {comparator}")));
            }
        } else if NUMERIC.contains(&key.as_str()) {
            if !matches!(comparator.as_str(), "=" | "!=" | "<" | "<=" | ">" | ">=") {
                return Err(invalid(format!(
                    "Invalid comparator for numeric attribute: {comparator}"
                )));
            }
            if let Raw::Num(text, is_int) = &raw
                && (!is_int || py_int(text).is_none())
            {
                return Err(invalid(format!(
                    "Invalid value for numeric attribute '{key}': {}",
                    repr_str(&repr_float(py_float(text).unwrap_or(f64::NAN)))
                )));
            }
        } else if !(matches!(
            comparator.as_str(),
            "=" | "!=" | "LIKE" | "ILIKE" | "<" | "<=" | ">" | ">="
        ) || (key == "name" && comparator == "IN"))
        {
            // MLflow checks string comparators only against its string set, so ordering
            // comparators pass through to SQL.
            return Err(invalid(format!(
                "Invalid comparator for string attribute: {comparator}"
            )));
        }
        let rc = RawClause {
            etype,
            key: key.clone(),
            comparator: comparator.clone(),
            value: raw,
        };
        out.push(build_clause(rc, entity_of(etype), key, &comparator)?);
    }
    Ok(out)
}

/// Parses `datasets/search` `order_by` entries (attributes only).
pub fn parse_dataset_order_by(order_by: &[String]) -> Result<Vec<OrderBy>> {
    order_by
        .iter()
        .map(|clause| {
            let (token, ascending) = order_by_token(clause)?;
            let (etype, key) = identifier(py_strip(&token), ORDER_KEYS)?;
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

/// `SearchIssuesUtils`: `status` / `source_run_id` compared with `=` or `!=` to a quoted
/// string, AND-ed. Returns (column, is_equal, value).
pub fn parse_issue_filter(filter: &str) -> Result<Vec<(String, bool, String)>> {
    let mut out = Vec::new();
    for cmp in filter_comparisons(filter, InvalidStyle::Plain)? {
        let parts = comparison_parts(&cmp)?;
        if parts.len() != 3 {
            return Err(invalid(format!(
                "Invalid comparison clause. Expected 3 tokens found {}",
                parts.len()
            )));
        }
        let key = parts[0].text();
        if key != "status" && key != "source_run_id" {
            return Err(invalid(format!(
                "Invalid filter field '{key}'. Supported fields: {}",
                repr_set(&["status", "source_run_id"])
            )));
        }
        let comparator = parts[1].text();
        let eq = match comparator.as_str() {
            "=" => true,
            "!=" => false,
            other => {
                return Err(invalid(format!(
                    "Invalid comparator '{other}' not one of '{}'",
                    repr_set(&["=", "!="])
                )));
            }
        };
        if !is_string_token(&parts[2]) {
            return Err(invalid(format!(
                "Expected a quoted string value for attributes. Got value {}",
                parts[2].text()
            )));
        }
        out.push((key, eq, strip_quotes(&parts[2].text(), true)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Comparator, Value};

    #[test]
    fn parses_attributes_tags_and_lists() {
        let c = parse_dataset_filter("name = 'a' AND tags.team LIKE 'x%' AND created_time > 5")
            .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[1].entity, Entity::Tag);
        assert_eq!(c[1].key, "team");
        assert_eq!(c[2].comparator, Comparator::Gt);
        let c = parse_dataset_filter("name IN ('a', 'b')").unwrap();
        assert_eq!(c[0].value, Value::List(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn refuses_what_mlflow_refuses() {
        let msg = |f: &str| parse_dataset_filter(f).unwrap_err().message;
        assert!(msg("foo = 'a'").starts_with("Invalid attribute key 'foo' specified."));
        assert_eq!(
            msg("params.x = 'a'"),
            "Invalid identifier token 'params' specified"
        );
        assert!(parse_dataset_filter("created_by > 'a'").is_ok());
        assert!(parse_dataset_filter("created_by IN ('a')").is_err());
        assert!(parse_dataset_order_by(&["created_by DESC".into()]).is_err());
        assert!(parse_dataset_order_by(&["name ASC".into()]).unwrap()[0].ascending);
    }
}
