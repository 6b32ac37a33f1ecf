//! Traces: StartTraceV3 create-or-merge, promoted metadata, tags, v2 start/end, deletion,
//! links, `log_spans` (OTLP writes) and span paging, assessments.

use std::collections::BTreeMap;

use rsflow_core::ErrorCode;
use rsflow_core::trace::{
    Assessment, AssessmentError, AssessmentSource, AssessmentUpdate, AssessmentValue, RootFacts,
    SpanCursor, SpanRow, TokenUsage, TraceCost, TraceInfo, TraceSpans, TraceState,
};
use rsflow_store::{DeleteTraces, MetadataStore};

use super::assert_err;

pub fn tid(n: u32) -> String {
    format!("tr-{n:032x}")
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn info(trace_id: &str, experiment_id: &str, request_time_ms: i64) -> TraceInfo {
    TraceInfo {
        trace_id: trace_id.to_string(),
        experiment_id: experiment_id.to_string(),
        request_time_ms,
        execution_duration_ms: Some(100),
        state: TraceState::Ok,
        request_preview: Some("{\"x\": 1}".into()),
        response_preview: Some("2".into()),
        trace_metadata: map(&[("mlflow.trace_schema.version", "3")]),
        tags: map(&[("mlflow.traceName", "outer"), ("team", "a")]),
        ..TraceInfo::default()
    }
}

pub fn span(trace_id: &str, id: u64, parent: Option<u64>, start_ns: i64, end_ns: i64) -> SpanRow {
    let content = serde_json::json!({
        "trace_id": "AAAA", "span_id": format!("{id:016x}"), "name": format!("s{id}"),
        "start_time_unix_nano": start_ns, "end_time_unix_nano": end_ns,
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {"mlflow.spanType": "\"CHAIN\""}, "events": [], "links": [],
    });
    SpanRow {
        trace_id: trace_id.to_string(),
        span_id: format!("{id:016x}"),
        parent_span_id: parent.map(|p| format!("{p:016x}")),
        name: format!("s{id}"),
        span_type: Some("CHAIN".into()),
        status: "OK".into(),
        start_time_ns: start_ns,
        end_time_ns: Some(end_ns),
        content: content.to_string(),
        ..SpanRow::default()
    }
}

pub fn batch(trace_id: &str, spans: Vec<SpanRow>, root: Option<RootFacts>) -> TraceSpans {
    TraceSpans {
        trace_id: trace_id.to_string(),
        spans,
        root,
        ..TraceSpans::default()
    }
}

pub fn root_ok() -> RootFacts {
    RootFacts {
        state: TraceState::Ok,
        request_preview: Some("in".into()),
        response_preview: Some("out".into()),
        trace_name: Some("root-name".into()),
    }
}

async fn new_experiment(s: &dyn MetadataStore, name: &str) -> String {
    s.create_experiment(name, None, &[]).await.unwrap()
}

pub async fn start_and_get(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let loc = s.get_experiment(&exp).await.unwrap().artifact_location;
    let mut i = info(&tid(1), &exp, 1_700_000_000_000);
    i.client_request_id = Some("creq".into());
    i.trace_metadata
        .insert("mlflow.trace.session".into(), "sess-1".into());
    i.trace_metadata.insert(
        "mlflow.trace.tokenUsage".into(),
        "{\"input_tokens\": 5, \"output_tokens\": 7, \"total_tokens\": 12}".into(),
    );
    i.trace_metadata
        .insert("mlflow.trace.cost".into(), "{\"total_cost\": 0.5}".into());
    let stored = s.start_trace(i.clone()).await.unwrap();
    assert_eq!(stored.trace_id, tid(1));
    assert_eq!(stored.experiment_id, exp);
    assert_eq!(stored.state, TraceState::Ok);
    assert_eq!(stored.client_request_id.as_deref(), Some("creq"));
    assert_eq!(stored.execution_duration_ms, Some(100));
    assert_eq!(stored.tags["mlflow.traceName"], "outer");
    assert_eq!(stored.tags["team"], "a");
    assert_eq!(
        stored.tags["mlflow.artifactLocation"],
        format!("{loc}/traces/{}/artifacts", tid(1))
    );
    assert_eq!(stored.trace_metadata["mlflow.trace.infoFinalized"], "true");
    assert_eq!(stored.trace_metadata["mlflow.trace.session"], "sess-1");
    assert_eq!(
        stored.trace_metadata["mlflow.trace.tokenUsage"],
        "{\"input_tokens\": 5, \"output_tokens\": 7, \"total_tokens\": 12}"
    );
    assert_eq!(
        stored.trace_metadata["mlflow.trace.cost"],
        "{\"total_cost\": 0.5}"
    );
    assert_eq!(s.get_trace_info(&tid(1)).await.unwrap(), stored);

    assert_err(
        s.get_trace_info("tr-missing").await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with ID 'tr-missing' not found.",
    );
    assert_err(
        s.start_trace(info(&tid(2), "999", 1)).await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=999 exists",
    );
    let mut long = info(&tid(3), &exp, 1);
    long.tags
        .insert("mlflow.traceName".into(), "n".repeat(4097));
    assert_err(
        s.start_trace(long).await,
        ErrorCode::InvalidParameterValue,
        "'Trace name' exceeds the maximum length of 4096 characters",
    );
    s.delete_experiment(&exp).await.unwrap();
    assert_err(
        s.start_trace(info(&tid(4), &exp, 1)).await,
        ErrorCode::InvalidParameterValue,
        "must be in the 'active' state",
    );

    // batch-get: order of the request, unknown ids skipped, experiment scope.
    let other = new_experiment(s, "t2").await;
    s.start_trace(info(&tid(5), &other, 5)).await.unwrap();
    let got = s
        .batch_get_trace_infos(&[tid(5), "tr-nope".into(), tid(1)], &[])
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|i| i.trace_id.as_str()).collect();
    assert_eq!(ids, vec![tid(5).as_str(), tid(1).as_str()]);
    let got = s
        .batch_get_trace_infos(&[tid(5), tid(1)], std::slice::from_ref(&other))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

/// Spans first (OTLP), then StartTraceV3 merges over the row log_spans made.
pub async fn spans_then_start_trace(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(7);
    let ms = 1_700_000_000_000i64;
    let ns = ms * 1_000_000;
    let mut b = batch(
        &t,
        vec![span(&t, 2, Some(1), ns + 5_000_000, ns + 20_000_000)],
        None,
    );
    b.token_usage = Some(TokenUsage {
        input_tokens: Some(3),
        output_tokens: Some(4),
        total_tokens: Some(7),
        ..TokenUsage::default()
    });
    b.session_id = Some("s-otlp".into());
    b.user_id = Some("u1".into());
    b.tags = vec![
        ("service.name".into(), "svc".into()),
        ("deployment.env".into(), "dev".into()),
    ];
    s.log_spans(&exp, &[b], None).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.state, TraceState::InProgress);
    assert_eq!(i.request_time_ms, ms + 5);
    assert_eq!(i.execution_duration_ms, Some(15));
    assert_eq!(i.tags["mlflow.trace.spansLocation"], "TRACKING_STORE");
    assert_eq!(i.tags["service.name"], "svc");
    assert!(i.tags.contains_key("mlflow.artifactLocation"));
    assert_eq!(i.trace_metadata["mlflow.trace.session"], "s-otlp");
    assert_eq!(i.trace_metadata["mlflow.trace.user"], "u1");
    assert_eq!(
        i.trace_metadata["mlflow.trace.tokenUsage"],
        "{\"input_tokens\": 3, \"output_tokens\": 4, \"total_tokens\": 7}"
    );
    assert!(i.client_request_id.is_none());
    assert!(i.request_preview.is_none());

    // The root arrives: widened times, status from the root, previews, name.
    let b = batch(
        &t,
        vec![span(&t, 1, None, ns, ns + 30_000_000)],
        Some(root_ok()),
    );
    s.log_spans("999", &[b], None).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(
        i.experiment_id, exp,
        "an existing trace keeps its experiment"
    );
    assert_eq!(i.state, TraceState::Ok);
    assert_eq!(i.request_time_ms, ms);
    assert_eq!(i.execution_duration_ms, Some(30));
    assert_eq!(i.request_preview.as_deref(), Some("in"));
    assert_eq!(i.response_preview.as_deref(), Some("out"));
    assert_eq!(i.tags["mlflow.traceName"], "root-name");
    assert_eq!(s.count_spans(&t).await.unwrap(), 2);

    // StartTraceV3 now merges: client values win, server tags stay.
    let mut v3 = info(&t, &exp, ms - 1);
    v3.request_preview = None;
    v3.trace_metadata
        .insert("mlflow.trace.sizeStats".into(), "{\"num_spans\": 2}".into());
    let merged = s.start_trace(v3).await.unwrap();
    assert_eq!(merged.request_time_ms, ms - 1);
    assert_eq!(merged.execution_duration_ms, Some(100));
    assert_eq!(merged.tags["mlflow.traceName"], "outer");
    assert_eq!(merged.tags["mlflow.trace.spansLocation"], "TRACKING_STORE");
    assert_eq!(merged.tags["service.name"], "svc");
    assert_eq!(merged.tags["team"], "a");
    assert_eq!(
        merged.request_preview.as_deref(),
        Some("in"),
        "kept: not sent"
    );
    assert_eq!(merged.response_preview.as_deref(), Some("2"));
    assert_eq!(merged.trace_metadata["mlflow.trace.infoFinalized"], "true");
    assert_eq!(merged.trace_metadata["mlflow.trace.user"], "u1");
    assert_eq!(merged.trace_metadata["mlflow.trace.session"], "s-otlp");
    assert_eq!(
        merged.trace_metadata["mlflow.trace.sizeStats"],
        "{\"num_spans\": 2}"
    );

    // After finalization, later spans neither widen the times nor touch the state.
    let b = batch(
        &t,
        vec![span(&t, 3, Some(1), ns - 50_000_000, ns + 500_000_000)],
        None,
    );
    s.log_spans(&exp, &[b], None).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.request_time_ms, ms - 1);
    assert_eq!(i.execution_duration_ms, Some(100));
    assert_eq!(s.count_spans(&t).await.unwrap(), 3);
}

/// StartTraceV3 first (async client), spans after: the trace keeps the client's facts.
pub async fn start_trace_then_spans(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(8);
    let ms = 1_700_000_000_000i64;
    let mut v3 = info(&t, &exp, ms);
    v3.trace_metadata.insert(
        "mlflow.trace.tokenUsage".into(),
        "{\"input_tokens\": 100, \"output_tokens\": 1, \"total_tokens\": 101}".into(),
    );
    let first = s.start_trace(v3).await.unwrap();
    assert!(!first.tags.contains_key("mlflow.trace.spansLocation"));
    let ns = ms * 1_000_000;
    // The store recomputes a known trace's usage and cost from the stored span JSON.
    let mut priced = span(&t, 2, Some(1), ns + 1, ns + 2);
    let mut c: serde_json::Value = serde_json::from_str(&priced.content).unwrap();
    c["attributes"]["mlflow.llm.cost"] = "{\"total_cost\": 0.25}".into();
    priced.content = c.to_string();
    let mut b = batch(
        &t,
        vec![span(&t, 1, None, ns, ns + 1_000_000_000), priced],
        Some(RootFacts {
            state: TraceState::Error,
            ..root_ok()
        }),
    );
    b.token_usage = Some(TokenUsage {
        input_tokens: Some(1),
        ..TokenUsage::default()
    });
    b.cost = Some(TraceCost {
        total_cost: Some(0.25),
        ..TraceCost::default()
    });
    s.log_spans(&exp, &[b], Some("run-x")).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.state, TraceState::Ok, "a finalized state is kept");
    assert_eq!(i.execution_duration_ms, Some(100));
    assert_eq!(i.request_preview.as_deref(), Some("{\"x\": 1}"));
    assert_eq!(i.tags["mlflow.traceName"], "root-name");
    assert_eq!(i.tags["mlflow.trace.spansLocation"], "TRACKING_STORE");
    assert_eq!(
        i.trace_metadata["mlflow.trace.tokenUsage"],
        "{\"input_tokens\": 100, \"output_tokens\": 1, \"total_tokens\": 101}",
        "StartTraceV3's usage wins"
    );
    assert_eq!(
        i.trace_metadata["mlflow.trace.cost"],
        "{\"input_cost\": 0.0, \"output_cost\": 0.0, \"total_cost\": 0.25}"
    );
}

pub async fn log_spans_rules(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    // Unknown experiment for a new trace: nothing stored.
    let t1 = tid(20);
    let t2 = tid(21);
    assert_err(
        s.log_spans(
            "999",
            &[batch(&t1, vec![span(&t1, 1, None, 1, 2)], None)],
            None,
        )
        .await,
        ErrorCode::ResourceDoesNotExist,
        "No Experiment with id=999 exists",
    );
    assert_err(
        s.log_spans(
            "abc",
            &[batch(&t1, vec![span(&t1, 1, None, 1, 2)], None)],
            None,
        )
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid experiment ID 'abc'. Experiment ID must be a valid integer.",
    );
    // All or nothing: the second trace's bad session id rolls back the first.
    let mut bad = batch(&t2, vec![span(&t2, 1, None, 1, 2)], None);
    bad.session_id = Some("s".repeat(251));
    assert_err(
        s.log_spans(
            &exp,
            &[batch(&t1, vec![span(&t1, 1, None, 1, 2)], None), bad],
            None,
        )
        .await,
        ErrorCode::InvalidParameterValue,
        "'Session ID' exceeds the maximum length of 250 characters",
    );
    assert_err(
        s.get_trace_info(&t1).await,
        ErrorCode::ResourceDoesNotExist,
        "not found",
    );
    // Two traces in one batch; re-sent spans replace their rows.
    let ns = 1_000_000_000i64;
    s.log_spans(
        &exp,
        &[
            batch(&t1, vec![span(&t1, 1, None, ns, ns + 10)], Some(root_ok())),
            batch(&t2, vec![span(&t2, 1, None, ns, ns + 10)], None),
        ],
        None,
    )
    .await
    .unwrap();
    let mut again = span(&t1, 1, None, ns, ns + 99);
    again.name = "renamed".into();
    again.status = "ERROR".into();
    s.log_spans(&exp, &[batch(&t1, vec![again], None)], None)
        .await
        .unwrap();
    let spans = s.list_spans(&t1, None, 10).await.unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "renamed");
    assert_eq!(spans[0].status, "ERROR");
    assert_eq!(spans[0].end_time_ns, Some(ns + 99));
    assert_eq!(
        s.get_trace_info(&t2).await.unwrap().state,
        TraceState::InProgress
    );
    assert_eq!(s.get_trace_info(&t1).await.unwrap().state, TraceState::Ok);
    // An empty batch is a no-op.
    s.log_spans(&exp, &[], None).await.unwrap();
}

/// Tree-aware token sums across batches: a rollup parent sent after its children replaces,
/// not adds to, their sum.
pub async fn token_usage_across_batches(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(30);
    let with_usage = |id: u64, parent: Option<u64>, input: i64| {
        let mut sp = span(&t, id, parent, 10 + id as i64, 20);
        let mut c: serde_json::Value = serde_json::from_str(&sp.content).unwrap();
        c["attributes"]["mlflow.chat.tokenUsage"] = serde_json::Value::String(format!(
            "{{\"input_tokens\": {input}, \"output_tokens\": 0, \"total_tokens\": {input}}}"
        ));
        sp.content = c.to_string();
        sp
    };
    let usage = |n: i64| TokenUsage {
        input_tokens: Some(n),
        output_tokens: Some(0),
        total_tokens: Some(n),
        ..TokenUsage::default()
    };
    let mut b = batch(
        &t,
        vec![with_usage(3, Some(2), 4), with_usage(4, Some(2), 6)],
        None,
    );
    b.token_usage = Some(usage(10));
    s.log_spans(&exp, &[b], None).await.unwrap();
    let mut b = batch(&t, vec![with_usage(2, Some(1), 10)], None);
    b.token_usage = Some(usage(10));
    s.log_spans(&exp, &[b], None).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(
        i.trace_metadata["mlflow.trace.tokenUsage"],
        "{\"input_tokens\": 10, \"output_tokens\": 0, \"total_tokens\": 10}"
    );
}

pub async fn span_paging(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(40);
    // The root starts after some children (clock skew): it still comes first.
    let mut spans = vec![span(&t, 1, None, 500, 1000)];
    for i in 2..=30u64 {
        spans.push(span(&t, i, Some(1), (i as i64 % 7) * 10, 900));
    }
    s.log_spans(&exp, &[batch(&t, spans, Some(root_ok()))], None)
        .await
        .unwrap();
    assert_eq!(s.count_spans(&t).await.unwrap(), 30);
    assert_eq!(s.count_spans("tr-none").await.unwrap(), 0);
    let mut all = Vec::new();
    let mut cursor: Option<SpanCursor> = None;
    loop {
        let page = s.list_spans(&t, cursor.clone(), 7).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        cursor = Some(SpanCursor::after(page.last().unwrap()));
        all.extend(page);
    }
    assert_eq!(all.len(), 30);
    assert_eq!(all[0].span_id, format!("{:016x}", 1));
    let keys: Vec<(i64, String)> = all[1..]
        .iter()
        .map(|s| (s.start_time_ns, s.span_id.clone()))
        .collect();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    assert_eq!(keys, sorted_keys);
}

pub async fn tags_and_v2(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(50);
    s.start_trace(info(&t, &exp, 10)).await.unwrap();
    s.set_trace_tag(&t, "k", "v").await.unwrap();
    s.set_trace_tag(&t, "k", "v2").await.unwrap();
    s.set_trace_tag(&t, "mlflow.traceName", "renamed")
        .await
        .unwrap();
    let long = "x".repeat(9000);
    s.set_trace_tag(&t, "big", &long).await.unwrap();
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.tags["k"], "v2");
    assert_eq!(i.tags["mlflow.traceName"], "renamed");
    assert_eq!(i.tags["big"].len(), 8000);
    for key in ["mlflow.trace.spansLocation", "mlflow.trace.archiveLocation"] {
        assert_err(
            s.set_trace_tag(&t, key, "x").await,
            ErrorCode::InvalidParameterValue,
            &format!("Tag '{key}' is immutable and cannot be set on a trace."),
        );
        assert_err(
            s.delete_trace_tag(&t, key).await,
            ErrorCode::InvalidParameterValue,
            &format!("Tag '{key}' is immutable and cannot be deleted on a trace."),
        );
    }
    assert_err(
        s.set_trace_tag(&t, &"k".repeat(251), "v").await,
        ErrorCode::InvalidParameterValue,
        "'key' exceeds the maximum length of 250 characters",
    );
    assert_err(
        s.set_trace_tag("tr-nope", "k", "v").await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with ID 'tr-nope' not found.",
    );
    s.delete_trace_tag(&t, "k").await.unwrap();
    s.delete_trace_tag(&t, "mlflow.traceName").await.unwrap();
    assert_err(
        s.delete_trace_tag(&t, "k").await,
        ErrorCode::ResourceDoesNotExist,
        &format!("No trace tag with key 'k' for trace with ID '{t}'"),
    );
    assert_err(
        s.delete_trace_tag(&t, "mlflow.traceName").await,
        ErrorCode::ResourceDoesNotExist,
        "No trace tag with key 'mlflow.traceName'",
    );
    let i = s.get_trace_info(&t).await.unwrap();
    assert!(!i.tags.contains_key("k") && !i.tags.contains_key("mlflow.traceName"));

    // v2: a 32-hex id, IN_PROGRESS, no duration; end sets duration and status.
    let v2 = s
        .start_trace_v2(
            &exp,
            1000,
            &map(&[("m1", "a"), ("mlflow.trace.session", "sv2")]),
            &map(&[("t1", "b"), ("mlflow.traceName", "v2name")]),
        )
        .await
        .unwrap();
    assert_eq!(v2.trace_id.len(), 32);
    assert!(!v2.trace_id.starts_with("tr-"));
    assert_eq!(v2.state, TraceState::InProgress);
    assert_eq!(v2.execution_duration_ms, None);
    assert_eq!(v2.tags["mlflow.traceName"], "v2name");
    assert_eq!(v2.trace_metadata["mlflow.trace.session"], "sv2");
    assert!(!v2.trace_metadata.contains_key("mlflow.trace.infoFinalized"));
    let ended = s
        .end_trace_v2(
            &v2.trace_id,
            1250,
            TraceState::Error,
            &map(&[("m2", "c")]),
            &map(&[("t2", "d")]),
        )
        .await
        .unwrap();
    assert_eq!(ended.execution_duration_ms, Some(250));
    assert_eq!(ended.state, TraceState::Error);
    assert_eq!(ended.trace_metadata["m1"], "a");
    assert_eq!(ended.trace_metadata["m2"], "c");
    assert_eq!(ended.tags["t2"], "d");
    assert_err(
        s.end_trace_v2("nope", 1, TraceState::Ok, &map(&[]), &map(&[]))
            .await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with ID 'nope' not found.",
    );
}

pub async fn delete_and_links(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let other = new_experiment(s, "o").await;
    for n in 0..5u32 {
        s.start_trace(info(&tid(60 + n), &exp, 100 + i64::from(n)))
            .await
            .unwrap();
    }
    s.start_trace(info(&tid(70), &other, 1)).await.unwrap();
    let req = |max_ts: Option<i64>, max_traces: Option<i64>, ids: Vec<String>| DeleteTraces {
        experiment_id: exp.clone(),
        max_timestamp_millis: max_ts,
        max_traces,
        trace_ids: ids,
    };
    assert_err(
        s.delete_traces(&req(None, None, vec![])).await,
        ErrorCode::InvalidParameterValue,
        "Either `max_timestamp_millis` or `trace_ids` must be specified.",
    );
    assert_err(
        s.delete_traces(&req(Some(1), None, vec![tid(60)])).await,
        ErrorCode::InvalidParameterValue,
        "Only one of `max_timestamp_millis` and `trace_ids` can be specified.",
    );
    assert_err(
        s.delete_traces(&req(None, Some(1), vec![tid(60)])).await,
        ErrorCode::InvalidParameterValue,
        "`max_traces` can't be specified if `trace_ids` is specified.",
    );
    assert_err(
        s.delete_traces(&req(Some(1), Some(0), vec![])).await,
        ErrorCode::InvalidParameterValue,
        "`max_traces` must be a positive integer, received 0.",
    );
    // Ids of another experiment are ignored.
    assert_eq!(
        s.delete_traces(&req(None, None, vec![tid(60), tid(70), "tr-x".into()]))
            .await
            .unwrap(),
        1
    );
    assert!(s.get_trace_info(&tid(70)).await.is_ok());
    // The oldest two under the timestamp.
    assert_eq!(
        s.delete_traces(&req(Some(103), Some(2), vec![]))
            .await
            .unwrap(),
        2
    );
    assert!(s.get_trace_info(&tid(61)).await.is_err());
    assert!(s.get_trace_info(&tid(63)).await.is_ok());
    assert_eq!(
        s.delete_traces(&req(Some(1000), None, vec![]))
            .await
            .unwrap(),
        2
    );

    // Links: not validated (rows written), at most 100 ids.
    s.link_traces_to_run(&[tid(70), "tr-unknown".into()], "run-1")
        .await
        .unwrap();
    s.link_traces_to_run(&[tid(70)], "run-1").await.unwrap();
    let many: Vec<String> = (0..101).map(tid).collect();
    assert_err(
        s.link_traces_to_run(&many, "run-1").await,
        ErrorCode::InvalidParameterValue,
        "Cannot link more than 100 traces to a run in a single request. Provided 101 traces.",
    );
    s.link_prompts_to_trace(&tid(70), &[("p".into(), "1".into())])
        .await
        .unwrap();
    s.link_prompts_to_trace(&tid(70), &[("p".into(), "1".into())])
        .await
        .unwrap();
    assert_err(
        s.link_prompts_to_trace("tr-nope", &[("p".into(), "1".into())])
            .await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with ID 'tr-nope' not found.",
    );
}

fn feedback(trace_id: &str, name: &str, value: serde_json::Value) -> Assessment {
    Assessment {
        assessment_name: name.into(),
        trace_id: trace_id.into(),
        source: AssessmentSource {
            source_type: "HUMAN".into(),
            source_id: Some("bob".into()),
        },
        value: AssessmentValue::Feedback {
            value: Some(value),
            error: None,
        },
        rationale: Some("ok".into()),
        metadata: map(&[("m", "1")]),
        ..Assessment::default()
    }
}

pub async fn assessments(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(80);
    s.start_trace(info(&t, &exp, 10)).await.unwrap();
    let a = s
        .create_assessment(feedback(&t, "quality", serde_json::json!(0.8)))
        .await
        .unwrap();
    assert!(a.assessment_id.starts_with("a-"));
    assert!(a.valid);
    assert!(a.create_time_ms > 0 && a.create_time_ms == a.last_update_time_ms);
    assert_eq!(a.source.source_id.as_deref(), Some("bob"));
    assert_eq!(s.get_assessment(&t, &a.assessment_id).await.unwrap(), a);

    let mut exp_a = feedback(&t, "expected", serde_json::json!(null));
    exp_a.value = AssessmentValue::Expectation {
        value: serde_json::json!({"answer": [1, 2]}),
    };
    exp_a.assessment_id = "a-client-chosen".into();
    exp_a.create_time_ms = 5;
    exp_a.last_update_time_ms = 6;
    exp_a.metadata = map(&[("mlflow.assessment.sourceRunId", "r1")]);
    let e = s.create_assessment(exp_a).await.unwrap();
    assert_eq!(e.assessment_id, "a-client-chosen");
    assert_eq!((e.create_time_ms, e.last_update_time_ms), (5, 6));
    assert_eq!(e.run_id.as_deref(), Some("r1"));
    assert_eq!(e.rationale, None, "expectations carry no rationale");

    // An error-only feedback, an issue, and an override.
    let mut err_fb = feedback(&t, "judge", serde_json::json!(null));
    err_fb.value = AssessmentValue::Feedback {
        value: None,
        error: Some(AssessmentError {
            error_code: Some("TIMEOUT".into()),
            error_message: Some("slow".into()),
            stack_trace: None,
        }),
    };
    let ef = s.create_assessment(err_fb).await.unwrap();
    assert!(matches!(
        &ef.value,
        AssessmentValue::Feedback { value: None, error: Some(e) } if e.error_code.as_deref() == Some("TIMEOUT")
    ));
    assert_eq!(
        ef.error.as_ref().unwrap().error_message.as_deref(),
        Some("slow")
    );

    let mut over = feedback(&t, "quality", serde_json::json!(1.0));
    over.overrides = Some(a.assessment_id.clone());
    over.valid = false;
    let o = s.create_assessment(over).await.unwrap();
    assert!(o.valid, "valid is ignored on create");
    assert!(!s.get_assessment(&t, &a.assessment_id).await.unwrap().valid);
    let mut bad_over = feedback(&t, "quality", serde_json::json!(1.0));
    bad_over.overrides = Some("a-missing".into());
    assert_err(
        s.create_assessment(bad_over).await,
        ErrorCode::ResourceDoesNotExist,
        &format!("Assessment with ID 'a-missing' not found for trace '{t}'"),
    );
    assert_err(
        s.create_assessment(feedback("tr-nope", "q", serde_json::json!(1)))
            .await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with ID 'tr-nope' not found.",
    );
    let mut dup = feedback(&t, "q", serde_json::json!(1));
    dup.assessment_id = "a-client-chosen".into();
    assert_err(
        s.create_assessment(dup).await,
        ErrorCode::InternalError,
        "due to a constraint violation.",
    );

    // Trace infos carry every assessment, valid or not.
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.assessments.len(), 4);

    // Update: mask paths, merged metadata, kind checks.
    let patch = AssessmentUpdate {
        assessment_name: Some("renamed".into()),
        value: Some(AssessmentValue::Feedback {
            value: Some(serde_json::json!("yes")),
            error: None,
        }),
        rationale: Some("better".into()),
        metadata: map(&[("n", "2")]),
        valid: None,
    };
    let u = s
        .update_assessment(
            &t,
            &o.assessment_id,
            patch.clone(),
            &[
                "assessmentName,feedback".into(),
                "rationale".into(),
                "metadata".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(u.assessment_name, "renamed");
    assert_eq!(u.rationale.as_deref(), Some("better"));
    assert_eq!(u.metadata, map(&[("m", "1"), ("n", "2")]));
    assert_eq!(u.overrides, o.overrides);
    assert_eq!(u.create_time_ms, o.create_time_ms);
    assert!(matches!(&u.value, AssessmentValue::Feedback { value: Some(v), .. } if v == "yes"));
    assert_err(
        s.update_assessment(&t, "a-client-chosen", patch.clone(), &["feedback".into()])
            .await,
        ErrorCode::InvalidParameterValue,
        "Cannot update feedback value on an Expectation assessment.",
    );
    assert_err(
        s.update_assessment(&t, &o.assessment_id, patch.clone(), &["expectation".into()])
            .await,
        ErrorCode::InvalidParameterValue,
        "Cannot update expectation value on a Feedback assessment.",
    );
    assert_err(
        s.update_assessment(&t, "a-zzz", patch.clone(), &["rationale".into()])
            .await,
        ErrorCode::ResourceDoesNotExist,
        &format!("Assessment with ID 'a-zzz' not found for trace '{t}'"),
    );
    assert_err(
        s.get_assessment("tr-nope", "a-zzz").await,
        ErrorCode::ResourceDoesNotExist,
        "Trace with request_id 'tr-nope' not found",
    );

    // Delete: idempotent; deleting the override restores the original.
    s.delete_assessment(&t, &o.assessment_id).await.unwrap();
    s.delete_assessment(&t, &o.assessment_id).await.unwrap();
    assert!(s.get_assessment(&t, &a.assessment_id).await.unwrap().valid);

    // StartTraceV3 carries assessments too.
    let t2 = tid(81);
    let mut v3 = info(&t2, &exp, 10);
    v3.assessments = vec![feedback("", "from-export", serde_json::json!(true))];
    let stored = s.start_trace(v3).await.unwrap();
    assert_eq!(stored.assessments.len(), 1);
    assert_eq!(stored.assessments[0].trace_id, t2);
    // Deleting the trace removes its assessments.
    s.delete_traces(&DeleteTraces {
        experiment_id: exp.clone(),
        trace_ids: vec![t.clone()],
        ..DeleteTraces::default()
    })
    .await
    .unwrap();
    assert_err(
        s.get_assessment(&t, &a.assessment_id).await,
        ErrorCode::ResourceDoesNotExist,
        "not found",
    );
}

fn ids(page: &rsflow_core::wire::Page<TraceInfo>) -> Vec<String> {
    page.items.iter().map(|i| i.trace_id.clone()).collect()
}

async fn find(s: &dyn MetadataStore, exps: &[String], filter: &str) -> Vec<String> {
    let page = s
        .search_traces(&rsflow_store::SearchTraces {
            experiment_ids: exps.to_vec(),
            filter: Some(filter.to_string()),
            order_by: vec!["timestamp_ms ASC".into()],
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{filter}: {}", e.message));
    ids(&page)
}

pub async fn search(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let other = new_experiment(s, "o").await;
    let exps = vec![exp.clone()];
    // t(1): OK, name a, tag k=v, session s1, 1000 ms + 100
    let mut a = info(&tid(1), &exp, 1000);
    a.tags = map(&[("mlflow.traceName", "alpha"), ("k", "v")]);
    a.trace_metadata = map(&[
        ("mlflow.trace.session", "s1"),
        ("mlflow.sourceRun", "run-a"),
        (
            "mlflow.trace.tokenUsage",
            "{\"input_tokens\": 1, \"output_tokens\": 2, \"total_tokens\": 3}",
        ),
    ]);
    s.start_trace(a).await.unwrap();
    // t(2): ERROR, name beta, no tag k, 2000 ms + 50
    let mut b = info(&tid(2), &exp, 2000);
    b.state = TraceState::Error;
    b.execution_duration_ms = Some(50);
    b.tags = map(&[("mlflow.traceName", "beta"), ("k", "w")]);
    b.trace_metadata = map(&[("mlflow.trace.session", "s1")]);
    s.start_trace(b).await.unwrap();
    // t(3): OTLP-only, spans with names, no name tag, 3000 ms
    let t3 = tid(3);
    let mut sp = span(&t3, 1, None, 3_000_000_000, 3_500_000_000);
    sp.name = "retrieve".into();
    sp.span_type = Some("RETRIEVER".into());
    sp.content = sp
        .content
        .replace("\"CHAIN\"", "\"RETRIEVER\"")
        .replace("s1\"", "retrieve hello world\"");
    s.log_spans(&exp, &[batch(&t3, vec![sp], None)], None)
        .await
        .unwrap();
    // Another experiment's trace never shows up.
    s.start_trace(info(&tid(4), &other, 500)).await.unwrap();
    s.link_traces_to_run(&[tid(2)], "run-a").await.unwrap();
    s.link_prompts_to_trace(&tid(3), &[("p".into(), "2".into())])
        .await
        .unwrap();
    let fb = s
        .create_assessment(feedback(&tid(1), "quality", serde_json::json!("yes")))
        .await
        .unwrap();
    let mut num = feedback(&tid(2), "score", serde_json::json!(0.9));
    num.metadata = BTreeMap::new();
    s.create_assessment(num).await.unwrap();
    // A session-level assessment on t(1) (session s1) covers t(2) too.
    let mut sess = feedback(&tid(1), "session_ok", serde_json::json!(true));
    sess.metadata = map(&[("mlflow.trace.session", "s1")]);
    s.create_assessment(sess).await.unwrap();

    let (t1, t2, t3) = (tid(1), tid(2), tid(3));
    assert_eq!(
        find(s, &exps, "").await,
        vec![t1.clone(), t2.clone(), t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "trace.status = 'OK'").await,
        vec![t1.clone()]
    );
    assert_eq!(
        find(s, &exps, "status IN ('OK', 'IN_PROGRESS')").await,
        vec![t1.clone(), t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "status NOT IN ('OK')").await,
        vec![t2.clone(), t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "timestamp > 1000").await,
        vec![t2.clone(), t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "trace.timestamp_ms <= 2000").await,
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "trace.execution_time_ms < 60").await,
        vec![t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "trace.end_time_ms >= 2050").await,
        vec![t2.clone(), t3.clone()]
    );
    assert_eq!(find(s, &exps, "name = 'alpha'").await, vec![t1.clone()]);
    assert_eq!(
        find(s, &exps, "tag.`mlflow.traceName` LIKE '%ta'").await,
        vec![t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "tags.mlflow.traceName ILIKE 'ALP%'").await,
        vec![t1.clone()]
    );
    assert_eq!(find(s, &exps, "name IS NULL").await, vec![t3.clone()]);
    assert_eq!(find(s, &exps, "tag.k = 'v'").await, vec![t1.clone()]);
    assert_eq!(find(s, &exps, "tag.k != 'v'").await, vec![t2.clone()]);
    assert_eq!(find(s, &exps, "tag.k IS NULL").await, vec![t3.clone()]);
    assert_eq!(
        find(s, &exps, "tag.k IS NOT NULL AND tag.k LIKE 'w'").await,
        vec![t2.clone()]
    );
    assert_eq!(
        find(
            s,
            &exps,
            "tag.`mlflow.trace.spansLocation` = 'TRACKING_STORE'"
        )
        .await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "metadata.`mlflow.trace.session` = 's1'").await,
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "metadata.`mlflow.trace.infoFinalized` IS NULL").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "run_id = 'run-a'").await,
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(find(s, &exps, "prompt = 'p/2'").await, vec![t3.clone()]);
    assert_eq!(
        find(s, &exps, "metadata.`mlflow.trace.tokenUsage` = '{\"input_tokens\": 1, \"output_tokens\": 2, \"total_tokens\": 3}'").await,
        vec![t1.clone()]
    );
    assert_eq!(
        find(
            s,
            &exps,
            "metadata.`mlflow.trace.tokenUsage` = '{\"input_tokens\": 1}'"
        )
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(s, &exps, "metadata.`mlflow.trace.tokenUsage` IS NULL").await,
        vec![t2.clone(), t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "span.name = 'retrieve'").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "span.type = 'RETRIEVER' AND span.status = 'OK'").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "span.type = 'RETRIEVER' AND span.name = 'other'").await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(s, &exps, "trace.text LIKE '%hello world%'").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "span.content ILIKE '%HELLO%'").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "span.attributes.mlflow.spanType LIKE '%CHAIN%'").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "feedback.quality = 'yes'").await,
        vec![t1.clone()]
    );
    assert_eq!(
        find(s, &exps, "feedback.quality != 'yes'").await,
        Vec::<String>::new(),
        "only traces with such an assessment can match"
    );
    assert_eq!(
        find(s, &exps, "feedback.score > 0.5").await,
        vec![t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "feedback.score < 0.5").await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(s, &exps, "feedback.quality IS NOT NULL").await,
        vec![t1.clone()]
    );
    // Session-level: t(2) shares session s1 with t(1).
    assert_eq!(
        find(s, &exps, "feedback.session_ok IS NOT NULL").await,
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(
        find(s, &exps, "feedback.session_ok IS NULL").await,
        vec![t3.clone()]
    );
    assert_eq!(
        find(s, &exps, "feedback.session_ok = 'true'").await,
        vec![t1.clone(), t2.clone()]
    );
    // Invalid (overridden) assessments do not count.
    let mut over = feedback(&tid(1), "quality", serde_json::json!("no"));
    over.overrides = Some(fb.assessment_id.clone());
    s.create_assessment(over).await.unwrap();
    assert_eq!(
        find(s, &exps, "feedback.quality = 'yes'").await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(s, &exps, "feedback.quality = 'no'").await,
        vec![t1.clone()]
    );
    // Both experiments; none; an unknown one.
    assert_eq!(find(s, &[exp.clone(), other.clone()], "").await.len(), 4);
    assert_eq!(find(s, &["12345".into()], "").await.len(), 0);

    // Ordering: null names last either way; tags; duration.
    let order = |o: &[&str]| {
        let o: Vec<String> = o.iter().map(|x| x.to_string()).collect();
        let exps = exps.clone();
        async move {
            ids(&s
                .search_traces(&rsflow_store::SearchTraces {
                    experiment_ids: exps,
                    order_by: o,
                    ..Default::default()
                })
                .await
                .unwrap())
        }
    };
    assert_eq!(order(&[]).await, vec![t3.clone(), t2.clone(), t1.clone()]);
    assert_eq!(
        order(&["name DESC"]).await,
        vec![t2.clone(), t1.clone(), t3.clone()]
    );
    assert_eq!(
        order(&["name"]).await,
        vec![t1.clone(), t2.clone(), t3.clone()]
    );
    assert_eq!(
        order(&["tag.k DESC"]).await,
        vec![t2.clone(), t1.clone(), t3.clone()]
    );
    assert_eq!(
        order(&["metadata.`mlflow.trace.session`", "timestamp_ms"]).await,
        vec![t1.clone(), t2.clone(), t3.clone()]
    );
    assert_eq!(
        order(&["execution_time ASC"]).await,
        vec![t2.clone(), t1.clone(), t3.clone()]
    );
    assert_eq!(
        order(&["status"]).await,
        vec![t2.clone(), t3.clone(), t1.clone()]
    );

    // Paging: a full page carries a token, even when nothing follows.
    let page = |token: Option<String>| {
        let exps = exps.clone();
        async move {
            s.search_traces(&rsflow_store::SearchTraces {
                experiment_ids: exps,
                max_results: Some(2),
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
        }
    };
    let p1 = page(None).await;
    assert_eq!(ids(&p1), vec![t3.clone(), t2.clone()]);
    let p2 = page(p1.next_page_token.clone()).await;
    assert_eq!(ids(&p2), vec![t1.clone()]);
    assert!(p2.next_page_token.is_none());

    // Errors.
    let bad =
        |f: &str, o: Vec<String>, m: Option<i64>, tok: Option<&str>| rsflow_store::SearchTraces {
            experiment_ids: exps.clone(),
            filter: Some(f.to_string()),
            order_by: o,
            max_results: m,
            page_token: tok.map(str::to_string),
        };
    assert_err(
        s.search_traces(&bad(
            "status = 'OK' OR status = 'ERROR'",
            vec![],
            None,
            None,
        ))
        .await,
        ErrorCode::InvalidParameterValue,
        "Invalid clause(s) in filter string: 'OR'",
    );
    assert_err(
        s.search_traces(&bad("", vec![], Some(0), None)).await,
        ErrorCode::InvalidParameterValue,
        "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer",
    );
    assert_err(
        s.search_traces(&bad("", vec![], None, Some("!!"))).await,
        ErrorCode::InvalidParameterValue,
        "Invalid page token, could not base64-decode",
    );
    assert_err(
        s.search_traces(&bad(
            "",
            vec!["metadata.`mlflow.trace.cost`".into()],
            None,
            None,
        ))
        .await,
        ErrorCode::InvalidParameterValue,
        "Ordering by reserved metadata 'mlflow.trace.cost' is not supported",
    );
}

pub async fn metrics(s: &dyn MetadataStore) {
    use rsflow_core::trace::{
        AggregationType, MetricAggregation, MetricViewType, TraceMetricsQuery,
    };
    let exp = new_experiment(s, "t").await;
    let q = |view, metric: &str, aggs: Vec<(AggregationType, Option<f64>)>, dims: &[&str]| {
        TraceMetricsQuery {
            experiment_ids: vec![exp.clone()],
            view_type: view,
            metric_name: metric.into(),
            aggregations: aggs
                .into_iter()
                .map(|(t, p)| MetricAggregation {
                    aggregation_type: t,
                    percentile_value: p,
                })
                .collect(),
            dimensions: dims.iter().map(|d| d.to_string()).collect(),
            filters: vec![],
            time_interval_seconds: None,
            start_time_ms: None,
            end_time_ms: None,
            max_results: None,
        }
    };
    use AggregationType::*;
    // An empty experiment still answers one COUNT of 0 (the Overview page's "0 traces").
    let empty = s
        .query_trace_metrics(&q(
            MetricViewType::Traces,
            "trace_count",
            vec![(Count, None)],
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].values["COUNT"], 0.0);
    assert!(empty[0].dimensions.is_empty());
    for (n, ms, state, dur) in [
        (1u32, 1000i64, TraceState::Ok, 10i64),
        (2, 2000, TraceState::Ok, 20),
        (3, 3_600_000, TraceState::Error, 40),
    ] {
        let mut i = info(&tid(n), &exp, ms);
        i.state = state;
        i.execution_duration_ms = Some(dur);
        s.start_trace(i).await.unwrap();
    }
    let by_status = s
        .query_trace_metrics(&q(
            MetricViewType::Traces,
            "trace_count",
            vec![(Count, None)],
            &["trace_status"],
        ))
        .await
        .unwrap();
    let pairs: Vec<(String, f64)> = by_status
        .iter()
        .map(|p| (p.dimensions["trace_status"].clone(), p.values["COUNT"]))
        .collect();
    assert_eq!(pairs, vec![("ERROR".into(), 1.0), ("OK".into(), 2.0)]);
    let lat = s
        .query_trace_metrics(&q(
            MetricViewType::Traces,
            "latency",
            vec![(Avg, None), (Percentile, Some(50.0)), (Max, None)],
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(lat[0].values["AVG"], 70.0 / 3.0);
    assert_eq!(lat[0].values["P50.0"], 20.0);
    assert_eq!(lat[0].values["MAX"], 40.0);
    let mut hourly = q(
        MetricViewType::Traces,
        "trace_count",
        vec![(Count, None)],
        &[],
    );
    hourly.time_interval_seconds = Some(3600);
    hourly.start_time_ms = Some(0);
    hourly.end_time_ms = Some(10_000_000);
    let buckets = s.query_trace_metrics(&hourly).await.unwrap();
    let got: Vec<(String, f64)> = buckets
        .iter()
        .map(|p| (p.dimensions["time_bucket"].clone(), p.values["COUNT"]))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1970-01-01T00:00:00+00:00".into(), 2.0),
            ("1970-01-01T01:00:00+00:00".into(), 1.0)
        ]
    );
    let mut filtered = q(
        MetricViewType::Traces,
        "trace_count",
        vec![(Count, None)],
        &[],
    );
    filtered.filters = vec!["trace.status = 'OK'".into()];
    assert_eq!(
        s.query_trace_metrics(&filtered).await.unwrap()[0].values["COUNT"],
        2.0
    );
    // Errors in MLflow's words.
    assert_err(
        s.query_trace_metrics(&q(MetricViewType::Traces, "nope", vec![(Count, None)], &[]))
            .await,
        ErrorCode::InvalidParameterValue,
        "metric_name must be one of ['trace_count', 'session_count', 'latency'",
    );
    assert_err(
        s.query_trace_metrics(&q(
            MetricViewType::Traces,
            "trace_count",
            vec![(Sum, None)],
            &[],
        ))
        .await,
        ErrorCode::InvalidParameterValue,
        "Found invalid aggregation_type(s): ['SUM']. Supported aggregation types: ['COUNT']",
    );
    assert_err(
        s.query_trace_metrics(&q(
            MetricViewType::Traces,
            "latency",
            vec![(Avg, None)],
            &["span_name"],
        ))
        .await,
        ErrorCode::InvalidParameterValue,
        "Found invalid dimension(s): ['span_name']. Supported dimensions: ['trace_name']",
    );
    let mut bad_filter = q(
        MetricViewType::Traces,
        "trace_count",
        vec![(Count, None)],
        &[],
    );
    bad_filter.filters = vec!["span.name = 'x'".into()];
    assert_err(
        s.query_trace_metrics(&bad_filter).await,
        ErrorCode::InvalidParameterValue,
        "Filtering by span is only supported for SPANS view type, got TRACES",
    );
    // Filter correlation (counts within the experiment; NPMI of the 2x2 table).
    let c = s
        .calculate_filter_correlation(
            std::slice::from_ref(&exp),
            "trace.status = 'OK'",
            "trace.execution_time_ms > 15",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            c.filter1_count,
            c.filter2_count,
            c.joint_count,
            c.total_count
        ),
        (2, 2, 1, 3)
    );
    let (npmi, smoothed) = rsflow_core::trace::npmi_from_counts(1, 2, 2, 3);
    assert_eq!((c.npmi, c.npmi_smoothed), (npmi, Some(smoothed)));
    assert!((-1.0..=1.0).contains(&c.npmi));
    let c = s
        .calculate_filter_correlation(
            std::slice::from_ref(&exp),
            "trace.status = 'OK'",
            "trace.status = 'ERROR'",
            Some("trace.timestamp_ms >= 2000"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            c.filter1_count,
            c.filter2_count,
            c.joint_count,
            c.total_count
        ),
        (1, 1, 0, 2)
    );
    assert_eq!(c.npmi, -1.0);
    let mut no_range = q(
        MetricViewType::Traces,
        "trace_count",
        vec![(Count, None)],
        &[],
    );
    no_range.time_interval_seconds = Some(60);
    assert_err(
        s.query_trace_metrics(&no_range).await,
        ErrorCode::InvalidParameterValue,
        "start_time_ms and end_time_ms are required if time_interval_seconds is set",
    );
}

/// A big trace in one batch (many multi-row upsert chunks), paged back whole and in order.
pub async fn large_trace(s: &dyn MetadataStore) {
    let exp = new_experiment(s, "t").await;
    let t = tid(90);
    let n = 5_000u64;
    let mut spans = vec![span(&t, 1, None, 0, 1_000_000)];
    // A deep chain and wide fan-out: parents precede or follow their children freely.
    for i in 2..=n {
        let parent = if i % 2 == 0 { i - 1 } else { 1 };
        spans.push(span(&t, i, Some(parent), ((n - i) % 97) as i64, 1_000_000));
    }
    s.log_spans(&exp, &[batch(&t, spans, Some(root_ok()))], None)
        .await
        .unwrap();
    assert_eq!(s.count_spans(&t).await.unwrap(), n as i64);
    let mut seen = std::collections::HashSet::new();
    let mut last: Option<(bool, i64, String)> = None;
    let mut cursor = None;
    loop {
        let page = s.list_spans(&t, cursor.clone(), 700).await.unwrap();
        let Some(tail) = page.last() else { break };
        cursor = Some(SpanCursor::after(tail));
        for sp in &page {
            let key = (
                sp.parent_span_id.is_some(),
                sp.start_time_ns,
                sp.span_id.clone(),
            );
            if let Some(prev) = &last {
                assert!(*prev < key, "out of order: {prev:?} then {key:?}");
            }
            last = Some(key);
            assert!(seen.insert(sp.span_id.clone()));
        }
    }
    assert_eq!(seen.len(), n as usize);
    let i = s.get_trace_info(&t).await.unwrap();
    assert_eq!(i.state, TraceState::Ok);
    assert_eq!(i.execution_duration_ms, Some(1));
}
