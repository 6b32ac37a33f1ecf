"""`rsflow db upgrade` from EVERY MLflow revision since 2.0's head (issue 18).

For each of the 52 revisions from MLflow 2.0's head (97727af70f4d) to 3.18.0's (f4a9b2c7d1e6),
a database is built at that revision the way MLflow builds one (its initial tables, then
alembic with MLflow's own config, one revision at a time: flows/build_revisions.py under the
3.18.0 venv, which ships every migration). `rsflow db upgrade` takes it to 3.18.0's head and
then its schema must equal, object for object, that of a database `mlflow db upgrade` (3.18.0)
created: SQLite's sqlite_master (each table's columns in order, its constraints as a set:
alembic's batch rebuilds emit them in hash order; indexes and triggers by their SQL), or
PostgreSQL's catalogs (columns, types, defaults, nullability and order; indexes; constraints;
triggers). `rsflow db check` then calls it servable and drift-free.

SQLite always; PostgreSQL with RSFLOW_TEST_PG_URL. The PostgreSQL chain (3.5 min on the shared
2-core machine) runs in scripts/upgrade-matrix.sh (RSFLOW_TEST_UPGRADE_CHAIN_PG=1), not in the
test command, which keeps PostgreSQL's analytics backfill here and the 2.22 line's upgrade on
PostgreSQL in test_db_upgrade_releases.py. MLflow 3.18.0 comes from RSFLOW_MLFLOW318_PY
(default .venv-mlflow318/bin/python).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, RSFLOW, child_env, pg_admin_url, rsflow_bin, target_kind, with_database

START = "97727af70f4d"  # MLflow 2.0.x's head
HEAD = "f4a9b2c7d1e6"  # MLflow 3.18.0's head
BUILD = Path(__file__).parent / "flows" / "build_revisions.py"

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="tests rsflow's own upgrade")


def _py318() -> Path:
    py = Path(os.environ.get("RSFLOW_MLFLOW318_PY") or REPO / ".venv-mlflow318/bin/python")
    if not py.exists():
        pytest.skip(f"no MLflow 3.18.0 venv at {py}")
    return py


def _squash(s: str) -> str:
    return " ".join(s.split())


def _items(sql: str) -> list[str]:
    body = sql[sql.index("(") + 1: sql.rindex(")")]
    out, cur, depth, quote = [], "", 0, None
    for c in body:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(_squash(cur))
            cur = ""
            continue
        cur += c
    out.append(_squash(cur))
    return out


CONSTRAINT = re.compile(r"^(CONSTRAINT|PRIMARY KEY|FOREIGN KEY|UNIQUE|CHECK)\b")


def sqlite_schema(path: Path) -> dict:
    con = sqlite3.connect(path)
    out = {}
    for ty, name, sql in con.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL"):
        if ty != "table":
            out[f"{ty} {name}"] = _squash(sql)
            continue
        items = _items(sql)
        out[f"table {name}"] = (
            [i for i in items if not CONSTRAINT.match(i)],
            sorted(i for i in items if CONSTRAINT.match(i)),
        )
    (rev,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    con.close()
    out["alembic_version"] = rev
    return out


def pg_schema(url: str) -> dict:
    import psycopg2

    con = psycopg2.connect(url)
    cur = con.cursor()
    out = {}
    cur.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attnum
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0
          AND NOT a.attisdropped ORDER BY c.relname, a.attnum""")
    for table, col, ty, notnull, default, _ in cur.fetchall():
        out.setdefault(f"table {table}", []).append((col, ty, notnull, default))
    cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    out.update({f"index {n}": d for n, d in cur.fetchall()})
    cur.execute("""SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
                   FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                   WHERE n.nspname = 'public'""")
    out.update({f"constraint {t}.{n}": d for t, n, d in cur.fetchall()})
    cur.execute("""SELECT event_object_table, trigger_name, event_manipulation, action_timing,
                          action_statement FROM information_schema.triggers
                   WHERE trigger_schema = 'public'""")
    out.update({f"trigger {t}.{n}.{e}": (w, s) for t, n, e, w, s in cur.fetchall()})
    cur.execute("SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'")
    out.update({f"function {n}": d for n, d in cur.fetchall()})
    cur.execute("SELECT version_num FROM alembic_version")
    out["alembic_version"] = cur.fetchone()[0]
    con.close()
    return out


def diff(expected: dict, actual: dict) -> list[str]:
    out = [f"missing {k}" for k in expected if k not in actual]
    out += [f"unexpected {k}" for k in actual if k not in expected]
    out += [f"{k}: expected {expected[k]!r}, found {actual[k]!r}"
            for k in expected if k in actual and expected[k] != actual[k]]
    return out


def rsflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rsflow_bin()), "db", *args], capture_output=True, text=True,
                          env=child_env(), timeout=300)


def build(args: list[str], cwd: Path) -> list[str]:
    proc = subprocess.run([str(_py318()), str(BUILD), *args], cwd=cwd, capture_output=True,
                          text=True, env=child_env(), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout.split()


def reference(uri: str, cwd: Path) -> None:
    proc = subprocess.run([str(_py318().parent / "mlflow"), "db", "upgrade", uri], cwd=cwd,
                          capture_output=True, text=True, env=child_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def upgrade_all(uris: dict[str, str], expected: dict, read) -> dict[str, list[str]]:
    failures = {}
    for rev, uri in uris.items():
        proc = rsflow("upgrade", uri)
        if proc.returncode != 0:
            failures[rev] = [f"rsflow db upgrade failed: {proc.stderr[-2000:]}"]
            continue
        problems = diff(expected, read(uri))
        check = rsflow("check", uri)
        if check.returncode != 0:
            problems.append(f"rsflow db check: {check.stdout}")
        if rev != HEAD and "(no drift)" not in proc.stdout:
            problems.append(f"upgrade's own check: {proc.stdout[-2000:]}")
        if problems:
            failures[rev] = problems
    return failures


def test_every_revision_sqlite(tmp_path):
    revs = build(["sqlite", str(tmp_path), START, HEAD], tmp_path)
    assert len(revs) == 52 and revs[0] == START and revs[-1] == HEAD
    ref = tmp_path / "reference.db"
    reference(f"sqlite:///{ref}", tmp_path)
    expected = sqlite_schema(ref)
    assert expected["alembic_version"] == HEAD
    uris = {r: f"sqlite:///{tmp_path / (r + '.db')}" for r in revs}
    failures = upgrade_all(uris, expected,
                           lambda uri: sqlite_schema(Path(uri.removeprefix("sqlite:///"))))
    assert not failures, failures


def test_every_revision_postgres(tmp_path):
    if os.environ.get("RSFLOW_TEST_UPGRADE_CHAIN_PG") != "1":
        pytest.skip("the PostgreSQL chain runs in scripts/upgrade-matrix.sh "
                    "(RSFLOW_TEST_UPGRADE_CHAIN_PG=1)")
    admin = pg_admin_url()
    if not admin:
        pytest.skip("RSFLOW_TEST_PG_URL is not set")
    import psycopg2

    prefix = f"chain_{os.getpid()}"
    con = psycopg2.connect(admin)
    con.autocommit = True
    names = []
    try:
        revs = build(["postgres", admin, prefix, START, HEAD], tmp_path)
        assert len(revs) == 52 and revs[0] == START and revs[-1] == HEAD
        names = [f"{prefix}_{r}" for r in revs] + [f"{prefix}_ref"]
        con.cursor().execute(f'CREATE DATABASE "{prefix}_ref"')
        ref = with_database(admin, f"{prefix}_ref")
        reference(ref, tmp_path)
        expected = pg_schema(ref)
        assert expected["alembic_version"] == HEAD
        uris = {r: with_database(admin, f"{prefix}_{r}") for r in revs}
        failures = upgrade_all(uris, expected, pg_schema)
        assert not failures, failures
    finally:
        for n in names:
            con.cursor().execute(f'DROP DATABASE IF EXISTS "{n}"')
        con.close()


# --- the data migrations: 75868b020152's trace analytics backfill, row for row -----------------

PRE_ANALYTICS = "b7e2c1a4d9f3"  # the revision before 75868b020152 (MLflow 3.16)
LONG_NAME = "n" * 5000
TRACES = [f"tr-{i}" for i in range(1, 7)]
TAGS = [("tr-1", "mlflow.traceName", "chat"), ("tr-2", "mlflow.traceName", LONG_NAME),
        ("tr-3", "kept.tag", "v"), ("tr-6", "mlflow.traceName", None)]
METADATA = [
    ("tr-1", "mlflow.trace.session", "s1"),
    ("tr-1", "mlflow.trace.tokenUsage",
     '{"input_tokens": 10, "output_tokens": "20", "total_tokens": 30.0, '
     '"cache_read_input_tokens": 1.5, "cache_creation_input_tokens": " 4 "}'),
    ("tr-1", "mlflow.trace.cost", '{"input_cost": 0.01, "output_cost": "0.02", "total_cost": true}'),
    ("tr-2", "mlflow.trace.tokenUsage", "not json"),
    ("tr-3", "mlflow.trace.session", "x" * 300),
    ("tr-3", "mlflow.user", "kept"),
    ("tr-4", "mlflow.trace.tokenUsage", '{"input_tokens": 1e3, "total_tokens": 99999999999999999999}'),
    ("tr-4", "mlflow.gateway.endpointId", "ep-1"),
    ("tr-5", "mlflow.trace.cost", "[1, 2]"),
    ("tr-6", "mlflow.trace.cost", '{"total_cost": "1e-3", "input_cost": "inf"}'),
]
TRACE_METRICS = [("tr-1", "input_tokens", 11.0), ("tr-2", "output_tokens", 7.5),
                 ("tr-5", "total_tokens", None), ("tr-5", "other_metric", 3.0)]
SPANS = [("tr-4", "s1", '{"mlflow.llm.model": "gpt-4o", "mlflow.llm.provider": "openai"}'),
         ("tr-4", "s2", None), ("tr-1", "s3", '{"mlflow.llm.model": null}'),
         ("tr-6", "s4", '{"mlflow.llm.model": "' + "m" * 600 + '"}')]
SPAN_METRICS = [("tr-4", "s1", "total_cost", 0.5), ("tr-4", "s1", "input_cost", 0.2),
                ("tr-4", "s2", "total_cost", 0.25), ("tr-1", "s3", "output_cost", 1.0),
                ("tr-1", "s3", "other", 2.0)]
ASSESSMENTS = [("a1", "tr-1", "0.75"), ("a2", "tr-1", "true"), ("a3", "tr-2", '"Yes"'),
               ("a4", "tr-3", '{"a": 1}'), ("a5", "tr-4", "no"), ("a6", "tr-5", "NaN"),
               ("a7", "tr-6", "12"), ("a8", "tr-6", '"maybe"')]


def fill_analytics(con, ph: str) -> None:
    cur = con.cursor()

    def ins(table, cols, rows):
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))})"
        for r in rows:
            cur.execute(sql, r)

    ins("experiments", ["experiment_id", "name", "artifact_location", "lifecycle_stage",
                        "creation_time", "last_update_time"],
        [(1, "analytics", "/tmp/a", "active", 1, 1)])
    ins("trace_info", ["request_id", "experiment_id", "timestamp_ms", "execution_time_ms",
                       "status"],
        [(t, 1, 1700000000000 + i, 5, "OK") for i, t in enumerate(TRACES)])
    ins("trace_tags", ["request_id", '"key"', "value"], TAGS)
    ins("trace_request_metadata", ["request_id", '"key"', "value"], METADATA)
    ins("trace_metrics", ["request_id", '"key"', "value"], TRACE_METRICS)
    ins("spans", ["trace_id", "experiment_id", "span_id", "name", "status",
                  "start_time_unix_nano", "end_time_unix_nano", "content",
                  "dimension_attributes"],
        [(t, 1, s, "span", "OK", 10, 20, "{}", d) for t, s, d in SPANS])
    ins("span_metrics", ["trace_id", "span_id", '"key"', "value"], SPAN_METRICS)
    ins("assessments", ["assessment_id", "trace_id", "name", "assessment_type", "value",
                        "created_timestamp", "last_updated_timestamp", "source_type", "valid"],
        [(a, t, "q", "feedback", v, 1, 1, "HUMAN", True) for a, t, v in ASSESSMENTS])
    con.commit()


def all_rows(con, tables) -> dict:
    cur = con.cursor()
    out = {}
    for t in tables:
        cur.execute(f"SELECT * FROM {t}")
        cols = [d[0] for d in cur.description]
        out[t] = (cols, sorted((repr(r) for r in cur.fetchall())))
    return out


def test_analytics_backfill_sqlite(tmp_path):
    build(["sqlite", str(tmp_path), PRE_ANALYTICS, PRE_ANALYTICS], tmp_path)
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    (tmp_path / f"{PRE_ANALYTICS}.db").rename(ours)
    con = sqlite3.connect(ours)
    fill_analytics(con, "?")
    con.close()
    theirs.write_bytes(ours.read_bytes())
    proc = rsflow("upgrade", f"sqlite:///{ours}")
    assert proc.returncode == 0, proc.stderr
    assert "trace analytics backfilled on 5 trace(s), 4 span(s), 8 assessment(s); 18 legacy" \
        in proc.stdout, proc.stdout
    reference(f"sqlite:///{theirs}", tmp_path)
    tables = [r[0] for r in sqlite3.connect(theirs).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")]
    a, b = sqlite3.connect(ours), sqlite3.connect(theirs)
    mine, ref = all_rows(a, tables), all_rows(b, tables)
    assert ref["trace_info"][1] and ref["assessments"][1]
    assert mine == ref


def test_analytics_backfill_postgres(tmp_path):
    admin = pg_admin_url()
    if not admin:
        pytest.skip("RSFLOW_TEST_PG_URL is not set")
    import psycopg2

    prefix = f"analytics_{os.getpid()}"
    con = psycopg2.connect(admin)
    con.autocommit = True
    names = [f"{prefix}_{PRE_ANALYTICS}", f"{prefix}_theirs"]
    try:
        build(["postgres", admin, prefix, PRE_ANALYTICS, PRE_ANALYTICS], tmp_path)
        ours = with_database(admin, names[0])
        c = psycopg2.connect(ours)
        fill_analytics(c, "%s")
        c.close()
        con.cursor().execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
        theirs = with_database(admin, names[1])
        proc = rsflow("upgrade", ours)
        assert proc.returncode == 0, proc.stderr
        reference(theirs, tmp_path)
        a, b = psycopg2.connect(ours), psycopg2.connect(theirs)
        cur = b.cursor()
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cur.fetchall()]
        mine, ref = all_rows(a, tables), all_rows(b, tables)
        a.close()
        b.close()
        assert ref["trace_info"][1] and ref["assessments"][1]
        assert mine == ref
    finally:
        for n in names:
            con.cursor().execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        con.close()
