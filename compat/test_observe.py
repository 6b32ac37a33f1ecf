"""Observability (issue 19): `/metrics` with `--expose-prometheus`, parsed by the Prometheus
project's own OpenMetrics parser; `X-Request-Id` on every response and in the JSON log lines."""

from __future__ import annotations

import json
import os

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from helpers import RSFLOW, start_server

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow's own metrics and request ids")
    work = tmp_path_factory.mktemp("observe")
    srv = start_server(RSFLOW, work, extra_args=["--expose-prometheus", str(work / "prom")],
                       env={"RSFLOW_LOG_FORMAT": "json", "RSFLOW_LOG": "info,rsflow_api=debug"})
    yield srv
    srv.stop()


def scrape(srv) -> dict[str, object]:
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def samples(family, name: str, **labels) -> list:
    return [s for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_metrics_count_requests_by_route_template_and_bytes(server):
    assert (server.artifacts_dir / ".." / "prom").resolve().is_dir()
    base = scrape(server)
    for _ in range(3):
        assert server.api("GET", "experiments/get", params={"experiment_id": "0"}).status_code == 200
    assert server.api("GET", "runs/get", params={"run_id": "nope"}).status_code == 404
    payload = os.urandom(10_000)
    art = "/api/2.0/mlflow-artifacts/artifacts/obs/x.bin"
    assert server.put(art, data=payload).status_code == 200
    assert server.get(art).content == payload
    fams = scrape(server)

    lat = fams["mlflow_http_request_duration_seconds"]
    count = samples(lat, "mlflow_http_request_duration_seconds_count", method="GET",
                    path="/api/2.0/mlflow/experiments/get", status="200")
    assert count and count[0].value == 3
    assert samples(lat, "mlflow_http_request_duration_seconds_count",
                   path="/api/2.0/mlflow/runs/get", status="404")[0].value == 1
    buckets = samples(lat, "mlflow_http_request_duration_seconds_bucket",
                      path="/api/2.0/mlflow/experiments/get", le="+Inf")
    assert buckets[0].value == 3
    proxy_path = "/api/2.0/mlflow-artifacts/artifacts/{*path}"
    assert samples(lat, "mlflow_http_request_duration_seconds_count", method="PUT", path=proxy_path)

    total = fams["mlflow_http_request"]
    got = samples(total, "mlflow_http_request_total", method="GET", status="200")[0].value
    before = samples(base["mlflow_http_request"], "mlflow_http_request_total", method="GET",
                     status="200")
    assert got - (before[0].value if before else 0) >= 4

    proxy = fams["rsflow_artifact_proxy_bytes"]
    assert samples(proxy, "rsflow_artifact_proxy_bytes_total", direction="in",
                   backend="file")[0].value >= len(payload)
    assert samples(proxy, "rsflow_artifact_proxy_bytes_total", direction="out",
                   backend="file")[0].value >= len(payload)
    pools = fams["rsflow_db_pool_connections"]
    assert samples(pools, "rsflow_db_pool_connections", pool="write", state="max")[0].value == 1
    assert "rsflow_sqlite_writer_queue" in fams
    assert samples(fams["rsflow_build_info"], "rsflow_build_info")[0].labels["mlflow_version"]
    assert "rsflow_gc_runs_deleted" in fams


def test_request_ids_on_responses_and_in_logs(server):
    r = server.api("GET", "runs/get", params={"run_id": "nope"}, headers={"X-Request-Id": "ops-42"})
    assert r.headers["x-request-id"] == "ops-42"
    # Generated when absent, and when the client's is not a sane token (no log injection).
    ids = {server.get("/health").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)
    bad = server.get("/health", headers={"X-Request-Id": "a b\"c"}).headers["x-request-id"]
    assert bad != "a b\"c" and len(bad) == 32
    assert server.get("/no/such/route").headers["x-request-id"]

    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    mine = [x for x in lines if x.get("span", {}).get("request_id") == "ops-42"]
    assert mine, "no log line carries the request id"
    assert mine[-1]["span"]["route"] == "/api/2.0/mlflow/runs/get"
    assert mine[-1]["span"]["status"] == 404


def test_metrics_off_without_the_flag(tmp_path):
    if os.environ.get("COMPAT_TARGET", RSFLOW) != RSFLOW:
        pytest.skip("rsflow only")
    srv = start_server(RSFLOW, tmp_path / "plain")
    try:
        r = srv.get("/metrics")
        assert r.status_code == 404
        assert r.headers["x-request-id"]
    finally:
        srv.stop()
