"""Two-way database interoperability with MLflow's SQLAlchemy schema.

(a) `mlflow server` creates and fills a sqlite DB; the target serves the same file.
(b) the target creates and fills it; `mlflow server` serves it without migrating.
(c) an unknown alembic revision makes the target refuse to start, naming it.
(d) (a) and (b) on PostgreSQL (fresh databases through RSFLOW_TEST_PG_URL), plus: the schema
    the target creates on an empty PostgreSQL database is the one `mlflow db upgrade` creates.

With COMPAT_TARGET=mlflow the "target" is a second mlflow server (a self-check).
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag, ViewType

from helpers import (
    MLFLOW,
    create_pg_database,
    pg_admin_url,
    run_mlflow_cli,
    run_server_expect_exit,
    start_server,
    target_kind,
    tree_contents,
    write_tree,
)

MIGRATION_MARKERS = ("Running upgrade", "Creating initial MLflow database tables", "Updating database tables")
T0 = 1_700_000_000_000


def fill(client, tmp: Path) -> dict[str, str]:
    """Experiments, runs with params/metrics/tags/inputs, nesting, deletions, one artifact."""
    ids: dict[str, str] = {}
    ids["a"] = client.create_experiment("interop-a", tags={"team": "x", "mlflow.note.content": "notes"})
    ids["b"] = client.create_experiment("interop-b")
    ids["c"] = client.create_experiment("interop-c")

    r1 = client.create_run(ids["a"], start_time=T0, run_name="r1", tags={"team": "red"})
    ids["r1"] = r1.info.run_id
    client.log_batch(
        ids["r1"],
        metrics=[Metric("loss", 1.0 / (s + 1), T0 + s, s) for s in range(5)]
        + [Metric("acc", 0.5, T0, 0), Metric("acc", 0.75, T0 + 1, 0)],
        params=[Param(f"p{i}", f"v{i}") for i in range(5)] + [Param("long", "x" * 500)],
        tags=[RunTag("stage", "dev")],
    )
    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    ds = mlflow.data.from_pandas(df, source=str(tmp / "data.csv"), name="interop-ds")
    client.log_inputs(ids["r1"], datasets=[DatasetInput(ds._to_mlflow_entity(),
                                                        tags=[InputTag("mlflow.data.context", "training")])])
    write_tree(tmp / "art", {"model/info.txt": b"interop artifact", "top.json": b"{}"})
    client.log_artifacts(ids["r1"], str(tmp / "art"))
    client.set_terminated(ids["r1"], "FINISHED", end_time=T0 + 100)

    r2 = client.create_run(ids["a"], start_time=T0 + 10, run_name="r2-child",
                           tags={"mlflow.parentRunId": ids["r1"]})
    ids["r2"] = r2.info.run_id
    client.log_metric(ids["r2"], "loss", 0.3, timestamp=T0 + 11, step=7)
    client.set_terminated(ids["r2"], "FAILED", end_time=T0 + 20)

    r3 = client.create_run(ids["a"], start_time=T0 + 20, run_name="r3-deleted")
    ids["r3"] = r3.info.run_id
    client.log_param(ids["r3"], "p", "deleted")
    client.delete_run(ids["r3"])

    r4 = client.create_run(ids["b"], start_time=T0 + 30, run_name="r4-odd")
    ids["r4"] = r4.info.run_id
    for step, value in enumerate([float("nan"), float("inf"), float("-inf"), -0.0, 1e-300]):
        client.log_metric(ids["r4"], "odd", value, timestamp=T0 + step, step=step)
    client.set_tag(ids["r4"], "unicode", "\u65e5\u672c \u2713")

    r5 = client.create_run(ids["c"], start_time=T0 + 40, run_name="r5-in-deleted-exp")
    ids["r5"] = r5.info.run_id
    client.delete_experiment(ids["c"])

    r0 = client.create_run("0", start_time=T0 + 50, run_name="r0-default")
    ids["r0"] = r0.info.run_id
    client.set_experiment_tag(ids["b"], "k", "v")
    return ids


SEARCHES = [
    ("metrics.loss < 0.5", ["metrics.loss ASC"]),
    ("params.p1 = 'v1'", None),
    ("tags.team = 'red'", None),
    ("attributes.status = 'FAILED'", None),
    ("datasets.name = 'interop-ds'", None),
    ("", ["attributes.start_time DESC"]),
    ("attributes.run_name LIKE 'r%'", ["attributes.run_name ASC"]),
]


def _sorted_inputs(run: dict) -> dict:
    """Dataset inputs are a set in MLflow; order them canonically."""
    inputs = run.get("inputs")
    if inputs and inputs.get("dataset_inputs"):
        inputs["dataset_inputs"].sort(key=lambda d: json.dumps(d, sort_keys=True))
    return run


def snapshot(client, ids: dict[str, str], tmp: Path) -> str:
    """Everything the client can see, as canonical JSON (NaN-safe for comparison)."""
    exps = client.search_experiments(view_type=ViewType.ALL, order_by=["experiment_id ASC"])
    snap: dict = {"experiments": [dict(e) for e in exps], "runs": {}, "get_run": {}, "history": {},
                  "searches": {}, "active_experiments": [e.name for e in client.search_experiments()]}
    all_exp_ids = [e.experiment_id for e in exps]
    for exp_id in all_exp_ids:
        runs = client.search_runs([exp_id], run_view_type=ViewType.ALL)
        snap["runs"][exp_id] = [_sorted_inputs(r.to_dictionary()) for r in runs]
        for r in runs:
            rid = r.info.run_id
            snap["get_run"][rid] = _sorted_inputs(client.get_run(rid).to_dictionary())
            for key in sorted(r.data.metrics):
                snap["history"][f"{rid}/{key}"] = [dict(m) for m in client.get_metric_history(rid, key)]
    for filt, order_by in SEARCHES:
        runs = client.search_runs(all_exp_ids, filt, run_view_type=ViewType.ALL, order_by=order_by)
        snap["searches"][f"{filt}|{order_by}"] = [r.info.run_id for r in runs]
    snap["active_runs_a"] = [r.info.run_id for r in client.search_runs([ids["a"]])]
    snap["artifacts"] = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(ids["r1"], "model")]
    out = Path(client.download_artifacts(ids["r1"], "", str(tmp)))
    snap["artifact_files"] = {k: v.decode() for k, v in tree_contents(out).items()}
    return json.dumps(snap, indent=1, sort_keys=True, default=str)


def _check_snapshot(snap: dict, ids: dict[str, str]) -> None:
    """The snapshot really holds what fill() wrote (guards against comparing two empty views)."""
    assert [e["name"] for e in snap["experiments"]] == ["Default", "interop-a", "interop-b", "interop-c"]
    assert [e["lifecycle_stage"] for e in snap["experiments"]] == ["active", "active", "active", "deleted"]
    assert len(snap["get_run"]) == 6
    r1 = snap["get_run"][ids["r1"]]
    assert r1["data"]["params"]["p3"] == "v3" and r1["data"]["metrics"] == {"loss": 0.2, "acc": 0.75}
    assert r1["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "interop-ds"
    assert len(snap["history"][f"{ids['r1']}/loss"]) == 5
    assert snap["get_run"][ids["r3"]]["info"]["lifecycle_stage"] == "deleted"
    assert snap["artifact_files"] == {"model/info.txt": "interop artifact", "top.json": "{}"}
    assert snap["active_runs_a"] == [ids["r2"], ids["r1"]]


def _assert_same(before: str, after: str, label: str) -> None:
    if before != after:
        diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                              "first server", "second server", lineterm="", n=2))
        pytest.fail(f"{label}: client-visible state differs\n{diff[:6000]}", pytrace=False)


# The one deliberate addition to MLflow's schema: rsflow's digest index (which files it
# published, for `rsflow artifacts verify`'s MISSING; docs/operations.md), created by a server
# that serves artifacts. MLflow ignores the table, so switching back is unaffected; the
# comparisons below leave it (its table, primary key and SQLite autoindex) out.
RSFLOW_OWN_TABLE = "rsflow_artifact_index"


def _mlflow_rows(rows: list) -> list:
    return [r for r in rows if not any(isinstance(v, str) and RSFLOW_OWN_TABLE in v for v in r)]


def _alembic_and_tables(db: Path) -> tuple[list, list]:
    with sqlite3.connect(db) as con:
        versions = con.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = con.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') "
                             "ORDER BY name").fetchall()
    return versions, _mlflow_rows(tables)


def _pg_schema(url: str) -> dict:
    """Revision, columns, indexes and constraints of a PostgreSQL database, comparable."""
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            versions = cur.fetchall()
            cur.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default, "
                "character_maximum_length FROM information_schema.columns "
                "WHERE table_schema = current_schema() ORDER BY table_name, column_name")
            columns = cur.fetchall()
            cur.execute("SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE schemaname = current_schema() ORDER BY indexname")
            indexes = cur.fetchall()
            cur.execute(
                "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                "WHERE n.nspname = current_schema() ORDER BY 1, 2")
            constraints = cur.fetchall()
            cur.execute(
                "SELECT event_object_table, trigger_name, action_timing, event_manipulation "
                "FROM information_schema.triggers WHERE trigger_schema = current_schema() "
                "ORDER BY 1, 2, 4")
            triggers = cur.fetchall()
    finally:
        con.close()
    return {"versions": versions, "columns": _mlflow_rows(columns),
            "indexes": _mlflow_rows(indexes), "constraints": _mlflow_rows(constraints),
            "triggers": _mlflow_rows(triggers)}


def _sanity_write(client, ids):
    """The second server can also write into the other's database."""
    client.log_metric(ids["r1"], "after", 42.0, timestamp=T0 + 999, step=1)
    client.set_tag(ids["r1"], "second", "yes")
    new_exp = client.create_experiment("interop-new")
    run = client.create_run(new_exp, run_name="new")
    data = client.get_run(ids["r1"]).data
    assert data.metrics["after"] == 42.0 and data.tags["second"] == "yes"
    assert client.get_run(run.info.run_id).info.experiment_id == new_exp
    assert int(new_exp) > int(ids["c"])


def _round_trip(first_kind, second_kind, servers, bind_client, tmp_path, backend="sqlite"):
    workdir = servers.workdir("interop")
    if backend == "postgres":
        backend = create_pg_database("interop")
        schema_of = lambda: _pg_schema(backend)  # noqa: E731
    else:
        backend = f"sqlite:///{workdir / 'mlflow.db'}"
        schema_of = lambda: _alembic_and_tables(workdir / "mlflow.db")  # noqa: E731
    first = start_server(first_kind, workdir, backend=backend)
    try:
        ids = fill(bind_client(first), tmp_path)
        before = snapshot(bind_client(first), ids, tmp_path / "dl1")
        _check_snapshot(json.loads(before), ids)
    finally:
        first.stop()
    schema_before = schema_of()

    second = start_server(second_kind, workdir, backend=backend)
    try:
        after = snapshot(bind_client(second), ids, tmp_path / "dl2")
        _assert_same(before, after, f"{first_kind} -> {second_kind}")
        log = second.log_text()
        if second_kind == MLFLOW:
            for marker in MIGRATION_MARKERS:
                assert marker not in log, f"mlflow server migrated the {first_kind} database:\n{log[-3000:]}"
        assert schema_of() == schema_before, "the second server changed the schema"
        _sanity_write(bind_client(second), ids)
    finally:
        second.stop()


def test_mlflow_db_served_by_target(servers, bind_client, tmp_path):
    _round_trip(MLFLOW, target_kind(), servers, bind_client, tmp_path)


def test_target_db_served_by_mlflow(servers, bind_client, tmp_path):
    _round_trip(target_kind(), MLFLOW, servers, bind_client, tmp_path)


needs_pg = pytest.mark.skipif(pg_admin_url() is None, reason="RSFLOW_TEST_PG_URL is not set "
                              "(bash scripts/postgres.sh start; eval \"$(bash scripts/postgres.sh env)\")")


@needs_pg
def test_mlflow_pg_db_served_by_target(servers, bind_client, tmp_path):
    _round_trip(MLFLOW, target_kind(), servers, bind_client, tmp_path, backend="postgres")


@needs_pg
def test_target_pg_db_served_by_mlflow(servers, bind_client, tmp_path):
    _round_trip(target_kind(), MLFLOW, servers, bind_client, tmp_path, backend="postgres")


@needs_pg
def test_target_pg_schema_is_mlflows(servers, tmp_path):
    """The tables, indexes, constraints and triggers the target creates on an empty PostgreSQL
    database are exactly those of `mlflow db upgrade` (so MLflow never needs to migrate)."""
    ours = create_pg_database("schema_target")
    server = start_server(target_kind(), servers.workdir("schema"), backend=ours)
    server.stop()
    ref = create_pg_database("schema_mlflow")
    done = run_mlflow_cli(["db", "upgrade", ref], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got, want = _pg_schema(ours), _pg_schema(ref)
    for part in want:
        assert got[part] == want[part], f"{part} differ:\n" + "\n".join(
            difflib.unified_diff([repr(r) for r in want[part]], [repr(r) for r in got[part]],
                                 "mlflow db upgrade", target_kind(), lineterm=""))


def test_unknown_alembic_revision_refused(tmp_path):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = tmp_path / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(tmp_path / "mlartifacts"))  # reference schema at head
    store.engine.dispose()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num='deadbeef0000'")
    rc, out = run_server_expect_exit(target_kind(), tmp_path, backend=f"sqlite:///{db}", timeout=60)
    assert rc is not None, f"server kept running on an unknown schema revision:\n{out[-3000:]}"
    assert rc != 0, out[-3000:]
    assert "deadbeef0000" in out, out[-3000:]
    with sqlite3.connect(db) as con:  # and it left the database alone
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("deadbeef0000",)]
