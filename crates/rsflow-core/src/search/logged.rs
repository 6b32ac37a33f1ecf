//! Logged-model filters (`mlflow/utils/search_logged_model_utils.py`), a looser grammar than the
//! other entities': values are taken as raw text with single quotes stripped.

use super::group::{Kind, TooComplex, join_in_comparisons, parse_statements};
use super::parse::{Raw, RawClause, build_clause, invalid, py_strip};
use super::pylit::{Lit, literal_eval, py_float};
use super::{Clause, Entity, MAX_CLAUSES, MAX_FILTER_LEN};
use crate::Result;
use crate::pyfmt::{repr_set, repr_str};

/// Attribute keys as the reference resolves them: its aliases map to the timestamp columns.
fn attribute_key(s: &str) -> &str {
    match s {
        "creation_time" | "creation_timestamp" => "creation_timestamp_ms",
        // `last_updated_time` is no alias in the reference's SQL store (a string attribute that
        // then fails there), so it is rejected as an unknown key.
        "last_updated_timestamp" => "last_updated_timestamp_ms",
        other => other,
    }
}

/// Columns of `logged_models` a filter may compare.
const COLUMNS: &[&str] = &[
    "artifact_location",
    "creation_timestamp_ms",
    "experiment_id",
    "last_updated_timestamp_ms",
    "lifecycle_stage",
    "model_id",
    "model_type",
    "name",
    "source_run_id",
    "status",
    "status_message",
];
const DOCUMENTED_KEYS: &[&str] = &[
    "name",
    "model_id",
    "model_type",
    "status",
    "source_run_id",
    "creation_timestamp",
    "creation_time",
    "last_updated_timestamp",
];

const NUMERIC_OPS: &str = "('<', '<=', '>', '>=', '=', '!=')";
const STRING_OPS: &str = "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')";

fn example_error(filter: &str) -> crate::MlflowError {
    invalid(format!(
        "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' (e.g. \
         'metrics.loss > 0.1 AND params.lr = 0.01').",
        repr_str(filter)
    ))
}

/// Parses a `logged-models/search` filter: `metrics.<k>`, `params.<k>`, `tags.<k>` and attributes
/// (`name`, `model_id`, `model_type`, `status`, `source_run_id`, the timestamps). Attribute keys
/// come out as the `logged_models` column names (`creation_time` becomes
/// `creation_timestamp_ms`); `status` stays the string given (`'READY'`). Values keep the
/// reference's quirks: only single quotes are stripped, so `tags.t = "x"` compares with `"x"`.
pub fn parse_logged_model_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(Vec::new());
    }
    if filter.len() > MAX_FILTER_LEN {
        return Err(invalid(format!(
            "Invalid filter string: it is {} bytes long, more than the limit of {MAX_FILTER_LEN}.",
            filter.len()
        )));
    }
    let statements = parse_statements(filter).map_err(|e| {
        let why = match e {
            TooComplex::Tokens => "Maximum number of tokens exceeded (10000).",
            TooComplex::Depth => "Maximum grouping depth exceeded (100).",
        };
        invalid(format!(
            "Invalid filter string: {}. SQLParseError('{why}')",
            repr_str(filter)
        ))
    })?;
    if statements.len() != 1 {
        return Err(invalid(format!(
            "Invalid filter string: {}. Expected a single SQL expression.",
            repr_str(filter)
        )));
    }
    let mut raws: Vec<(Entity, String, String, Pending)> = Vec::new();
    for stmt in join_in_comparisons(statements.into_iter().next().unwrap_or_default()) {
        if !stmt.is(Kind::Comparison) {
            if py_strip(&stmt.text()).to_uppercase() == "AND" {
                continue;
            }
            return Err(example_error(filter));
        }
        let parts: Vec<String> = stmt
            .children()
            .iter()
            .filter(|t| !t.is_whitespace())
            .map(|t| t.text())
            .collect();
        if parts.len() != 3 {
            return Err(invalid(format!(
                "Invalid comparison: {}. Expected a comparison with 3 tokens.",
                stmt.text()
            )));
        }
        let (identifier, op, value) = (&parts[0], parts[1].to_uppercase(), &parts[2]);
        let (entity, etype, key) = entity_from_str(identifier)?;
        let numeric = entity == Entity::Metric
            || (entity == Entity::Attribute
                && matches!(
                    key.as_str(),
                    "creation_timestamp_ms" | "last_updated_timestamp_ms"
                ));
        let (ops, shown): (&[&str], &str) = if numeric {
            (&["<", "<=", ">", ">=", "=", "!="], NUMERIC_OPS)
        } else {
            (&["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"], STRING_OPS)
        };
        if !ops.contains(&op.as_str()) {
            return Err(invalid(format!(
                "Invalid comparison operator for {etype}.{key}: {}. Expected one of {shown}.",
                repr_str(&op)
            )));
        }
        // The reference converts values here too, but its failures are 500s deep in the store;
        // they are deferred to the second pass so its own 400s keep their precedence.
        let pending = if numeric {
            Pending::Num(value.clone())
        } else if value.starts_with('(') && value.ends_with(')') {
            Pending::List(value.clone())
        } else {
            Pending::Str(value.trim_matches('\'').to_string())
        };
        if raws.len() >= MAX_CLAUSES {
            return Err(invalid(format!(
                "Search filter has more than {MAX_CLAUSES} clauses."
            )));
        }
        raws.push((entity, key, op, pending));
    }
    raws.into_iter()
        .map(|(entity, key, op, pending)| {
            if entity == Entity::Attribute && !COLUMNS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are '{}'",
                    repr_set(DOCUMENTED_KEYS)
                )));
            }
            let value = match pending {
                Pending::Num(text) => {
                    let v = py_float(&text).ok_or_else(|| {
                        invalid(format!(
                            "could not convert string to float: {}",
                            repr_str(&text)
                        ))
                    })?;
                    Raw::Num(v.to_string(), false)
                }
                Pending::List(text) => Raw::List(string_tuple(&text)?),
                Pending::Str(s) => Raw::Str(s),
            };
            let rc = RawClause {
                etype: "logged_model",
                key: key.clone(),
                comparator: op.clone(),
                value,
            };
            build_clause(rc, entity, key, &op)
        })
        .collect()
}

/// A value as the first pass leaves it.
enum Pending {
    Num(String),
    List(String),
    Str(String),
}

/// `Entity.from_str`: `<lowercase entity>.<key>` or a bare attribute.
fn entity_from_str(s: &str) -> Result<(Entity, &'static str, String)> {
    let prefixed = s.split_once('.').filter(|(e, k)| {
        !e.is_empty()
            && e.bytes().all(|b| b.is_ascii_lowercase())
            && !k.is_empty()
            && !k.contains('\n')
    });
    match prefixed {
        Some((e, k)) => {
            let (entity, etype) = match e {
                "attributes" => (Entity::Attribute, "attributes"),
                "metrics" => (Entity::Metric, "metrics"),
                "params" => (Entity::Param, "params"),
                "tags" => (Entity::Tag, "tags"),
                other => {
                    return Err(invalid(format!(
                        "Invalid entity type: {}. Expected one of ['attributes', 'metrics', \
                         'params', 'tags'].",
                        repr_str(other)
                    )));
                }
            };
            let key = k.trim_matches('`');
            let key = if entity == Entity::Attribute {
                attribute_key(key)
            } else {
                key
            };
            Ok((entity, etype, key.to_string()))
        }
        None => Ok((
            Entity::Attribute,
            "attributes",
            attribute_key(s).trim_matches('`').to_string(),
        )),
    }
}

/// `ast.literal_eval` of a parenthesised value, kept only when it is a non-empty tuple of
/// strings or numbers (the reference passes anything on to SQL and fails there).
fn string_tuple(text: &str) -> Result<Vec<String>> {
    let ill_formed = || {
        invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but \
             got ill-formed list.",
        )
    };
    let items = match literal_eval(text).ok_or_else(ill_formed)? {
        Lit::Str(s) => return Ok(vec![s]),
        Lit::Tuple(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        return Err(invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but \
             got empty list",
        ));
    }
    items
        .iter()
        .map(|i| match i {
            Lit::Str(s) => Ok(s.clone()),
            // SQL compares the text column with the number; its text form is what can match.
            Lit::Int(_) | Lit::Float(_) => Ok(i.repr()),
            _ => Err(invalid(format!(
                "While parsing a list in the query, expected string value, punctuation, or \
                 whitespace, but got different type in list: {}",
                Lit::Tuple(items.clone()).repr()
            ))),
        })
        .collect()
}
