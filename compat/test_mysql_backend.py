"""The MySQL / MariaDB backend store (issue #20), against `mlflow server` 3.17.2 on the same
server (PyMySQL). Needs RSFLOW_TEST_MYSQL_URL (`scripts/mariadb.sh start`, then
`eval "$(bash scripts/mariadb.sh env)"`); skipped without it.

- URI forms: `mysql://`, `mysql+pymysql://`, `mysql+mysqldb://` with `charset`; the password
  never shows in the log;
- two-way: a database rsflow created is read and written by `mlflow server`, and rsflow reads
  back what MLflow wrote (runs, params, tags, metrics, registered models);
- case sensitivity: the same filters (`=`, `!=`, `LIKE`, `ILIKE`, `IN`, `IS NULL`) on run names,
  params, tags, metrics, their keys, experiment, model and model-version names and tags answer
  exactly as MLflow's on MySQL (its BINARY rule);
- collation: the by-name lookup, the duplicate-name check, `ORDER BY` names and tag values and
  a logged model's metric order answer as MLflow's on MySQL (the case-insensitive collation,
  InnoDB's primary-key order);
- two rsflow replicas writing one run and one model concurrently lose and duplicate nothing;
- while the database is down every request is a JSON 503 with Retry-After; it recovers by itself.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
import uuid

import pytest
import requests

from helpers import MLFLOW, RSFLOW, start_server

ADMIN = os.environ.get("RSFLOW_TEST_MYSQL_URL", "").strip()

pytestmark = [
    pytest.mark.skipif(not ADMIN, reason="RSFLOW_TEST_MYSQL_URL is not set "
                       '(bash scripts/mariadb.sh start; eval "$(bash scripts/mariadb.sh env)")'),
    pytest.mark.timeout(300),
]

_CREATED: list[str] = []


def _connect(database: str | None = None):
    import pymysql

    u = urllib.parse.urlsplit(ADMIN)
    return pymysql.connect(host=u.hostname, port=u.port or 3306,
                           user=urllib.parse.unquote(u.username or ""),
                           password=urllib.parse.unquote(u.password or ""),
                           database=database, autocommit=True)


def fresh_db(prefix: str) -> str:
    """A new empty database; its URL in rsflow's plain `mysql://` form."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    con = _connect()
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    con.close()
    _CREATED.append(name)
    return ADMIN.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module", autouse=True)
def _drop_databases():
    yield
    con = _connect()
    with con.cursor() as cur:
        for name in _CREATED:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    con.close()


def pymysql_url(url: str) -> str:
    return url.replace("mysql://", "mysql+pymysql://", 1)


def call(server, method: str, endpoint: str, **kw):
    r = server.api(method, endpoint, **kw)
    return r.status_code, r.json() if r.content else {}


def ok(server, method: str, endpoint: str, **kw) -> dict:
    status, body = call(server, method, endpoint, **kw)
    assert status == 200, (endpoint, status, body)
    return body


# ------------------------------------------------------------------ URI forms and redaction


@pytest.mark.parametrize("form", ["mysql://", "mysql+pymysql://", "mysql+mysqldb://"])
def test_uri_forms_start_and_hide_password(tmp_path, form):
    url = fresh_db("uri").replace("mysql://", form, 1) + "?charset=utf8mb4"
    srv = start_server(RSFLOW, tmp_path, backend=url,
                       extra_args=["--registry-store-uri", url])
    try:
        exp = ok(srv, "POST", "experiments/create", json={"name": "uri"})["experiment_id"]
        assert exp == "1"
        ok(srv, "POST", "registered-models/create", json={"name": "m"})
        password = urllib.parse.unquote(urllib.parse.urlsplit(ADMIN).password or "")
        assert password and password not in srv.log_text()
    finally:
        srv.stop()


# ------------------------------------------------------------------ two-way with mlflow server


def _write(server, tag: str) -> dict:
    exp = ok(server, "POST", "experiments/create", json={"name": f"exp-{tag}"})["experiment_id"]
    run = ok(server, "POST", "runs/create", json={"experiment_id": exp, "run_name": f"run-{tag}",
                                                  "start_time": 1000})["run"]["info"]["run_id"]
    # NaN in protobuf's JSON spelling (a string), which both servers parse.
    ok(server, "POST", "runs/log-batch", json={
        "run_id": run,
        "metrics": [{"key": "loss", "value": v, "timestamp": 10 + i, "step": i}
                    for i, v in enumerate([0.5, 0.25, "NaN"])],
        "params": [{"key": "lr", "value": "0.1"}, {"key": "Mixed", "value": "Case"}],
        "tags": [{"key": "who", "value": tag}],
    })
    ok(server, "POST", "registered-models/create", json={"name": f"model-{tag}"})
    ok(server, "POST", "model-versions/create", json={"name": f"model-{tag}", "source": "s3://b/x",
                                                      "run_id": run})
    return {"exp": exp, "run": run}


def _read(server, ids: dict, tag: str) -> dict:
    run = ok(server, "GET", "runs/get", params={"run_id": ids["run"]})["run"]
    hist = ok(server, "GET", "metrics/get-history",
              params={"run_id": ids["run"], "metric_key": "loss"})["metrics"]
    model = ok(server, "GET", "registered-models/get", params={"name": f"model-{tag}"})
    return {
        "name": run["info"]["run_name"],
        "params": sorted((p["key"], p["value"]) for p in run["data"]["params"]),
        "tags": sorted((t["key"], t["value"]) for t in run["data"]["tags"] if t["key"] == "who"),
        "latest": sorted((m["key"], str(m["value"]), m["step"]) for m in run["data"]["metrics"]),
        "history": [(str(m["value"]), m["step"]) for m in hist],
        "versions": [v["version"] for v in model["registered_model"].get("latest_versions", [])],
    }


def test_two_way_with_mlflow_server(tmp_path):
    url = fresh_db("twoway")
    rs = start_server(RSFLOW, tmp_path / "rs1", backend=url)
    try:
        ours = _write(rs, "rs")
        seen_by_rsflow = _read(rs, ours, "rs")
    finally:
        rs.stop()
    ml = start_server(MLFLOW, tmp_path / "ml", backend=pymysql_url(url))
    try:
        assert _read(ml, ours, "rs") == seen_by_rsflow
        theirs = _write(ml, "ml")
        seen_by_mlflow = _read(ml, theirs, "ml")
        assert ok(ml, "GET", "experiments/get", params={"experiment_id": "0"})[
            "experiment"]["name"] == "Default"
    finally:
        ml.stop()
    rs = start_server(RSFLOW, tmp_path / "rs2", backend=url)
    try:
        assert _read(rs, theirs, "ml") == seen_by_mlflow
        assert _read(rs, ours, "rs") == seen_by_rsflow
        assert seen_by_rsflow["latest"] == [("loss", "NaN", 2)]
    finally:
        rs.stop()


# ------------------------------------------------------------------ case sensitivity


RUN_FILTERS = [
    "params.Mixed = 'Case'", "params.Mixed = 'case'", "params.Mixed != 'case'",
    "params.Mixed LIKE 'Ca%'", "params.Mixed LIKE 'ca%'", "params.Mixed ILIKE 'ca%'",
    "tags.who = 'Alice'", "tags.who = 'alice'", "tags.who LIKE '%LI%'", "tags.who ILIKE '%LI%'",
    "attributes.run_name = 'Run-A'", "attributes.run_name = 'run-a'",
    "attributes.run_name LIKE 'run%'", "attributes.run_name ILIKE 'RUN%'",
    "attributes.run_name != 'run-a'", "attributes.run_name IN ('run-a', 'RUN-B')",
    "tags.who IN ('alice')", "params.Mixed NOT IN ('Case')",
    # Keys: MLflow matches them case-sensitively (BINARY) beside a value comparison, but with
    # a plain `=` (the collation's, ignoring case) for IS [NOT] NULL.
    "tags.WHO IS NULL", "tags.WHO IS NOT NULL", "params.MIXED IS NULL",
    "tags.WHO = 'alice'", "params.mixed = 'case'", "params.MIXED LIKE 'C%'",
    "metrics.LOSS > 0", "metrics.loss >= 2", "tags.Who != 'alice'",
    "attributes.run_name NOT IN ('run-b')", "tags.who LIKE 'ALICE'", "params.Mixed != 'CASE'",
]
EXPERIMENT_FILTERS = ["name = 'Cased'", "name = 'cased'", "name LIKE 'C%'", "name LIKE 'c%'",
                      "name ILIKE 'c%'", "name != 'cased'", "name IN ('cased')",
                      "tags.Owner = 'Ann'", "tags.owner = 'ann'", "tags.OWNER LIKE 'A%'",
                      "tags.owner ILIKE 'ANN'", "tags.owner != 'ann'", "tags.OWNER IS NULL",
                      "tags.OWNER IS NOT NULL"]
MODEL_FILTERS = ["name = 'Model-X'", "name = 'model-x'", "name LIKE 'Model%'", "name LIKE 'model%'",
                 "name ILIKE 'model%'", "name != 'model-x'", "name IN ('model-x', 'MODEL-Y')",
                 "name NOT IN ('model-x')", "tags.Owner = 'Ann'",
                 "tags.owner = 'ann'", "tags.OWNER LIKE 'A%'", "tags.owner ILIKE 'ANN'"]
VERSION_FILTERS = ["name = 'Model-X'", "name = 'model-x'", "name LIKE 'Model%'",
                   "name LIKE 'model%'", "name ILIKE 'model%'", "name != 'model-x'",
                   "name IN ('model-x', 'MODEL-Y')", "tags.Stage = 'Prod'", "tags.stage = 'prod'",
                   "tags.STAGE LIKE 'P%'", "tags.stage ILIKE 'PROD'",
                   "source_path = 's3://b/Model-X'", "source_path = 's3://b/model-x'"]


def _case_data(server) -> str:
    exp = ok(server, "POST", "experiments/create", json={"name": "Cased"})["experiment_id"]
    ok(server, "POST", "experiments/create", json={"name": "other"})
    for name, who, mixed in [("Run-A", "Alice", "Case"), ("run-b", "alice", "case"),
                             ("RUN-B", "ALICE", "CASE")]:
        run = ok(server, "POST", "runs/create", json={"experiment_id": exp, "run_name": name,
                                                      "start_time": 1})["run"]["info"]["run_id"]
        ok(server, "POST", "runs/log-batch", json={
            "run_id": run, "params": [{"key": "Mixed", "value": mixed}],
            "tags": [{"key": "who", "value": who}],
            "metrics": [{"key": "loss", "value": len(who) + (mixed == "case"),
                         "timestamp": 1, "step": 0}]})
    ok(server, "POST", "experiments/set-experiment-tag",
       json={"experiment_id": exp, "key": "owner", "value": "Ann"})
    for m, owner, stage in [("Model-X", "Ann", "Prod"), ("model-y", "ann", "prod")]:
        ok(server, "POST", "registered-models/create",
           json={"name": m, "tags": [{"key": "owner", "value": owner}]})
        ok(server, "POST", "model-versions/create", json={
            "name": m, "source": f"s3://b/{m}", "tags": [{"key": "stage", "value": stage}]})
    return exp


def _case_answers(server, exp: str) -> dict:
    out = {}
    for f in RUN_FILTERS:
        status, body = call(server, "POST", "runs/search",
                            json={"experiment_ids": [exp], "filter": f, "max_results": 100})
        out[f] = (status, sorted(r["info"]["run_name"] for r in body.get("runs", []))
                  if status == 200 else body.get("error_code"))
    for f in EXPERIMENT_FILTERS:
        status, body = call(server, "POST", "experiments/search",
                            json={"filter": f, "max_results": 100})
        out["exp:" + f] = (status, sorted(e["name"] for e in body.get("experiments", []))
                           if status == 200 else body.get("error_code"))
    for f in MODEL_FILTERS:
        status, body = call(server, "GET", "registered-models/search", params={"filter": f})
        out["model:" + f] = (status, sorted(m["name"] for m in body.get("registered_models", []))
                             if status == 200 else body.get("error_code"))
    for f in VERSION_FILTERS:
        status, body = call(server, "GET", "model-versions/search",
                            params={"filter": f, "max_results": 100})
        out["version:" + f] = (status, sorted(v["name"] for v in body.get("model_versions", []))
                               if status == 200 else body.get("error_code"))
    return out


def test_case_sensitivity_matches_mlflow_on_mysql(tmp_path):
    ml = start_server(MLFLOW, tmp_path / "ml", backend=pymysql_url(fresh_db("case_ml")))
    try:
        expected = _case_answers(ml, _case_data(ml))
    finally:
        ml.stop()
    rs = start_server(RSFLOW, tmp_path / "rs", backend=fresh_db("case_rs"))
    try:
        got = _case_answers(rs, _case_data(rs))
    finally:
        rs.stop()
    diffs = {k: (got[k], expected[k]) for k in expected if got.get(k) != expected[k]}
    assert not diffs, diffs
    # The rule is MySQL's, not SQLite's: `=` is case-sensitive, ILIKE is not.
    assert expected["params.Mixed = 'case'"] == (200, ["run-b"])
    assert expected["params.Mixed ILIKE 'ca%'"][1] == ["RUN-B", "Run-A", "run-b"]
    assert expected["version:name = 'model-x'"] == (200, [])
    assert expected["version:name LIKE 'Model%'"] == (200, ["Model-X"])


# ------------------------------------------------------------------ collation: orders and lookups


def _collation_data(server) -> dict:
    ids = {}
    ids["exp-a"] = ok(server, "POST", "experiments/create", json={"name": "exp-a"})["experiment_id"]
    for name, kind in [("Apple", "fruit"), ("banana", "Fruit"), ("cherry-pie", None)]:
        tags = [{"key": "kind", "value": kind}] if kind else []
        ids[name] = ok(server, "POST", "experiments/create",
                       json={"name": name, "tags": tags})["experiment_id"]
    ok(server, "POST", "experiments/delete", json={"experiment_id": ids["cherry-pie"]})
    exp = ok(server, "POST", "experiments/create", json={"name": "runs"})["experiment_id"]
    ids["runs"] = exp
    for name, start, team in [("alpha", 100, "Vision"), ("beta", 300, "vision"),
                              ("gamma", 200, "nlp"), ("Delta", 250, None)]:
        run = ok(server, "POST", "runs/create", json={"experiment_id": exp, "run_name": name,
                                                      "start_time": start})["run"]["info"]["run_id"]
        ids[name] = run
        if team:
            ok(server, "POST", "runs/set-tag", json={"run_id": run, "key": "team", "value": team})
    model = ok(server, "POST", "logged-models", json={
        "experiment_id": exp, "name": "lm", "source_run_id": ids["alpha"]})["model"]["info"]["model_id"]
    ids["model"] = model

    def metric(key, step):
        return {"key": key, "value": step, "timestamp": 5, "step": step, "model_id": model}

    for batch in ([metric("zeta", 0), metric("alpha", 0)], [metric("Mid", 0)], [metric("beta", 0)],
                  [metric("alpha", 1)]):
        ok(server, "POST", "runs/log-batch", json={"run_id": ids["alpha"], "metrics": batch})
    return ids


def _collation_answers(server, ids: dict) -> dict:
    names = {v: k for k, v in ids.items()}
    out = {}
    for name in ["exp-a", "EXP-A", "Exp-A", "nope"]:
        status, body = call(server, "GET", "experiments/get-by-name",
                            params={"experiment_name": name})
        out[f"by-name:{name}"] = (status, body.get("experiment", {}).get("name")
                                  or body.get("error_code"))
    status, body = call(server, "POST", "experiments/create", json={"name": "EXP-A"})
    out["create-dup:EXP-A"] = (status, body.get("error_code"))
    for order in (["name"], ["name DESC"]):
        body = ok(server, "POST", "experiments/search",
                  json={"view_type": "ALL", "order_by": order, "max_results": 100})
        out[f"exp-order:{order}"] = [e["name"] for e in body["experiments"]]
    body = ok(server, "POST", "experiments/search",
              json={"view_type": "ALL", "order_by": ["name"], "max_results": 3})
    out["exp-page-1"] = [e["name"] for e in body["experiments"]]
    body = ok(server, "POST", "experiments/search",
              json={"view_type": "ALL", "order_by": ["name"], "max_results": 3,
                    "page_token": body["next_page_token"]})
    out["exp-page-2"] = [e["name"] for e in body["experiments"]]
    for order in (["attributes.run_name"], ["attributes.run_name DESC"],
                  ["tags.team", "attributes.start_time"],
                  ["tags.team", "attributes.start_time DESC"], ["tags.team DESC"],
                  # The order's key is MLflow's plain `=`: "TEAM" finds the "team" tags.
                  ["tags.TEAM", "attributes.start_time"]):
        body = ok(server, "POST", "runs/search", json={"experiment_ids": [ids["runs"]],
                                                       "order_by": order, "max_results": 100})
        out[f"run-order:{order}"] = [names[r["info"]["run_id"]] for r in body["runs"]]
    body = ok(server, "GET", f"logged-models/{ids['model']}")
    out["logged-model-metrics"] = [(m["key"], m["step"]) for m in body["model"]["data"]["metrics"]]
    return out


def test_collation_orders_and_lookups_match_mlflow_on_mysql(tmp_path):
    """The answers the store suite's MySQL versions assert (crates/rsflow-store/tests/it/mysql.rs,
    module `collation`): `ORDER BY` on names and tag values and the by-name lookup follow the
    case-insensitive collation, a logged model's metrics come in primary-key order."""
    ml = start_server(MLFLOW, tmp_path / "ml", backend=pymysql_url(fresh_db("coll_ml")))
    try:
        expected = _collation_answers(ml, _collation_data(ml))
    finally:
        ml.stop()
    rs = start_server(RSFLOW, tmp_path / "rs", backend=fresh_db("coll_rs"))
    try:
        got = _collation_answers(rs, _collation_data(rs))
    finally:
        rs.stop()
    diffs = {k: (got.get(k), expected[k]) for k in expected if got.get(k) != expected[k]}
    assert not diffs, diffs
    # MySQL's rule, not SQLite's: the lookup and the orders ignore case.
    assert expected["by-name:EXP-A"] == (200, "exp-a")
    assert expected["exp-order:['name']"] == ["Apple", "banana", "cherry-pie", "Default",
                                              "exp-a", "runs"]
    assert expected["run-order:['attributes.run_name']"] == ["alpha", "beta", "Delta", "gamma"]
    assert expected["logged-model-metrics"] == [("alpha", 0), ("alpha", 1), ("beta", 0),
                                                ("Mid", 0), ("zeta", 0)]


# ------------------------------------------------------------------ replicas


def test_two_replicas_lose_and_duplicate_nothing(tmp_path):
    url = fresh_db("replicas")
    a = start_server(RSFLOW, tmp_path / "a", backend=url)
    b = start_server(RSFLOW, tmp_path / "b", backend=url)
    try:
        exp = ok(a, "POST", "experiments/create", json={"name": "shared"})["experiment_id"]
        run = ok(a, "POST", "runs/create", json={"experiment_id": exp,
                                                 "start_time": 1})["run"]["info"]["run_id"]
        ok(a, "POST", "registered-models/create", json={"name": "shared-model"})
        errors: list = []

        def writer(server, w: int) -> None:
            try:
                for i in range(15):
                    step = w * 1000 + i
                    r = server.api("POST", "runs/log-batch", json={
                        "run_id": run,
                        "metrics": [{"key": k, "value": float(step), "timestamp": step,
                                     "step": step} for k in ("m1", "m2")],
                        "tags": [{"key": f"t{w}", "value": str(i)}]}, timeout=60)
                    if r.status_code != 200:
                        errors.append(r.text)
                    if i % 5 == 0:
                        r = server.api("POST", "model-versions/create", json={
                            "name": "shared-model", "source": f"s3://b/{w}/{i}"}, timeout=60)
                        if r.status_code != 200:
                            errors.append(r.text)
            except requests.RequestException as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=writer, args=(srv, w))
                   for w, srv in enumerate([a, b, a, b])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        for key in ("m1", "m2"):
            hist = ok(b, "GET", "metrics/get-history", params={"run_id": run, "metric_key": key})
            steps = sorted(m["step"] for m in hist["metrics"])
            assert steps == sorted(w * 1000 + i for w in range(4) for i in range(15))
        got = ok(a, "GET", "runs/get", params={"run_id": run})["run"]["data"]
        latest = {m["key"]: m["step"] for m in got["metrics"]}
        assert latest == {"m1": 3014, "m2": 3014}
        versions = ok(b, "GET", "model-versions/search",
                      params={"filter": "name = 'shared-model'", "max_results": 100})
        numbers = sorted(int(v["version"]) for v in versions["model_versions"])
        assert numbers == list(range(1, 13))
    finally:
        a.stop()
        b.stop()


# ------------------------------------------------------------------ outage (last: it pauses the server)


def test_outage_is_a_json_503_and_recovers(tmp_path):
    import subprocess
    import time

    from helpers import REPO

    port = urllib.parse.urlsplit(ADMIN).port
    env = dict(os.environ, RSFLOW_MYSQL_PORT=str(port))
    script = str(REPO / "scripts" / "mariadb.sh")
    srv = start_server(RSFLOW, tmp_path, backend=fresh_db("outage"),
                       env={"RSFLOW_DB_ACQUIRE_TIMEOUT_SECS": "2"})
    try:
        exp = ok(srv, "POST", "experiments/create", json={"name": "before"})["experiment_id"]
        subprocess.run(["bash", script, "pause"], env=env, check=True)
        try:
            started = time.monotonic()
            r = srv.api("GET", "experiments/get", params={"experiment_id": exp})
            assert time.monotonic() - started < 10
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After")
            assert r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        finally:
            subprocess.run(["bash", script, "start"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            r = srv.api("GET", "experiments/get", params={"experiment_id": exp})
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.status_code == 200 and r.json()["experiment"]["name"] == "before"
    finally:
        srv.stop()
