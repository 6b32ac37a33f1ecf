"""Shared helpers for the rsflow compatibility suite.

Everything that starts processes, talks raw HTTP or compares artifact trees
lives here so the test modules stay free of copy-paste.

Environment knobs (all optional):
    RSFLOW_BIN       rsflow binary (default: <repo>/target/debug/rsflow)
    MLFLOW_REF_BIN   reference `mlflow` CLI (default: the one next to sys.executable)
    COMPAT_TARGET    "rsflow" (default) or "mlflow": which server the flow tests hit
    COMPAT_BIG_MB    size of the big-file round trip in MiB (default 64)
    COMPAT_BACKEND   "sqlite" (default), "postgres" or "mysql": what a server started with the
                     default backend stores into (postgres: a fresh database per server, created
                     through RSFLOW_TEST_PG_URL, e.g. from `scripts/postgres.sh env`; mysql: the
                     same through RSFLOW_TEST_MYSQL_URL from `scripts/mariadb.sh env`, served
                     to both servers as mysql+pymysql://)
    RSFLOW_TEST_PG_URL  admin URL of a PostgreSQL server whose user may create databases
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pytest
import requests

REPO = Path(__file__).resolve().parent.parent

RSFLOW = "rsflow"
MLFLOW = "mlflow"

ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
TRACKING_API = "/api/2.0/mlflow"

RSFLOW_START_TIMEOUT = 30.0
MLFLOW_START_TIMEOUT = 120.0


# --------------------------------------------------------------------------- targets


def target_kind() -> str:
    """Which server the "flow" tests run against (COMPAT_TARGET)."""
    kind = os.environ.get("COMPAT_TARGET", RSFLOW).strip().lower() or RSFLOW
    if kind not in (RSFLOW, MLFLOW):
        raise pytest.UsageError(f"COMPAT_TARGET must be 'rsflow' or 'mlflow', not {kind!r}")
    return kind


def rsflow_bin() -> Path:
    return Path(os.environ.get("RSFLOW_BIN") or REPO / "target" / "debug" / "rsflow")


def mlflow_cli() -> Path:
    env = os.environ.get("MLFLOW_REF_BIN")
    return Path(env) if env else Path(sys.executable).parent / "mlflow"


def server_command(kind: str) -> list[str]:
    """argv prefix for `<kind> server`; fails the test clearly if the binary is missing."""
    if kind == RSFLOW:
        binary = rsflow_bin()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            pytest.fail(
                f"rsflow binary not found at {binary} (set RSFLOW_BIN or run "
                "`cargo build --workspace`); set COMPAT_TARGET=mlflow to run against the reference",
                pytrace=False,
            )
        return [str(binary), "server"]
    if kind == MLFLOW:
        cli = mlflow_cli()
        if not cli.is_file():
            pytest.fail(f"reference mlflow CLI not found at {cli} (set MLFLOW_REF_BIN)", pytrace=False)
        return [str(cli), "server", "--workers", "1"]
    raise ValueError(kind)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for server and CLI subprocesses."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        PYTHONUNBUFFERED="1",
        RUST_BACKTRACE=env.get("RUST_BACKTRACE", "1"),
    )
    env.update(extra)
    return env


def _port_range() -> tuple[int, int] | None:
    """COMPAT_PORTS=lo-hi: pick server ports only from this loopback range."""
    spec = os.environ.get("COMPAT_PORTS", "").strip()
    if not spec:
        return None
    lo, _, hi = spec.partition("-")
    return int(lo), int(hi or lo)


def compat_backend() -> str:
    """What servers started with the default backend store into (COMPAT_BACKEND)."""
    kind = os.environ.get("COMPAT_BACKEND", "sqlite").strip().lower() or "sqlite"
    if kind not in ("sqlite", "postgres", "mysql"):
        raise pytest.UsageError(
            f"COMPAT_BACKEND must be 'sqlite', 'postgres' or 'mysql', not {kind!r}")
    return kind


_MYSQL_DATABASES: list[tuple[str, str]] = []


def _mysql_connect(url: str):
    import pymysql

    u = urllib.parse.urlsplit(url)
    return pymysql.connect(host=u.hostname, port=u.port or 3306,
                           user=urllib.parse.unquote(u.username or ""),
                           password=urllib.parse.unquote(u.password or ""), autocommit=True)


def create_mysql_database(prefix: str = "compat") -> str:
    """A fresh, empty MySQL/MariaDB database through RSFLOW_TEST_MYSQL_URL; returns its
    mysql+pymysql:// URL (the form both servers take). Dropped at exit."""
    admin = os.environ.get("RSFLOW_TEST_MYSQL_URL", "").strip()
    if not admin:
        pytest.fail("RSFLOW_TEST_MYSQL_URL is not set (start one: bash scripts/mariadb.sh start; "
                    'eval "$(bash scripts/mariadb.sh env)")', pytrace=False)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    con = _mysql_connect(admin)
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        con.close()
    _MYSQL_DATABASES.append((admin, name))
    return with_database(admin, name).replace("mysql://", "mysql+pymysql://", 1)


@atexit.register
def _drop_mysql_databases() -> None:
    for admin, name in _MYSQL_DATABASES:
        with contextlib.suppress(Exception):
            con = _mysql_connect(admin)
            try:
                with con.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS {name}")
            finally:
                con.close()
    _MYSQL_DATABASES.clear()


def pg_admin_url(required: bool = False) -> str | None:
    """RSFLOW_TEST_PG_URL, or None (after failing the test when `required`)."""
    url = os.environ.get("RSFLOW_TEST_PG_URL", "").strip()
    if not url and required:
        pytest.fail("RSFLOW_TEST_PG_URL is not set (start one: bash scripts/postgres.sh start; "
                    'eval "$(bash scripts/postgres.sh env)")', pytrace=False)
    return url or None


_PG_DATABASES: list[tuple[str, str]] = []


def _pg_connect(url: str):
    import psycopg2

    con = psycopg2.connect(url, connect_timeout=10)
    con.autocommit = True
    return con


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead (query string kept)."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


def create_pg_database(prefix: str = "compat", admin_url: str | None = None) -> str:
    """A fresh, empty PostgreSQL database; returns its postgresql:// URL. Dropped at exit."""
    admin = admin_url or pg_admin_url(required=True)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    con = _pg_connect(admin)
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()
    _PG_DATABASES.append((admin, name))
    return with_database(admin, name)


@atexit.register
def _drop_pg_databases() -> None:
    for admin, name in _PG_DATABASES:
        with contextlib.suppress(Exception):
            con = _pg_connect(admin)
            try:
                with con.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                con.close()
    _PG_DATABASES.clear()


def free_port() -> int:
    span = _port_range()
    if span is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    import random

    ports = list(range(span[0], span[1] + 1))
    random.shuffle(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in COMPAT_PORTS={span[0]}-{span[1]}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- servers

_LIVE: set[subprocess.Popen] = set()


def _kill_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # uvicorn workers / stray children live in the same process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    _LIVE.discard(proc)


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        _kill_group(proc, grace=2.0)


@dataclass
class Server:
    kind: str
    workdir: Path
    port: int
    argv: list[str]
    prefix: str = ""
    proc: subprocess.Popen | None = None
    log_path: Path = field(default=None)  # type: ignore[assignment]
    db_path: Path | None = None
    artifacts_dir: Path | None = None
    backend: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    tracking_uri = base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def backend_uri(self) -> str:
        if self.backend and not self.backend.startswith("sqlite:"):
            return self.backend
        assert self.db_path is not None, "server started without a backend store"
        return f"sqlite:///{self.db_path}"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 60)
        return requests.request(method, self.url(path), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def api(self, method: str, endpoint: str, **kw: Any) -> requests.Response:
        """Tracking REST call: api("POST", "runs/create", json=...)."""
        return self.request(method, f"{TRACKING_API}/{endpoint}", **kw)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)


def build_server_args(
    kind: str,
    workdir: Path,
    port: int,
    *,
    backend: str | None = "sqlite",
    artifacts_destination: Path | None | str = "default",
    extra_args: Iterable[str] = (),
) -> tuple[list[str], Path | None, Path | None]:
    """argv for a server in `workdir`. backend: "sqlite" (fresh <workdir>/mlflow.db, or a
    fresh PostgreSQL database with COMPAT_BACKEND=postgres), an explicit URI, or None (omit
    the flag, e.g. for --artifacts-only)."""
    argv = server_command(kind) + ["--host", "127.0.0.1", "--port", str(port)]
    db_path = None
    if backend == "sqlite" and compat_backend() == "postgres":
        backend = create_pg_database(f"compat_{kind}")
    elif backend == "sqlite" and compat_backend() == "mysql":
        backend = create_mysql_database(f"compat_{kind}")
    if backend == "sqlite":
        db_path = workdir / "mlflow.db"
        argv += ["--backend-store-uri", f"sqlite:///{db_path}"]
    elif backend is not None:
        argv += ["--backend-store-uri", backend]
        if backend.startswith("sqlite:///"):
            db_path = Path(backend[len("sqlite:///") :])
    art = None
    if artifacts_destination == "default":
        art = workdir / "mlartifacts"
    elif artifacts_destination is not None:
        art = Path(artifacts_destination)
    if art is not None:
        argv += ["--artifacts-destination", str(art)]
    argv += list(extra_args)
    return argv, db_path, art


def _flag_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def start_server(
    kind: str,
    workdir: Path,
    *,
    backend: str | None = "sqlite",
    artifacts_destination: Path | None | str = "default",
    extra_args: Iterable[str] = (),
    static_prefix: str = "",
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    """Start `<kind> server` with cwd=workdir on a free loopback port and wait for /health."""
    workdir.mkdir(parents=True, exist_ok=True)
    extra = list(extra_args)
    if static_prefix:
        extra += ["--static-prefix", static_prefix]
    timeout = timeout or (MLFLOW_START_TIMEOUT if kind == MLFLOW else RSFLOW_START_TIMEOUT)
    last_error = ""
    for _attempt in range(3):  # a free port can be stolen between bind() and the server's bind()
        port = free_port()
        argv, db_path, art = build_server_args(
            kind, workdir, port, backend=backend, artifacts_destination=artifacts_destination,
            extra_args=extra,
        )
        server = Server(kind=kind, workdir=workdir, port=port, argv=argv, prefix=static_prefix,
                        db_path=db_path, artifacts_dir=art,
                        backend=_flag_value(argv, "--backend-store-uri"))
        server.log_path = workdir / f"server-{kind}-{port}.log"
        with open(server.log_path, "ab") as log:
            server.proc = subprocess.Popen(
                argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=child_env(**(env or {})), start_new_session=True,
            )
        _LIVE.add(server.proc)
        ok, last_error = _wait_healthy(server, timeout)
        if ok:
            return server
        server.stop()
        if "address already in use" not in server.log_text().lower():
            break
    pytest.fail(f"{kind} server did not become healthy: {last_error}", pytrace=False)


def _wait_healthy(server: Server, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    health = server.url("/health")
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False, (f"exited with {server.proc.returncode}; argv={server.argv}\n"
                           f"--- log ---\n{server.log_tail()}")
        try:
            if requests.get(health, timeout=2).status_code == 200:
                return True, ""
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False, f"no 200 from {health} within {timeout}s; argv={server.argv}\n--- log ---\n{server.log_tail()}"


def run_server_expect_exit(kind: str, workdir: Path, backend: str, timeout: float = 60.0
                           ) -> tuple[int | None, str]:
    """Start a server that is expected to refuse to run; return (exit code or None, output)."""
    argv, _, _ = build_server_args(kind, workdir, free_port(), backend=backend)
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=child_env(), start_new_session=True)
    _LIVE.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        _kill_group(proc, grace=2.0)
        out = proc.stdout.read() if proc.stdout else b""
        return None, out.decode(errors="replace")
    finally:
        _kill_group(proc, grace=2.0)


class ServerPool:
    """Starts servers and stops all of them on close(); one per fixture scope."""

    def __init__(self, tmp_factory: pytest.TempPathFactory, name: str):
        self._tmp = tmp_factory
        self._name = name
        self._servers: list[Server] = []

    def workdir(self, label: str = "srv") -> Path:
        return self._tmp.mktemp(f"{self._name}-{label}", numbered=True)

    def start(self, kind: str | None = None, workdir: Path | None = None, **kw: Any) -> Server:
        kind = kind or target_kind()
        server = start_server(kind, workdir or self.workdir(kind), **kw)
        self._servers.append(server)
        return server

    def close(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()


def run_mlflow_cli(args: list[str], *, cwd: Path, tracking_uri: str | None = None,
                   timeout: float = 300) -> subprocess.CompletedProcess:
    extra = {"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {}
    return subprocess.run([str(mlflow_cli()), *args], cwd=cwd, env=child_env(**extra),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- assertions


def expect_ref_or_better(server: Server, actual: Any, *, better: Any, ref: Any, why: str) -> None:
    """Deliberate-difference hook.

    rsflow must produce `better`. The reference MLflow server is known to produce `ref`
    (typically a 5xx or an HTML page where a JSON 4xx is right), so when the suite runs
    against it either value is accepted. `why` documents the difference.
    """
    if server.kind == MLFLOW:
        assert actual in (better, ref), f"{why}: got {actual!r}, expected {ref!r} (reference) or {better!r}"
    else:
        assert actual == better, f"{why}: got {actual!r}, expected {better!r}"


def assert_json_error(resp: requests.Response, status: int, error_code: str,
                      message: str | None = None, contains: str | None = None) -> dict:
    """Assert an MLflow JSON error body; returns it."""
    assert resp.status_code == status, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:500]}"
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert body.get("error_code") == error_code, body
    if message is not None:
        assert body.get("message") == message, body
    if contains is not None:
        assert contains in body.get("message", ""), body
    return body


def assert_mlflow_exception(exc: BaseException, error_code: str, status: int | None = None,
                            contains: str | None = None) -> None:
    from mlflow.exceptions import MlflowException

    assert isinstance(exc, MlflowException), repr(exc)
    assert exc.error_code == error_code, (exc.error_code, str(exc))
    if status is not None:
        assert exc.get_http_status_code() == status, (exc.get_http_status_code(), str(exc))
    if contains is not None:
        assert contains in str(exc), str(exc)


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    @property
    def is_json_error(self) -> bool:
        if not self.headers.get("content-type", "").startswith("application/json"):
            return False
        try:
            return "error_code" in self.json()
        except ValueError:
            return False


def raw_http(port: int, method: str, target: str | bytes, *, headers: dict[str, str] | None = None,
             body: bytes = b"", host: str | None = "default", timeout: float = 30.0) -> RawResponse:
    """One HTTP/1.1 request sent byte for byte (no URL normalisation, unlike requests/urllib3),
    on its own connection. host=None sends no Host header."""
    target_b = target.encode("latin-1") if isinstance(target, str) else target
    lines = [method.encode() + b" " + target_b + b" HTTP/1.1"]
    if host == "default":
        host = f"127.0.0.1:{port}"
    if host is not None:
        lines.append(b"Host: " + host.encode("latin-1"))
    hdrs = {"Connection": "close", **(headers or {})}
    if body or method in ("POST", "PUT", "PATCH"):
        hdrs.setdefault("Content-Length", str(len(body)))
    for k, v in hdrs.items():
        lines.append(f"{k}: {v}".encode("latin-1"))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ")
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP response to {method} {target!r}: {raw[:200]!r}")
    headers_out: dict[str, str] = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        headers_out[k.strip().lower()] = v.strip()
    if headers_out.get("transfer-encoding", "").lower() == "chunked":
        rest = _dechunk(rest)
    return RawResponse(int(parts[1]), headers_out, rest)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)


# --------------------------------------------------------------------------- figures

SUMMARY_LINES: list[str] = []


def report_figure(line: str) -> None:
    """A line for the "rsflow figures" section at the end of the pytest run."""
    SUMMARY_LINES.append(line)
    print(line)


# --------------------------------------------------------------------------- files


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create files (relative POSIX paths → content) under root."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    return root


def tree_contents(root: Path) -> dict[str, bytes]:
    """All regular files under root as {relative POSIX path: bytes}."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def write_random_file(path: Path, size: int, seed: int = 1234, chunk: int = 1 << 20) -> str:
    """Write `size` pseudo-random bytes; return their sha256. Streams, so GiB sizes are fine."""
    import random

    rng = random.Random(seed)
    h = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            block = rng.randbytes(n)
            f.write(block)
            h.update(block)
            left -= n
    return h.hexdigest()


def big_file_mb() -> int:
    return int(os.environ.get("COMPAT_BIG_MB", "64"))
