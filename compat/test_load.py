"""Load (issue: hardening; security.md §4.3 D11, bounded for a 2-core box).

64 concurrent clients run mixed tracking and artifact traffic against one rsflow on loopback
for RSFLOW_LOAD_SECS seconds (default 60; scripts/test.sh uses 20). Every request is valid, so
every answer must be a 2xx: zero 5xx (and zero 4xx). Afterwards every acknowledged artifact
must download with the same SHA-256 and every acknowledged metric must be in its history
exactly once. Prints requests served, p50/p99 latency and errors.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests

from helpers import RSFLOW, report_figure, target_kind

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="load run against rsflow")

CLIENTS = 64
API = "/api/2.0/mlflow"
ART = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass
class ClientLog:
    run_id: str = ""
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    metrics: Counter = field(default_factory=Counter)  # (key, step, value, ts) -> times acked
    artifacts: dict[str, str] = field(default_factory=dict)  # path -> sha256 of last acked PUT
    bytes_up: int = 0


def client_loop(base: str, exp_id: str, idx: int, deadline: float, log: ClientLog) -> None:
    rng = random.Random(idx)
    s = requests.Session()

    def call(method, path, **kw):
        t = time.perf_counter()
        try:
            r = s.request(method, base + path, timeout=60, **kw)
        except requests.RequestException as e:
            log.errors.append(f"{method} {path}: {e!r}")
            return None
        log.latencies.append(time.perf_counter() - t)
        log.statuses[r.status_code // 100 * 100] += 1
        if r.status_code != 200:
            log.errors.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            return None
        return r

    r = call("POST", f"{API}/runs/create", json={"experiment_id": exp_id, "run_name": f"load-{idx}"})
    if r is None:
        return
    log.run_id = run_id = r.json()["run"]["info"]["run_id"]
    art_root = r.json()["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    step = 0
    n = 0
    while time.monotonic() < deadline:
        n += 1
        op = rng.random()
        ts = int(time.time() * 1000)
        if op < 0.30:
            value = rng.random()
            key = f"m{idx % 4}"
            if call("POST", f"{API}/runs/log-metric",
                    json={"run_id": run_id, "key": key, "value": value, "timestamp": ts, "step": step}):
                log.metrics[(key, step, value, ts)] += 1
            step += 1
        elif op < 0.42:
            batch = [{"key": "batch", "value": rng.random(), "timestamp": ts, "step": step + i}
                     for i in range(10)]
            if call("POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": batch}):
                for m in batch:
                    log.metrics[(m["key"], m["step"], m["value"], m["timestamp"])] += 1
            step += 10
        elif op < 0.60:
            size = rng.choice([0, 100, 4096, 65536, 262144, 1 << 20])
            data = rng.randbytes(size)
            name = f"f{n % 25}.bin" if rng.random() < 0.5 else "latest.bin"
            path = f"{art_root}/c{idx}/{name}"
            if call("PUT", f"{ART}/{path}", data=data):
                log.artifacts[path] = hashlib.sha256(data).hexdigest()
                log.bytes_up += size
        elif op < 0.72 and log.artifacts:
            path, sha = rng.choice(sorted(log.artifacts.items()))
            r = call("GET", f"{ART}/{path}")
            if r is not None and hashlib.sha256(r.content).hexdigest() != sha:
                log.errors.append(f"GET {path}: read-your-writes violated")
        elif op < 0.78:
            call("GET", f"{API}/artifacts/list", params={"run_id": run_id, "path": f"c{idx}"})
        elif op < 0.84:
            call("GET", f"{API}/runs/get", params={"run_id": run_id})
        elif op < 0.90:
            call("POST", f"{API}/runs/search",
                 json={"experiment_ids": [exp_id], "max_results": 20, "filter": f"attributes.run_id = '{run_id}'"})
        elif op < 0.95:
            call("POST", f"{API}/runs/set-tag", json={"run_id": run_id, "key": f"t{n % 10}", "value": str(n)})
        else:
            call("GET", f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": "batch"})


def history(base: str, run_id: str, key: str) -> list[dict]:
    out, token = [], None
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": 25000}
        if token:
            params["page_token"] = token
        r = requests.get(base + f"{API}/metrics/get-history", params=params, timeout=60)
        r.raise_for_status()
        body = r.json()
        out += body.get("metrics", [])
        token = body.get("next_page_token")
        if not token:
            return out


def pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def test_mixed_load_no_errors_no_lost_data(module_servers):
    secs = float(os.environ.get("RSFLOW_LOAD_SECS", "60"))
    server = module_servers.start(RSFLOW)
    base = server.base_url
    exp_id = requests.post(base + f"{API}/experiments/create",
                           json={"name": f"load-{uuid.uuid4().hex[:8]}"}).json()["experiment_id"]
    logs = [ClientLog() for _ in range(CLIENTS)]
    start = time.monotonic()
    deadline = start + secs
    with ThreadPoolExecutor(CLIENTS) as pool:
        for f in [pool.submit(client_loop, base, exp_id, i, deadline, logs[i]) for i in range(CLIENTS)]:
            f.result()
    elapsed = time.monotonic() - start

    latencies = sorted(x for log in logs for x in log.latencies)
    statuses = sum((log.statuses for log in logs), Counter())
    errors = [e for log in logs for e in log.errors]
    served = len(latencies)

    # Verification: every acknowledged artifact and metric, read back.
    sess = requests.Session()
    art_checked = art_bad = 0
    for log in logs:
        for path, sha in log.artifacts.items():
            r = sess.get(base + f"{ART}/{path}", timeout=60)
            art_checked += 1
            if r.status_code != 200 or hashlib.sha256(r.content).hexdigest() != sha:
                art_bad += 1
    metrics_acked = sum(sum(log.metrics.values()) for log in logs)
    metrics_lost = metrics_dup = 0
    for log in logs:
        if not log.run_id:
            continue
        keys = {k for (k, *_rest) in log.metrics}
        stored = Counter()
        for key in keys:
            for m in history(base, log.run_id, key):
                stored[(m["key"], int(m["step"]), float(m["value"]), int(m["timestamp"]))] += 1
        for item, n in log.metrics.items():
            got = stored.get(item, 0)
            metrics_lost += max(0, n - got)
            metrics_dup += max(0, got - n)
        metrics_dup += sum(n for item, n in stored.items() if item not in log.metrics)

    lost = art_bad + metrics_lost
    report_figure(
        f"load: {CLIENTS} clients x {elapsed:.0f}s: {served} requests served ({served / elapsed:.0f}/s), "
        f"p50 {pct(latencies, 0.50) * 1000:.1f} ms, p99 {pct(latencies, 0.99) * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000 if latencies else 0:.0f} ms; statuses {dict(sorted(statuses.items()))}; "
        f"{len(errors)} errors; {art_checked} artifacts "
        f"({sum(log.bytes_up for log in logs) / 2**20:.0f} MiB uploaded) and {metrics_acked} metrics "
        f"verified; data lost: {lost}, duplicated metrics: {metrics_dup}"
    )
    assert not errors, f"{len(errors)} failed requests, e.g.:\n" + "\n".join(errors[:20])
    assert statuses.get(500, 0) == 0
    assert art_bad == 0 and metrics_lost == 0 and metrics_dup == 0
    assert served > CLIENTS * 10, "the load run did almost nothing"
    assert requests.get(base + "/health").status_code == 200
