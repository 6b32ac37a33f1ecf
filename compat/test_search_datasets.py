"""`POST /ajax-api/2.0/mlflow/experiments/search-datasets` (the runs table's dataset filter) and
the `mlflowSearchDatasets` GraphQL mutation, against `mlflow server` (spec mlflow-tracking §1.1).

Both servers get the same datasets, logged with the stock client: two experiments sharing a
dataset, inputs with and without a context, the same input logged twice, a deleted run and a
deleted experiment. MLflow's query has no ORDER BY, so summaries are compared as sets.
"""

from __future__ import annotations

import json

import pytest
import requests

from helpers import MLFLOW, RSFLOW, compat_backend, target_kind

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="compares rsflow with the reference")

PATH = "/ajax-api/2.0/mlflow/experiments/search-datasets"


def _frame(n: int):
    import pandas as pd

    return pd.DataFrame({"x": list(range(n)), "y": [float(i) / 2 for i in range(n)]})


def _seed(server) -> dict[str, str]:
    """Logs the datasets; returns experiment label -> id."""
    import mlflow
    from mlflow import MlflowClient

    def log(experiment_id: str, inputs: list[tuple[str, int, str | None]]) -> str:
        with mlflow.start_run(experiment_id=experiment_id) as run:
            for name, rows, context in inputs:
                ds = mlflow.data.from_pandas(_frame(rows), name=name)
                if context is None:
                    mlflow.log_input(ds)
                else:
                    mlflow.log_input(ds, context=context)
        return run.info.run_id

    mlflow.set_tracking_uri(server.tracking_uri)
    try:
        client = MlflowClient(tracking_uri=server.tracking_uri)
        ids = {label: client.create_experiment(f"search-datasets-{label}")
               for label in ("a", "b", "gone", "empty")}
        log(ids["a"], [("train", 3, "training"), ("eval", 2, None)])
        # The same dataset and context again, from another run: one summary.
        log(ids["a"], [("train", 3, "training"), ("train", 3, "training")])
        # Same name, other content (digest), and the same dataset with another context.
        log(ids["a"], [("train", 4, "training"), ("eval", 2, "validation")])
        deleted_run = log(ids["a"], [("scratch", 1, "testing")])
        client.delete_run(deleted_run)
        # The same dataset in another experiment is a summary of its own.
        log(ids["b"], [("train", 3, "training"), ("other", 5, "")])
        log(ids["gone"], [("old", 6, "training")])
        client.delete_experiment(ids["gone"])
        return ids
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def seeded(module_servers):
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW)
    return [(server, _seed(server)) for server in (ref, rs)]


def _search(server, ids, **kw):
    if "data" not in kw:
        kw["json"] = {"experiment_ids": ids}
    return server.post(PATH, **kw)


def _summaries(resp, ids: dict[str, str]) -> list[tuple]:
    """The answer as a sorted list, experiment ids replaced by their labels."""
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) <= {"dataset_summaries"}, body
    label = {v: k for k, v in ids.items()}
    out = []
    for s in body.get("dataset_summaries", []):
        assert set(s) <= {"experiment_id", "name", "digest", "context"}, s
        out.append((label.get(s["experiment_id"], s["experiment_id"]), s["name"], s["digest"],
                    s.get("context", "<absent>")))
    return sorted(out)


@pytest.mark.parametrize("labels", [
    ["a", "b", "gone", "empty"],
    ["a"],
    ["b", "a", "a"],
    ["gone"],
    ["empty"],
    ["unknown"],
])
def test_summaries_match_the_reference(seeded, labels):
    answers = []
    for server, ids in seeded:
        wanted = [ids.get(label, "987654") for label in labels]
        answers.append(_summaries(_search(server, wanted), ids))
    ref, rs = answers
    assert rs == ref
    if labels[0] == "a" and len(labels) == 4:
        # What the comparison covers: contexts absent, empty and set; a shared dataset in two
        # experiments; the deleted run's dataset and the deleted experiment's.
        assert {r[0] for r in rs} == {"a", "b", "gone"}
        assert ("b", "other") in {(r[0], r[1]) for r in rs}
        assert any(r[3] == "<absent>" for r in rs)
        assert ("a", "scratch") in {(r[0], r[1]) for r in rs}
        train_a = [r for r in rs if r[:2] == ("a", "train")]
        assert len(train_a) == 2 and train_a[0][2] != train_a[1][2], train_a
        assert len(rs) == len(set(rs))
    if labels in (["empty"], ["unknown"]):
        assert rs == []


def _error(resp) -> tuple[int, dict]:
    assert resp.headers["content-type"].startswith("application/json"), resp.text[:300]
    return resp.status_code, resp.json()


@pytest.mark.parametrize("case", [
    "no-ids", "empty-list", "null", "scalar", "numbers", "21-ids", "not-an-int", "empty-id",
    "text-content-type", "no-content-type", "no-content-type-empty-body", "json-empty-body",
])
def test_errors_match_the_reference(seeded, case):
    answers = []
    for server, ids in seeded:
        a = ids["a"]
        kw = {
            "no-ids": {"json": {}},
            "empty-list": {"json": {"experiment_ids": []}},
            "null": {"json": {"experiment_ids": None}},
            "scalar": {"json": {"experiment_ids": a}},
            "numbers": {"json": {"experiment_ids": [int(a)]}},
            "21-ids": {"json": {"experiment_ids": [str(i) for i in range(21)]}},
            "not-an-int": {"json": {"experiment_ids": [a, "abc"]}},
            "empty-id": {"json": {"experiment_ids": [""]}},
            "text-content-type": {"data": json.dumps({"experiment_ids": [a]}),
                                  "headers": {"Content-Type": "text/plain"}},
            "no-content-type": {"data": json.dumps({"experiment_ids": [a]}).encode()},
            "no-content-type-empty-body": {"data": b""},
            "json-empty-body": {"data": b"", "headers": {"Content-Type": "application/json"}},
        }[case]
        answers.append(_error(server.post(PATH, **kw)))
    ref, rs = answers
    assert rs == ref
    assert rs[0] == 400 and rs[1]["error_code"] == "INVALID_PARAMETER_VALUE"


def test_twenty_ids_and_leading_strings_are_accepted_like_the_reference(seeded):
    answers = []
    for server, ids in seeded:
        twenty = [ids["a"]] + [str(1000 + i) for i in range(19)]
        # MLflow's proto parsing keeps the strings before the first non-string item.
        answers.append((_summaries(_search(server, twenty), ids),
                        _summaries(server.post(PATH, json={"experiment_ids": [ids["b"], 7]}), ids)))
    ref, rs = answers
    assert rs == ref
    assert rs[0] and {r[0] for r in rs[0]} == {"a"}
    assert {r[0] for r in rs[1]} == {"b"}


def test_ids_past_64_bits(seeded):
    (ref, _), (rs, _) = seeded
    ids = {"experiment_ids": ["99999999999999999999"]}
    # Deliberately different: MLflow fails binding the id (SQLite: 500 "Python int too large to
    # convert to SQLite INTEGER"; PostgreSQL: a 400); rsflow matches nothing, as its other
    # searches do.
    assert ref.post(PATH, json=ids).status_code == (400 if compat_backend() == "postgres" else 500)
    r = rs.post(PATH, json=ids)
    assert (r.status_code, r.json()) == (200, {})


def test_only_the_ajax_route_exists(seeded):
    (ref, ids_ref), (rs, ids_rs) = seeded
    for path in ("/api/2.0/mlflow/experiments/search-datasets",
                 # The route MLflow generates from the proto (no `/` before `mlflow`).
                 "/api/2.0mlflow/experiments/search-datasets"):
        a = ref.post(path, json={"experiment_ids": [ids_ref["a"]]})
        b = rs.post(path, json={"experiment_ids": [ids_rs["a"]]})
        assert a.status_code == b.status_code == 404, path
        assert b.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    # A GET is the wrong method on both.
    assert ref.get(PATH).status_code == rs.get(PATH).status_code == 405


MUTATION = """
mutation SearchDatasets($ids: [String]) {
  mlflowSearchDatasets(input: {experimentIds: $ids}) {
    datasetSummaries { experimentId name digest context __typename }
    apiError { code message }
    __typename
  }
}
"""


@pytest.mark.parametrize("labels", [["a", "b", "gone"], [], ["nope"]])
def test_graphql_mutation_matches_the_reference(seeded, labels):
    answers = []
    for server, ids in seeded:
        wanted = [ids.get(label, "abc") for label in labels]
        r = server.post("/graphql", json={"query": MUTATION, "operationName": "SearchDatasets",
                                          "variables": {"ids": wanted}})
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        result = body["data"]["mlflowSearchDatasets"]
        if result is not None:
            label = {v: k for k, v in ids.items()}
            for s in result["datasetSummaries"]:
                s["experimentId"] = label[s["experimentId"]]
            result["datasetSummaries"].sort(key=lambda s: json.dumps(s, sort_keys=True))
        answers.append(body)
    ref, rs = answers
    assert rs == ref
    if labels:
        if labels[0] == "a":
            summaries = rs["data"]["mlflowSearchDatasets"]["datasetSummaries"]
            # GraphQL shows an absent context as "" (the proto default).
            assert any(s["context"] == "" for s in summaries)
            assert {s["experimentId"] for s in summaries} == {"a", "b", "gone"}
        else:
            assert rs["errors"] == ["Invalid experiment ID 'abc'. Experiment ID must be a valid integer."]
    else:
        assert rs["errors"] == ["SearchDatasets request must specify at least one experiment_id."]


@pytest.fixture(scope="module")
def prefixed(module_servers):
    return [module_servers.start(kind, static_prefix="/mlflow") for kind in (MLFLOW, RSFLOW)]


def test_under_a_static_prefix(prefixed):
    answers = []
    for server in prefixed:
        ids = _seed(server)
        assert server.prefix == "/mlflow"
        answers.append((_summaries(_search(server, [ids["a"], ids["b"]]), ids),
                        _error(server.post(PATH, json={}))))
        # Without the prefix nothing answers.
        unprefixed = f"http://127.0.0.1:{server.port}{PATH}"
        assert requests.post(unprefixed, json={"experiment_ids": [ids["a"]]},
                             timeout=30).status_code == 404
    ref, rs = answers
    assert rs == ref
    assert len(rs[0]) >= 5 and rs[1][0] == 400
