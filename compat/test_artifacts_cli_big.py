"""`rsflow artifacts upload|download` of one big file plus a tree of small files (issue 19):
SHA-256 equal after the round trip, the progress bar checked in a pseudo-terminal
(`script -qefc`), and a download killed mid-file (SIGKILL) then resumed from its `.part`,
proven by the server's own byte counter (`rsflow_artifact_proxy_bytes_total`): the second
run fetches the rest of the big file, not all of it.

Sizes: COMPAT_CLI_BIG_MB (default 128) and COMPAT_CLI_TREE_FILES (default 300) in the test
command; `bash scripts/cli-big.sh` runs it with the 1 GiB file and 2,000 small files."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time

import mlflow
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from helpers import RSFLOW, child_env, rsflow_bin, start_server, unique

BIG_MB = int(os.environ.get("COMPAT_CLI_BIG_MB", "128"))
TREE_FILES = int(os.environ.get("COMPAT_CLI_TREE_FILES", "300"))
MIB = 1 << 20

pytestmark = [
    pytest.mark.timeout(300 + 3 * BIG_MB),
    pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1)"),
]


def _bytes_out(server) -> float:
    text = server.get("/metrics").text
    for fam in text_string_to_metric_families(text):
        if fam.name == "rsflow_artifact_proxy_bytes":
            return sum(s.value for s in fam.samples
                       if s.name == "rsflow_artifact_proxy_bytes_total"
                       and s.labels.get("direction") == "out")
    return 0.0


def _tree(root) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(8 * MIB):
                    h.update(chunk)
            out[str(p.relative_to(root))] = h.hexdigest()
    return out


def _in_pty(cmd: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    line = " ".join(f"'{a}'" for a in cmd)
    return subprocess.Popen(["script", "-qefc", line, "/dev/null"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True, **kw)


def test_big_file_and_tree_round_trip_with_progress_and_resume(tmp_path):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own CLI")
    work = tmp_path / "srv"
    work.mkdir()
    server = start_server(RSFLOW, work, extra_args=["--expose-prometheus", str(work / "prom")])
    try:
        src = tmp_path / "src"
        (src / "tree").mkdir(parents=True)
        with open(src / "big.bin", "wb") as f:
            block = os.urandom(16 * MIB)
            for i in range(BIG_MB // 16 or 1):
                # Every block differs, so a misplaced range cannot hash the same.
                f.write(i.to_bytes(8, "little") + block[8:])
        big_size = (src / "big.bin").stat().st_size
        tree_bytes = 0
        for i in range(TREE_FILES):
            d = src / "tree" / f"d{i % 20}"
            d.mkdir(exist_ok=True)
            data = os.urandom(200 + (i * 37) % 4000)
            (d / f"f{i}.txt").write_bytes(data)
            tree_bytes += len(data)
        want = _tree(src)

        client = mlflow.MlflowClient(server.tracking_uri)
        run_id = client.create_run(client.create_experiment(unique("cli-big"))).info.run_id
        env = child_env(MLFLOW_TRACKING_URI=server.tracking_uri, TERM="xterm", COLUMNS="120")
        rsflow = str(rsflow_bin())

        t0 = time.monotonic()
        up = _in_pty([rsflow, "artifacts", "upload", "--local-dir", str(src), "--run-id", run_id],
                     env)
        out, _ = up.communicate(timeout=60 + 3 * BIG_MB)
        up_s = time.monotonic() - t0
        text = out.decode(errors="replace")
        assert up.returncode == 0, text[-2000:]
        assert "MiB" in text and "/s" in text and "\x1b" in text, text[-2000:]

        # Download, killed (SIGKILL, no cleanup) while the big file is part-way in.
        dst = tmp_path / "dst"
        part = dst / "big.bin.part"
        before = _bytes_out(server)
        dl = _in_pty([rsflow, "artifacts", "download", "--run-id", run_id, "--dst-path", str(dst)],
                     env)
        had = 0
        deadline = time.monotonic() + 60 + BIG_MB
        while time.monotonic() < deadline and dl.poll() is None:
            try:
                had = part.stat().st_size
            except FileNotFoundError:
                had = 0
            if had >= 4 * MIB:
                os.killpg(dl.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        dl.wait(30)
        assert 0 < had < big_size and part.exists(), "the download was not caught part-way"
        kept = part.stat().st_size  # what the killed client had written
        assert not (dst / "big.bin").exists()
        # What the server had already sent into the killed client's socket is counted as its
        # stream fails, a moment after the kill: wait for the counter to settle.
        mid, settle = _bytes_out(server), time.monotonic() + 30
        while time.monotonic() < settle:
            time.sleep(0.5)
            now = _bytes_out(server)
            if now == mid:
                break
            mid = now

        t0 = time.monotonic()
        again = _in_pty([rsflow, "artifacts", "download", "--run-id", run_id,
                         "--dst-path", str(dst)], env)
        out, _ = again.communicate(timeout=60 + 3 * BIG_MB)
        down_s = time.monotonic() - t0
        text = out.decode(errors="replace")
        assert again.returncode == 0, text[-2000:]
        assert "MiB" in text and "/s" in text, text[-2000:]
        assert not part.exists()
        assert _tree(dst) == want
        resumed = _bytes_out(server) - mid
        # The second run fetched the tree again and the big file from where it stopped (the
        # counter also counts the directory listings: 256 KiB of slack, far below `kept`).
        assert big_size - kept <= resumed <= big_size - kept + tree_bytes + 256 * 1024, \
            (resumed, big_size, kept, tree_bytes)
        print(f"cli-big: {big_size >> 20} MiB + {TREE_FILES} small files; upload {up_s:.1f}s; "
              f"killed at {kept >> 20} MiB, resumed download {down_s:.1f}s "
              f"({resumed / MIB:.0f} MiB fetched; first attempt {(mid - before) / MIB:.0f} MiB)")
    finally:
        server.stop()
