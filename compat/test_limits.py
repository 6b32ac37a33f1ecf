"""Input limits, body caps, slow clients and concurrency (issue: hardening; security.md §5,
§4.3 D11/D12; docs/hardening.md).

One rsflow runs with small limits so that each one trips quickly:
--max-json-body-bytes 1000000, --json-body-timeout 2, --body-idle-timeout 2,
--header-read-timeout 1.5, --max-artifact-requests 2, --queue-timeout 1.
rsflow only: the reference has none of these limits (security.md §5 "no global request-size
limit"), though the MLflow input-limit table below holds for both.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import socket
import threading
import time
import uuid

import pytest
import requests

from helpers import RSFLOW, raw_http, report_figure, target_kind

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="rsflow's own limits")

API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"
JSON_CAP = 1_000_000
BUDGET = 1_500_000  # JSON bodies in memory at once, over all requests
FIGURES = {"limit checks": 0}


@pytest.fixture(scope="module")
def srv(module_servers):
    return module_servers.start(RSFLOW, extra_args=[
        "--max-json-body-bytes", str(JSON_CAP), "--json-body-timeout", "2",
        "--body-idle-timeout", "2", "--header-read-timeout", "1.5",
        "--max-artifact-requests", "2", "--queue-timeout", "1",
        "--json-body-budget-bytes", str(BUDGET),
    ])


@pytest.fixture(scope="module")
def run(srv):
    exp = srv.api("POST", "experiments/create", json={"name": f"limits-{uuid.uuid4().hex[:8]}"}).json()
    r = srv.api("POST", "runs/create", json={"experiment_id": exp["experiment_id"]}).json()
    return r["run"]["info"]


def json_error(resp, status, code=None, contains=None):
    FIGURES["limit checks"] += 1
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    if code:
        assert body["error_code"] == code, body
    if contains:
        assert contains in body["message"], body
    return body


# --------------------------------------------------------------------------- MLflow's limits

RID = "<run>"
EXP = "<exp>"
LIMIT_CASES = [
    # (id, method, endpoint, payload, message fragment)
    ("batch-1001-metrics", "POST", "runs/log-batch",
     {"run_id": RID, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]},
     "at most 1000 metrics"),
    ("batch-101-params", "POST", "runs/log-batch",
     {"run_id": RID, "params": [{"key": f"p{i}", "value": "v"} for i in range(101)]}, "at most 100 params"),
    ("batch-101-tags", "POST", "runs/log-batch",
     {"run_id": RID, "tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]}, "at most 100 tags"),
    ("batch-dup-params", "POST", "runs/log-batch",
     {"run_id": RID, "params": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]},
     "Duplicate parameter keys"),
    ("param-key-251", "POST", "runs/log-parameter", {"run_id": RID, "key": "k" * 251, "value": "x"},
     "exceeds the maximum length of 250"),
    ("metric-key-chars", "POST", "runs/log-metric",
     {"run_id": RID, "key": "bad key!", "value": 1, "timestamp": 1}, "Names may only contain"),
    ("metric-key-traversal", "POST", "runs/log-metric",
     {"run_id": RID, "key": "../m", "value": 1, "timestamp": 1}, "Names may be treated as files"),
    ("metric-bool", "POST", "runs/log-metric", {"run_id": RID, "key": "m", "value": True, "timestamp": 1},
     "Value was of type 'bool'"),
    ("experiment-name-501", "POST", "experiments/create", {"name": "x" * 501},
     "exceeds the maximum length of 500"),
    ("experiment-tag-20001", "POST", "experiments/set-experiment-tag",
     {"experiment_id": EXP, "key": "k", "value": "v" * 20001}, "maximum length of 20000"),
    ("artifact-location-2049", "POST", "experiments/create",
     {"name": "long-loc", "artifact_location": "s3://b/" + "a" * 2100}, "cannot be greater than 2048"),
    ("model-name-slash", "POST", "registered-models/create", {"name": "a/b"}, "cannot contain '/' or ':'"),
    ("logged-model-name", "POST", "logged-models", {"experiment_id": EXP, "name": "a/b"},
     "Invalid model name"),
    ("registry-tag-100001", "POST", "registered-models/set-tag",
     {"name": "<model>", "key": "k", "value": "v" * 100001}, "maximum length of 100000"),
    ("alias-reserved", "POST", "registered-models/alias", {"name": "<model>", "alias": "latest", "version": "1"},
     "is reserved"),
    ("alias-256", "POST", "registered-models/alias", {"name": "<model>", "alias": "a" * 256, "version": "1"},
     "maximum length of 255"),
    ("dataset-name-501", "POST", "runs/log-inputs",
     {"run_id": RID, "datasets": [{"dataset": {"name": "d" * 501, "digest": "x", "source_type": "local",
                                               "source": "s"}}]}, "maximum length of 500"),
    ("dataset-digest-37", "POST", "runs/log-inputs",
     {"run_id": RID, "datasets": [{"dataset": {"name": "d", "digest": "x" * 37, "source_type": "local",
                                               "source": "s"}}]}, "maximum length of 36"),
    ("search-runs-50001", "POST", "runs/search", {"experiment_ids": [EXP], "max_results": 50001},
     "max_results"),
    ("search-page-token", "POST", "runs/search", {"experiment_ids": [EXP], "page_token": "!!"},
     "Invalid page token"),
    ("search-filter-bomb", "POST", "runs/search", {"experiment_ids": [EXP], "filter": "[" * 10000 + "]" * 10000},
     "Error on parsing filter"),
    ("search-models-1001", "GET", "registered-models/search", {"max_results": 1001}, "max_results"),
    ("search-versions-200001", "GET", "model-versions/search", {"max_results": 200001}, "max_results"),
    ("run-id-injection", "GET", "runs/get", {"run_id": '{"$ne":1}'}, "run_id"),
    ("experiment-id-injection", "GET", "experiments/get", {"experiment_id": '{"$ne":1}'}, "Experiment ID"),
]


@pytest.mark.parametrize("case", LIMIT_CASES, ids=[c[0] for c in LIMIT_CASES])
def test_mlflow_input_limits(srv, run, case):
    _id, method, endpoint, payload, fragment = case
    model = f"lim-model-{os.getpid()}"
    srv.api("POST", "registered-models/create", json={"name": model})
    text = json.dumps(payload).replace(RID, run["run_id"]).replace(EXP, run["experiment_id"])
    text = text.replace("<model>", model)
    payload = json.loads(text)
    if method == "GET":
        resp = srv.api("GET", endpoint, params=payload)
    else:
        resp = srv.api(method, endpoint, json=payload)
    json_error(resp, 400, "INVALID_PARAMETER_VALUE", fragment)


def test_long_values_are_truncated_as_mlflow_does(srv, run):
    """MLFLOW_TRUNCATE_LONG_VALUES (default on): params to 6000 chars, run tags to 8000."""
    rid = run["run_id"]
    assert srv.api("POST", "runs/log-parameter", json={"run_id": rid, "key": "long", "value": "x" * 7000}).ok
    assert srv.api("POST", "runs/set-tag", json={"run_id": rid, "key": "long", "value": "y" * 9000}).ok
    data = srv.api("GET", "runs/get", params={"run_id": rid}).json()["run"]["data"]
    assert len({p["key"]: p["value"] for p in data["params"]}["long"]) == 6000
    assert len({t["key"]: t["value"] for t in data["tags"]}["long"]) == 8000


# --------------------------------------------------------------------------- body caps


def test_json_body_cap_is_413(srv, run):
    big = json.dumps({"run_id": run["run_id"], "tags": [{"key": "k", "value": "v" * (JSON_CAP + 10)}]})
    # Declared length over the cap: refused before the body is read, and drained so the client
    # that sends everything first still reads the answer.
    body = json_error(srv.api("POST", "runs/log-batch", data=big, headers={"Content-Type": "application/json"}),
                      413, "REQUEST_LIMIT_EXCEEDED", "exceeds the limit of 1000000 bytes")
    assert body["message"] == "Request body exceeds the limit of 1000000 bytes."

    def chunks():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536].encode()

    json_error(srv.api("POST", "runs/log-batch", data=chunks(), headers={"Content-Type": "application/json"}),
               413, "REQUEST_LIMIT_EXCEEDED")
    # A 10 GB declaration is answered at once, without sending a byte of it.
    t0 = time.monotonic()
    r = raw_http(srv.port, "POST", f"{API}/runs/log-batch",
                 headers={"Content-Type": "application/json", "Content-Length": str(10 << 30)})
    assert r.status == 413 and r.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert time.monotonic() - t0 < 2
    FIGURES["limit checks"] += 1
    # Just under the cap is fine.
    ok = json.dumps({"run_id": run["run_id"], "tags": [{"key": f"t{i}", "value": "v" * 8000} for i in range(100)]})
    assert len(ok) < JSON_CAP
    assert srv.api("POST", "runs/log-batch", data=ok, headers={"Content-Type": "application/json"}).status_code == 200


def test_artifact_bodies_are_not_capped(srv, run):
    data = os.urandom(3 * JSON_CAP)
    path = f"{ART}/{run['experiment_id']}/{run['run_id']}/artifacts/big.bin"
    assert srv.put(path, data=data).status_code == 200
    got = srv.get(path).content
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # The UI route keeps MLflow's own 10 MB cap.
    r = srv.post(f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run['run_id']}&path=ui.bin",
                 data=b"x" * (10 * 1024 * 1024 + 1))
    json_error(r, 400, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB.")


def test_json_bodies_in_memory_are_bounded(srv, run):
    """--json-body-budget-bytes: while one client trickles a large body (its declared length is
    reserved), a second large body would go past the budget: it waits --queue-timeout, then gets
    a JSON 503 with Retry-After, and nothing of it is applied. Small bodies still pass. Once the
    first body is complete, the budget is back and large bodies pass again."""
    def batch(prefix):
        tags = [{"key": f"{prefix}{i}", "value": "v" * 8000} for i in range(100)]
        return json.dumps({"run_id": run["run_id"], "tags": tags}).encode()

    first, second = batch("first"), batch("second")
    assert BUDGET < len(first) + len(second) and len(first) < JSON_CAP
    head = (f"POST {API}/runs/log-batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(first)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    done = threading.Event()

    def trickle():
        # A byte every 0.3 s keeps the first request under the 2 s body-idle timeout.
        sock.sendall(head + first[:1000])
        sent = 1000
        while not done.wait(0.3):
            sock.sendall(first[sent:sent + 1])
            sent += 1
        sock.sendall(first[sent:])

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        r = srv.api("POST", "runs/log-batch", data=second, headers={"Content-Type": "application/json"})
        waited = time.monotonic() - t0
        json_error(r, 503, "TEMPORARILY_UNAVAILABLE", "too many large request bodies in memory")
        assert r.headers.get("Retry-After") == "1", r.headers
        assert 0.8 < waited < 5, waited
        small = srv.api("POST", "runs/log-batch",
                        json={"run_id": run["run_id"], "tags": [{"key": "small", "value": "x"}]})
        assert small.status_code == 200, small.text
    finally:
        done.set()
        t.join()
    status_line = sock.makefile("rb").readline()
    sock.close()
    assert b" 200 " in status_line, status_line
    r = srv.api("POST", "runs/log-batch", data=second, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:300]
    tags = {t["key"] for t in srv.api("GET", f"runs/get?run_id={run['run_id']}").json()["run"]["data"]["tags"]}
    assert {"first0", "second99", "small"} <= tags
    FIGURES["limit checks"] += 3


def test_oversized_headers_are_refused(srv):
    """hyper's defaults: ~400 KiB of request head, at most 100 headers."""
    target = f"{API}/experiments/search?max_results=1"
    assert raw_http(srv.port, "GET", target, headers={"X-Big": "a" * 100_000}).status == 200
    r = raw_http(srv.port, "GET", target, headers={"X-Big": "a" * 1_000_000})
    assert r.status == 431, r.status
    r = raw_http(srv.port, "GET", target, headers={f"X-H{i}": "v" for i in range(200)})
    assert r.status == 431, r.status
    FIGURES["limit checks"] += 2


# --------------------------------------------------------------------------- slow clients


def test_slowloris_headers_are_cut(srv):
    """200 connections trickle header bytes; the header-read timeout (1.5 s) closes each of
    them while normal requests keep being served."""
    n = 200
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    t0 = time.monotonic()
    closed: set[int] = set()
    served_meanwhile = 0
    next_trickle = t0
    while len(closed) < n and time.monotonic() - t0 < 10:
        now = time.monotonic()
        if now >= next_trickle:
            for s in socks:
                if s.fileno() not in closed:
                    try:
                        s.send(b"X")  # one header byte at a time, never a full line
                    except OSError:
                        pass
            r = requests.get(srv.url(f"{API}/experiments/search?max_results=1"), timeout=5)
            assert r.status_code == 200
            served_meanwhile += 1
            next_trickle = now + 0.3
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data or b"HTTP/1.1 4" in data:
                closed.add(s.fileno())
                sel.unregister(s)
    elapsed = time.monotonic() - t0
    for s in socks:
        s.close()
    assert len(closed) == n, f"only {len(closed)}/{n} slow connections were closed"
    assert elapsed < 5, elapsed
    report_figure(f"limits: slowloris {n} connections cut in {elapsed:.1f}s (header timeout 1.5s), "
                  f"{served_meanwhile} normal requests served meanwhile")


def test_idle_keepalive_connection_is_closed(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    t0 = time.monotonic()
    assert s.recv(4096) == b""
    assert time.monotonic() - t0 < 4
    s.close()


def _slow_body(port, method, target, declared, first, *, trickle=None, extra=b""):
    """Send headers and `first` body bytes, then optionally trickle; return (status, body, secs)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              f"Content-Length: {declared}\r\n\r\n".encode() + first)
    t0 = time.monotonic()
    s.setblocking(False)
    buf = b""
    while time.monotonic() - t0 < 12:
        try:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")]
                if length and len(rest) >= length[0]:
                    break
        except BlockingIOError:
            pass
        except OSError:
            break
        if trickle:
            try:
                s.send(trickle)
            except OSError:
                pass
        time.sleep(0.25)
    s.close()
    secs = time.monotonic() - t0
    if not buf:
        return None, b"", secs
    head, _, rest = buf.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest, secs


def test_slow_json_body_is_408(srv, run):
    # Trickling (never idle long enough for the idle timeout): the whole-body deadline fires.
    status, body, secs = _slow_body(srv.port, "POST", f"{API}/runs/log-batch", 10_000, b'{"run_id"',
                                    trickle=b" ")
    assert status == 408 and json.loads(body)["error_code"] == "BAD_REQUEST", (status, body)
    assert 1.5 < secs < 5, secs
    # Stalled: the idle timeout fires.
    status, body, secs = _slow_body(srv.port, "POST", f"{API}/runs/log-batch", 10_000, b'{"run_id"')
    assert status == 408, (status, body)
    assert secs < 5, secs
    FIGURES["limit checks"] += 2


def test_stalled_artifact_upload_is_dropped_without_residue(srv, run):
    rel = f"{run['experiment_id']}/{run['run_id']}/artifacts/stalled.bin"
    status, body, secs = _slow_body(srv.port, "PUT", f"{ART}/{rel}", 10 << 20, os.urandom(1 << 20))
    assert status == 408 and json.loads(body)["error_code"] == "BAD_REQUEST", (status, body)
    assert secs < 5, secs
    time.sleep(0.2)
    assert not (srv.artifacts_dir / rel).exists()
    leftovers = [p for p in srv.artifacts_dir.rglob(".artifact.uploading.*")]
    assert not leftovers, leftovers
    FIGURES["limit checks"] += 1


# --------------------------------------------------------------------------- concurrency


def test_artifact_slots_saturate_to_503_and_recover(srv, run):
    """Two slow uploads hold both artifact slots; a third transfer waits the queue timeout (1 s)
    and gets a JSON 503 with Retry-After, while tracking requests and /health are unaffected."""
    base = f"{ART}/{run['experiment_id']}/{run['run_id']}/artifacts"
    assert srv.put(f"{base}/small.txt", data=b"small").status_code == 200
    stop = threading.Event()
    holders = []

    def hold(i):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(f"PUT {base}/held-{i}.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                  .encode() + b"x")
        while not stop.wait(0.3):
            s.send(b"x")  # keeps the body alive under the 2 s idle timeout
        s.close()

    for i in range(2):
        t = threading.Thread(target=hold, args=(i,), daemon=True)
        t.start()
        holders.append(t)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        r = srv.get(f"{base}/small.txt")
        waited = time.monotonic() - t0
        body = json_error(r, 503, "TEMPORARILY_UNAVAILABLE", "too many concurrent artifact transfers")
        assert r.headers["Retry-After"] == "1", r.headers
        assert 0.9 < waited < 3, waited
        assert srv.api("GET", "experiments/search", params={"max_results": 1}).status_code == 200
        assert srv.get("/health").status_code == 200
        del body
    finally:
        stop.set()
        for t in holders:
            t.join(5)
    deadline = time.monotonic() + 5
    while True:
        r = srv.get(f"{base}/small.txt")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.status_code == 200 and r.content == b"small"


def test_zz_limit_figures(srv):
    assert srv.alive()
    report_figure(f"limits: {FIGURES['limit checks']} limit checks answered as specified "
                  f"(MLflow input limits, 413 body cap, 431 headers, 408 slow bodies, 503 saturation)")
