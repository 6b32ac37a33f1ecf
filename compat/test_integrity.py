"""Artifact integrity (issue 19): the SHA-256 computed while an artifact streams in comes back
as `Repr-Digest`/`Digest` and a strong ETag, survives a ranged (resumed) download, is not a
visible file, and `rsflow artifacts verify` names every corrupted file."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import mlflow
import pytest
import requests

from helpers import RSFLOW, child_env, rsflow_bin, start_server, unique

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own digests")
    srv = start_server(RSFLOW, tmp_path_factory.mktemp("integrity"))
    yield srv
    srv.stop()


def test_digest_headers_verify_and_corruption(server, tmp_path):
    files = {"a.bin": os.urandom(300_000), "sub/b.txt": b"hello\n", "sub/deep/c.bin": os.urandom(5000)}
    src = tmp_path / "src"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    client = mlflow.MlflowClient(server.tracking_uri)
    exp = client.create_experiment(unique("integrity"))
    run = client.create_run(exp)
    client.log_artifacts(run.info.run_id, str(src))

    # Listings show MLflow's layout only.
    listed = {f.path for f in client.list_artifacts(run.info.run_id, "sub")}
    assert listed == {"sub/b.txt", "sub/deep"}

    prefix = run.info.artifact_uri.split("mlflow-artifacts:/", 1)[1]
    url = server.url(f"/api/2.0/mlflow-artifacts/artifacts/{prefix}/a.bin")
    r = requests.get(url, timeout=60)
    want = hashlib.sha256(files["a.bin"]).digest()
    assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(want).decode()}:"
    assert r.headers["digest"] == f"SHA-256={base64.b64encode(want).decode()}"
    assert r.headers["etag"] == f'"sha256-{want.hex()}"'
    # A download interrupted at 100,000 bytes and resumed with Range/If-Range.
    part = r.content[:100_000]
    rest = requests.get(url, headers={"Range": "bytes=100000-", "If-Range": r.headers["etag"]},
                        timeout=60)
    assert rest.status_code == 206 and rest.headers["repr-digest"] == r.headers["repr-digest"]
    assert hashlib.sha256(part + rest.content).digest() == want

    verify = [str(rsflow_bin()), "artifacts", "verify", "--run-id", run.info.run_id,
              "--backend-store-uri", server.backend_uri,
              "--artifacts-destination", str(server.artifacts_dir)]
    ok = subprocess.run(verify, capture_output=True, text=True, env=child_env(), timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 files: 3 verified, 0 corrupted" in ok.stdout

    # Flip one byte in place (the stored digest stays), truncate another.
    run_dir = server.artifacts_dir / prefix
    with open(run_dir / "sub/deep/c.bin", "r+b") as f:
        f.seek(10)
        b = f.read(1)
        f.seek(10)
        f.write(bytes([b[0] ^ 0xFF]))
    with open(run_dir / "a.bin", "r+b") as f:
        f.truncate(1000)
    bad = subprocess.run(verify, capture_output=True, text=True, env=child_env(), timeout=60)
    assert bad.returncode == 1
    assert "CORRUPTED a.bin" in bad.stdout and "CORRUPTED sub/deep/c.bin" in bad.stdout
    assert "sub/b.txt" not in bad.stdout
    # The whole destination, by artifact URI too.
    by_uri = subprocess.run(
        [str(rsflow_bin()), "artifacts", "verify", "--artifact-uri", run.info.artifact_uri,
         "--artifacts-destination", str(server.artifacts_dir)],
        capture_output=True, text=True, env=child_env(), timeout=60)
    assert by_uri.returncode == 1 and by_uri.stdout.count("CORRUPTED") == 2


def test_large_local_upload_digest_lands_even_across_a_shutdown(tmp_path):
    """A large upload's digest, hashed from the page cache after the upload when the hash falls
    behind (two shared cores), is served by a download right after the upload and is on the
    file once a SIGTERM right after the upload has let the server exit."""
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own digests")
    data = os.urandom(96 << 20)
    want = hashlib.sha256(data).hexdigest()
    repr_digest = f"sha-256=:{base64.b64encode(bytes.fromhex(want)).decode()}:"
    for stop_right_away in (False, True):
        srv = start_server(RSFLOW, tmp_path / f"shutdown-{stop_right_away}")
        try:
            url = srv.url("/api/2.0/mlflow-artifacts/artifacts/big/model.bin")
            assert requests.put(url, data=data, timeout=120).status_code == 200
            if not stop_right_away:
                # A download right after the upload waits for the digest if it is pending.
                head = requests.head(url, timeout=60)
                assert head.status_code == 200 and head.headers["repr-digest"] == repr_digest
        finally:
            srv.stop()  # SIGTERM: a graceful shutdown finishes pending digests
        stored = srv.artifacts_dir / "big" / "model.bin"
        assert stored.read_bytes() == data
        assert os.getxattr(stored, "user.rsflow.sha256").decode() == want
