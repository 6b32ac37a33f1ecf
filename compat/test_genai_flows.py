"""GenAI evaluation flows with the stock mlflow 3.17.2 client (issue #16): evaluation datasets
(create, merge twice, read back as a DataFrame, paging, search, delete), registered scorers
(what MLflow accepts, the same refusal for `@scorer` code), `mlflow.genai.evaluate` end to end
with a local predict_fn, an exact_match-style `@scorer` and a managed dataset, bad input that
stores nothing, and the two-way database test for datasets and scorers.

No LLM and no network: every scorer here is code or a built-in that is only registered.
"""

from __future__ import annotations

import json
import uuid

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.genai import datasets as gd
from mlflow.genai.scorers import Safety, delete_scorer, get_scorer, list_scorers, scorer

from helpers import MLFLOW, RSFLOW, start_server, target_kind

V3 = "/api/3.0/mlflow"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@scorer
def exact_match(outputs, expectations):
    return outputs == expectations["expected"]


def _rows(n: int) -> list[dict]:
    # Every fourth row expects something the predict_fn never answers: mean 0.75.
    return [{"inputs": {"q": f"q{i}"}, "expectations": {"expected": f"Q{i}" if i % 4 else "nope"}}
            for i in range(n)]


# --------------------------------------------------------------------------- datasets

def test_dataset_create_merge_twice_to_df_search_delete(client):
    exp = mlflow.set_experiment(_name("gd-flow")).experiment_id
    ds = gd.create_dataset(name="flow-ds", experiment_id=exp, tags={"team": "a"})
    assert ds.dataset_id.startswith("d-") and len(ds.digest) == 8
    assert ds.tags["team"] == "a" and "mlflow.user" in ds.tags

    ds.merge_records([
        {"inputs": {"q": "a"}, "expectations": {"expected": "A"}},
        {"inputs": {"q": "b"}, "expectations": {"expected": "B"}, "tags": {"k": "1"}},
    ])
    first = gd.get_dataset(dataset_id=ds.dataset_id)
    assert json.loads(first.profile) == {"num_records": 2}
    ds.merge_records([
        {"inputs": {"q": "a"}, "expectations": {"expected": "AA", "extra": 1}},
        {"inputs": {"q": "c"}, "outputs": {"answer": "C"}},
    ])
    got = gd.get_dataset(dataset_id=ds.dataset_id)
    assert json.loads(got.profile) == {"num_records": 3}
    assert got.digest != first.digest
    schema = json.loads(got.schema)
    assert schema["inputs"] == {"q": "string"} and schema["expectations"] == {"expected": "string", "extra": "integer"}
    assert schema["outputs"] == {"answer": "string"}

    df = got.to_df()
    by_q = {row["inputs"]["q"]: row for _, row in df.iterrows()}
    assert sorted(by_q) == ["a", "b", "c"]
    assert by_q["a"]["expectations"] == {"expected": "AA", "extra": 1}  # merged key by key
    assert by_q["b"]["tags"]["k"] == "1"
    assert by_q["c"]["outputs"] == {"answer": "C"}
    assert got.experiment_ids == [exp]

    found = gd.search_datasets(experiment_ids=[exp], filter_string="name = 'flow-ds'")
    assert [d.dataset_id for d in found] == [ds.dataset_id]
    assert [d.dataset_id for d in gd.search_datasets(filter_string="tags.team = 'a'")
            if d.dataset_id == ds.dataset_id] == [ds.dataset_id]

    gd.delete_dataset(dataset_id=ds.dataset_id)
    assert gd.search_datasets(experiment_ids=[exp]) == []
    with pytest.raises(MlflowException, match="not found"):
        gd.get_dataset(dataset_id=ds.dataset_id)


def test_dataset_records_page_past_the_default_page_size(client):
    exp = mlflow.set_experiment(_name("gd-paging")).experiment_id
    ds = gd.create_dataset(name="paged", experiment_id=exp)
    ds.merge_records([{"inputs": {"i": i}, "expectations": {"y": i % 3}} for i in range(1205)])
    df = gd.get_dataset(dataset_id=ds.dataset_id).to_df()
    assert len(df) == 1205
    assert sorted(r["i"] for r in df["inputs"]) == list(range(1205))
    # Raw paging with the server's cursor token.
    url = f"{client.tracking_uri}{V3}/datasets/{ds.dataset_id}/records"
    seen, token = [], None
    while True:
        body = requests.get(url, params={"max_results": 500, **({"page_token": token} if token else {})},
                            timeout=30).json()
        seen += json.loads(body["records"])
        token = body.get("next_page_token")
        if not token:
            break
    assert len(seen) == 1205 and len({r["dataset_record_id"] for r in seen}) == 1205


def _record_count(base: str, dataset_id: str) -> int:
    body = requests.get(f"{base}{V3}/datasets/{dataset_id}/records", timeout=30).json()
    return len(json.loads(body["records"]))


BAD_RECORDS = [
    "{not json",
    json.dumps({"inputs": {"q": 1}}),
    json.dumps([{"inputs": {"q": "ok"}}, {"inputs": {"q": "x"}, "source": {"source_type": "robot"}}]),
]


def test_bad_records_are_refused_and_store_nothing(client):
    base = client.tracking_uri
    exp = mlflow.set_experiment(_name("gd-bad")).experiment_id
    ds = gd.create_dataset(name="bad", experiment_id=exp)
    ds.merge_records([{"inputs": {"q": "keep"}}])
    before = gd.get_dataset(dataset_id=ds.dataset_id)
    for records in BAD_RECORDS:
        resp = requests.post(f"{base}{V3}/datasets/{ds.dataset_id}/records", json={"records": records}, timeout=30)
        if target_kind() == MLFLOW and resp.status_code >= 500:
            continue  # MLflow answers 500 to malformed JSON; rsflow must not.
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
    assert _record_count(base, ds.dataset_id) == 1
    after = gd.get_dataset(dataset_id=ds.dataset_id)
    assert (after.digest, after.last_update_time) == (before.digest, before.last_update_time)


@pytest.mark.skipif(target_kind() == MLFLOW, reason="mlflow server has no request body cap")
def test_oversized_records_get_413_and_store_nothing(module_servers):
    server = module_servers.start(RSFLOW, extra_args=["--max-json-body-bytes", "1048576"])
    base = server.url("")
    exp = requests.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "big"}, timeout=30).json()
    ds = requests.post(f"{base}{V3}/datasets/create", json={"name": "big", "experiment_ids": [exp["experiment_id"]]},
                       timeout=30).json()["dataset"]["dataset_id"]
    records = json.dumps([{"inputs": {"q": i, "blob": "x" * 4096}} for i in range(400)])
    resp = requests.post(f"{base}{V3}/datasets/{ds}/records", json={"records": records}, timeout=60)
    assert resp.status_code == 413 and resp.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED", resp.text
    assert _record_count(base, ds) == 0
    assert "profile" not in requests.get(f"{base}{V3}/datasets/{ds}", timeout=30).json()["dataset"]


# --------------------------------------------------------------------------- scorers

def test_registered_scorers_accept_builtins_and_refuse_scorer_code(client):
    exp = mlflow.set_experiment(_name("sc-flow")).experiment_id
    registered = Safety().register(name="safety_check", experiment_id=exp)
    assert registered.name == "safety_check"
    Safety().register(name="safety_check", experiment_id=exp)  # a second version
    names = [s.name for s in list_scorers(experiment_id=exp)]
    assert names == ["safety_check"]
    assert get_scorer(name="safety_check", experiment_id=exp, version=1).name == "safety_check"
    versions = requests.get(f"{client.tracking_uri}{V3}/scorers/versions",
                            params={"experiment_id": exp, "name": "safety_check"}, timeout=30).json()
    assert [s["scorer_version"] for s in versions["scorers"]] == [1, 2]
    assert {s["scorer_id"] for s in versions["scorers"]} == {versions["scorers"][0]["scorer_id"]}

    # `@scorer` code is refused by the server (the client is made to send it anyway).
    payload = exact_match.model_dump()
    assert payload["call_source"]
    resp = requests.post(f"{client.tracking_uri}{V3}/scorers/register", timeout=30, json={
        "experiment_id": exp, "name": "em", "serialized_scorer": json.dumps(payload)})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert resp.json()["message"].startswith("Custom scorer registration (using @scorer decorator) is disabled")
    with pytest.raises(MlflowException):
        get_scorer(name="em", experiment_id=exp)

    delete_scorer(name="safety_check", experiment_id=exp, version=1)
    assert get_scorer(name="safety_check", experiment_id=exp).name == "safety_check"
    delete_scorer(name="safety_check", experiment_id=exp, version="all")
    assert list_scorers(experiment_id=exp) == []


# --------------------------------------------------------------------------- evaluate

def test_genai_evaluate_end_to_end_with_a_managed_dataset(client):
    exp = mlflow.set_experiment(_name("eval-flow")).experiment_id
    ds = gd.create_dataset(name="eval-ds", experiment_id=exp)
    ds.merge_records(_rows(20))
    result = mlflow.genai.evaluate(data=ds, predict_fn=lambda q: q.upper(), scorers=[exact_match])
    assert result.metrics["exact_match/mean"] == pytest.approx(0.75)

    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.info.experiment_id == exp
    assert run.data.tags["mlflow.runType"] == "genai_evaluate"
    assert run.data.metrics["exact_match/mean"] == pytest.approx(0.75)
    inputs = run.inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["eval-ds"]
    assert json.loads(inputs[0].dataset.source) == {"dataset_id": ds.dataset_id}

    traces = mlflow.search_traces(run_id=result.run_id, return_type="list")
    assert len(traces) == 20
    verdicts = {}
    for t in traces:
        assert t.info.request_metadata.get("mlflow.sourceRun") == result.run_id
        by_name = {a.name: a for a in t.info.assessments}
        assert set(by_name) == {"exact_match", "expected"}
        fb = by_name["exact_match"]
        assert fb.source.source_type == "CODE" and fb.metadata["mlflow.assessment.sourceRunId"] == result.run_id
        q = json.loads(t.info.request_preview)["q"]
        verdicts[q] = fb.value
        assert by_name["expected"].value == (q.upper() if int(q[1:]) % 4 else "nope")
        full = mlflow.get_trace(t.info.trace_id)
        assert full.data.spans and full.data.spans[0].outputs == q.upper()
    assert verdicts == {f"q{i}": bool(i % 4) for i in range(20)}

    # Registering the same @scorer afterwards is refused, as on mlflow server.
    with pytest.raises(MlflowException, match="Custom scorer registration"):
        exact_match.register(name="exact_match", experiment_id=exp)


# --------------------------------------------------------------------------- two-way DB

def _fill_genai(base: str) -> dict:
    mlflow.set_tracking_uri(base)
    exp = mlflow.set_experiment("genai-interop").experiment_id
    ds = gd.create_dataset(name="interop-ds", experiment_id=exp, tags={"team": "x"})
    ds.merge_records([{"inputs": {"q": "a", "n": 1}, "expectations": {"e": "A"}, "outputs": {"o": [1, 2]}},
                      {"inputs": {"q": "b"}, "expectations": {"e": "B"}, "tags": {"t": "1"}}])
    ds.merge_records([{"inputs": {"q": "a", "n": 1}, "expectations": {"more": True}}])
    Safety().register(name="safe", experiment_id=exp)
    Safety().register(name="safe", experiment_id=exp)
    return {"exp": exp, "ds": ds.dataset_id}


def _genai_snapshot(base: str, ids: dict) -> str:
    mlflow.set_tracking_uri(base)
    ds = gd.get_dataset(dataset_id=ids["ds"])
    df = ds.to_df()
    records = sorted(
        (json.dumps({k: row[k] for k in ("inputs", "expectations", "outputs", "tags", "source_type")},
                    sort_keys=True, default=str) for _, row in df.iterrows()))
    versions = requests.get(f"{base}{V3}/scorers/versions",
                            params={"experiment_id": ids["exp"], "name": "safe"}, timeout=30).json()
    snap = {
        "dataset": {k: getattr(ds, k) for k in ("name", "digest", "schema", "profile", "created_time",
                                                 "last_update_time", "created_by", "last_updated_by")},
        "tags": ds.tags, "experiment_ids": ds.experiment_ids, "records": records,
        "search": [d.dataset_id for d in gd.search_datasets(experiment_ids=[ids["exp"]])],
        "scorers": [(s["scorer_name"], s["scorer_version"], s["scorer_id"], s["creation_time"],
                     json.loads(s["serialized_scorer"])) for s in versions["scorers"]],
        "listed": [s.name for s in list_scorers(experiment_id=ids["exp"])],
    }
    return json.dumps(snap, sort_keys=True, default=str)


@pytest.mark.parametrize("first_kind,second_kind", [(MLFLOW, "target"), ("target", MLFLOW)])
def test_datasets_and_scorers_two_way_database(first_kind, second_kind, servers):
    first_kind = target_kind() if first_kind == "target" else first_kind
    second_kind = target_kind() if second_kind == "target" else second_kind
    workdir = servers.workdir("genai-interop")
    backend = f"sqlite:///{workdir / 'mlflow.db'}"
    first = start_server(first_kind, workdir, backend=backend)
    try:
        ids = _fill_genai(first.tracking_uri)
        before = _genai_snapshot(first.tracking_uri, ids)
    finally:
        first.stop()
    snap = json.loads(before)
    assert len(snap["records"]) == 2 and snap["listed"] == ["safe"] and len(snap["scorers"]) == 2
    assert json.loads(snap["dataset"]["profile"]) == {"num_records": 2}
    second = start_server(second_kind, workdir, backend=backend)
    try:
        after = _genai_snapshot(second.tracking_uri, ids)
        assert after == before, f"{first_kind} -> {second_kind}:\n{before}\n{after}"
        # The second server writes into the other's tables too.
        mlflow.set_tracking_uri(second.tracking_uri)
        ds = gd.get_dataset(dataset_id=ids["ds"])
        ds.merge_records([{"inputs": {"q": "b"}, "expectations": {"e": "BB"}}, {"inputs": {"q": "z"}}])
        assert json.loads(gd.get_dataset(dataset_id=ids["ds"]).profile) == {"num_records": 3}
        Safety().register(name="safe", experiment_id=ids["exp"])
        assert get_scorer(name="safe", experiment_id=ids["exp"]).name == "safe"
        gd.delete_dataset(dataset_id=ids["ds"])
        assert gd.search_datasets(experiment_ids=[ids["exp"]]) == []
    finally:
        mlflow.set_tracking_uri(None)
        second.stop()
