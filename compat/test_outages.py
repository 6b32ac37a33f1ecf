"""Failure behaviour (issue: hardening; security.md §4.3 D1, D2, D6, D7, D10, D13, D15 and a
locked database).

Each fault is injected for real: `kill -9` of the server mid-upload, sockets cut mid-body,
a full file system (a 64 MiB tmpfs mounted as the artifact destination), another process
holding SQLite's write lock. Each must end in a JSON 4xx/5xx within a bounded time (or no
answer at all when the client is gone), leave no partial object, and the service must recover
by itself. rsflow only.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from helpers import RSFLOW, report_figure, target_kind

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="rsflow's own failure behaviour")

ART = "/api/2.0/mlflow-artifacts/artifacts"
FAULTS = {"injected": 0, "survived": 0}


def fault(fn):
    """Count a fault-injection test: injected when it starts, survived when it passes."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        FAULTS["injected"] += 1
        fn(*a, **kw)
        FAULTS["survived"] += 1

    return wrapper


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".artifact.uploading.*")]


def stream_put(port: int, target: str, total: int, *, chunk: int = 1 << 20, seed: int = 7,
               stop_after: int | None = None, chunked: bool = False, pace: float = 0.0,
               timeout: float = 30.0):
    """PUT `total` pseudo-random bytes, reading the answer as soon as it comes (a server that
    refuses mid-body answers before the body ends). Returns (status, body, sha256, sent, sock).
    stop_after: stop sending after that many bytes and return the still-open socket."""
    import random

    rng = random.Random(seed)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {total}\r\n"
    sock.sendall(head.encode() + b"\r\n")
    h = hashlib.sha256()
    sent = 0
    deadline = time.monotonic() + timeout
    while sent < total:
        if stop_after is not None and sent >= stop_after:
            return None, b"", h.hexdigest(), sent, sock
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            break
        block = rng.randbytes(min(chunk, total - sent))
        h.update(block)
        data = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        try:
            sock.sendall(data)
        except OSError:
            break
        sent += len(block)
        if pace:
            time.sleep(pace)
        if time.monotonic() > deadline:
            raise TimeoutError("upload did not finish in time")
    if chunked and sent >= total:
        sock.sendall(b"0\r\n\r\n")
    status, body = read_response(sock, deadline)
    sock.close()
    return status, body, h.hexdigest(), sent, None


def read_response(sock, deadline):
    buf = b""
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")]
                if lengths and len(rest) >= lengths[0]:
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    if not buf:
        return None, b""
    head, _, rest = buf.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


def rel(server, name):
    return f"outage-{server.port}/{name}"


# --------------------------------------------------------------------------- D1 + D15


@fault
def test_kill_9_mid_upload_then_restart(servers):
    """D1/D15: the old version stays whole, the partial upload is invisible, and the restart
    sweeps the abandoned temp file (plus stale ones planted in nested dirs)."""
    a = servers.start(RSFLOW)
    target = f"{ART}/d1/model.bin"
    status, _, old_sha, _, _ = stream_put(a.port, target, 8 << 20, seed=1)
    assert status == 200
    status, _, _, sent, sock = stream_put(a.port, target, 64 << 20, seed=2, stop_after=24 << 20,
                                          pace=0.002)
    time.sleep(0.3)  # let the server write what it received
    temps = temp_files(a.artifacts_dir)
    assert temps, "the in-flight upload should be a temp file"
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait(10)
    sock.close()
    (a.artifacts_dir / "d1" / "deep" / "er").mkdir(parents=True)
    for p in [a.artifacts_dir / ".artifact.uploading.0123456789abcdef",
              a.artifacts_dir / "d1" / "deep" / "er" / ".artifact.uploading.feedface"]:
        p.write_bytes(b"stale")
    final = a.artifacts_dir / "d1" / "model.bin"
    assert hashlib.sha256(final.read_bytes()).hexdigest() == old_sha
    t0 = time.monotonic()
    b = servers.start(RSFLOW, workdir=a.workdir)
    restart = time.monotonic() - t0
    assert temp_files(b.artifacts_dir) == [], "startup must sweep abandoned uploads"
    got = requests.get(b.url(target), timeout=30)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == old_sha
    listing = requests.get(b.url("/api/2.0/mlflow-artifacts/artifacts"), params={"path": "d1"}).json()
    assert [f["path"] for f in listing["files"]] == ["deep", "model.bin"], listing
    assert "swept abandoned uploads" in b.log_text()
    assert restart < 15


# --------------------------------------------------------------------------- D2


@fault
def test_client_disconnects_mid_body(servers):
    """D2: a cut chunked upload, a truncated final chunk and a short Content-Length body
    create nothing; the server stays healthy."""
    s = servers.start(RSFLOW)
    cases = {
        "chunked-cut": dict(total=8 << 20, chunked=True, stop_after=3 << 20),
        "length-short": dict(total=8 << 20, stop_after=3 << 20),
    }
    for name, kw in cases.items():
        status, _, _, _, sock = stream_put(s.port, f"{ART}/{rel(s, name)}.bin", **kw)
        sock.close()
    # A final chunk without its closing CRLF, then the client goes away.
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(f"PUT {ART}/{rel(s, 'truncated-final')}.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n".encode())
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 5
    while temp_files(s.artifacts_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert temp_files(s.artifacts_dir) == []
    d = s.artifacts_dir / f"outage-{s.port}"
    assert not d.exists() or [p.name for p in d.iterdir()] == [], list(d.iterdir())
    assert "artifact upload failed" in s.log_text()
    status, _, _, _, _ = stream_put(s.port, f"{ART}/{rel(s, 'after')}.bin", 1 << 20)
    assert status == 200


# --------------------------------------------------------------------------- D6 + D7 + D13


@fault
def test_concurrent_writers_same_path(servers):
    """D6: 32 distinct bodies PUT to one path at once: the result is exactly one of them."""
    s = servers.start(RSFLOW)
    target = s.url(f"{ART}/d6/same.bin")
    bodies = [bytes([i]) * (1 << 20) + os.urandom(16) for i in range(32)]
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda b: requests.put(target, data=b, timeout=60).status_code, bodies))
    assert statuses == [200] * 32
    final = requests.get(target, timeout=30).content
    assert hashlib.sha256(final).digest() in {hashlib.sha256(b).digest() for b in bodies}
    assert temp_files(s.artifacts_dir) == []


@fault
def test_read_your_writes(servers):
    """D7: every acknowledged PUT is visible to the next GET and listing on another
    connection; a deleted file never lists."""
    s = servers.start(RSFLOW)
    put, get = requests.Session(), requests.Session()
    for i in range(200):
        body = f"v{i}".encode() * 50
        assert put.put(s.url(f"{ART}/d7/f.txt"), data=body).status_code == 200
        assert get.get(s.url(f"{ART}/d7/f.txt")).content == body
        if i % 20 == 0:
            assert put.delete(s.url(f"{ART}/d7/f.txt")).status_code == 200
            listing = get.get(s.url("/api/2.0/mlflow-artifacts/artifacts"), params={"path": "d7"}).json()
            assert "files" not in listing, listing


@fault
def test_delete_during_read(servers):
    """D13: a reader that started before a DELETE gets the whole old object, never a short 200."""
    s = servers.start(RSFLOW)
    data = os.urandom(32 << 20)
    target = s.url(f"{ART}/d13/big.bin")
    assert requests.put(target, data=data).status_code == 200
    resp = requests.get(target, stream=True, timeout=30)
    it = resp.iter_content(1 << 20)
    first = next(it)
    assert requests.delete(target).status_code == 200
    rest = b"".join(it)
    assert hashlib.sha256(first + rest).digest() == hashlib.sha256(data).digest()
    assert requests.get(target).status_code == 404


# --------------------------------------------------------------------------- D10


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); D10 needs a small file system")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@fault
def test_disk_full(servers, small_fs):
    """D10: a 100 MiB upload into a 64 MiB file system: JSON 503 + Retry-After, no partial or
    temp file, space reclaimed, and the next upload works."""
    s = servers.start(RSFLOW, artifacts_destination=small_fs)
    t0 = time.monotonic()
    status, body, _, sent, _ = stream_put(s.port, f"{ART}/d10/huge.bin", 100 << 20, seed=3)
    secs = time.monotonic() - t0
    assert status == 503, (status, body[:300])
    import json

    err = json.loads(body)
    assert err["error_code"] == "TEMPORARILY_UNAVAILABLE" and "No space left" in err["message"], err
    assert secs < 30
    assert not (small_fs / "d10" / "huge.bin").exists()
    assert temp_files(small_fs) == []
    st = os.statvfs(small_fs)
    assert (st.f_blocks - st.f_bfree) * st.f_frsize < 1 << 20, "space must be reclaimed"
    assert requests.get(s.url("/health")).status_code == 200
    assert requests.put(s.url(f"{ART}/d10/small.bin"), data=b"x" * 1000).status_code == 200
    assert requests.get(s.url(f"{ART}/d10/small.bin")).content == b"x" * 1000


# --------------------------------------------------------------------------- database locked


@fault
def test_database_locked_by_another_process(servers):
    """Another process holds SQLite's write lock: writes answer JSON 503 + Retry-After within
    the busy timeout (2 s here; MLflow's 20 s by default), reads keep working (WAL), and writes
    succeed again as soon as the lock is released."""
    s = servers.start(RSFLOW, env={"RSFLOW_SQLITE_BUSY_TIMEOUT_MS": "2000"})
    exp = requests.post(s.url("/api/2.0/mlflow/experiments/create"),
                        json={"name": f"locked-{uuid.uuid4().hex[:6]}"}).json()["experiment_id"]
    holder = subprocess.Popen(
        ["python3", "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(s.db_path)!r}, isolation_level=None, timeout=30)\n"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
         "sys.stdin.readline(); c.execute('ROLLBACK')\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"

        def write(i):
            t = time.monotonic()
            r = requests.post(s.url("/api/2.0/mlflow/runs/create"), json={"experiment_id": exp},
                              timeout=60)
            return r, time.monotonic() - t

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(write, range(8)))
        for r, secs in results:
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After") == "1"
            assert r.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert secs < 10, secs
        t = time.monotonic()
        read = requests.get(s.url("/api/2.0/mlflow/experiments/get"), params={"experiment_id": exp})
        assert read.status_code == 200 and time.monotonic() - t < 2
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    r = requests.post(s.url("/api/2.0/mlflow/runs/create"), json={"experiment_id": exp}, timeout=30)
    assert r.status_code == 200
    runs = requests.post(s.url("/api/2.0/mlflow/runs/search"), json={"experiment_ids": [exp]}).json()
    assert len(runs["runs"]) == 1, "refused writes must not have been half-applied"


def test_zz_fault_figures():
    report_figure(f"outages: {FAULTS['injected']} faults injected, {FAULTS['survived']} survived "
                  "(kill -9 mid-upload + restart sweep, client cuts, 32 racing writers, "
                  "read-your-writes x200, delete during read, disk full, database locked)")
    assert FAULTS["injected"] == FAULTS["survived"]
