//! Traces across the two implementations on one SQLite file: what rsflow's store writes, the
//! reference's `SqlAlchemyStore` reads back the same (trace infos, assessments, spans, search),
//! and what MLflow's own tracing writes, rsflow reads back as MLflow does.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsflow_core::trace::{
    AggregationType, Assessment, AssessmentSource, AssessmentValue, MetricAggregation,
    MetricViewType, RootFacts, SpanRow, TokenUsage, TraceCost, TraceInfo, TraceMetricsQuery,
    TraceSpans, TraceState,
};
use rsflow_store::{CreateRun, SearchTraces, SqlStore, TraceStore, TrackingStore};
use serde_json::{Value, json};

use crate::common::{db_path, fresh, reference_venv};

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mlflow_traces.py")
}

fn run_python(venv: &Path, args: &[&str], input: Option<&str>) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new(venv.join("bin/python"))
        .arg(script())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// A span as MLflow stores it (§2.4.1): base64 ids, JSON-encoded attribute values.
fn span(
    trace_id: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    kind: &str,
    start_ns: i64,
) -> SpanRow {
    let hex = trace_id.trim_start_matches("tr-");
    let mut attributes = json!({
        "mlflow.traceRequestId": serde_json::to_string(trace_id).unwrap(),
        "mlflow.spanType": serde_json::to_string(kind).unwrap(),
        "mlflow.spanFunctionName": serde_json::to_string(name).unwrap(),
        "mlflow.spanInputs": "{\"x\": 3}",
        "mlflow.spanOutputs": "7",
    });
    if parent.is_some() {
        attributes["mlflow.chat.tokenUsage"] = Value::String(
            "{\"input_tokens\": 4, \"output_tokens\": 2, \"total_tokens\": 6}".into(),
        );
    }
    let content = json!({
        "trace_id": STANDARD.encode(hex_bytes(hex)),
        "span_id": STANDARD.encode(hex_bytes(id)),
        "parent_span_id": parent.map(|p| STANDARD.encode(hex_bytes(p))),
        "name": name,
        "start_time_unix_nano": start_ns,
        "end_time_unix_nano": start_ns + 5_000_000,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": attributes,
        "links": [],
    });
    SpanRow {
        trace_id: trace_id.into(),
        span_id: id.into(),
        parent_span_id: parent.map(str::to_string),
        name: name.into(),
        span_type: Some(kind.into()),
        status: "OK".into(),
        start_time_ns: start_ns,
        end_time_ns: Some(start_ns + 5_000_000),
        content: content.to_string(),
        ..SpanRow::default()
    }
}

/// Our trace info in the shape of the script's `info_json`.
fn info_json(i: &TraceInfo) -> Value {
    let mut assessments: Vec<Value> = i
        .assessments
        .iter()
        .map(|a| {
            let (kind, value) = match &a.value {
                AssessmentValue::Feedback { value, .. } => {
                    ("feedback", value.clone().unwrap_or(Value::Null))
                }
                AssessmentValue::Expectation { value } => ("expectation", value.clone()),
                AssessmentValue::Issue { issue_name } => ("issue", json!(issue_name)),
            };
            json!({
                "assessment_id": a.assessment_id,
                "name": a.assessment_name,
                "valid": a.valid,
                "overrides": a.overrides,
                "source_type": a.source.source_type,
                "source_id": a.source.source_id,
                "rationale": a.rationale,
                "metadata": a.metadata,
                "kind": kind,
                "value": value,
                "create_time_ms": a.create_time_ms,
            })
        })
        .collect();
    assessments.sort_by_key(|a| a["assessment_id"].as_str().unwrap().to_string());
    json!({
        "trace_id": i.trace_id,
        "experiment_id": i.experiment_id,
        "request_time": i.request_time_ms,
        "execution_duration": i.execution_duration_ms,
        "state": i.state.as_str(),
        "request_preview": i.request_preview,
        "response_preview": i.response_preview,
        "client_request_id": i.client_request_id,
        "tags": i.tags,
        "trace_metadata": i.trace_metadata,
        "assessments": assessments,
    })
}

async fn our_spans(s: &SqlStore, trace_id: &str) -> Value {
    let mut rows: Vec<Value> = s
        .list_spans(trace_id, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|r| json!([r.name, r.parent_span_id.is_none(), r.span_type, r.status]))
        .collect();
    rows.sort_by_key(|v| v.to_string());
    Value::Array(rows)
}

fn sorted_py_spans(v: &Value) -> Value {
    let mut rows = v.as_array().cloned().unwrap_or_default();
    rows.sort_by_key(|v| v.to_string());
    Value::Array(rows)
}

async fn our_search(s: &SqlStore, exps: &[String], filter: &str) -> Value {
    let page = s
        .search_traces(&SearchTraces {
            experiment_ids: exps.to_vec(),
            filter: Some(filter.to_string()),
            max_results: Some(100),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{filter}: {}", e.message));
    json!(
        page.items
            .iter()
            .map(|i| i.trace_id.clone())
            .collect::<Vec<_>>()
    )
}

const FILTERS: &[&str] = &[
    "",
    "trace.status = 'OK'",
    "trace.status = 'ERROR'",
    "name = 'outer-fn'",
    "tag.team = 'a'",
    "tag.team IS NULL",
    "metadata.`mlflow.trace.session` = 'sess-1'",
    "span.type = 'RETRIEVER'",
    "span.name = 'inner' AND span.type = 'TOOL'",
    "trace.text LIKE '%manual%'",
    "feedback.quality > 0.5",
    "feedback.quality IS NOT NULL",
    "expectation.expected IS NULL",
    "run_id = 'RUNID'",
    "trace.timestamp_ms > 0",
    "trace.execution_time_ms >= 0",
];

async fn compare_with_reference(
    venv: &Path,
    db: &Path,
    store: &SqlStore,
    exp: &str,
    trace_ids: &[String],
    run_id: &str,
) -> usize {
    let filters: Vec<String> = FILTERS.iter().map(|f| f.replace("RUNID", run_id)).collect();
    let metrics = metric_queries();
    let correlations = json!([
        ["trace.status = 'OK'", "span.type = 'RETRIEVER'", null],
        ["trace.status = 'ERROR'", "tag.team = 'a'", null],
        [
            "span.name = 'inner'",
            "feedback.quality > 0.5",
            "trace.timestamp_ms > 0"
        ],
    ]);
    let request = json!({"trace_ids": trace_ids, "experiment_ids": [exp], "filters": filters,
        "metrics": metrics, "correlations": correlations});
    let reference = run_python(
        venv,
        &["dump", db.to_str().unwrap()],
        Some(&request.to_string()),
    );
    let mut checks = 0;
    for id in trace_ids {
        let ours = info_json(&store.get_trace_info(id).await.unwrap());
        assert_eq!(ours, reference["infos"][id], "trace info of {id}");
        assert_eq!(
            our_spans(store, id).await,
            sorted_py_spans(&reference["spans"][id]),
            "spans of {id}"
        );
        checks += 2;
    }
    for f in &filters {
        assert_eq!(
            our_search(store, &[exp.to_string()], f).await,
            reference["search"][f.as_str()],
            "search {f:?}"
        );
        checks += 1;
    }
    for (i, m) in metrics.iter().enumerate() {
        let agg = |a: &Value| MetricAggregation {
            aggregation_type: serde_json::from_value::<AggregationType>(a[0].clone()).unwrap(),
            percentile_value: a[1].as_f64(),
        };
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let q = TraceMetricsQuery {
            experiment_ids: vec![exp.to_string()],
            view_type: serde_json::from_value::<MetricViewType>(m["view_type"].clone()).unwrap(),
            metric_name: m["metric_name"].as_str().unwrap().to_string(),
            aggregations: m["aggregations"]
                .as_array()
                .unwrap()
                .iter()
                .map(agg)
                .collect(),
            dimensions: strs(&m["dimensions"]),
            filters: strs(&m["filters"]),
            time_interval_seconds: m["time_interval_seconds"].as_i64(),
            start_time_ms: m["start_time_ms"].as_i64(),
            end_time_ms: m["end_time_ms"].as_i64(),
            max_results: None,
        };
        let ours = serde_json::to_value(store.query_trace_metrics(&q).await.unwrap()).unwrap();
        // The wire carries doubles: Python's integral SUM/COUNT compare as floats.
        assert_eq!(
            floats(&ours),
            floats(&reference["metrics"][i]),
            "metrics {m}"
        );
        checks += 1;
    }
    for (i, c) in correlations.as_array().unwrap().iter().enumerate() {
        let r = store
            .calculate_filter_correlation(
                &[exp.to_string()],
                c[0].as_str().unwrap(),
                c[1].as_str().unwrap(),
                c[2].as_str(),
            )
            .await
            .unwrap();
        let nan_null = |x: f64| if x.is_nan() { Value::Null } else { json!(x) };
        let ours = json!({
            "npmi": nan_null(r.npmi),
            "npmi_smoothed": r.npmi_smoothed.map_or(Value::Null, nan_null),
            "filter1_count": r.filter1_count, "filter2_count": r.filter2_count,
            "joint_count": r.joint_count, "total_count": r.total_count,
        });
        assert_eq!(
            floats(&ours),
            floats(&reference["correlations"][i]),
            "correlation {c}"
        );
        checks += 1;
    }
    checks
}

fn floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(floats).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), floats(v))).collect()),
        other => other.clone(),
    }
}

/// The Overview page's kinds of queries.
fn metric_queries() -> Vec<Value> {
    vec![
        json!({"view_type": "TRACES", "metric_name": "trace_count", "aggregations": [["COUNT", null]]}),
        json!({"view_type": "TRACES", "metric_name": "trace_count", "aggregations": [["COUNT", null]],
               "dimensions": ["trace_status"], "time_interval_seconds": 3600,
               "start_time_ms": 0, "end_time_ms": 4_000_000_000_000i64}),
        json!({"view_type": "TRACES", "metric_name": "latency",
               "aggregations": [["AVG", null], ["PERCENTILE", 50.0], ["PERCENTILE", 90.0], ["MAX", null]]}),
        json!({"view_type": "TRACES", "metric_name": "total_tokens", "aggregations": [["SUM", null]],
               "dimensions": ["trace_name"]}),
        json!({"view_type": "TRACES", "metric_name": "session_count", "aggregations": [["COUNT", null]]}),
        json!({"view_type": "TRACES", "metric_name": "trace_count", "aggregations": [["COUNT", null]],
               "filters": ["trace.status = 'OK'"]}),
        json!({"view_type": "SPANS", "metric_name": "span_count", "aggregations": [["COUNT", null]],
               "dimensions": ["span_type"]}),
        json!({"view_type": "SPANS", "metric_name": "latency", "aggregations": [["AVG", null]],
               "dimensions": ["span_name"], "filters": ["span.type = 'TOOL'"]}),
        json!({"view_type": "ASSESSMENTS", "metric_name": "assessment_count",
               "aggregations": [["COUNT", null]], "dimensions": ["assessment_name"]}),
        json!({"view_type": "ASSESSMENTS", "metric_name": "assessment_value",
               "aggregations": [["AVG", null]], "dimensions": ["assessment_name"]}),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow_reads_what_rsflow_writes() {
    let Some(venv) = reference_venv() else { return };
    let (dir, s) = fresh().await;
    let exp = s.create_experiment("rs-traces", None, &[]).await.unwrap();
    let run = s
        .create_run(CreateRun {
            experiment_id: exp.clone(),
            user_id: "u".into(),
            run_name: Some("r".into()),
            start_time: 1,
            tags: vec![],
        })
        .await
        .unwrap();
    let run_id = run.info.run_id.clone();
    let ms = 1_700_000_000_000i64;
    let ns = ms * 1_000_000;

    // Trace 1: spans over OTLP first, then StartTraceV3 (the client's synchronous order).
    let t1 = "tr-0123456789abcdef0123456789abcdef".to_string();
    let root = "aaaaaaaaaaaaaaaa";
    let spans = vec![
        span(&t1, root, None, "outer-fn", "CHAIN", ns),
        span(
            &t1,
            "bbbbbbbbbbbbbbbb",
            Some(root),
            "inner",
            "TOOL",
            ns + 1_000_000,
        ),
        span(
            &t1,
            "cccccccccccccccc",
            Some(root),
            "manual",
            "RETRIEVER",
            ns + 2_000_000,
        ),
    ];
    let batch = TraceSpans {
        trace_id: t1.clone(),
        spans,
        root: Some(RootFacts {
            state: TraceState::Ok,
            request_preview: Some("{\"x\": 3}".into()),
            response_preview: Some("7".into()),
            trace_name: Some("outer-fn".into()),
        }),
        tags: vec![("service.name".into(), "svc".into())],
        token_usage: Some(TokenUsage {
            input_tokens: Some(8),
            output_tokens: Some(4),
            total_tokens: Some(12),
            ..TokenUsage::default()
        }),
        cost: None,
        session_id: None,
        user_id: Some("alice".into()),
    };
    s.log_spans(&exp, &[batch], Some(&run_id)).await.unwrap();
    let meta: BTreeMap<String, String> = [
        ("mlflow.trace_schema.version", "3"),
        ("mlflow.traceInputs", "{\"x\": 3}"),
        ("mlflow.traceOutputs", "7"),
        ("mlflow.trace.session", "sess-1"),
        (
            "mlflow.trace.cost",
            "{\"input_cost\": 0.5, \"total_cost\": 1.25}",
        ),
        (
            "mlflow.trace.sizeStats",
            "{\"total_size_bytes\": 10, \"num_spans\": 3}",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let info = TraceInfo {
        trace_id: t1.clone(),
        client_request_id: Some("creq-1".into()),
        experiment_id: exp.clone(),
        request_time_ms: ms,
        execution_duration_ms: Some(7),
        state: TraceState::Ok,
        request_preview: Some("{\"x\": 3}".into()),
        response_preview: Some("7".into()),
        trace_metadata: meta,
        tags: [("mlflow.traceName", "outer-fn"), ("inner", "yes")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        assessments: vec![],
    };
    s.start_trace(info).await.unwrap();
    s.set_trace_tag(&t1, "team", "a").await.unwrap();
    let quality = s
        .create_assessment(Assessment {
            assessment_name: "quality".into(),
            trace_id: t1.clone(),
            source: AssessmentSource {
                source_type: "HUMAN".into(),
                source_id: Some("bob".into()),
            },
            value: AssessmentValue::Feedback {
                value: Some(json!(0.8)),
                error: None,
            },
            rationale: Some("fine".into()),
            metadata: [("m".to_string(), "1".to_string())].into(),
            ..Assessment::default()
        })
        .await
        .unwrap();
    s.create_assessment(Assessment {
        assessment_name: "expected".into(),
        trace_id: t1.clone(),
        source: AssessmentSource {
            source_type: "HUMAN".into(),
            source_id: Some("default".into()),
        },
        value: AssessmentValue::Expectation {
            value: json!({"answer": 7}),
        },
        ..Assessment::default()
    })
    .await
    .unwrap();
    s.create_assessment(Assessment {
        assessment_name: "quality".into(),
        trace_id: t1.clone(),
        source: AssessmentSource {
            source_type: "LLM_JUDGE".into(),
            source_id: Some("judge".into()),
        },
        value: AssessmentValue::Feedback {
            value: Some(json!(0.9)),
            error: None,
        },
        overrides: Some(quality.assessment_id.clone()),
        ..Assessment::default()
    })
    .await
    .unwrap();

    // Trace 2: OTLP only, an error root.
    let t2 = "tr-fedcba9876543210fedcba9876543210".to_string();
    let mut err_root = span(
        &t2,
        "dddddddddddddddd",
        None,
        "failing",
        "UNKNOWN",
        ns + 50_000_000,
    );
    err_root.status = "ERROR".into();
    err_root.content = err_root
        .content
        .replace("STATUS_CODE_OK", "STATUS_CODE_ERROR");
    s.log_spans(
        &exp,
        &[TraceSpans {
            trace_id: t2.clone(),
            spans: vec![err_root],
            root: Some(RootFacts {
                state: TraceState::Error,
                request_preview: Some("{}".into()),
                response_preview: None,
                trace_name: Some("failing".into()),
            }),
            session_id: Some("sess-2".into()),
            cost: Some(TraceCost {
                total_cost: Some(0.1),
                ..TraceCost::default()
            }),
            ..TraceSpans::default()
        }],
        None,
    )
    .await
    .unwrap();

    let checks = compare_with_reference(
        &venv,
        &db_path(&dir),
        &s,
        &exp,
        &[t1.clone(), t2.clone()],
        &run_id,
    )
    .await;
    assert!(checks >= 20, "{checks}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsflow_reads_what_mlflow_writes() {
    let Some(venv) = reference_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mlflow.db");
    let root = dir.path().join("artifacts");
    let written = run_python(
        &venv,
        &["write", db.to_str().unwrap(), root.to_str().unwrap()],
        None,
    );
    let exp = written["experiment_id"].as_str().unwrap().to_string();
    let ids: Vec<String> = written["trace_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let s = SqlStore::open(
        &format!("sqlite:///{}", db.display()),
        root.to_str().unwrap(),
    )
    .await
    .unwrap();
    let checks = compare_with_reference(&venv, &db, &s, &exp, &ids, "no-run").await;
    assert!(checks >= 20, "{checks}");
    // And rsflow keeps writing to MLflow's rows: a tag, then MLflow sees it.
    s.set_trace_tag(&ids[0], "origin", "rsflow").await.unwrap();
    s.close().await;
    let request = json!({"trace_ids": [ids[0]], "experiment_ids": [exp], "filters": ["tag.origin = 'rsflow'"]});
    let after = run_python(
        &venv,
        &["dump", db.to_str().unwrap()],
        Some(&request.to_string()),
    );
    assert_eq!(after["infos"][&ids[0]]["tags"]["origin"], "rsflow");
    assert_eq!(after["search"]["tag.origin = 'rsflow'"], json!([ids[0]]));
}
