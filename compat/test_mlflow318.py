"""What MLflow 3.18.0 changed on the wire, against `mlflow server` 3.18.0 (issue 18).

  - server-info: the target answers the keys 3.18.0 answers, except the skill-registry upload
    limits (skill_content_max_size/_files) where the target has no skill registry;
  - `--artifacts-presigned-only` (new in 3.18.0, also MLFLOW_ARTIFACTS_PRESIGNED_ONLY): MLflow
    then refuses proxied run/model artifact transfers, and refuses to start on a destination
    without presigned URLs (a local one); rsflow serves no presigned artifact URLs, so it refuses
    to start with it on every destination, naming the flag, rather than ignore it;
  - the skill registry routes (/api/3.0/mlflow/skills...): a JSON ENDPOINT_NOT_FOUND where the
    target does not serve them.

The reference is always MLflow 3.18.0 (RSFLOW_MLFLOW318_PY, default .venv-mlflow318), whichever
client runs the suite; with COMPAT_TARGET=mlflow the target is the suite's own `mlflow server`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import MLFLOW, REPO, RSFLOW, run_server_expect_exit, start_server, target_kind

SKILL_KEYS = {"skill_content_max_size", "skill_content_max_files"}


def _mlflow318_cli() -> Path:
    py = Path(os.environ.get("RSFLOW_MLFLOW318_PY") or REPO / ".venv-mlflow318/bin/python")
    assert py.exists(), (
        f"MLflow 3.18.0 venv missing at {py}: the test command creates it (scripts/test.sh), or run "
        "RSFLOW_VENV=.venv-mlflow318 RSFLOW_REQ=compat/requirements-mlflow318.txt bash scripts/venv.sh")
    return py.parent / "mlflow"


def _start_ref318(workdir: Path, **kw):
    old = os.environ.get("MLFLOW_REF_BIN")
    os.environ["MLFLOW_REF_BIN"] = str(_mlflow318_cli())
    try:
        return start_server(MLFLOW, workdir, **kw)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_REF_BIN")
        else:
            os.environ["MLFLOW_REF_BIN"] = old


@pytest.fixture(scope="module")
def ref318(module_servers):
    server = _start_ref318(module_servers.workdir("ref318"))
    assert server.get("/version").text.strip() == "3.18.0"
    yield server
    server.stop()


def test_server_info_keys_as_318(ref318, flow_server):
    want = ref318.get("/api/3.0/mlflow/server-info").json()
    got = flow_server.get("/api/3.0/mlflow/server-info").json()
    expected = set(want) - (SKILL_KEYS if target_kind() == RSFLOW else set())
    assert set(got) >= expected, f"missing: {expected - set(got)}"
    if target_kind() == RSFLOW:
        assert not SKILL_KEYS & set(got), "rsflow has no skill registry to advertise limits for"
    for key in ("store_type", "workspaces_enabled", "trace_archival_enabled",
                "artifact_serving_enabled", "tracking_auth", "artifacts_presigned_only"):
        assert got[key] == want[key], key
    assert got["artifacts_presigned_only"] is False


def test_artifacts_presigned_only(tmp_path):
    """On a local destination MLflow 3.18.0 refuses the flag too (it needs presigned uploads and
    downloads); rsflow refuses it on every destination, by flag or environment variable."""
    old = os.environ.get("MLFLOW_REF_BIN")
    os.environ["MLFLOW_REF_BIN"] = str(_mlflow318_cli())
    try:
        rc, out = _expect_exit(MLFLOW, tmp_path / "ref", ["--artifacts-presigned-only"], None)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_REF_BIN")
        else:
            os.environ["MLFLOW_REF_BIN"] = old
    assert rc not in (None, 0), f"mlflow 3.18.0 started:\n{out[-2000:]}"
    assert "--artifacts-presigned-only requires an artifacts destination" in out, out[-2000:]
    for label, env in (("flag", None), ("env", {"MLFLOW_ARTIFACTS_PRESIGNED_ONLY": "true"})):
        extra = ["--artifacts-presigned-only"] if env is None else []
        rc, out = _expect_exit(target_kind(), tmp_path / label, extra, env)
        assert rc not in (None, 0), f"{label}: the target started:\n{out[-2000:]}"
        assert "--artifacts-presigned-only" in out, out[-2000:]


def _expect_exit(kind: str, workdir: Path, extra: list[str], env: dict | None):
    import subprocess

    from helpers import _LIVE, _kill_group, build_server_args, child_env, free_port

    workdir.mkdir(parents=True, exist_ok=True)
    argv, _, _ = build_server_args(kind, workdir, free_port(), backend="sqlite", extra_args=extra)
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=child_env(**(env or {})),
                            start_new_session=True)
    _LIVE.add(proc)
    try:
        out, _ = proc.communicate(timeout=120)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        _kill_group(proc, grace=2.0)


def test_skill_registry_routes(ref318, flow_server):
    assert ref318.get("/api/3.0/mlflow/skills").status_code == 200
    r = flow_server.get("/api/3.0/mlflow/skills")
    if target_kind() == RSFLOW:
        assert r.status_code == 404 and r.json()["error_code"] == "ENDPOINT_NOT_FOUND", r.text
    else:
        assert r.status_code == 200


def test_unknown_revision_refusal_names_both_heads(tmp_path):
    """rsflow's refusal of an unknown revision names the 3.18.0 revisions it serves too."""
    if target_kind() != RSFLOW:
        pytest.skip("rsflow's own message")
    import sqlite3

    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        con.execute("INSERT INTO alembic_version VALUES ('0123456789ab')")
    rc, out = run_server_expect_exit(RSFLOW, tmp_path, backend=f"sqlite:///{db}", timeout=30)
    assert rc not in (None, 0)
    for rev in ("0123456789ab", "dc11669786a5", "f4a9b2c7d1e6"):
        assert rev in out, out[-2000:]


def test_ui_telemetry_as_318_with_telemetry_off(ref318, flow_server):
    """3.18.0's UI asks /ajax-api/3.0/mlflow/ui-telemetry for its config and posts records there;
    rsflow collects none and answers as MLflow does with telemetry disabled (as the suite runs it)."""
    path = "/ajax-api/3.0/mlflow/ui-telemetry"
    for server in (ref318, flow_server):
        got = server.get(path)
        assert got.status_code == 200, got.text
        assert got.json() == {"disable_ui_telemetry": True, "disable_ui_events": [],
                              "ui_rollout_percentage": 0}
        posted = server.post(path, json={"records": [{"event_name": "x", "timestamp_ns": 1,
                                                      "params": {}}]})
        assert posted.status_code == 200 and posted.json() == {"status": "disabled"}, posted.text
