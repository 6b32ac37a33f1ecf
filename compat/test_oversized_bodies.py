"""Oversized bodies get their JSON error with every client (issue 22).

rsflow refuses a body past its route's cap before reading it: `upload-artifact` past MLflow's
10 MB (400 INVALID_PARAMETER_VALUE, as `mlflow server`), every JSON route past
--max-json-body-bytes (413 REQUEST_LIMIT_EXCEEDED; the reference has no cap). It then reads and
discards the rest of the body, up to a few times the cap and for a bounded time, before it
closes, so that both kinds of client see the answer:

- one that reads while it sends (curl, `requests` on most paths): it gets the answer early and
  stops sending;
- one that writes its whole body before it reads, as Python's `http.client` does when the stock
  client's `requests`/urllib3 hand it a body: without the draining it got a broken pipe or a
  reset and never saw the error.

rsflow only: the caps are rsflow's (the reference reads every body whole, and has no JSON cap).
"""

from __future__ import annotations

import http.client
import json
import selectors
import socket
import time
import uuid

import pytest

from helpers import RSFLOW, report_figure, target_kind

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="rsflow's own body caps")

JSON_CAP = 1_000_000
UI_CAP = 10 * 1024 * 1024
FIGURES = {"oversized bodies answered": 0}


@pytest.fixture(scope="module")
def srv(module_servers):
    return module_servers.start(RSFLOW, extra_args=["--max-json-body-bytes", str(JSON_CAP)])


@pytest.fixture(scope="module")
def run_id(srv):
    exp = srv.api("POST", "experiments/create", json={"name": f"oversized-{uuid.uuid4().hex[:8]}"}).json()
    return srv.api("POST", "runs/create", json={"experiment_id": exp["experiment_id"]}).json()["run"]["info"]["run_id"]


def _json_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes (so a route would parse it if it read it)."""
    head, tail = b'{"name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# (id, method, path, size, status, error_code, message fragment); <run> is replaced.
JSON_413 = (413, "REQUEST_LIMIT_EXCEEDED", f"exceeds the limit of {JSON_CAP} bytes")
UI_400 = (400, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB.")
ROUTES = [
    ("upload-artifact", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=<run>&path=big.bin",
     UI_CAP + 1, *UI_400),
    ("upload-artifact-2x", "POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=<run>&path=big.bin",
     2 * UI_CAP, *UI_400),
    ("experiments-create", "POST", "/api/2.0/mlflow/experiments/create", JSON_CAP + 1, *JSON_413),
    ("runs-create", "POST", "/api/2.0/mlflow/runs/create", JSON_CAP + 1, *JSON_413),
    ("runs-log-batch", "POST", "/api/2.0/mlflow/runs/log-batch", 3 * JSON_CAP, *JSON_413),
    ("runs-search-ajax", "POST", "/ajax-api/2.0/mlflow/runs/search", JSON_CAP + 1, *JSON_413),
    ("registered-models-create", "POST", "/api/2.0/mlflow/registered-models/create", JSON_CAP + 1,
     *JSON_413),
    ("model-versions-update", "PATCH", "/api/2.0/mlflow/model-versions/update", JSON_CAP + 1, *JSON_413),
    ("registered-models-delete", "DELETE", "/api/2.0/mlflow/registered-models/delete", JSON_CAP + 1,
     *JSON_413),
    ("logged-models-create", "POST", "/api/2.0/mlflow/logged-models", JSON_CAP + 1, *JSON_413),
    ("graphql", "POST", "/graphql", JSON_CAP + 1, *JSON_413),
]


def _check(status: int, headers: dict[str, str], body: bytes, want) -> None:
    want_status, code, fragment = want
    assert status == want_status, (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), headers
    err = json.loads(body)
    assert err["error_code"] == code, err
    assert fragment in err["message"], err
    FIGURES["oversized bodies answered"] += 1


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(rest)))
    return int(status_line.split(" ")[1]), headers, rest[:n]


def send_reading(port: int, method: str, path: str, body: bytes, content_type: str):
    """Send the body in 64 KiB pieces, reading whenever the server has something to say, and
    stop sending once it has answered (as curl does)."""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    out = memoryview(head + body)
    sent, got = 0, b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            for key, events in sel.select(timeout=1):
                if events & selectors.EVENT_READ:
                    try:
                        data = sock.recv(65536)
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        return _parse(got), sent - len(head)
                    got += data
                    if b"\r\n\r\n" in got:
                        status, headers, rest = _parse(got)
                        if len(rest) >= int(headers.get("content-length", 1 << 30)):
                            return (status, headers, rest), sent - len(head)
                        # Answered: stop sending, keep reading.
                        sel.modify(sock, selectors.EVENT_READ)
                elif events & selectors.EVENT_WRITE and sent < len(out):
                    try:
                        sent += sock.send(out[sent:sent + 65536])
                    except (BrokenPipeError, ConnectionResetError):
                        sel.modify(sock, selectors.EVENT_READ)
                    if sent == len(out):
                        sel.modify(sock, selectors.EVENT_READ)
        raise TimeoutError(f"no answer to {method} {path}")
    finally:
        sel.close()
        sock.close()


def send_http_client(port: int, method: str, path: str, body, content_type: str):
    """Python's http.client as urllib3 drives it for the stock client: the whole body is written
    (a broken pipe here is the failure this file is about), then the answer is read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": content_type}
        if isinstance(body, bytes):
            conn.request(method, path, body=body, headers=headers)
        else:
            conn.request(method, path, body=body, headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _case(srv, run_id, route):
    _, method, path, size, *want = route
    path = path.replace("<run>", run_id)
    if "upload-artifact" in path:
        return method, path, b"\0" * size, "application/octet-stream", want
    return method, path, _json_body(size), "application/json", want


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_a_client_reading_while_sending_gets_the_error(srv, run_id, route):
    method, path, body, ctype, want = _case(srv, run_id, route)
    (status, headers, got), _sent = send_reading(srv.port, method, path, body, ctype)
    _check(status, headers, got, want)


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_http_client_writing_the_whole_body_first_gets_the_error(srv, run_id, route):
    method, path, body, ctype, want = _case(srv, run_id, route)
    tries = 5 if "upload-artifact" in path else 1
    for _ in range(tries):
        _check(*send_http_client(srv.port, method, path, body, ctype), want)


def test_http_client_with_a_chunked_body_past_the_cap(srv, run_id):
    """No declared length: the cap trips mid-stream, and the rest is still drained."""
    def pieces(total: int):
        for i in range(0, total, 256 * 1024):
            yield b"\0" * min(256 * 1024, total - i)

    path = f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run_id}&path=chunked.bin"
    for _ in range(3):
        _check(*send_http_client(srv.port, "POST", path, pieces(3 * UI_CAP), "application/octet-stream"),
               UI_400)
    # Nothing was stored for the refused uploads.
    listing = srv.get("/ajax-api/2.0/mlflow/artifacts/list", params={"run_id": run_id}).json()
    assert not [f for f in listing.get("files", []) if f["path"] in ("big.bin", "chunked.bin")], listing
    json_chunks = pieces(2 * JSON_CAP)
    _check(*send_http_client(srv.port, "POST", "/api/2.0/mlflow/runs/create", json_chunks, "application/json"),
           JSON_413)


def test_a_body_past_the_drain_bound_is_not_read(srv):
    """A declared length far past the bound is answered at once and the connection closed
    (nothing is read): draining is bounded."""
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall((f"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {10 << 30}\r\n\r\n").encode())
    got = b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        got += data
    sock.close()
    status, headers, body = _parse(got)
    _check(status, headers, body, JSON_413)
    assert time.monotonic() - t0 < 5


def test_zz_figures():
    report_figure(f"oversized bodies: {FIGURES['oversized bodies answered']} JSON errors read by clients that "
                  f"read while sending and by http.client writing whole bodies first")
