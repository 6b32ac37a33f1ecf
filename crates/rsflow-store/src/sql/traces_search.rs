//! `search_traces`: the §2.10 filter and `order_by` (parsed by
//! `rsflow_core::search::traces`) rendered as SQL over `trace_info`, after MLflow's
//! `_get_filter_clauses_for_search_traces` / `_get_orderby_clauses_for_search_traces`.

use rsflow_core::pyfmt::json_dumps_str;
use rsflow_core::search::{
    TraceClause, TraceEntity, TraceOrderBy, TraceValue, parse_trace_filter, parse_trace_order_by,
};
use rsflow_core::trace::{
    META_COST, META_SESSION, META_SOURCE_RUN, META_TOKEN_USAGE, TAG_LINKED_PROMPTS, TAG_TRACE_NAME,
    TraceInfo,
};
use rsflow_core::wire::Page;
use rsflow_core::{MlflowError, Result, page_token};

use super::SqlStore;
use super::experiments::parse_experiment_id;
use super::query::{Dialect, Sql, db_err};
use super::traces::{
    COST_COLUMNS, TI_COLUMNS, TOKEN_COLUMNS, children_columns, rows_with_children,
};
use crate::SearchTraces;

/// `SEARCH_TRACES_DEFAULT_MAX_RESULTS` (the ceiling is the store's shared one).
const DEFAULT_MAX_RESULTS: i64 = 100;

/// Render `<expr> <comparator> <value>`.
fn compare(
    q: &mut Sql,
    dialect: Dialect,
    expr: &str,
    comparator: &str,
    value: &TraceValue,
) -> Result<()> {
    match comparator {
        "IS NULL" | "IS NOT NULL" => {
            q.push(&format!("{expr} {comparator}"));
            return Ok(());
        }
        "IN" | "NOT IN" => {
            let items = match value {
                TraceValue::List(l) => l.clone(),
                TraceValue::Str(s) => vec![s.clone()],
                other => vec![scalar_text(other)],
            };
            if comparator == "NOT IN" {
                q.push("NOT (");
            }
            q.push(&format!("{expr} IN ")).bind_list(&items);
            if comparator == "NOT IN" {
                q.push(")");
            }
            return Ok(());
        }
        _ => {}
    }
    let placeholder = match value {
        TraceValue::Int(i) => q.arg_placeholder(*i),
        TraceValue::Float(f) => q.arg_placeholder(*f),
        other => q.arg_placeholder(scalar_text(other)),
    };
    let sql = match comparator {
        "=" | "!=" | "LIKE" if matches!(value, TraceValue::Str(_)) => {
            dialect.compare_str(expr, comparator, &placeholder)
        }
        "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE" => {
            format!("{expr} {comparator} {placeholder}")
        }
        "ILIKE" => dialect.ilike(expr, &placeholder),
        "RLIKE" => match dialect {
            Dialect::Postgres => format!("{expr} ~ {placeholder}"),
            // MLflow: `CAST(col AS BINARY) REGEXP BINARY :value` (case-sensitive).
            Dialect::Mysql => format!("(CAST({expr} AS BINARY) REGEXP BINARY {placeholder})"),
            Dialect::Sqlite => {
                return Err(MlflowError::invalid_param(
                    "RLIKE is not supported by rsflow on SQLite. Use LIKE or ILIKE instead.",
                ));
            }
        },
        other => {
            return Err(MlflowError::invalid_param(format!(
                "Invalid comparator '{other}'"
            )));
        }
    };
    q.push(&sql);
    Ok(())
}

fn scalar_text(v: &TraceValue) -> String {
    match v {
        TraceValue::Str(s) => s.clone(),
        TraceValue::Int(i) => i.to_string(),
        TraceValue::Float(f) => rsflow_core::pyfmt::repr_float(*f),
        TraceValue::List(l) => format!("{l:?}"),
        TraceValue::None => String::new(),
    }
}

/// A numeric attribute compared with a quoted number: compare numbers, as SQLite's column
/// affinity does (PostgreSQL would refuse bigint = text).
fn numeric_value(v: &TraceValue) -> Option<TraceValue> {
    match v {
        TraceValue::Str(s) => s
            .trim()
            .parse::<i64>()
            .map(TraceValue::Int)
            .ok()
            .or_else(|| s.trim().parse::<f64>().ok().map(TraceValue::Float)),
        other => Some(other.clone()),
    }
}

/// The experiments a search covers: `None` means every trace (no ids given).
pub(crate) fn experiment_scope(ids: &[String]) -> Result<Option<Vec<i64>>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for e in ids {
        if let (Some(id), _) = parse_experiment_id(e)? {
            out.push(id);
        }
    }
    Ok(Some(out))
}

pub(crate) fn push_scope(q: &mut Sql, alias: &str, scope: &Option<Vec<i64>>) {
    match scope {
        None => {}
        Some(ids) if ids.is_empty() => {
            q.push(" AND 1 = 0");
        }
        Some(ids) => {
            q.push(&format!(" AND {alias}.experiment_id IN "))
                .bind_list(ids);
        }
    }
}

/// `get_trace_analytics_metadata_filter` for `mlflow.trace.tokenUsage` / `mlflow.trace.cost`.
pub(crate) fn analytics_filter(q: &mut Sql, key: &str, comparator: &str, value: &TraceValue) {
    let tokens = key == META_TOKEN_USAGE;
    let columns: &[&str] = if tokens {
        &TOKEN_COLUMNS
    } else {
        &COST_COLUMNS
    };
    let exists = format!(
        "({})",
        columns
            .iter()
            .map(|c| format!("t.{c} IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    match comparator {
        "IS NULL" => {
            q.push(&format!("NOT {exists}"));
            return;
        }
        "IS NOT NULL" => {
            q.push(&exists);
            return;
        }
        _ => {}
    }
    let text = match value {
        TraceValue::Str(s) => s.as_str(),
        _ => "",
    };
    // The canonical JSON MLflow synthesises from the columns is the only value that matches.
    let parsed: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(text).ok();
    let mut normalized: Vec<(&str, TraceValue)> = Vec::new();
    if let Some(m) = &parsed
        && m.keys().all(|k| columns.contains(&k.as_str()))
    {
        for c in columns {
            let Some(v) = m.get(*c) else { continue };
            let conv = if tokens {
                match v {
                    serde_json::Value::Number(n) => n
                        .as_i64()
                        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                        .map(TraceValue::Int),
                    _ => None,
                }
            } else {
                match v {
                    serde_json::Value::Number(n) => {
                        n.as_f64().filter(|f| f.is_finite()).map(TraceValue::Float)
                    }
                    _ => None,
                }
            };
            if let Some(conv) = conv {
                normalized.push((c, conv));
            }
        }
    }
    let canonical = format!(
        "{{{}}}",
        normalized
            .iter()
            .map(|(k, v)| format!("\"{k}\": {}", scalar_text(v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let is_canonical = !normalized.is_empty() && text == canonical;
    if comparator == "!=" {
        q.push(&format!("({exists} AND NOT "));
    }
    if is_canonical {
        q.push("(");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                q.push(" AND ");
            }
            match normalized.iter().find(|(k, _)| k == c) {
                Some((_, TraceValue::Int(v))) => {
                    q.push(&format!("t.{c} = ")).bind(*v);
                }
                Some((_, TraceValue::Float(v))) => {
                    q.push(&format!("t.{c} = ")).bind(*v);
                }
                _ => {
                    q.push(&format!("t.{c} IS NULL"));
                }
            }
        }
        q.push(")");
    } else {
        q.push("1 = 0");
    }
    if comparator == "!=" {
        q.push(")");
    }
}

/// The assessment conditions on alias `a` (type, name, valid, and the value test).
fn assessment_conditions(
    q: &mut Sql,
    dialect: Dialect,
    a: &str,
    c: &TraceClause,
    with_value: bool,
) -> Result<()> {
    let kind = if c.entity == TraceEntity::Feedback {
        "feedback"
    } else {
        "expectation"
    };
    q.push(&format!("{a}.assessment_type = "))
        .bind(kind)
        .push(&format!(" AND {a}.name = "))
        .bind(c.key.as_str())
        .push(&format!(" AND {a}.valid = "))
        .bind(true);
    if !with_value {
        return Ok(());
    }
    q.push(" AND ");
    match c.comparator.as_str() {
        "<" | "<=" | ">" | ">=" => {
            q.push(&format!("{a}.is_numeric_value = "))
                .bind(true)
                .push(" AND ");
            let v = match &c.value {
                TraceValue::Int(i) => TraceValue::Float(*i as f64),
                other => other.clone(),
            };
            compare(
                q,
                dialect,
                &format!("{a}.aggregate_value"),
                &c.comparator,
                &v,
            )?;
        }
        "=" | "!=" => {
            // JSON-aware: a string matches its JSON text, a number or bool its raw text.
            let raw = scalar_text(&c.value);
            let json = json_dumps_str(&raw);
            if c.comparator == "!=" {
                q.push("NOT ");
            }
            q.push(&format!("({a}.value = "))
                .bind(raw)
                .push(&format!(" OR {a}.value = "))
                .bind(json)
                .push(")");
        }
        other => compare(q, dialect, &format!("{a}.value"), other, &c.value)?,
    }
    Ok(())
}

/// Traces sharing a session with a trace that has a matching session-level assessment
/// (`_get_session_scoped_trace_ids`).
fn session_covered(
    q: &mut Sql,
    dialect: Dialect,
    scope: &Option<Vec<i64>>,
    c: &TraceClause,
    with_value: bool,
) -> Result<()> {
    q.push("SELECT t2.request_id FROM trace_info t2 WHERE 1 = 1");
    push_scope(q, "t2", scope);
    q.push(
        " AND t2.session_id IN (SELECT t3.session_id FROM trace_info t3 JOIN assessments a3 \
         ON a3.trace_id = t3.request_id WHERE t3.session_id IS NOT NULL",
    );
    push_scope(q, "t3", scope);
    q.push(" AND ");
    assessment_conditions(q, dialect, "a3", c, with_value)?;
    q.push(" AND a3.assessment_metadata IS NOT NULL AND a3.assessment_metadata LIKE ")
        .bind(format!("%\"{META_SESSION}\":%"))
        .push(")");
    Ok(())
}

/// One `AND`-ed condition on `trace_info t`. Span predicates are collected for one EXISTS.
fn render_clause(
    q: &mut Sql,
    dialect: Dialect,
    scope: &Option<Vec<i64>>,
    c: &TraceClause,
) -> Result<()> {
    let cmp = c.comparator.as_str();
    match c.entity {
        TraceEntity::Attribute => {
            let expr = match c.key.as_str() {
                "end_time_ms" => "(t.timestamp_ms + COALESCE(t.execution_time_ms, 0))".to_string(),
                "request_id" | "timestamp_ms" | "execution_time_ms" | "status"
                | "client_request_id" => format!("t.{}", c.key),
                other => {
                    return Err(MlflowError::invalid_param(format!(
                        "Invalid attribute key '{other}'"
                    )));
                }
            };
            let numeric = matches!(
                c.key.as_str(),
                "end_time_ms" | "timestamp_ms" | "execution_time_ms"
            );
            if numeric {
                match numeric_value(&c.value) {
                    Some(v) => compare(q, dialect, &expr, cmp, &v)?,
                    None => {
                        q.push("1 = 0");
                    }
                }
            } else {
                compare(q, dialect, &expr, cmp, &c.value)?;
            }
        }
        TraceEntity::Tag if c.key == TAG_TRACE_NAME => {
            compare(q, dialect, "t.trace_name", cmp, &c.value)?;
        }
        TraceEntity::Metadata if c.key == META_SESSION => {
            compare(q, dialect, "t.session_id", cmp, &c.value)?;
        }
        TraceEntity::Metadata if c.key == META_TOKEN_USAGE || c.key == META_COST => {
            analytics_filter(q, &c.key, cmp, &c.value);
        }
        TraceEntity::Tag if c.key == TAG_LINKED_PROMPTS => {
            q.push(
                "t.request_id IN (SELECT ea.source_id FROM entity_associations ea WHERE \
                 ea.source_type = 'trace' AND ea.destination_type = 'prompt_version' AND \
                 ea.destination_id = ",
            )
            .bind(scalar_text(&c.value))
            .push(")");
        }
        TraceEntity::Tag | TraceEntity::Metadata => {
            let table = if c.entity == TraceEntity::Tag {
                "trace_tags"
            } else {
                "trace_request_metadata"
            };
            match cmp {
                "IS NULL" | "IS NOT NULL" => {
                    if cmp == "IS NULL" {
                        q.push("NOT ");
                    }
                    q.push(&format!(
                        "EXISTS (SELECT 1 FROM {table} x WHERE x.request_id = t.request_id AND \
                         x.\"key\" = "
                    ))
                    .bind(c.key.as_str())
                    .push(")");
                }
                _ => {
                    q.push(&format!(
                        "t.request_id IN (SELECT x.request_id FROM {table} x WHERE x.\"key\" = "
                    ))
                    .bind(c.key.as_str())
                    .push(" AND ");
                    compare(q, dialect, "x.value", cmp, &c.value)?;
                    q.push(")");
                }
            }
        }
        TraceEntity::Issue => {
            q.push(
                "t.request_id IN (SELECT a.trace_id FROM assessments a WHERE \
                 a.assessment_type = 'issue' AND a.name = ",
            )
            .bind(scalar_text(&c.value))
            .push(")");
        }
        TraceEntity::Feedback | TraceEntity::Expectation => {
            match cmp {
                "IS NULL" => {
                    q.push("NOT EXISTS (SELECT 1 FROM assessments a WHERE a.trace_id = t.request_id AND ");
                    assessment_conditions(q, dialect, "a", c, false)?;
                    q.push(") AND t.request_id NOT IN (");
                    session_covered(q, dialect, scope, c, false)?;
                    q.push(")");
                }
                _ => {
                    let with_value = cmp != "IS NOT NULL";
                    q.push("t.request_id IN (SELECT a.trace_id FROM assessments a WHERE ");
                    assessment_conditions(q, dialect, "a", c, with_value)?;
                    q.push(" UNION ");
                    session_covered(q, dialect, scope, c, with_value)?;
                    q.push(")");
                }
            }
        }
        TraceEntity::Span => {
            // Rendered by `render_span_exists`.
            q.push("1 = 1");
        }
    }
    Ok(())
}

/// All span predicates in one correlated EXISTS: they must hold on the same span.
fn render_span_exists(q: &mut Sql, dialect: Dialect, spans: &[&TraceClause]) -> Result<()> {
    q.push(
        " AND EXISTS (SELECT 1 FROM spans sp WHERE sp.trace_id = t.request_id AND \
         sp.experiment_id = t.experiment_id",
    );
    for c in spans {
        q.push(" AND ");
        let cmp = c.comparator.as_str();
        if let Some(attr) = c.key.strip_prefix("attributes.") {
            let attr = trim_backticks(attr);
            let value = scalar_text(&c.value);
            let pattern = if cmp == "RLIKE" {
                let mut v = value.as_str();
                let prefix = if let Some(rest) = v.strip_prefix('^') {
                    v = rest;
                    "\"\\\\\""
                } else {
                    "\"\\\\\".*"
                };
                let suffix = if let Some(rest) = v.strip_suffix('$') {
                    v = rest;
                    "\\\\\""
                } else {
                    ""
                };
                format!("\"{attr}\": {prefix}{v}{suffix}")
            } else {
                format!("%\"{attr}\"{value}%")
            };
            compare(q, dialect, "sp.content", cmp, &TraceValue::Str(pattern))?;
        } else {
            let col = match c.key.as_str() {
                "name" => "sp.name",
                "type" => "sp.type",
                "status" => "sp.status",
                _ => "sp.content",
            };
            compare(q, dialect, col, cmp, &c.value)?;
        }
    }
    q.push(")");
    Ok(())
}

fn trim_backticks(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `AND`-ed conditions of a parsed filter on `trace_info t` (MLflow's
/// `_apply_trace_filter_clauses`): span predicates in one EXISTS, `run_id =` as metadata or link.
pub(crate) fn push_conditions(
    q: &mut Sql,
    dialect: Dialect,
    scope: &Option<Vec<i64>>,
    clauses: &[TraceClause],
) -> Result<()> {
    let mut spans: Vec<&TraceClause> = Vec::new();
    let mut run_id: Option<&TraceValue> = None;
    for c in clauses {
        if c.entity == TraceEntity::Span {
            spans.push(c);
            continue;
        }
        if c.entity == TraceEntity::Metadata && c.key == META_SOURCE_RUN && c.comparator == "=" {
            run_id = Some(&c.value);
            continue;
        }
        q.push(" AND ");
        render_clause(q, dialect, scope, c)?;
    }
    if !spans.is_empty() {
        render_span_exists(q, dialect, &spans)?;
    }
    if let Some(v) = run_id {
        let v = scalar_text(v);
        q.push(
            " AND (EXISTS (SELECT 1 FROM entity_associations ea WHERE ea.source_id = \
             t.request_id AND ea.source_type = 'trace' AND ea.destination_type = 'run' AND \
             ea.destination_id = ",
        )
        .bind(v.clone())
        .push(
            ") OR EXISTS (SELECT 1 FROM trace_request_metadata m WHERE m.request_id = \
             t.request_id AND m.\"key\" = ",
        )
        .bind(META_SOURCE_RUN)
        .push(" AND m.value = ")
        .bind(v)
        .push("))");
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn search_traces_impl(&self, query: &SearchTraces) -> Result<Page<TraceInfo>> {
        let max_results = query.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
        super::search::validate_max_results(max_results)?;
        let scope = experiment_scope(&query.experiment_ids)?;
        let order_by = parse_trace_order_by(&query.order_by)?;
        let clauses = parse_trace_filter(query.filter.as_deref().unwrap_or(""))?;
        let offset = page_token::decode_offset(query.page_token.as_deref())?;
        let dialect = self.dialect;

        // Tags and metadata come aggregated in the same row (one query per page).
        let mut q = Sql::new(&format!(
            "SELECT {TI_COLUMNS}{} FROM trace_info t",
            children_columns(dialect)
        ));
        let mut order_exprs: Vec<(String, bool, bool)> = Vec::new();
        for (i, o) in order_by.iter().enumerate() {
            let (expr, nullable) = order_expr(&mut q, i, o);
            order_exprs.push((expr, nullable, o.ascending));
        }
        q.push(" WHERE 1 = 1");
        push_scope(&mut q, "t", &scope);
        push_conditions(&mut q, dialect, &scope, &clauses)?;
        q.push(" ORDER BY ");
        let mut parts: Vec<String> = Vec::new();
        for (expr, nullable, asc) in &order_exprs {
            if *nullable {
                parts.push(format!("CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END"));
            }
            parts.push(format!("{expr}{}", if *asc { "" } else { " DESC" }));
        }
        let observed = |k: &str| {
            order_by
                .iter()
                .any(|o| o.entity == TraceEntity::Attribute && o.key == k)
        };
        if !observed("timestamp_ms") {
            parts.push("t.timestamp_ms DESC".into());
        }
        if !observed("request_id") {
            parts.push("t.request_id".into());
        }
        q.push(&parts.join(", "));
        q.push(" LIMIT ")
            .bind(max_results)
            .push(" OFFSET ")
            .bind(offset);

        // One read (two when some hit has assessments to read as well). On an SQLite file the
        // page is read through SQLite's own driver: the `Any` driver would copy every value
        // of every row once more, with the column names.
        let items = if let Some(search) = &self.sqlite_search {
            let rows = search.fetch_all(&q).await.map_err(db_err)?;
            let page = rows_with_children(&rows)?;
            if page.with_assessments.is_empty() {
                page.into_infos(None).await?
            } else {
                let mut conn = self.read.acquire().await.map_err(db_err)?;
                page.into_infos(Some(&mut conn)).await?
            }
        } else {
            let mut conn = self.read.acquire().await.map_err(db_err)?;
            let rows = q
                .search_query(dialect)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?;
            rows_with_children(&rows)?
                .into_infos(Some(&mut conn))
                .await?
        };
        let next_page_token = (items.len() as i64 == max_results)
            .then(|| page_token::encode_offset(offset + max_results));
        Ok(Page {
            items,
            next_page_token,
        })
    }
}

/// The ORDER BY expression of one key (joining its tag or metadata value when needed) and
/// whether it can be NULL (nulls sort last).
fn order_expr(q: &mut Sql, i: usize, o: &TraceOrderBy) -> (String, bool) {
    match (o.entity, o.key.as_str()) {
        (TraceEntity::Attribute, "end_time_ms") => (
            "(t.timestamp_ms + COALESCE(t.execution_time_ms, 0))".into(),
            false,
        ),
        (TraceEntity::Attribute, "execution_time_ms") => ("t.execution_time_ms".into(), true),
        (TraceEntity::Attribute, k) => (format!("t.{k}"), false),
        (TraceEntity::Tag, TAG_TRACE_NAME) => ("t.trace_name".into(), true),
        (TraceEntity::Metadata, META_SESSION) => ("t.session_id".into(), true),
        (entity, key) => {
            let table = if entity == TraceEntity::Tag {
                "trace_tags"
            } else {
                "trace_request_metadata"
            };
            q.push(&format!(
                " LEFT OUTER JOIN (SELECT request_id, value FROM {table} WHERE \"key\" = "
            ))
            .bind(key)
            .push(&format!(") ob{i} ON ob{i}.request_id = t.request_id"));
            (format!("ob{i}.value"), true)
        }
    }
}

impl SqlStore {
    /// MLflow's `calculate_trace_filter_correlation`: each filter is combined with the base
    /// filter as text (`"<base> and <filter>"`) and rendered on its own, so span predicates of
    /// the two filters need not hold on the same span.
    pub(crate) async fn calculate_filter_correlation_impl(
        &self,
        experiment_ids: &[String],
        filter1: &str,
        filter2: &str,
        base_filter: Option<&str>,
    ) -> Result<rsflow_core::trace::TraceFilterCorrelation> {
        let ids = experiment_scope(experiment_ids)?.unwrap_or_default();
        let scope = Some(ids);
        let base = base_filter.filter(|b| !b.is_empty());
        let combine = |f: &str| match base {
            Some(b) => format!("{b} and {f}"),
            None => f.to_string(),
        };
        let f1 = parse_trace_filter(&combine(filter1))?;
        let f2 = parse_trace_filter(&combine(filter2))?;
        let base_clauses = parse_trace_filter(base.unwrap_or(""))?;
        let dialect = self.dialect;
        let mut tx = self.read_tx().await?;
        let mut counts = Vec::with_capacity(4);
        for sets in [vec![&base_clauses], vec![&f1], vec![&f2], vec![&f1, &f2]] {
            let mut q = Sql::new("SELECT COUNT(*) FROM trace_info t WHERE 1 = 1");
            push_scope(&mut q, "t", &scope);
            for clauses in sets {
                push_conditions(&mut q, dialect, &scope, clauses)?;
            }
            let row = q
                .search_query(dialect)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            counts.push(sqlx::Row::try_get::<i64, _>(&row, 0).map_err(db_err)?);
        }
        let (total, c1, c2, joint) = (counts[0], counts[1], counts[2], counts[3]);
        let (npmi, smoothed) = rsflow_core::trace::npmi_from_counts(joint, c1, c2, total);
        Ok(rsflow_core::trace::TraceFilterCorrelation {
            npmi,
            npmi_smoothed: Some(smoothed),
            filter1_count: c1,
            filter2_count: c2,
            joint_count: joint,
            total_count: total,
        })
    }
}
