"""Tracking core through the stock mlflow client (issue: tracking core).

Every test runs against the shared `flow_server` (rsflow, or mlflow with
COMPAT_TARGET=mlflow) and works in its own uniquely named experiment(s).
"""

from __future__ import annotations

import math
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException

from helpers import assert_json_error, assert_mlflow_exception, expect_ref_or_better, unique

FLOAT_MAX = 1.7976931348623157e308


def _new_experiment(client, prefix="exp", **kw) -> str:
    return client.create_experiment(unique(prefix), **kw)


def _ids(runs) -> list[str]:
    return [r.info.run_id for r in runs]


# --------------------------------------------------------------------------- basic run


def test_fluent_run_lifecycle(client):
    name = unique("basic")
    exp_id = mlflow.set_experiment(name).experiment_id
    t0 = int(time.time() * 1000)
    with mlflow.start_run(run_name="first-run") as run:
        run_id = run.info.run_id
        mlflow.log_param("alpha", 0.5)
        mlflow.log_param("layers", "3")
        mlflow.log_metric("loss", 1.5, step=0)
        mlflow.log_metric("loss", 0.75, step=1)
        mlflow.log_metric("loss", 0.25, step=2)
        mlflow.log_metric("acc", 0.5)
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "empty": ""})
        active = client.get_run(run_id)
        assert active.info.status == "RUNNING"
        assert active.info.end_time is None
    t1 = int(time.time() * 1000)

    got = client.get_run(run_id)
    info = got.info
    assert info.run_id == run_id and len(run_id) == 32
    assert info.experiment_id == exp_id
    assert info.run_name == "first-run"
    assert info.status == "FINISHED"
    assert info.lifecycle_stage == "active"
    assert t0 - 5 <= info.start_time <= info.end_time <= t1 + 5
    assert info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    assert got.data.params == {"alpha": "0.5", "layers": "3"}
    assert got.data.metrics == {"loss": 0.25, "acc": 0.5}
    tags = got.data.tags
    assert tags["team"] == "vision"
    assert tags["stage"] == "dev"
    assert tags["empty"] == ""
    assert tags["mlflow.runName"] == "first-run"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert "mlflow.user" in tags
    assert got.inputs.dataset_inputs == []

    exp = client.get_experiment(exp_id)
    assert exp.name == name
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert exp.lifecycle_stage == "active"


def test_create_run_without_name_gets_generated_name(client):
    exp_id = _new_experiment(client)
    run = client.create_run(exp_id)
    assert run.info.run_name  # adjective-noun-NNN
    parts = run.info.run_name.split("-")
    assert len(parts) == 3 and parts[2].isdigit(), run.info.run_name
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    client.update_run(run.info.run_id, name="renamed")
    got = client.get_run(run.info.run_id)
    assert got.info.run_name == "renamed"
    assert got.data.tags["mlflow.runName"] == "renamed"
    assert got.info.status == "RUNNING"


def test_log_batch_beyond_single_request_limits(client, flow_server):
    exp_id = _new_experiment(client, "batch")
    run_id = client.create_run(exp_id).info.run_id
    ts = 1_700_000_000_000
    keys = [f"m{k:02d}" for k in range(50)]
    metrics = [Metric(key, float(k * 1000 + step), ts + step, step)
               for step in range(50) for k, key in enumerate(keys)]
    params = [Param(f"p{i:03d}", f"value-{i}") for i in range(150)]
    tags = [RunTag(f"t{i:03d}", f"tag-{i}") for i in range(120)]
    assert len(metrics) == 2500
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    got = client.get_run(run_id)
    assert got.data.params == {p.key: p.value for p in params}
    assert {k: v for k, v in got.data.tags.items() if not k.startswith("mlflow.")} == {
        t.key: t.value for t in tags
    }
    assert got.data.metrics == {key: float(k * 1000 + 49) for k, key in enumerate(keys)}

    hist = client.get_metric_history(run_id, "m07")
    assert [(m.step, m.value, m.timestamp) for m in hist] == [
        (step, float(7000 + step), ts + step) for step in range(50)
    ]

    # A single request over the server limit is rejected, not truncated.
    too_many = {"run_id": run_id, "params": [{"key": f"x{i}", "value": "v"} for i in range(101)]}
    resp = flow_server.api("POST", "runs/log-batch", json=too_many)
    assert_json_error(resp, 400, "INVALID_PARAMETER_VALUE",
                      contains="A batch logging request can contain at most 100 params. Got 101 params.")


# --------------------------------------------------------------------------- search runs


@pytest.fixture(scope="module")
def search_fixture(flow_server):
    """Six runs with known metrics/params/tags/statuses/start times in one experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=flow_server.tracking_uri)
    exp_id = client.create_experiment(unique("search"))
    base = 1_600_000_000_000
    spec = [
        # loss, acc, params, tags, status
        (0.5, 0.9, {"alpha": "0.1", "model": "lin"}, {"team": "a", "stage": "dev"}, "FINISHED"),
        (0.3, 0.8, {"alpha": "0.2", "model": "tree"}, {"team": "b"}, "FINISHED"),
        (0.9, None, {"alpha": "0.1", "model": "lin"}, {"team": "a"}, "FAILED"),
        (0.3, 0.95, {"alpha": "0.3", "model": "tree"}, {"team": "b", "stage": "prod"}, "RUNNING"),
        (None, None, {"alpha": "0.2"}, {"team": "c"}, "KILLED"),
        (0.1, None, {}, {}, "FINISHED"),
    ]
    ids = []
    for i, (loss, acc, params, tags, status) in enumerate(spec):
        run = client.create_run(exp_id, start_time=base + i * 1000, run_name=f"r{i}", tags=tags)
        metrics = [Metric(k, v, base + i * 1000, 0) for k, v in (("loss", loss), ("acc", acc)) if v is not None]
        client.log_batch(run.info.run_id, metrics=metrics,
                         params=[Param(k, v) for k, v in params.items()])
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status, end_time=base + i * 1000 + 500)
        ids.append(run.info.run_id)
    return client, exp_id, ids, base


SEARCH_CASES = [
    # (filter, order_by, expected run indexes in order)
    ("", None, [5, 4, 3, 2, 1, 0]),
    ("metrics.loss < 0.5", ["metrics.loss ASC"], [5, 3, 1]),
    ("", ["metrics.loss DESC"], [2, 0, 3, 1, 5, 4]),
    ("", ["metrics.acc ASC"], [1, 0, 3, 5, 4, 2]),
    ("params.alpha = '0.1'", ["attributes.start_time ASC"], [0, 2]),
    ("params.model LIKE 't%'", None, [3, 1]),
    ("params.model ILIKE 'LI%'", ["start_time ASC"], [0, 2]),
    ("tags.team = 'b' and metrics.acc > 0.85", None, [3]),
    ("tags.stage IS NULL", None, [5, 4, 2, 1]),
    ("tags.stage IS NOT NULL", None, [3, 0]),
    ("params.alpha IS NULL", None, [5]),
    ("attributes.status = 'FINISHED'", None, [5, 1, 0]),
    ("attributes.status != 'FINISHED'", ["attributes.status ASC"], [2, 4, 3]),
    ("attributes.run_name = 'r2'", None, [2]),
    ("run_name ILIKE 'R%'", ["run_name DESC"], [5, 4, 3, 2, 1, 0]),
    ("params.alpha != '0.1'", ["params.alpha DESC", "metrics.loss ASC"], [3, 1, 4]),
    ("", ["tags.team ASC"], [2, 0, 3, 1, 4, 5]),
    ("metrics.loss >= 0.3 and params.model = 'tree'", None, [3, 1]),
    ("attributes.start_time > {base_2500}", None, [5, 4, 3]),
    ("attributes.end_time <= {base_1500}", None, [1, 0]),
    ('tags."team" = "a"', None, [2, 0]),
    ("tags.`mlflow.runName` = 'r4'", None, [4]),
    ("metrics.acc = 0.8", None, [1]),
    ("metrics.loss != 0.3", ["metrics.loss ASC"], [5, 0, 2]),
]


@pytest.mark.parametrize("filter_string,order_by,expected", SEARCH_CASES,
                         ids=[f"{i}:{c[0] or 'all'}|{c[1]}" for i, c in enumerate(SEARCH_CASES)])
def test_search_runs_filter_and_order(search_fixture, filter_string, order_by, expected):
    client, exp_id, ids, base = search_fixture
    filter_string = filter_string.format(base_2500=base + 2500, base_1500=base + 1500)
    runs = client.search_runs([exp_id], filter_string, order_by=order_by)
    got = [ids.index(r) for r in _ids(runs)]
    assert got == expected


def test_search_runs_in_and_returned_data(search_fixture):
    client, exp_id, ids, _ = search_fixture
    runs = client.search_runs([exp_id], f"attributes.run_id IN ('{ids[0]}', '{ids[4]}')")
    assert _ids(runs) == [ids[4], ids[0]]
    r0 = runs[1]
    assert r0.data.metrics == {"loss": 0.5, "acc": 0.9}
    assert r0.data.params == {"alpha": "0.1", "model": "lin"}
    assert r0.data.tags["team"] == "a" and r0.data.tags["mlflow.runName"] == "r0"
    assert r0.info.status == "FINISHED"


def test_search_runs_invalid_filter(search_fixture):
    client, exp_id, _, _ = search_fixture
    for bad, fragment in [
        ("metrics.loss < 1 or metrics.acc > 0", "Invalid clause(s) in filter string"),
        ("foo.bar = 'x'", "Invalid entity type 'foo'"),
        ("params.alpha = 0.1", "quoted string value"),
        ("metrics.loss < 'a'", "Expected numeric value type for metric"),
    ]:
        with pytest.raises(MlflowException) as ei:
            client.search_runs([exp_id], bad)
        assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400, fragment)


def test_search_runs_duplicate_order_by(search_fixture, flow_server):
    client, exp_id, _, _ = search_fixture
    with pytest.raises(MlflowException) as ei:
        client.search_runs([exp_id], order_by=["metrics.loss ASC", "metrics.loss DESC"])
    # MLflow answers 500 INTERNAL_ERROR, so the client retries with backoff and finally raises
    # "too many 500 error responses"; rsflow rejects the request as a client error at once.
    # See known_differences.py.
    got = (ei.value.error_code, ei.value.get_http_status_code())
    expect_ref_or_better(flow_server, got, better=("INVALID_PARAMETER_VALUE", 400), ref=("INTERNAL_ERROR", 500),
                         why="duplicate order_by key")
    if got[0] == "INVALID_PARAMETER_VALUE":
        assert "`order_by` contains duplicate fields" in str(ei.value)


def test_search_runs_paging(client, search_fixture, monkeypatch):
    _, exp_id, ids, _ = search_fixture
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs([exp_id], order_by=["attributes.run_name ASC"], max_results=4,
                                  page_token=token)
        seen += _ids(page)
        pages += 1
        token = page.token
        if not token:
            break
    assert pages == 2
    assert seen == ids

    # The fluent API pages under the hood; force small pages to exercise next_page_token.
    monkeypatch.setattr(mlflow.tracking.fluent, "NUM_RUNS_PER_PAGE_PANDAS", 2)
    df = mlflow.search_runs([exp_id], order_by=["attributes.run_name DESC"])
    assert list(df["run_id"]) == ids[::-1]
    assert list(df["tags.mlflow.runName"]) == [f"r{i}" for i in range(5, -1, -1)]
    assert list(df["status"]) == ["FINISHED", "KILLED", "RUNNING", "FAILED", "FINISHED", "FINISHED"]
    assert df.loc[df["run_id"] == ids[1], "metrics.loss"].item() == 0.3
    assert df.loc[df["run_id"] == ids[1], "params.model"].item() == "tree"

    df = mlflow.search_runs([exp_id], max_results=3, order_by=["metrics.loss ASC"])
    assert list(df["run_id"]) == [ids[5], ids[3], ids[1]]

    runs = mlflow.search_runs([exp_id], filter_string="params.alpha = '0.2'", output_format="list")
    assert sorted(_ids(runs)) == sorted([ids[1], ids[4]])


# --------------------------------------------------------------------------- metric history


def test_metric_history_order_and_steps(client):
    exp_id = _new_experiment(client, "hist")
    run_id = client.create_run(exp_id).info.run_id
    ts = 1_650_000_000_000
    logged = [
        (3.0, ts + 30, 3),
        (1.0, ts + 10, 1),
        (2.0, ts + 10, 0),  # same timestamp, lower step: sorts first
        (0.5, ts + 40, 2),  # later timestamp, lower step than the latest-step point
        (9.0, ts + 0, 5),
    ]
    for value, t, step in logged:
        client.log_metric(run_id, "loss", value, timestamp=t, step=step)
    client.log_metric(run_id, "loss", 1.0, timestamp=ts + 10, step=1)  # exact duplicate: ignored

    hist = client.get_metric_history(run_id, "loss")
    assert [(m.value, m.timestamp, m.step) for m in hist] == [
        (9.0, ts + 0, 5),
        (2.0, ts + 10, 0),
        (1.0, ts + 10, 1),
        (3.0, ts + 30, 3),
        (0.5, ts + 40, 2),
    ]
    assert all(m.key == "loss" for m in hist)
    # The run's latest value is the one with the max step (then timestamp).
    assert client.get_run(run_id).data.metrics["loss"] == 9.0
    assert client.get_metric_history(run_id, "nope") == []

    client.log_metric(run_id, "weird", float("nan"), timestamp=ts, step=0)
    client.log_metric(run_id, "weird", float("inf"), timestamp=ts, step=1)
    client.log_metric(run_id, "weird", float("-inf"), timestamp=ts, step=2)
    weird = client.get_metric_history(run_id, "weird")
    assert math.isnan(weird[0].value)
    assert [m.value for m in weird[1:]] == [FLOAT_MAX, -FLOAT_MAX]


def test_metric_history_default_step(client):
    exp_id = _new_experiment(client, "hist0")
    run_id = client.create_run(exp_id).info.run_id
    client.log_metric(run_id, "m", 1.0, timestamp=5)
    client.log_metric(run_id, "m", 2.0, timestamp=6)
    hist = client.get_metric_history(run_id, "m")
    assert [(m.value, m.timestamp, m.step) for m in hist] == [(1.0, 5, 0), (2.0, 6, 0)]
    assert client.get_run(run_id).data.metrics == {"m": 2.0}


# --------------------------------------------------------------------------- experiments


def test_experiment_lifecycle_and_search(client):
    prefix = unique("lc")
    ids = {}
    for suffix in ("b", "a", "c"):
        ids[suffix] = client.create_experiment(f"{prefix}-{suffix}", tags={"owner": suffix, "grp": "x"})
        time.sleep(0.02)  # distinct creation_time for the default order
    like = f"name LIKE '{prefix}%'"

    def names(**kw):
        return [e.name.rsplit("-", 1)[1] for e in client.search_experiments(filter_string=like, **kw)]

    assert names() == ["c", "a", "b"]  # creation_time DESC
    assert names(order_by=["name ASC"]) == ["a", "b", "c"]
    assert names(order_by=["name DESC"]) == ["c", "b", "a"]
    assert names(order_by=["creation_time ASC"]) == ["b", "a", "c"]
    assert names(order_by=["experiment_id DESC"]) == ["c", "a", "b"]
    assert [e.name for e in client.search_experiments(
        filter_string=f"{like} AND tags.owner = 'a'")] == [f"{prefix}-a"]
    assert [e.name for e in client.search_experiments(
        filter_string=f"attribute.name = '{prefix}-c'")] == [f"{prefix}-c"]
    assert [e.experiment_id for e in client.search_experiments(
        filter_string=f"{like} AND tags.owner != 'b'", order_by=["name DESC"])] == [ids["c"], ids["a"]]

    exp = client.get_experiment(ids["a"])
    assert exp.tags == {"owner": "a", "grp": "x"}
    assert client.get_experiment_by_name(f"{prefix}-a").experiment_id == ids["a"]

    client.rename_experiment(ids["c"], f"{prefix}-d")
    assert client.get_experiment_by_name(f"{prefix}-c") is None
    assert client.get_experiment(ids["c"]).name == f"{prefix}-d"
    assert names(order_by=["name ASC"]) == ["a", "b", "d"]

    run_id = client.create_run(ids["b"]).info.run_id
    client.delete_experiment(ids["b"])
    deleted = client.get_experiment(ids["b"])
    assert deleted.lifecycle_stage == "deleted"
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert names(order_by=["name ASC"]) == ["a", "d"]
    assert names(view_type=ViewType.DELETED_ONLY) == ["b"]
    assert names(view_type=ViewType.ALL, order_by=["name ASC"]) == ["a", "b", "d"]
    # Deleted experiments still hold their name.
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(f"{prefix}-b")
    assert_mlflow_exception(ei.value, "RESOURCE_ALREADY_EXISTS", 400)
    with pytest.raises(MlflowException) as ei:
        client.create_run(ids["b"])
    assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400, "must be in the 'active' state")

    client.restore_experiment(ids["b"])
    assert client.get_experiment(ids["b"]).lifecycle_stage == "active"
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert names(order_by=["name ASC"]) == ["a", "b", "d"]


def test_experiment_tags(client):
    exp_id = _new_experiment(client, "tags", tags={"keep": "1"})
    client.set_experiment_tag(exp_id, "k1", "v1")
    client.set_experiment_tag(exp_id, "k1", "v2")  # upsert
    client.set_experiment_tag(exp_id, "mlflow.note.content", "# notes")
    assert client.get_experiment(exp_id).tags == {"keep": "1", "k1": "v2", "mlflow.note.content": "# notes"}
    client.delete_experiment_tag(exp_id, "k1")
    assert client.get_experiment(exp_id).tags == {"keep": "1", "mlflow.note.content": "# notes"}
    exps = client.search_experiments(filter_string=f"tags.keep = '1' AND attribute.experiment_id = '{exp_id}'")
    assert [e.experiment_id for e in exps] == [exp_id]


def test_search_experiments_paging(client):
    prefix = unique("pg")
    created = [client.create_experiment(f"{prefix}-{i}") for i in range(5)]
    like = f"name LIKE '{prefix}%'"
    page1 = client.search_experiments(filter_string=like, max_results=2, order_by=["name ASC"])
    assert [e.experiment_id for e in page1] == created[:2] and page1.token
    page2 = client.search_experiments(filter_string=like, max_results=2, order_by=["name ASC"],
                                      page_token=page1.token)
    assert [e.experiment_id for e in page2] == created[2:4] and page2.token
    page3 = client.search_experiments(filter_string=like, max_results=2, order_by=["name ASC"],
                                      page_token=page2.token)
    assert [e.experiment_id for e in page3] == created[4:] and not page3.token


# --------------------------------------------------------------------------- errors


def test_error_cases(client):
    name = unique("dup")
    exp_id = client.create_experiment(name)
    with pytest.raises(MlflowException) as ei:
        client.create_experiment(name)
    assert_mlflow_exception(ei.value, "RESOURCE_ALREADY_EXISTS", 400)

    with pytest.raises(MlflowException) as ei:
        client.get_run("0" * 32)
    assert_mlflow_exception(ei.value, "RESOURCE_DOES_NOT_EXIST", 404, f"Run with id={'0' * 32} not found")

    with pytest.raises(MlflowException) as ei:
        client.get_experiment("987654321")
    assert_mlflow_exception(ei.value, "RESOURCE_DOES_NOT_EXIST", 404, "No Experiment with id=987654321 exists")

    run_id = client.create_run(exp_id).info.run_id
    with pytest.raises(MlflowException) as ei:
        client.log_metric(run_id, "bad key!", 1.0)
    assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400, "bad key!")

    with pytest.raises(MlflowException) as ei:
        client.log_metric(run_id, "../escape", 1.0)
    assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400)

    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # same value: no-op
    with pytest.raises(MlflowException) as ei:
        client.log_param(run_id, "p", "2")
    assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400, "Changing param values is not allowed")
    assert client.get_run(run_id).data.params == {"p": "1"}

    with pytest.raises(MlflowException) as ei:
        client.delete_tag(run_id, "no-such-tag")
    assert_mlflow_exception(ei.value, "RESOURCE_DOES_NOT_EXIST", 404, "No tag with name: no-such-tag")

    client.set_tag(run_id, "t", "x")
    client.delete_tag(run_id, "t")
    assert "t" not in client.get_run(run_id).data.tags

    with pytest.raises(MlflowException) as ei:
        client.create_run("987654321")
    assert_mlflow_exception(ei.value, "RESOURCE_DOES_NOT_EXIST", 404)


def test_log_param_and_tag_long_values(client, flow_server):
    exp_id = _new_experiment(client, "long")
    run_id = client.create_run(exp_id).info.run_id
    resp = flow_server.api("POST", "runs/log-parameter", json={"run_id": run_id, "key": "long", "value": "x" * 6001})
    assert resp.status_code == 200, resp.text
    resp = flow_server.api("POST", "runs/set-tag", json={"run_id": run_id, "key": "longtag", "value": "y" * 8001})
    assert resp.status_code == 200, resp.text
    data = client.get_run(run_id).data
    assert data.params["long"] == "x" * 6000
    assert data.tags["longtag"] == "y" * 8000


# --------------------------------------------------------------------------- inputs, nesting, deletion


def test_log_inputs_dataset(client, tmp_path):
    name = unique("inputs")
    mlflow.set_experiment(name)
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, 2.5]})
    ds = mlflow.data.from_pandas(df, source=str(tmp_path / "train.csv"), name="train-ds", targets="y")
    arr = mlflow.data.from_numpy(np.arange(12, dtype=np.int64).reshape(4, 3), name="arr-ds")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training", tags={"split": "train"})
        mlflow.log_input(arr, context="eval")
    got = client.get_run(run.info.run_id)
    inputs = {di.dataset.name: di for di in got.inputs.dataset_inputs}
    assert sorted(inputs) == ["arr-ds", "train-ds"]
    train = inputs["train-ds"]
    assert train.dataset.digest == ds.digest
    assert train.dataset.source_type == "local"
    assert train.dataset.source == ds.source.to_json()
    assert train.dataset.schema == ds.to_dict()["schema"]
    assert train.dataset.profile == ds.to_dict()["profile"]
    assert {t.key: t.value for t in train.tags} == {"mlflow.data.context": "training", "split": "train"}
    assert {t.key: t.value for t in inputs["arr-ds"].tags} == {"mlflow.data.context": "eval"}
    assert inputs["arr-ds"].dataset.digest == arr.digest
    assert inputs["arr-ds"].dataset.source_type == "code"

    exp_id = got.info.experiment_id
    for filt, n in [("datasets.name = 'train-ds'", 1), ("datasets.context = 'eval'", 1),
                    ("datasets.name = 'nope'", 0), (f"datasets.digest = '{ds.digest}'", 1)]:
        assert len(client.search_runs([exp_id], filt)) == n, filt


def test_nested_runs(client):
    mlflow.set_experiment(unique("nested"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-1", nested=True) as c1:
            pass
        with mlflow.start_run(run_name="child-2", nested=True) as c2:
            with mlflow.start_run(run_name="grandchild", nested=True) as gc:
                pass
    pid = parent.info.run_id
    assert client.get_run(c1.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert client.get_run(c2.info.run_id).data.tags["mlflow.parentRunId"] == pid
    assert client.get_run(gc.info.run_id).data.tags["mlflow.parentRunId"] == c2.info.run_id
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags
    exp_id = parent.info.experiment_id
    children = client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{pid}'",
                                  order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in children] == ["child-1", "child-2"]
    assert all(r.info.status == "FINISHED" for r in children)


def test_delete_restore_run_and_view_type(client):
    exp_id = _new_experiment(client, "del")
    keep = client.create_run(exp_id, run_name="keep").info.run_id
    gone = client.create_run(exp_id, run_name="gone").info.run_id
    client.delete_run(gone)
    info = client.get_run(gone).info
    assert info.lifecycle_stage == "deleted"

    def search(view):
        return sorted(r.info.run_name for r in client.search_runs([exp_id], run_view_type=view))

    assert search(ViewType.ACTIVE_ONLY) == ["keep"]
    assert search(ViewType.DELETED_ONLY) == ["gone"]
    assert search(ViewType.ALL) == ["gone", "keep"]

    with pytest.raises(MlflowException) as ei:
        client.set_terminated(gone, "FINISHED")
    assert_mlflow_exception(ei.value, "INVALID_PARAMETER_VALUE", 400, "must be in the 'active' state")

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert search(ViewType.ACTIVE_ONLY) == ["gone", "keep"]
    assert search(ViewType.DELETED_ONLY) == []
    client.set_terminated(gone, RunStatus.to_string(RunStatus.KILLED))
    assert client.get_run(gone).info.status == "KILLED"
    assert client.get_run(keep).info.status == "RUNNING"
