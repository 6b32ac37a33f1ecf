"""Several replicas on one PostgreSQL database (issue: PostgreSQL backend store).

Two target servers share a fresh PostgreSQL database; 16 concurrent clients alternate between
them, racing on experiment names, registered model names and model version numbers while
logging batches into shared runs. Afterwards every acknowledged write is present exactly once,
names are unique, version numbers are 1..n without gaps, and `latest_metrics` (what get_run
reports) agrees with the metric history. Needs RSFLOW_TEST_PG_URL (scripts/postgres.sh).
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from helpers import create_pg_database, pg_admin_url, target_kind

pytestmark = [
    pytest.mark.skipif(pg_admin_url() is None, reason="RSFLOW_TEST_PG_URL is not set "
                       '(bash scripts/postgres.sh start; eval "$(bash scripts/postgres.sh env)")'),
    pytest.mark.timeout(300),
]

CLIENTS = 16
BATCHES = 12            # log_batch calls per client
METRICS_PER_BATCH = 40
VERSIONS = 6            # model versions each client registers
EXPERIMENT_NAMES = 6    # names every client tries to create
DEADLINE_S = 180        # the whole workload must finish within this


class Api:
    """Raw REST with the client's policy: 503 (and connection trouble) is retried."""

    def __init__(self, base_urls: list[str], offset: int):
        self.urls = base_urls
        self.n = offset
        self.session = requests.Session()

    def call(self, endpoint: str, body: dict, method: str = "POST") -> requests.Response:
        last = None
        for attempt in range(30):
            self.n += 1
            url = f"{self.urls[self.n % len(self.urls)]}/api/2.0/mlflow/{endpoint}"
            try:
                if method == "GET":
                    resp = self.session.get(url, params=body, timeout=60)
                else:
                    resp = self.session.post(url, json=body, timeout=60)
            except requests.ConnectionError as e:
                last = e
                time.sleep(0.05 * (attempt + 1))
                continue
            if resp.status_code == 503:
                last = resp
                time.sleep(min(float(resp.headers.get("Retry-After", "1")), 0.2) * random.random())
                continue
            assert resp.status_code < 500, f"{endpoint}: {resp.status_code} {resp.text[:500]}"
            return resp
        raise AssertionError(f"{endpoint}: still unavailable after retries: {last!r}")


def _version_number(resp: requests.Response) -> int:
    return int(resp.json()["model_version"]["version"])


def test_two_replicas_sixteen_clients(servers):
    url = create_pg_database("replicas")
    kind = target_kind()
    a = servers.start(kind, backend=url)
    b = servers.start(kind, backend=url)
    bases = [a.base_url, b.base_url]
    setup = Api(bases, 0)

    exp_id = setup.call("experiments/create", {"name": "replicas-main"}).json()["experiment_id"]
    shared_runs = [
        setup.call("runs/create", {"experiment_id": exp_id, "start_time": 1, "run_name": f"shared-{i}"})
        .json()["run"]["info"]["run_id"]
        for i in range(4)
    ]
    models = ["replica-model-a", "replica-model-b"]
    for m in models:
        setup.call("registered-models/create", {"name": m})

    barrier = threading.Barrier(CLIENTS)
    started = time.monotonic()

    def client(c: int) -> dict:
        api = Api(bases, c)
        rng = random.Random(c)
        out: dict = {"experiments": {}, "metrics": [], "params": [], "tags": {}, "versions": [],
                     "race_model": None}
        barrier.wait(timeout=60)
        # 1. Everyone creates the same experiment names at once: exactly one wins each.
        for i in range(EXPERIMENT_NAMES):
            resp = api.call("experiments/create", {"name": f"race-exp-{i}"})
            if resp.status_code == 200:
                out["experiments"][f"race-exp-{i}"] = resp.json()["experiment_id"]
            else:
                assert resp.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", resp.text
        resp = api.call("registered-models/create", {"name": "race-model"})
        if resp.status_code == 200:
            out["race_model"] = c
        else:
            assert resp.json()["error_code"] == "RESOURCE_ALREADY_EXISTS", resp.text
        # 2. Batches into the shared runs (and one run of its own), with model versions in
        # between, so that writers on both replicas interleave on the same rows.
        own = api.call("runs/create", {"experiment_id": exp_id, "start_time": 2,
                                       "run_name": f"own-{c}"}).json()["run"]["info"]["run_id"]
        runs = shared_runs + [own]
        for i in range(BATCHES):
            run_id = runs[i % len(runs)]
            ts = 1_700_000_000_000 + c * 10_000 + i
            metrics = []
            for j in range(METRICS_PER_BATCH):
                # "shared" keys are written by every client; the step decides the latest.
                key = f"shared_{j % 5}" if j % 2 == 0 else f"c{c}_m{j % 7}"
                metrics.append({"key": key, "value": rng.random(), "timestamp": ts,
                                "step": c * 1000 + i * METRICS_PER_BATCH + j})
            rng.shuffle(metrics)
            params = [{"key": f"c{c}_p{i}", "value": str(i)}, {"key": "common", "value": "same"}]
            tags = [{"key": "writer", "value": f"c{c}"}, {"key": f"c{c}_t", "value": str(i)}]
            resp = api.call("runs/log-batch", {"run_id": run_id, "metrics": metrics,
                                              "params": params, "tags": tags})
            assert resp.status_code == 200, resp.text
            out["metrics"] += [(run_id, m["key"], m["step"], m["timestamp"], m["value"]) for m in metrics]
            out["params"] += [(run_id, p["key"], p["value"]) for p in params]
            out["tags"][(run_id, f"c{c}_t")] = str(i)
            if i % 2 == 0 and len(out["versions"]) < VERSIONS:
                for m in models:
                    resp = api.call("model-versions/create", {"name": m, "run_id": run_id,
                                                             "source": f"runs:/{run_id}/model"})
                    assert resp.status_code == 200, resp.text
                    out["versions"].append((m, _version_number(resp)))
        while len(out["versions"]) < VERSIONS * len(models):
            for m in models:
                resp = api.call("model-versions/create", {"name": m, "run_id": own,
                                                         "source": f"runs:/{own}/model"})
                assert resp.status_code == 200, resp.text
                out["versions"].append((m, _version_number(resp)))
        return out

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS), timeout=DEADLINE_S))
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S, f"workload took {elapsed:.0f}s"
    assert a.alive() and b.alive(), "a replica died:\n" + a.log_tail() + "\n" + b.log_tail()

    check = Api(bases, 0)
    # Experiment names: one winner per name, and the name maps to the winner's id.
    for i in range(EXPERIMENT_NAMES):
        name = f"race-exp-{i}"
        winners = [r["experiments"][name] for r in results if name in r["experiments"]]
        assert len(winners) == 1, (name, winners)
        got = check.call("experiments/get-by-name", {"experiment_name": name}, "GET").json()
        assert got["experiment"]["experiment_id"] == winners[0]
    found = check.call("experiments/search", {"filter": "name LIKE 'race-exp-%'", "max_results": 100}).json()
    assert sorted(e["name"] for e in found["experiments"]) == sorted(f"race-exp-{i}" for i in range(EXPERIMENT_NAMES))
    assert sum(r["race_model"] is not None for r in results) == 1

    # Model versions: every acknowledged number unique, together exactly 1..n.
    for m in models:
        acked = [v for r in results for (name, v) in r["versions"] if name == m]
        assert len(acked) == len(set(acked)), f"{m}: duplicate version numbers acknowledged"
        assert sorted(acked) == list(range(1, CLIENTS * VERSIONS + 1)), m
        stored = check.call("model-versions/search", {"filter": f"name='{m}'", "max_results": 1000}, "GET").json()
        assert sorted(int(v["version"]) for v in stored["model_versions"]) == sorted(acked)

    # Metrics: each acknowledged point once in the history; latest_metrics is its maximum.
    acked_metrics = defaultdict(list)
    for r in results:
        for run_id, key, step, ts, value in r["metrics"]:
            acked_metrics[(run_id, key)].append((step, ts, value))
    runs_seen = {run_id for run_id, _ in acked_metrics}
    run_data = {rid: check.call("runs/get", {"run_id": rid}, "GET").json()["run"]["data"] for rid in runs_seen}
    for (run_id, key), points in acked_metrics.items():
        hist = check.call("metrics/get-history", {"run_id": run_id, "metric_key": key}, "GET").json()
        stored = sorted((m["step"], int(m["timestamp"]), m["value"]) for m in hist["metrics"])
        assert stored == sorted(points), f"{run_id}/{key}: history differs from acknowledged writes"
        latest = {m["key"]: m for m in run_data[run_id].get("metrics", [])}[key]
        step, ts, value = max(points)
        assert (latest["step"], int(latest["timestamp"]), latest["value"]) == (step, ts, value), (run_id, key)

    # Params: every acknowledged one once; tags: the last write of each client wins.
    for run_id in runs_seen:
        data = run_data[run_id]
        params = [(p["key"], p["value"]) for p in data.get("params", [])]
        assert len(params) == len(set(k for k, _ in params))
        want = {(k, v) for r in results for (rid, k, v) in r["params"] if rid == run_id}
        assert set(params) == want, run_id
        tags = {t["key"]: t["value"] for t in data.get("tags", [])}
        for r in results:
            for (rid, key), value in r["tags"].items():
                if rid == run_id:
                    assert tags[key] == value, (run_id, key)
