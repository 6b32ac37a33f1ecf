"""`rsflow db upgrade` of databases that older MLflow releases made and filled (issue 18).

For each release line in RSFLOW_UPGRADE_RELEASES ("2.22=/path/to/python 2.9=..."; built and
cached by scripts/upgrade-matrix.sh, which runs this file), on SQLite and (with
RSFLOW_TEST_PG_URL) PostgreSQL:
  1. that release's own client and SqlAlchemyStore create the database (`mlflow` creates the
     schema at its head) and fill it: experiments, runs, params, metric histories, tags,
     registered models, versions, aliases, traces where the release has them; it reads all of
     it back (the snapshot);
  2. the database is copied; `rsflow db upgrade` takes one copy to 3.18.0's head (it must report
     no drift), `mlflow db upgrade` of 3.18.0 the other;
  3. both copies hold the same schema and the same rows in every table;
  4. `mlflow server` 3.18.0 opens rsflow's copy without migrating, and a client reading through
     it gets the snapshot of step 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import MLFLOW, REPO, RSFLOW, child_env, pg_admin_url, start_server, target_kind, \
    with_database
from test_db_interop import MIGRATION_MARKERS
from test_db_upgrade import _pg_rows, _sqlite_rows
from test_db_upgrade_chain import HEAD, pg_schema, reference, rsflow, sqlite_schema

FILL = Path(__file__).parent / "flows" / "fill_release.py"

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="tests rsflow's own upgrade")


def releases() -> list[tuple[str, str]]:
    spec = os.environ.get("RSFLOW_UPGRADE_RELEASES", "").split()
    return [tuple(s.split("=", 1)) for s in spec]


def _py318() -> Path:
    return Path(os.environ.get("RSFLOW_MLFLOW318_PY") or REPO / ".venv-mlflow318/bin/python")


def run_fill(python: str, args: list[str], cwd: Path) -> dict:
    proc = subprocess.run([python, str(FILL), *args], cwd=cwd, capture_output=True, text=True,
                          env=child_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


CASES = [(line, py, backend) for line, py in releases() for backend in ("sqlite", "postgres")]


@pytest.mark.skipif(not CASES, reason="RSFLOW_UPGRADE_RELEASES is empty "
                    "(bash scripts/upgrade-matrix.sh 2.22 builds and runs it)")
@pytest.mark.parametrize("line,python,backend", CASES or [("-", "-", "-")],
                         ids=[f"{c[0]}-{c[2]}" for c in CASES] or ["none"])
def test_release_database_upgrades(line, python, backend, tmp_path, monkeypatch):
    import psycopg2

    art = tmp_path / "art"
    names = []
    admin = pg_admin_url()
    if backend == "postgres":
        if not admin:
            pytest.skip("RSFLOW_TEST_PG_URL is not set")
        prefix = f"rel_{line.replace('.', '_')}_{os.getpid()}"
        names = [f"{prefix}_ours", f"{prefix}_theirs"]
        con = psycopg2.connect(admin)
        con.autocommit = True
        con.cursor().execute(f'CREATE DATABASE "{names[0]}"')
        ours = with_database(admin, names[0])
        theirs = with_database(admin, names[1])
        fill_uri = ours.replace("postgresql://", "postgresql+psycopg2://", 1)
    else:
        ours_db, theirs_db = tmp_path / "ours.db", tmp_path / "theirs.db"
        ours, theirs = f"sqlite:///{ours_db}", f"sqlite:///{theirs_db}"
        fill_uri = ours
    try:
        before = run_fill(python, ["fill", fill_uri, str(art)], tmp_path)
        assert before["version"].startswith(line), before["version"]
        major_minor = tuple(int(x) for x in before["version"].split(".")[:2])
        assert bool(before["snapshot"]["traces"]) == (major_minor >= (2, 14)), before["snapshot"]
        snap = tmp_path / "before.json"
        snap.write_text(json.dumps(before))
        if backend == "postgres":
            con.cursor().execute(f'CREATE DATABASE "{names[1]}" TEMPLATE "{names[0]}"')
        else:
            shutil.copyfile(ours_db, theirs_db)

        dry = rsflow("upgrade", ours, "--dry-run")
        assert dry.returncode == 0 and "would upgrade" in dry.stdout, dry.stderr
        done = rsflow("upgrade", ours)
        assert done.returncode == 0, done.stderr
        assert f"-> {HEAD}" in done.stdout and "(no drift)" in done.stdout, done.stdout
        reference(theirs, tmp_path)

        if backend == "postgres":
            assert pg_schema(ours) == pg_schema(theirs)
            got, want = _pg_rows(ours), _pg_rows(theirs)
        else:
            assert sqlite_schema(ours_db) == sqlite_schema(theirs_db)
            got, want = _sqlite_rows(ours_db), _sqlite_rows(theirs_db)
        assert set(got) == set(want)
        for table in want:
            assert got[table] == want[table], f"rows of {table} differ"
        assert len(want["metrics"]) == 9 * 10 and len(want["model_versions"]) == 2

        monkeypatch.setenv("MLFLOW_REF_BIN", str(_py318().parent / "mlflow"))
        server = start_server(MLFLOW, tmp_path / "srv", backend=ours)
        try:
            log = server.log_text()
            for marker in MIGRATION_MARKERS:
                assert marker not in log, f"mlflow 3.18.0 migrated rsflow's upgrade:\n{log[-3000:]}"
            after = run_fill(str(_py318()), ["read", server.base_url, str(snap)], tmp_path)
        finally:
            server.stop()
        assert after["version"] == "3.18.0"
        for key in before["snapshot"]:
            assert after["snapshot"][key] == before["snapshot"][key], key
    finally:
        if names:
            for n in names:
                con.cursor().execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
            con.close()
