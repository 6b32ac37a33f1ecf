"""`rsflow artifacts upload|download|list|rm` (issue 19) against a running server: the same
listing as `mlflow artifacts list`, byte-identical round trips, a progress bar with bytes, rate
and ETA in a pseudo-terminal (and none in a pipe), and interrupted downloads resumed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import mlflow
import pytest

from helpers import RSFLOW, child_env, mlflow_cli, rsflow_bin, start_server, unique

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own CLI")
    srv = start_server(RSFLOW, tmp_path_factory.mktemp("cli"))
    yield srv
    srv.stop()


def cli(server, *args, **kw):
    return subprocess.run([str(rsflow_bin()), "artifacts", *args], capture_output=True,
                          text=True, timeout=120,
                          env=child_env(MLFLOW_TRACKING_URI=server.tracking_uri), **kw)


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def uploaded(server, tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(40):
        (src / f"small/d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"small/d{i % 4}/f{i}.txt").write_bytes(os.urandom(1000 + i))
    (src / "big.bin").write_bytes(os.urandom(24 << 20))
    client = mlflow.MlflowClient(server.tracking_uri)
    run = client.create_run(client.create_experiment(unique("cli")))
    up = cli(server, "upload", "--local-dir", str(src), "--run-id", run.info.run_id)
    assert up.returncode == 0, up.stderr
    assert "\x1b" not in up.stderr and "ETA" not in up.stderr  # not a terminal: no bar
    return run.info.run_id, src


def test_list_matches_mlflow_artifacts_list(server, uploaded):
    run_id, src = uploaded
    ours = cli(server, "list", "--run-id", run_id, "--artifact-path", "small")
    # One run of the stock CLI (it takes seconds to start): the same JSON.
    ref = subprocess.run([str(mlflow_cli()), "artifacts", "list", "--run-id", run_id,
                          "--artifact-path", "small"], capture_output=True, text=True,
                         timeout=120, env=child_env(MLFLOW_TRACKING_URI=server.tracking_uri))
    assert ours.returncode == 0 and ref.returncode == 0, ours.stderr + ref.stderr
    assert json.loads(ours.stdout) == json.loads(ref.stdout)
    top = json.loads(cli(server, "list", "--run-id", run_id).stdout)
    assert top == [{"path": "big.bin", "is_dir": False, "file_size": 24 << 20},
                   {"path": "small", "is_dir": True}]


def test_download_round_trip_and_resume(server, uploaded, tmp_path):
    run_id, src = uploaded
    dst = tmp_path / "dst"
    res = cli(server, "download", "--run-id", run_id, "--dst-path", str(dst))
    assert res.returncode == 0, res.stderr
    assert tree(dst) == tree(src)

    # Interrupted downloads: a .part with the first half (resumed with Range), and a .part
    # holding wrong bytes (caught by the digest, downloaded again).
    big = (src / "big.bin").read_bytes()
    again = tmp_path / "again"
    again.mkdir()
    (again / "big.bin.part").write_bytes(big[: len(big) // 2])
    res = cli(server, "download", "--run-id", run_id, "--artifact-path", "big.bin",
              "--dst-path", str(again))
    assert res.returncode == 0, res.stderr
    assert (again / "big.bin").read_bytes() == big and not (again / "big.bin.part").exists()
    (again / "big.bin").unlink()
    (again / "big.bin.part").write_bytes(os.urandom(1000))
    res = cli(server, "download", "--run-id", run_id, "--artifact-path", "big.bin",
              "--dst-path", str(again))
    assert res.returncode == 0, res.stderr
    assert (again / "big.bin").read_bytes() == big


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1)")
def test_progress_bar_in_a_pseudo_terminal(server, uploaded, tmp_path):
    run_id, _ = uploaded
    cmd = (f"{rsflow_bin()} artifacts download --run-id {run_id} --dst-path {tmp_path / 'tty'} "
           "--parallel 2")
    out = subprocess.run(["script", "-qefc", cmd, "/dev/null"], capture_output=True,
                         timeout=120, env=child_env(MLFLOW_TRACKING_URI=server.tracking_uri,
                                                    TERM="xterm", COLUMNS="120"))
    assert out.returncode == 0, out.stdout[-2000:]
    text = out.stdout.decode(errors="replace")
    assert "ETA" in text and "/s" in text and "MiB" in text, text[-2000:]


def test_rm(server, uploaded):
    run_id, _ = uploaded
    res = cli(server, "rm", "--run-id", run_id, "--artifact-path", "small/d0")
    assert res.returncode == 0, res.stderr
    listing = json.loads(cli(server, "list", "--run-id", run_id, "--artifact-path", "small").stdout)
    assert {e["path"] for e in listing} == {"small/d1", "small/d2", "small/d3"}
    assert cli(server, "rm", "--run-id", run_id).returncode != 0
