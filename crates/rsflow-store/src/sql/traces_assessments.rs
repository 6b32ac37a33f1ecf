//! Assessments (spec §3) on MLflow's `assessments` table: feedback, expectations and issue
//! references of a trace, with MLflow's JSON encodings of values, errors and metadata.

use std::collections::BTreeMap;

use rsflow_core::pyfmt::json_dumps;
use rsflow_core::trace::{
    ASSESSMENT_SOURCE_RUN_ID, Assessment, AssessmentError, AssessmentSource, AssessmentUpdate,
    AssessmentValue,
};
use rsflow_core::{MlflowError, Result, now_ms};
use serde_json::Value;
use sqlx::{AnyConnection, Row as _};

use super::SqlStore;
use super::query::{Sql, db_err};
use super::traces::{fetch_info_row, trace_exists, trace_not_found};

const A_COLUMNS: &str = "assessment_id, trace_id, name, assessment_type, value, error, \
     created_timestamp, last_updated_timestamp, source_type, source_id, run_id, span_id, \
     rationale, overrides, CASE WHEN valid THEN 1 ELSE 0 END, assessment_metadata";

fn error_to_json(e: &AssessmentError) -> String {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    // json.dumps(error.to_dictionary()): the keys in this order, nulls kept.
    format!(
        "{{\"error_code\": {}, \"error_message\": {}, \"stack_trace\": {}}}",
        json_dumps(&opt(&e.error_code)),
        json_dumps(&opt(&e.error_message)),
        json_dumps(&opt(&e.stack_trace))
    )
}

fn error_from_json(text: &str) -> Option<AssessmentError> {
    let v: Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(AssessmentError {
        error_code: s("error_code"),
        error_message: s("error_message"),
        stack_trace: s("stack_trace"),
    })
}

/// `assessment_aggregate`: (aggregate_value, is_numeric_value).
fn aggregate(value: Option<&Value>) -> (Option<f64>, bool) {
    match value {
        Some(Value::Bool(b)) => (Some(if *b { 1.0 } else { 0.0 }), false),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => (Some(f), true),
            _ => (None, false),
        },
        Some(Value::String(s)) => match s.trim().to_lowercase().as_str() {
            "yes" => (Some(1.0), false),
            "no" => (Some(0.0), false),
            _ => (None, false),
        },
        _ => (None, false),
    }
}

/// The `value` and `error` columns and the aggregate of an assessment value.
struct Encoded {
    value: String,
    error: Option<String>,
    aggregate: (Option<f64>, bool),
}

fn encode(value: &AssessmentValue) -> Encoded {
    match value {
        AssessmentValue::Feedback { value, error } => Encoded {
            value: json_dumps(value.as_ref().unwrap_or(&Value::Null)),
            error: error.as_ref().map(error_to_json),
            aggregate: aggregate(value.as_ref()),
        },
        AssessmentValue::Expectation { value } => Encoded {
            value: json_dumps(value),
            error: None,
            aggregate: aggregate(Some(value)),
        },
        AssessmentValue::Issue { issue_name } => Encoded {
            value: json_dumps(&serde_json::json!({ "issue_name": issue_name })),
            error: None,
            aggregate: (None, false),
        },
    }
}

fn metadata_json(m: &BTreeMap<String, String>) -> Option<String> {
    if m.is_empty() {
        return None;
    }
    let obj: serde_json::Map<String, Value> = m
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    Some(json_dumps(&Value::Object(obj)))
}

/// A row in [`A_COLUMNS`] order, as `SqlAssessments.to_mlflow_entity` reads it.
fn from_row(r: &sqlx::any::AnyRow) -> Result<Assessment> {
    let get = || -> std::result::Result<Assessment, sqlx::Error> {
        let kind: String = r.try_get(3)?;
        let value_text: String = r.try_get(4)?;
        let value: Value = serde_json::from_str(&value_text).unwrap_or(Value::Null);
        let error = r
            .try_get::<Option<String>, _>(5)?
            .as_deref()
            .and_then(error_from_json);
        let metadata: BTreeMap<String, String> = r
            .try_get::<Option<String>, _>(15)?
            .and_then(|t| serde_json::from_str::<serde_json::Map<String, Value>>(&t).ok())
            .map(|m| {
                m.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rationale: Option<String> = r.try_get(12)?;
        let (value, error, rationale) = match kind.as_str() {
            "expectation" => (AssessmentValue::Expectation { value }, None, None),
            "issue" => (
                AssessmentValue::Issue {
                    issue_name: value
                        .get("issue_name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                },
                None,
                rationale,
            ),
            _ => (
                AssessmentValue::Feedback {
                    value: (!value.is_null()).then_some(value),
                    error: error.clone(),
                },
                error,
                rationale,
            ),
        };
        Ok(Assessment {
            assessment_id: r.try_get(0)?,
            trace_id: r.try_get(1)?,
            assessment_name: r.try_get(2)?,
            value,
            error,
            create_time_ms: r.try_get(6)?,
            last_update_time_ms: r.try_get(7)?,
            source: AssessmentSource {
                source_type: r.try_get(8)?,
                source_id: r.try_get(9)?,
            },
            run_id: r.try_get(10)?,
            span_id: r.try_get(11)?,
            rationale,
            overrides: r.try_get(13)?,
            valid: r.try_get::<i64, _>(14)? != 0,
            metadata,
        })
    };
    get().map_err(db_err)
}

/// The assessments of some traces, oldest first.
pub(crate) async fn fetch_for_traces(
    conn: &mut AnyConnection,
    trace_ids: &[String],
) -> Result<Vec<Assessment>> {
    if trace_ids.is_empty() {
        return Ok(vec![]);
    }
    let mut q = Sql::new(&format!(
        "SELECT {A_COLUMNS} FROM assessments WHERE trace_id IN "
    ));
    q.bind_list(trace_ids)
        .push(" ORDER BY trace_id, created_timestamp, assessment_id");
    q.query()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(from_row)
        .collect()
}

async fn fetch_one(
    conn: &mut AnyConnection,
    trace_id: &str,
    assessment_id: &str,
) -> Result<Option<Assessment>> {
    let mut q = Sql::new(&format!(
        "SELECT {A_COLUMNS} FROM assessments WHERE trace_id = "
    ));
    q.bind(trace_id)
        .push(" AND assessment_id = ")
        .bind(assessment_id);
    match q.query().fetch_optional(&mut *conn).await.map_err(db_err)? {
        Some(r) => Ok(Some(from_row(&r)?)),
        None => Ok(None),
    }
}

/// `_get_sql_assessment`'s errors.
async fn fetch_existing(
    conn: &mut AnyConnection,
    trace_id: &str,
    assessment_id: &str,
) -> Result<Assessment> {
    if let Some(a) = fetch_one(conn, trace_id, assessment_id).await? {
        return Ok(a);
    }
    if !trace_exists(conn, trace_id).await? {
        return Err(MlflowError::not_found(format!(
            "Trace with request_id '{trace_id}' not found"
        )));
    }
    Err(MlflowError::not_found(format!(
        "Assessment with ID '{assessment_id}' not found for trace '{trace_id}'"
    )))
}

/// Complete an assessment for storage: id, times, run id from metadata.
fn prepare(a: &Assessment) -> Assessment {
    let mut a = a.clone();
    if a.assessment_id.is_empty() {
        a.assessment_id = format!("a-{}", uuid::Uuid::new_v4().simple());
    }
    let now = now_ms();
    if a.create_time_ms == 0 {
        a.create_time_ms = now;
    }
    if a.last_update_time_ms == 0 {
        a.last_update_time_ms = now;
    }
    if a.source.source_type.is_empty() {
        a.source.source_type = "SOURCE_TYPE_UNSPECIFIED".to_string();
    }
    if a.run_id.is_none() {
        a.run_id = a.metadata.get(ASSESSMENT_SOURCE_RUN_ID).cloned();
    }
    if let AssessmentValue::Feedback { error, .. } = &mut a.value
        && error.is_none()
    {
        *error = a.error.clone();
    }
    a.valid = true;
    a
}

/// Insert an assessment (or, with `replace`, overwrite the row with the same id: StartTraceV3
/// merges assessments that way).
async fn write(
    conn: &mut AnyConnection,
    a: &Assessment,
    experiment_id: i64,
    trace_timestamp_ms: i64,
    replace: bool,
) -> std::result::Result<(), sqlx::Error> {
    let enc = encode(&a.value);
    let mut q = Sql::new(
        "INSERT INTO assessments (assessment_id, trace_id, name, assessment_type, value, error, \
         created_timestamp, last_updated_timestamp, source_type, source_id, run_id, span_id, \
         rationale, overrides, valid, assessment_metadata, experiment_id, trace_timestamp_ms, \
         aggregate_value, is_numeric_value) VALUES (",
    );
    q.bind(a.assessment_id.as_str())
        .push(", ")
        .bind(a.trace_id.as_str())
        .push(", ")
        .bind(a.assessment_name.as_str())
        .push(", ")
        .bind(a.value.type_name())
        .push(", ")
        .bind(enc.value)
        .push(", ")
        .bind(enc.error)
        .push(", ")
        .bind(a.create_time_ms)
        .push(", ")
        .bind(a.last_update_time_ms)
        .push(", ")
        .bind(a.source.source_type.as_str())
        .push(", ")
        .bind(a.source.source_id.clone())
        .push(", ")
        .bind(a.run_id.clone())
        .push(", ")
        .bind(a.span_id.clone())
        .push(", ")
        .bind(a.rationale.clone())
        .push(", ")
        .bind(a.overrides.clone())
        .push(", ")
        .bind(a.valid)
        .push(", ")
        .bind(metadata_json(&a.metadata))
        .push(", ")
        .bind(experiment_id)
        .push(", ")
        .bind(trace_timestamp_ms)
        .push(", ")
        .bind(enc.aggregate.0)
        .push(", ")
        .bind(enc.aggregate.1)
        .push(")");
    if replace {
        q.push(
            " ON CONFLICT (assessment_id) DO UPDATE SET trace_id = excluded.trace_id, \
             name = excluded.name, assessment_type = excluded.assessment_type, \
             value = excluded.value, error = excluded.error, \
             created_timestamp = excluded.created_timestamp, \
             last_updated_timestamp = excluded.last_updated_timestamp, \
             source_type = excluded.source_type, source_id = excluded.source_id, \
             run_id = excluded.run_id, span_id = excluded.span_id, \
             rationale = excluded.rationale, overrides = excluded.overrides, \
             valid = excluded.valid, assessment_metadata = excluded.assessment_metadata, \
             experiment_id = excluded.experiment_id, \
             trace_timestamp_ms = excluded.trace_timestamp_ms, \
             aggregate_value = excluded.aggregate_value, \
             is_numeric_value = excluded.is_numeric_value",
        );
    }
    q.query().execute(&mut *conn).await?;
    Ok(())
}

/// StartTraceV3's assessments: inserted, or merged over a row with the same id.
pub(crate) async fn upsert(
    conn: &mut AnyConnection,
    a: &Assessment,
    experiment_id: i64,
    trace_timestamp_ms: i64,
) -> Result<()> {
    let a = prepare(a);
    write(conn, &a, experiment_id, trace_timestamp_ms, true)
        .await
        .map_err(db_err)
}

/// A FieldMask path in snake_case (`assessmentName` → `assessment_name`).
fn snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.trim().chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl SqlStore {
    pub(crate) async fn create_assessment_impl(
        &self,
        assessment: &Assessment,
    ) -> Result<Assessment> {
        let a = prepare(assessment);
        if matches!(a.value, AssessmentValue::Expectation { .. }) && assessment.error.is_some() {
            return Err(MlflowError::invalid_param(
                "Cannot set `error` when `expectation` is specified.",
            ));
        }
        let mut tx = self.write_tx().await?;
        let row = fetch_info_row(&mut tx, self.dialect, &a.trace_id, true)
            .await?
            .ok_or_else(|| trace_not_found(&a.trace_id))?;
        if let Some(target) = &a.overrides {
            let mut q = Sql::new("UPDATE assessments SET valid = ");
            q.bind(false)
                .push(" WHERE trace_id = ")
                .bind(a.trace_id.as_str())
                .push(" AND assessment_id = ")
                .bind(target.as_str());
            let n = q
                .query()
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if n == 0 {
                return Err(MlflowError::not_found(format!(
                    "Assessment with ID '{target}' not found for trace '{}'",
                    a.trace_id
                )));
            }
        }
        let exp_id: i64 = row.info.experiment_id.parse().unwrap_or_default();
        if let Err(e) = write(&mut tx, &a, exp_id, row.info.request_time_ms, false).await {
            return Err(match super::query::classify(&e) {
                super::query::DbErrorKind::UniqueViolation => MlflowError::internal(format!(
                    "Failed to create assessment for trace '{}' due to a constraint violation.",
                    a.trace_id
                )),
                _ => db_err(e),
            });
        }
        let stored = fetch_existing(&mut tx, &a.trace_id, &a.assessment_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    pub(crate) async fn get_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
    ) -> Result<Assessment> {
        let mut tx = self.read_tx().await?;
        fetch_existing(&mut tx, trace_id, assessment_id).await
    }

    pub(crate) async fn update_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
        patch: &AssessmentUpdate,
        mask: &[String],
    ) -> Result<Assessment> {
        let paths: Vec<String> = mask
            .iter()
            .flat_map(|m| m.split(','))
            .map(snake)
            .filter(|p| !p.is_empty())
            .collect();
        let has = |p: &str| paths.iter().any(|x| x == p);
        let mut tx = self.write_tx().await?;
        let existing = fetch_existing(&mut tx, trace_id, assessment_id).await?;
        let want_expectation = has("expectation");
        let want_feedback = has("feedback");
        if want_expectation && want_feedback {
            return Err(MlflowError::invalid_param(
                "Cannot specify both `expectation` and `feedback` parameters.",
            ));
        }
        let is_expectation = matches!(existing.value, AssessmentValue::Expectation { .. });
        let is_feedback = matches!(existing.value, AssessmentValue::Feedback { .. });
        if want_expectation && !is_expectation {
            return Err(MlflowError::invalid_param(
                "Cannot update expectation value on a Feedback assessment.",
            ));
        }
        if want_feedback && !is_feedback {
            return Err(MlflowError::invalid_param(
                "Cannot update feedback value on an Expectation assessment.",
            ));
        }
        let mut updated = existing.clone();
        if has("assessment_name")
            && let Some(name) = &patch.assessment_name
        {
            updated.assessment_name = name.clone();
        }
        if want_expectation {
            updated.value = match &patch.value {
                Some(AssessmentValue::Expectation { value }) => AssessmentValue::Expectation {
                    value: value.clone(),
                },
                _ => AssessmentValue::Expectation { value: Value::Null },
            };
        }
        if want_feedback {
            let (value, error) = match &patch.value {
                Some(AssessmentValue::Feedback { value, error }) => (value.clone(), error.clone()),
                _ => (None, None),
            };
            updated.error = error.clone();
            updated.value = AssessmentValue::Feedback { value, error };
        }
        if has("rationale") && !is_expectation {
            updated.rationale = patch.rationale.clone().or(Some(String::new()));
        }
        if has("metadata") {
            for (k, v) in &patch.metadata {
                updated.metadata.insert(k.clone(), v.clone());
            }
        }
        if has("valid")
            && let Some(v) = patch.valid
        {
            updated.valid = v;
        }
        updated.last_update_time_ms = now_ms();
        let enc = encode(&updated.value);
        let mut q = Sql::new("UPDATE assessments SET name = ");
        q.bind(updated.assessment_name.as_str())
            .push(", value = ")
            .bind(enc.value)
            .push(", error = ")
            .bind(enc.error)
            .push(", last_updated_timestamp = ")
            .bind(updated.last_update_time_ms)
            .push(", rationale = ")
            .bind(updated.rationale.clone())
            .push(", assessment_metadata = ")
            .bind(metadata_json(&updated.metadata))
            .push(", aggregate_value = ")
            .bind(enc.aggregate.0)
            .push(", is_numeric_value = ")
            .bind(enc.aggregate.1)
            .push(", valid = ")
            .bind(updated.valid)
            .push(" WHERE trace_id = ")
            .bind(trace_id)
            .push(" AND assessment_id = ")
            .bind(assessment_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        let stored = fetch_existing(&mut tx, trace_id, assessment_id).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    pub(crate) async fn delete_assessment_impl(
        &self,
        trace_id: &str,
        assessment_id: &str,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let Some(existing) = fetch_one(&mut tx, trace_id, assessment_id).await? else {
            return Ok(());
        };
        if let Some(target) = &existing.overrides {
            let mut q = Sql::new("UPDATE assessments SET valid = ");
            q.bind(true)
                .push(" WHERE assessment_id = ")
                .bind(target.as_str());
            q.query().execute(&mut *tx).await.map_err(db_err)?;
        }
        let mut q = Sql::new("DELETE FROM assessments WHERE trace_id = ");
        q.bind(trace_id)
            .push(" AND assessment_id = ")
            .bind(assessment_id);
        q.query().execute(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_like_mlflow() {
        let f = encode(&AssessmentValue::Feedback {
            value: Some(serde_json::json!(0.8)),
            error: None,
        });
        assert_eq!(f.value, "0.8");
        assert_eq!(f.aggregate, (Some(0.8), true));
        let e = encode(&AssessmentValue::Expectation {
            value: serde_json::json!("Yes"),
        });
        assert_eq!(e.value, "\"Yes\"");
        assert_eq!(e.aggregate, (Some(1.0), false));
        let err = AssessmentError {
            error_code: Some("E".into()),
            error_message: None,
            stack_trace: None,
        };
        assert_eq!(
            error_to_json(&err),
            r#"{"error_code": "E", "error_message": null, "stack_trace": null}"#
        );
        assert_eq!(snake("assessmentName"), "assessment_name");
    }
}
