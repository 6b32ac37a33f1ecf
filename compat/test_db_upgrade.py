"""`rsflow db upgrade` against MLflow 3.18.0's own migration (issue 18).

A database made and filled by mlflow 3.17.2 (`mlflow server` and the client: experiments,
runs, metrics, params, tags, datasets, an artifact; SqlAlchemyStore: issues with categories,
the data 3.18.0's migration 8b6ad64cb8f5 rewrites) is copied twice; rsflow upgrades one copy
natively, `mlflow db upgrade` of 3.18.0 the other. Then:
  - both copies hold the same schema (sqlite_master text, the PostgreSQL catalogs, or MySQL's
    SHOW CREATE TABLE and triggers) and the same rows in every table, issue_categories included;
  - `mlflow server` 3.18.0 opens rsflow's copy without migrating and answers what 3.17.2
    answered before the upgrade (the client-visible snapshot of test_db_interop);
  - 3.18.0's SqlAlchemyStore reads the issues back, and finds them by category through the
    new issue_categories table;
  - `rsflow db check` calls rsflow's copy servable and drift-free.

On SQLite, PostgreSQL (RSFLOW_TEST_PG_URL) and MariaDB (RSFLOW_TEST_MYSQL_URL; the copies made
with mariadb-dump). Needs both clients: it runs in the 3.17.2 run of the suite (its venv fills the database) and
takes MLflow 3.18.0 from RSFLOW_MLFLOW318_PY (default .venv-mlflow318/bin/python, made by the
test command). With COMPAT_TARGET=mlflow there is nothing of the target's to test: skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import urllib.parse
import uuid
from pathlib import Path

import mlflow
import pytest

from helpers import (
    MLFLOW,
    RSFLOW,
    REPO,
    child_env,
    create_pg_database,
    pg_admin_url,
    rsflow_bin,
    start_server,
    target_kind,
)
from test_db_interop import MIGRATION_MARKERS, _check_snapshot, _pg_schema, fill, snapshot

HEAD_3172 = "dc11669786a5"
HEAD_318 = "f4a9b2c7d1e6"
READER = Path(__file__).parent / "flows" / "mlflow318_read_issues.py"

pytestmark = [
    pytest.mark.skipif(target_kind() != RSFLOW, reason="tests rsflow's own upgrade command"),
    pytest.mark.skipif(not mlflow.__version__.startswith("3.17."),
                       reason="fills the database with mlflow 3.17.x: runs in the 3.17.2 run"),
]

# (name, categories as 3.17.2 stores them): duplicates after strip/lower, unicode, none, empty.
ISSUES = [
    ("hallucination", ["Quality", " quality ", "Grounding"]),
    ("slow answers", ["Latency", "LATENCY", "\u00c9t\u00e9 \u2713"]),
    ("no categories", None),
    ("empty categories", []),
]


def _mlflow318_python() -> Path:
    py = Path(os.environ.get("RSFLOW_MLFLOW318_PY") or REPO / ".venv-mlflow318/bin/python")
    assert py.exists(), (
        f"MLflow 3.18.0 venv missing at {py}: the test command creates it (scripts/test.sh), or run "
        "RSFLOW_VENV=.venv-mlflow318 RSFLOW_REQ=compat/requirements-mlflow318.txt bash scripts/venv.sh")
    return py


def _mlflow318(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(_mlflow318_python().parent / "mlflow"), *args], cwd=cwd,
                          env=child_env(), capture_output=True, text=True, timeout=600)


def _rsflow(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(rsflow_bin()), *args], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=300)


def _add_issues(uri: str, exp_id: str, run_id: str, root: Path) -> dict[str, str]:
    """Issues written by 3.17.2's own store (the server has no issue route the client uses)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, str(root))
    try:
        return {name: store.create_issue(exp_id, name, f"about {name}", source_run_id=run_id,
                                         categories=cats).issue_id
                for name, cats in ISSUES}
    finally:
        store.engine.dispose()


def _sqlite_rows(db: Path) -> dict:
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(repr(row) for row in con.execute(f'SELECT * FROM "{t}"')) for t in tables}


def _sqlite_schema(db: Path) -> list:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()


def _pg_rows(url: str) -> dict:
    import psycopg2

    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = current_schema() ORDER BY 1")
            tables = [r[0] for r in cur.fetchall()]
            out = {}
            for t in tables:
                cur.execute(f'SELECT * FROM "{t}"')
                out[t] = sorted(repr(row) for row in cur.fetchall())
            return out
    finally:
        con.close()


def _pg_clone(url: str, prefix: str) -> str:
    """A copy of the database at `url` (CREATE DATABASE ... TEMPLATE)."""
    import psycopg2

    from helpers import _PG_DATABASES, with_database

    admin = pg_admin_url(required=True)
    name = f"{prefix}_{os.urandom(6).hex()}"
    con = psycopg2.connect(admin)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
    finally:
        con.close()
    _PG_DATABASES.append((admin, name))
    return with_database(admin, name)


MYSQL_ADMIN = os.environ.get("RSFLOW_TEST_MYSQL_URL", "").strip()
_MYSQL_DATABASES: list[str] = []


def _mysql_connect(database: str | None = None):
    import pymysql

    u = urllib.parse.urlsplit(MYSQL_ADMIN)
    return pymysql.connect(host=u.hostname, port=u.port or 3306,
                           user=urllib.parse.unquote(u.username or ""),
                           password=urllib.parse.unquote(u.password or ""),
                           database=database, autocommit=True)


def _mysql_create(prefix: str) -> str:
    """A new empty database on the MariaDB server; its URL in rsflow's `mysql://` form."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    con = _mysql_connect()
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    con.close()
    _MYSQL_DATABASES.append(name)
    return MYSQL_ADMIN.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def _drop_mysql_databases():
    yield
    if MYSQL_ADMIN and _MYSQL_DATABASES:
        con = _mysql_connect()
        with con.cursor() as cur:
            while _MYSQL_DATABASES:
                cur.execute(f"DROP DATABASE IF EXISTS {_MYSQL_DATABASES.pop()}")
        con.close()


def _pymysql(url: str) -> str:
    return url.replace("mysql://", "mysql+pymysql://", 1)


def _mysql_clone(url: str, prefix: str) -> str:
    """A copy of the database at `url` (mariadb-dump piped into the client)."""
    dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert dump and client, "mariadb-dump and mariadb (Debian's mariadb-client) are needed"
    u = urllib.parse.urlsplit(MYSQL_ADMIN)
    conn = ["--no-defaults", "--protocol=tcp", f"--host={u.hostname}", f"--port={u.port or 3306}",
            f"--user={urllib.parse.unquote(u.username or '')}"]
    env = dict(os.environ, MYSQL_PWD=urllib.parse.unquote(u.password or ""))
    copy = _mysql_create(prefix)
    out = subprocess.run([dump, *conn, "--single-transaction", "--triggers", "--routines",
                          url.rsplit("/", 1)[1]], env=env, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    load = subprocess.run([client, *conn, copy.rsplit("/", 1)[1]], input=out.stdout, env=env,
                          capture_output=True, timeout=300)
    assert load.returncode == 0, load.stderr.decode()[-2000:]
    return copy


def _mysql_schema(url: str) -> dict:
    """SHOW CREATE TABLE of every table (AUTO_INCREMENT counters aside) and every trigger."""
    import re

    con = _mysql_connect(url.rsplit("/", 1)[1])
    try:
        with con.cursor() as cur:
            cur.execute("SHOW FULL TABLES")
            out = {}
            for table, _kind in cur.fetchall():
                cur.execute(f"SHOW CREATE TABLE `{table}`")
                out[table] = re.sub(r" AUTO_INCREMENT=\d+", "", cur.fetchone()[1])
            cur.execute("SELECT trigger_name, event_manipulation, event_object_table, "
                        "action_timing, action_statement FROM information_schema.triggers "
                        "WHERE trigger_schema = DATABASE() ORDER BY 1")
            out["triggers"] = cur.fetchall()
            return out
    finally:
        con.close()


def _mysql_rows(url: str) -> dict:
    con = _mysql_connect(url.rsplit("/", 1)[1])
    try:
        with con.cursor() as cur:
            cur.execute("SHOW TABLES")
            out = {}
            for (t,) in cur.fetchall():
                cur.execute(f"SELECT * FROM `{t}`")
                out[t] = sorted(repr(row) for row in cur.fetchall())
            return out
    finally:
        con.close()


def _read_issues_318(uri: str, exp_id: str, cwd: Path) -> dict:
    proc = subprocess.run([str(_mlflow318_python()), str(READER), uri, exp_id], cwd=cwd,
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _upgrade_flow(backend: str, servers, bind_client, tmp_path, monkeypatch):
    workdir = servers.workdir("upgrade")
    if backend == "postgres":
        uri = create_pg_database("upgrade_src")
    elif backend == "mysql":
        uri = _pymysql(_mysql_create("upgrade_src"))
    else:
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
    # 1. mlflow 3.17.2 creates and fills it.
    first = start_server(MLFLOW, workdir, backend=uri)
    try:
        client = bind_client(first)
        ids = fill(client, tmp_path)
        before = snapshot(client, ids, tmp_path / "dl1")
        _check_snapshot(json.loads(before), ids)
    finally:
        first.stop()
    issue_ids = _add_issues(uri, ids["a"], ids["r1"], workdir / "mlartifacts")

    # 2. Two copies: one for rsflow, one for mlflow 3.18.0.
    # ours_ml: rsflow's copy as an MLflow URI (PyMySQL's scheme on MySQL).
    if backend == "postgres":
        ours, theirs = _pg_clone(uri, "upgrade_rsflow"), _pg_clone(uri, "upgrade_mlflow")
        ours_arg, theirs_arg = ours, theirs.replace("postgresql://", "postgresql+psycopg2://", 1)
        ours_ml = ours_arg
    elif backend == "mysql":
        src = uri.replace("mysql+pymysql://", "mysql://", 1)
        ours, theirs = _mysql_clone(src, "upgrade_rsflow"), _mysql_clone(src, "upgrade_mlflow")
        ours_arg, theirs_arg, ours_ml = ours, _pymysql(theirs), _pymysql(ours)
    else:
        src = workdir / "mlflow.db"
        shutil.copy(src, workdir / "ours.db")
        shutil.copy(src, workdir / "theirs.db")
        ours, theirs = workdir / "ours.db", workdir / "theirs.db"
        ours_arg, theirs_arg = f"sqlite:///{ours}", f"sqlite:///{theirs}"
        ours_ml = ours_arg

    dry = _rsflow(["db", "upgrade", ours_arg, "--dry-run"], workdir)
    assert dry.returncode == 0, dry.stderr
    assert f"would upgrade {HEAD_3172} -> {HEAD_318} in 3 step(s)" in dry.stdout, dry.stdout
    assert "CREATE TABLE skills" in dry.stdout and "issue_categories" in dry.stdout
    done = _rsflow(["db", "upgrade", ours_arg], workdir)
    assert done.returncode == 0, done.stderr
    # Two issues with categories, two distinct normalised categories each.
    assert "last_seen_timestamp set on 4 issue(s), 4 issue_categories row(s) written" in done.stdout, \
        done.stdout
    again = _rsflow(["db", "upgrade", ours_arg], workdir)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout + again.stderr
    ref = _mlflow318(["db", "upgrade", theirs_arg], workdir)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # 3. Same schema, same rows.
    if backend == "postgres":
        got_schema, want_schema = _pg_schema(ours), _pg_schema(theirs)
        got_rows, want_rows = _pg_rows(ours), _pg_rows(theirs)
    elif backend == "mysql":
        got_schema, want_schema = _mysql_schema(ours), _mysql_schema(theirs)
        got_rows, want_rows = _mysql_rows(ours), _mysql_rows(theirs)
    else:
        got_schema, want_schema = _sqlite_schema(ours), _sqlite_schema(theirs)
        got_rows, want_rows = _sqlite_rows(ours), _sqlite_rows(theirs)
    assert got_schema == want_schema
    assert set(got_rows) == set(want_rows)
    for table in want_rows:
        assert got_rows[table] == want_rows[table], f"rows of {table} differ"
    assert len(got_rows["issue_categories"]) == 4
    assert got_rows["alembic_version"] == [repr((HEAD_318,))]

    check = _rsflow(["db", "check", ours_arg], workdir)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "drift: none" in check.stdout, check.stdout

    # 4. mlflow server 3.18.0 serves rsflow's copy without migrating, as 3.17.2 served the original.
    monkeypatch.setenv("MLFLOW_REF_BIN", str(_mlflow318_python().parent / "mlflow"))
    second = start_server(MLFLOW, workdir, backend=ours_ml)
    try:
        log = second.log_text()
        for marker in MIGRATION_MARKERS:
            assert marker not in log, f"mlflow 3.18.0 migrated rsflow's upgrade:\n{log[-3000:]}"
        assert second.get("/version").text.strip() == "3.18.0"
        after = snapshot(bind_client(second), ids, tmp_path / "dl2")
    finally:
        second.stop()
    assert after == before

    # 5. 3.18.0's store reads the issues, and searches them through issue_categories.
    got = _read_issues_318(ours_ml, ids["a"], workdir)
    assert got["alembic"] == HEAD_318
    issues = got["issues"]
    assert issues[issue_ids["hallucination"]]["categories"] == ["Quality", " quality ", "Grounding"]
    for iid in issue_ids.values():
        assert issues[iid]["last_seen_timestamp"] == issues[iid]["created_timestamp"]
    assert got["by_category"]["quality"] == [issue_ids["hallucination"]]
    assert got["by_category"]["latency"] == [issue_ids["slow answers"]]
    assert got["by_category"]["\u00e9t\u00e9 \u2713"] == [issue_ids["slow answers"]]
    assert got["by_category"]["nothing"] == []
    assert got == _read_issues_318(theirs_arg, ids["a"], workdir)


def test_rsflow_upgrade_of_mlflow_3172_sqlite_db(servers, bind_client, tmp_path, monkeypatch):
    _upgrade_flow("sqlite", servers, bind_client, tmp_path, monkeypatch)


@pytest.mark.skipif(pg_admin_url() is None, reason="RSFLOW_TEST_PG_URL is not set "
                    "(bash scripts/postgres.sh start; eval \"$(bash scripts/postgres.sh env)\")")
def test_rsflow_upgrade_of_mlflow_3172_pg_db(servers, bind_client, tmp_path, monkeypatch):
    _upgrade_flow("postgres", servers, bind_client, tmp_path, monkeypatch)


@pytest.mark.skipif(not MYSQL_ADMIN, reason="RSFLOW_TEST_MYSQL_URL is not set "
                    "(bash scripts/mariadb.sh start; eval \"$(bash scripts/mariadb.sh env)\")")
def test_rsflow_upgrade_of_mlflow_3172_mysql_db(servers, bind_client, tmp_path, monkeypatch,
                                                _drop_mysql_databases):
    _upgrade_flow("mysql", servers, bind_client, tmp_path, monkeypatch)


def test_server_never_migrates_and_names_revisions(tmp_path):
    """`rsflow server` serves a 3.17.2-head database as it is, and refuses an older MLflow
    revision naming the one found and the ones it serves; `rsflow db check` says why."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    db = tmp_path / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", str(tmp_path / "mlartifacts"))
    store.engine.dispose()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE alembic_version SET version_num='75868b020152'")
    from helpers import run_server_expect_exit

    rc, out = run_server_expect_exit(RSFLOW, tmp_path, backend=f"sqlite:///{db}", timeout=60)
    assert rc not in (None, 0), out[-3000:]
    for rev in ("75868b020152", HEAD_3172, "e7d1f4b2a9c6", "8b6ad64cb8f5", HEAD_318):
        assert rev in out, out[-3000:]
    check = _rsflow(["db", "check", f"sqlite:///{db}"], tmp_path)
    assert check.returncode == 1
    assert "an older MLflow revision" in check.stdout and "servable: no" in check.stdout, check.stdout
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [("75868b020152",)]
