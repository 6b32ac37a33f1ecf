"""`rsflow gc` (issue 19): permanent removal of deleted runs, logged models and experiments.

- The same data gc'd by `rsflow gc` and by the reference `mlflow gc` leaves the same rows in
  every table; rsflow also removes the artifacts of the deleted experiment's logged models
  (mlflow gc leaves them behind), and live artifacts stay byte-identical.
- `--dry-run` changes nothing and counts the bytes.
- A pass killed with SIGKILL half way leaves no row without its artifacts gone first, and the
  next pass finishes the job.
- Two servers on one database with `--gc-interval` delete each run exactly once.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from helpers import RSFLOW, child_env, mlflow_cli, rsflow_bin, start_server, unique

pytestmark = [pytest.mark.timeout(300)]

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


def rsflow_only():
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow gc is rsflow's own command")


def call(base: str, endpoint: str, body: dict | None = None, method: str = "POST") -> dict:
    url = f"{base}{API}/{endpoint}"
    if method == "GET":
        r = requests.get(url, params=body, timeout=60)
    elif method == "DELETE":
        r = requests.delete(url, json=body, timeout=60)
    else:
        r = requests.post(url, json=body or {}, timeout=60)
    assert r.status_code == 200, (endpoint, r.status_code, r.text)
    return r.json()


def put_artifact(base: str, path: str, data: bytes) -> None:
    r = requests.put(f"{base}{ART}/{path}", data=data, timeout=60)
    assert r.status_code == 200, (path, r.status_code, r.text)


def make_run(base: str, exp: str, n_files: int = 3, deleted: bool = False) -> str:
    run = call(base, "runs/create", {"experiment_id": exp})["run"]["info"]
    rid = run["run_id"]
    call(base, "runs/log-batch", {
        "run_id": rid,
        "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        "params": [{"key": "p", "value": "v"}],
        "tags": [{"key": "t", "value": "x"}],
    })
    prefix = run["artifact_uri"].split("mlflow-artifacts:/", 1)[1]
    for i in range(n_files):
        put_artifact(base, f"{prefix}/d/f{i}.bin", os.urandom(100 + i))
    if deleted:
        call(base, "runs/delete", {"run_id": rid})
    return rid


def make_model(base: str, exp: str, deleted: bool = False) -> str:
    m = call(base, "logged-models", {"experiment_id": exp, "name": unique("lm")})["model"]["info"]
    prefix = m["artifact_uri"].split("mlflow-artifacts:/", 1)[1]
    put_artifact(base, f"{prefix}/MLmodel", b"flavors: {}\n")
    if deleted:
        r = requests.delete(f"{base}{API}/logged-models/{m['model_id']}", timeout=60)
        assert r.status_code == 200, r.text
    return m["model_id"]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


TABLES = ["experiments", "experiment_tags", "runs", "metrics", "latest_metrics", "params", "tags",
          "logged_models", "logged_model_params", "logged_model_tags", "logged_model_metrics",
          "trace_info", "trace_tags", "spans"]


def table_rows(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        out = {}
        for t in TABLES:
            cols = [c[1] for c in con.execute(f"PRAGMA table_info({t})")]
            drop = {"last_update_time", "deleted_time", "last_updated_timestamp_ms"}
            keep = [c for c in cols if c not in drop]
            out[t] = sorted(con.execute(f"SELECT {', '.join(keep)} FROM {t}").fetchall(), key=repr)
        return out
    finally:
        con.close()


def run_gc(db: Path, art: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(rsflow_bin()), "gc", "--backend-store-uri", f"sqlite:///{db}",
         "--artifacts-destination", str(art), *extra],
        capture_output=True, text=True, timeout=timeout, env=child_env(),
    )


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A stopped server's database and artifacts: live and deleted runs, logged models, a
    deleted experiment with runs, a logged model and a trace."""
    rsflow_only()
    work = tmp_path_factory.mktemp("gc_src")
    srv = start_server(RSFLOW, work)
    base = srv.base_url
    try:
        live_exp = call(base, "experiments/create", {"name": unique("live")})["experiment_id"]
        dead_exp = call(base, "experiments/create", {"name": unique("dead")})["experiment_id"]
        ids = {
            "live_runs": [make_run(base, live_exp) for _ in range(3)],
            "deleted_runs": [make_run(base, live_exp, deleted=True) for _ in range(4)],
            "dead_exp_runs": [make_run(base, dead_exp) for _ in range(2)],
            "live_model": make_model(base, live_exp),
            "deleted_model": make_model(base, live_exp, deleted=True),
            "dead_exp_model": make_model(base, dead_exp),
            "live_exp": live_exp,
            "dead_exp": dead_exp,
        }
        call(base, "experiments/delete", {"experiment_id": dead_exp})
    finally:
        srv.stop()
    return work, ids


def copy_of(populated, tmp_path: Path, name: str) -> tuple[Path, Path]:
    work, _ = populated
    dst = tmp_path / name
    dst.mkdir()
    for suffix in ("", "-wal", "-shm"):  # the server was killed: its WAL holds the last writes
        if (work / f"mlflow.db{suffix}").exists():
            shutil.copy(work / f"mlflow.db{suffix}", dst / f"mlflow.db{suffix}")
    shutil.copytree(work / "mlartifacts", dst / "mlartifacts")
    return dst / "mlflow.db", dst / "mlartifacts"


def test_gc_matches_mlflow_gc_and_keeps_live_bytes(populated, tmp_path):
    _, ids = populated
    db, art = copy_of(populated, tmp_path, "rs")
    before = tree(art)

    dry = run_gc(db, art, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tree(art) == before, "a dry run changed artifacts"
    assert "Dry run: 6 runs, 2 logged models, 1 experiments" in dry.stdout, dry.stdout
    # 6 runs with files of 100, 101, 102 bytes plus two 12-byte MLmodel files.
    assert "freeing 1842 artifact bytes" in dry.stdout, dry.stdout

    res = run_gc(db, art)
    assert res.returncode == 0, res.stderr
    for rid in ids["deleted_runs"] + ids["dead_exp_runs"]:
        assert f"Run with ID {rid} has been permanently deleted." in res.stdout
    after = tree(art)
    live_exp = ids["live_exp"]
    gone_prefixes = [f"{live_exp}/{r}/" for r in ids["deleted_runs"]] + [
        f"{ids['dead_exp']}/"]
    gone_prefixes.append(f"{live_exp}/models/{ids['deleted_model']}/")
    expected = {k: v for k, v in before.items() if not any(k.startswith(p) for p in gone_prefixes)}
    assert after == expected, "live artifacts changed or deleted ones stayed"
    assert any(k.startswith(f"{live_exp}/models/{ids['live_model']}/") for k in after)

    # The reference on the same data: mlflow gc deletes artifacts through a server.
    ref_db, ref_art = copy_of(populated, tmp_path, "ref")
    srv = start_server(RSFLOW, tmp_path / "ref_srv", backend=f"sqlite:///{ref_db}",
                       artifacts_destination=ref_art)
    try:
        ref = subprocess.run(
            [str(mlflow_cli()), "gc", "--backend-store-uri", f"sqlite:///{ref_db}"],
            capture_output=True, text=True, timeout=180,
            env=child_env(MLFLOW_TRACKING_URI=srv.base_url),
        )
    finally:
        srv.stop()
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert table_rows(db) == table_rows(ref_db)
    ref_tree = tree(ref_art)
    # mlflow gc leaves the deleted experiment's logged-model artifacts behind; rsflow does not.
    leftover = {k for k in ref_tree if k not in after}
    assert leftover == {f"{ids['dead_exp']}/models/{ids['dead_exp_model']}/artifacts/MLmodel"}


def test_gc_refuses_live_ids_and_changes_nothing(populated, tmp_path):
    _, ids = populated
    db, art = copy_of(populated, tmp_path, "ids")
    before_rows, before_tree = table_rows(db), tree(art)
    res = run_gc(db, art, "--run-ids", f"{ids['deleted_runs'][0]},{ids['live_runs'][0]}")
    assert res.returncode != 0
    assert f"Run {ids['live_runs'][0]} is not in `deleted` lifecycle stage" in res.stderr
    res = run_gc(db, art, "--experiment-ids", ids["live_exp"])
    assert res.returncode != 0 and "not in the deleted lifecycle stage" in res.stderr
    res = run_gc(db, art, "--older-than", "1x")
    assert res.returncode != 0 and "Could not parse any time information" in res.stderr
    res = run_gc(db, art, "--older-than", "1d")
    assert res.returncode == 0 and "permanently deleted" not in res.stdout
    assert table_rows(db) == before_rows and tree(art) == before_tree

    one = ids["deleted_runs"][0]
    res = run_gc(db, art, "--run-ids", one, "--logged-model-ids", ids["deleted_model"])
    assert res.returncode == 0, res.stderr
    # As in mlflow gc, deleted experiments go whenever --experiment-ids is not given.
    assert res.stdout.count("has been permanently deleted") == 6, res.stdout
    assert f"Logged model with ID {ids['deleted_model']} has" in res.stdout
    runs = {r[0] for r in sqlite3.connect(db).execute("SELECT run_uuid FROM runs")}
    assert one not in runs and set(ids["deleted_runs"][1:]) <= runs


def test_gc_killed_half_way_finishes_on_the_next_pass(tmp_path):
    rsflow_only()
    srv = start_server(RSFLOW, tmp_path / "srv")
    base = srv.base_url
    exp = call(base, "experiments/create", {"name": unique("kill")})["experiment_id"]
    live = [make_run(base, exp, n_files=2) for _ in range(3)]
    dead = [make_run(base, exp, n_files=2, deleted=True) for _ in range(120)]
    db, art = srv.db_path, srv.artifacts_dir
    live_before = {k: v for k, v in tree(art).items() if k.split("/")[1] in live}

    proc = subprocess.Popen(
        [str(rsflow_bin()), "gc", "--backend-store-uri", f"sqlite:///{db}",
         "--artifacts-destination", str(art), "--page-size", "5", "--concurrency", "2"],
        stdout=subprocess.PIPE, text=True, env=child_env(), start_new_session=True)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        seen += "permanently deleted" in line
        if seen >= 30:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "gc finished before it could be killed"

    rows = {r[0] for r in sqlite3.connect(db).execute("SELECT run_uuid FROM runs")}
    remaining = [r for r in dead if r in rows]
    assert 0 < len(remaining) < len(dead)
    # No run lost its row while keeping artifacts.
    files_of = lambda rid: [k for k in tree(art) if k.split("/")[1] == rid]  # noqa: E731
    assert all(not files_of(r) for r in dead if r not in rows)
    # The server still answers for the rows gc has not reached.
    for rid in remaining[:3]:
        assert call(base, "runs/get", {"run_id": rid}, method="GET")["run"]["info"]["lifecycle_stage"] == "deleted"

    res = run_gc(db, art)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("has been permanently deleted") == len(remaining)
    rows = {r[0] for r in sqlite3.connect(db).execute("SELECT run_uuid FROM runs")}
    assert rows & set(dead) == set()
    assert set(live) <= rows
    assert {k: v for k, v in tree(art).items() if k.split("/")[1] in live} == live_before
    assert all(not files_of(r) for r in dead)
    srv.stop()


def test_scheduled_gc_with_two_replicas_deletes_each_run_once(tmp_path):
    rsflow_only()
    work = tmp_path / "a"
    a = start_server(RSFLOW, work, extra_args=["--gc-interval", "0.5", "--gc-older-than", "0s"])
    b = start_server(RSFLOW, tmp_path / "b", backend=f"sqlite:///{a.db_path}",
                     artifacts_destination=a.artifacts_dir,
                     extra_args=["--gc-interval", "0.5", "--gc-older-than", "0s"])
    try:
        exp = call(a.base_url, "experiments/create", {"name": unique("sched")})["experiment_id"]
        live = make_run(b.base_url, exp)
        dead = [make_run(a.base_url if i % 2 else b.base_url, exp, n_files=1, deleted=True)
                for i in range(40)]
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = {r[0] for r in sqlite3.connect(a.db_path).execute("SELECT run_uuid FROM runs")}
            if not rows & set(dead):
                break
            time.sleep(0.3)
        assert not rows & set(dead), "scheduled gc did not remove the deleted runs"
        assert live in rows
        time.sleep(1.5)  # a few more passes on both replicas: nothing left to delete twice
        logs = a.log_text() + b.log_text()
        for rid in dead:
            assert logs.count(f"id={rid}") == 1, rid
        assert "gc pass done" in a.log_text() and "gc pass done" in b.log_text()
        files = tree(a.artifacts_dir)
        assert not [k for k in files if k.split("/")[1] in dead]
        assert [k for k in files if k.split("/")[1] == live]
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("name", ["s3s", "azurite", "gcs", "sftp"])
def test_gc_on_remote_destinations(name, tmp_path):
    """The same gc with the proxy's destination on each storage backend: the deleted runs'
    objects go (batch deletes where the store has them), the live run's stay."""
    rsflow_only()
    from test_storage_flows import _backend

    backend = _backend(name)
    prefix = unique("gc")
    dest = backend.uri(prefix)
    env = backend.server_env()
    srv = start_server(RSFLOW, tmp_path / "srv", artifacts_destination=None,
                       extra_args=["--artifacts-destination", dest], env=env)
    try:
        base = srv.base_url
        exp = call(base, "experiments/create", {"name": unique("gcr")})["experiment_id"]
        live = make_run(base, exp, n_files=2)
        dead = [make_run(base, exp, n_files=3, deleted=True) for _ in range(5)]
        keys = backend.keys(prefix)
        assert len(keys) == 2 + 15
        res = subprocess.run(
            [str(rsflow_bin()), "gc", "--backend-store-uri", f"sqlite:///{srv.db_path}",
             "--artifacts-destination", dest],
            capture_output=True, text=True, timeout=120, env=child_env(**env))
        assert res.returncode == 0, res.stderr
        assert res.stdout.count("has been permanently deleted") == 5
        left = backend.keys(prefix)
        assert left == {k for k in keys if k.split("/")[1] == live}
        assert not [k for k in left if k.split("/")[1] in dead]
    finally:
        srv.stop()
