"""Upload sizes at the stores' edges, on every backend, through the proxy (issue 22).

For local disk, S3 (s3s-fs, moto), Azure Blob (Azurite), GCS (gcp-storage-emulator) and SFTP
(OpenSSH), the stock client logs files of 0 B, 1 B, 5 MiB - 1, 5 MiB + 1 (either side of S3's
part), 16 MiB (two whole GCS resumable chunks: the object is committed by an empty last
request) and 64 MiB through `--artifacts-destination`, downloads them again, and the SHA-256
must be equal. The server's peak RSS over the whole set is read from /proc and reported (it
must stay far below the sizes it streamed).

Then an upload is cut by `kill -9` of the server in the middle of its body (several upload
parts or chunks already in the store): no object may be visible under its name, neither in the
store itself nor through a new server on the same destination.

The storage servers come from `scripts/storage-servers.sh start` (see test_storage_flows.py);
a backend whose variable is absent is skipped with the reason.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import mlflow
import pytest

from helpers import RSFLOW, report_figure, sha256_file, target_kind, unique, write_random_file
from test_storage_flows import BACKENDS, Backend, _backend, _run_layout_prefix, _start

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="storage backends are exercised on rsflow")

MIB = 1024 * 1024
SIZES = [0, 1, 5 * MIB - 1, 5 * MIB + 1, 16 * MIB, 64 * MIB]
NAMES = ["local", "s3s", "moto", "azurite", "gcs", "sftp"]
ARTIFACT_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
# A debug build's baseline is ~30-40 MiB; uploads hold a few parts or chunks (5-8 MiB each).
PEAK_RSS_LIMIT_MIB = 160


def _temp(name: str) -> bool:
    return name.startswith(".artifact.uploading.") or name.startswith(".rsflow-upload.")


def _local_keys(root: Path):
    def keys(prefix: str) -> set[str]:
        base = root / prefix
        return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}

    return keys


def _setup(name: str, servers, tmp_path) -> tuple[object, Backend | None, str, callable]:
    """A server for backend `name`, the backend, the destination prefix and a key lister."""
    if name == "local":
        dest = tmp_path / "dest"
        dest.mkdir()
        server = servers.start(RSFLOW, artifacts_destination=dest)
        return server, None, "", _local_keys(dest)
    backend = _backend(name)
    prefix = unique(f"sizes-{name}")
    server = _start(servers, backend, destination=backend.uri(prefix))
    return server, backend, prefix, backend.keys


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.parametrize("name", NAMES)
def test_sizes_round_trip_with_bounded_memory(name, servers, bind_client, tmp_path):
    server, backend, prefix, keys = _setup(name, servers, tmp_path)
    bind_client(server)
    mlflow.set_experiment(unique(f"sizes-{name}"))
    src = tmp_path / "src"
    src.mkdir()
    want = {}
    for i, size in enumerate(SIZES):
        path = src / f"f{i}-{size}.bin"
        want[path.name] = write_random_file(path, size, seed=100 + i)
    t0 = time.monotonic()
    with mlflow.start_run() as run:
        for path in sorted(src.iterdir()):
            mlflow.log_artifact(str(path), artifact_path="sizes")
    up = time.monotonic() - t0
    dl = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="sizes",
                                                  dst_path=str(tmp_path / "dl")))
    got = {p.name: sha256_file(p) for p in dl.iterdir()}
    assert got == want, "SHA-256 of the downloaded files differ"
    # The objects are in the store under MLflow's layout, and nothing else is.
    layout = _run_layout_prefix(prefix, run) if backend else \
        f"{run.info.experiment_id}/{run.info.run_id}/artifacts"
    stored = {k for k in keys(layout) if not _temp(k.rsplit("/", 1)[-1])}
    assert stored == {f"sizes/{n}" for n in want}, stored
    peak = _peak_rss_mib(server.proc.pid)
    total = sum(SIZES) / MIB
    report_figure(f"sizes on {name}: 0 B..64 MiB ({total:.0f} MiB in {len(SIZES)} files) SHA-256 equal; "
                  f"upload {up:.1f}s; server peak RSS {peak:.0f} MiB")
    print(f"{name}: server peak RSS {peak:.1f} MiB after {total:.0f} MiB uploaded and downloaded")
    assert peak < PEAK_RSS_LIMIT_MIB, f"server peak RSS {peak:.0f} MiB"


@pytest.mark.parametrize("name", NAMES)
def test_kill_9_mid_upload_leaves_no_object(name, servers, tmp_path):
    server, backend, prefix, keys = _setup(name, servers, tmp_path)
    total, sent_before_kill = 64 * MIB, 24 * MIB
    target = f"{ARTIFACT_ROUTE}/killed/blob.bin"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall((f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n\r\n").encode())
    piece = os.urandom(MIB)
    for _ in range(sent_before_kill // MIB):
        sock.sendall(piece)
    # Let the server push what it has to the store (parts, chunks, the temp file), then kill it
    # without a chance to clean up.
    if name in ("local", "sftp"):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(_temp(k.rsplit("/", 1)[-1]) for k in keys(prefix)):
            time.sleep(0.1)
        assert any(_temp(k.rsplit("/", 1)[-1]) for k in keys(prefix)), "the upload never reached the store"
    time.sleep(1.5)
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    sock.close()

    visible = {k for k in keys(prefix) if not _temp(k.rsplit("/", 1)[-1])}
    assert "killed/blob.bin" not in visible, visible
    # A new server on the same destination neither lists nor serves it.
    if backend is None:
        again = servers.start(RSFLOW, artifacts_destination=Path(server.artifacts_dir))
    else:
        again = _start(servers, backend, destination=backend.uri(prefix))
    listing = again.get(f"{ARTIFACT_ROUTE}", params={"path": "killed"}).json()
    assert listing.get("files", []) == [], listing
    assert again.get(target).status_code == 404
    report_figure(f"kill -9 mid-upload on {name}: {sent_before_kill // MIB} of {total // MIB} MiB sent, "
                  f"no object visible afterwards")

