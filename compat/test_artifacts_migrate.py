"""`rsflow artifacts migrate` (issue 19): a local artifact root copied to every storage backend
the test command starts and back, every SHA-256 equal, and an interrupted migration resumed
(the files already copied are kept, the rest copied)."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from helpers import RSFLOW, child_env, rsflow_bin, unique
from test_storage_flows import BACKENDS, _backend

pytestmark = [pytest.mark.timeout(180)]


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def migrate(src: str, dst: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(rsflow_bin()), "artifacts", "migrate", "--from", src, "--to", dst],
                          capture_output=True, text=True, timeout=150, env=child_env(**env))


@pytest.mark.parametrize("name", ["s3s", "azurite", "gcs", "sftp"])
def test_migrate_local_to_backend_and_back(name, tmp_path):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own command")
    backend = _backend(name)
    src = tmp_path / "src"
    for i in range(12):
        (src / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 3}/f{i}.bin").write_bytes(os.urandom(500 + 97 * i))
    (src / "model.bin").write_bytes(os.urandom(3 << 20))
    prefix = unique("migrate")
    remote = backend.uri(prefix)
    env = backend.server_env()

    res = migrate(str(src), remote, env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "13 files: 13 copied" in res.stdout, res.stdout
    assert backend.keys(prefix) == set(tree(src))

    # Again: everything is there already (what a resumed run finds).
    res = migrate(str(src), remote, env)
    assert res.returncode == 0 and "0 copied" in res.stdout and "13 already there" in res.stdout

    back = tmp_path / "back"
    back.mkdir()
    # An interrupted earlier run: one file copied, one file half written with wrong bytes.
    (back / "d0").mkdir()
    (back / "d0/f0.bin").write_bytes((src / "d0/f0.bin").read_bytes())
    (back / "model.bin").write_bytes(b"partial")
    res = migrate(remote, str(back), env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "12 copied" in res.stdout and "1 already there" in res.stdout, res.stdout
    assert tree(back) == tree(src)
