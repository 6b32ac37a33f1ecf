"""Fixtures for the rsflow compatibility suite.

Server fixtures start `rsflow server` (or, with COMPAT_TARGET=mlflow, the
reference `mlflow server`) on a free loopback port, in a fresh temp dir that is
also its cwd, wait for GET /health == 200 and kill the process group at teardown.
"""

from __future__ import annotations

import os
import re

import pytest

from helpers import MLFLOW, RSFLOW, ServerPool, target_kind

# Client-side settings for every in-process client and CLI subprocess: no telemetry,
# no progress bars, and few retries so a server answering 5xx fails a test in
# seconds instead of spinning through the client's 7 retries with backoff.
for _k, _v in {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "GIT_PYTHON_REFRESH": "quiet",
}.items():
    os.environ.setdefault(_k, _v)
os.environ.pop("MLFLOW_TRACKING_URI", None)


# The longest modules start first, so that under pytest-xdist no worker is left running one of
# them alone at the end (whole modules go to a worker, in collection order). Longest first, by
# the summed --durations of a full run on main (2026-12-06, under load: 598, 429, 354, 323, 304,
# 201, 155, 137, 92, 85, 85 s).
_LONG_MODULES = ("test_ui_genai_browser.py", "test_db_upgrade.py", "test_auth_shared_db.py",
                 "test_ui_browser.py", "test_ui_traces_browser.py", "test_mysql_backend.py",
                 "test_db_upgrade_chain.py", "test_db_interop.py", "test_auth.py", "test_web_ui.py",
                 "test_search_datasets.py", "test_ui_prompts_browser.py")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return _LONG_MODULES.index(name) if name in _LONG_MODULES else len(_LONG_MODULES)

    items.sort(key=rank)  # stable: the order inside each module is kept


def pytest_report_header(config):
    return f"compat target: {target_kind()} (COMPAT_TARGET)"


# Figures printed at the end ("rsflow figures"). Under pytest-xdist (the test command runs
# the suite on COMPAT_WORKERS processes, one module per worker at a time) each worker hands its
# lines to the controller through `workeroutput`, which prints them all.
_WORKER_LINES: list[str] = []


def pytest_sessionfinish(session):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from helpers import SUMMARY_LINES

        workeroutput["rsflow_summary"] = list(SUMMARY_LINES)


def pytest_testnodedown(node, error):
    _WORKER_LINES.extend(getattr(node, "workeroutput", {}).get("rsflow_summary", []))


def pytest_terminal_summary(terminalreporter):
    from helpers import SUMMARY_LINES

    lines = [*SUMMARY_LINES, *_WORKER_LINES]
    if lines:
        terminalreporter.section("rsflow figures")
        for line in lines:
            terminalreporter.write_line(line)


def _pool(request, tmp_path_factory, name):
    pool = ServerPool(tmp_path_factory, name)
    request.addfinalizer(pool.close)
    return pool


@pytest.fixture(scope="session")
def session_servers(request, tmp_path_factory):
    """ServerPool whose servers live for the whole session."""
    return _pool(request, tmp_path_factory, "session")


@pytest.fixture(scope="module")
def module_servers(request, tmp_path_factory):
    """ServerPool whose servers live for one test module."""
    return _pool(request, tmp_path_factory, request.module.__name__)


@pytest.fixture
def servers(request, tmp_path_factory):
    """ServerPool whose servers live for one test."""
    return _pool(request, tmp_path_factory, re.sub(r"[^\w.-]", "_", request.node.name)[:40])


@pytest.fixture(scope="session")
def flow_server(session_servers):
    """The shared target server in default mode (serve-artifacts on, sqlite backend).

    Tests on it must not interfere: they use unique experiment names and filter on them.
    """
    return session_servers.start(target_kind())


@pytest.fixture
def client(flow_server):
    """MlflowClient bound to flow_server; the fluent API points at it too."""
    yield from _bound_client(flow_server)


def _bound_client(server):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(server.tracking_uri)
    try:
        yield MlflowClient(tracking_uri=server.tracking_uri)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


@pytest.fixture
def bind_client():
    """Function returning an MlflowClient for a given server (and pointing the fluent API at it)."""
    gens = []

    def bind(server):
        gen = _bound_client(server)
        gens.append(gen)
        return next(gen)

    yield bind
    for gen in reversed(gens):
        gen.close()


__all__ = ["MLFLOW", "RSFLOW"]
