"""Where the stock client's own time ends: the same requests through `MlflowClient` and as raw
HTTP (urllib, JSON encoded before the clock starts), against any running server.

    .venv/bin/python bench/client_floor.py http://127.0.0.1:5000

Seeds an experiment like client_work.py (300 runs with 5 tags, 5 params and a metric), then
prints medians of 20: search_runs (filter + order, as in the benchmark) through the client,
as raw HTTP, and the client's parsing of that response alone; log_batch of 1000 metrics
through the client, as raw HTTP, and the client's encoding of the request alone. The client's time minus the raw time is what no server
can remove.
"""

import json
import os
import statistics
import sys
import time
import urllib.request

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, Run  # noqa: E402
from mlflow.protos.service_pb2 import LogBatch, SearchRuns  # noqa: E402
from mlflow.utils.proto_json_utils import message_to_json, parse_dict  # noqa: E402

FILTER = "params.p0 = 'v0' and metrics.score > 0.2 and tags.team != 't3'"


def median_ms(f, n=20):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    base = sys.argv[1].rstrip("/")
    client = MlflowClient(base)
    exp = client.create_experiment(f"floor-{time.time_ns()}")
    now = int(time.time() * 1000)
    for i in range(300):
        tags = {"team": f"t{i % 4}", "owner": "bench", "kind": "sweep", "seq": str(i), "x": "y"}
        r = client.create_run(exp, tags=tags, run_name=f"r{i}").info.run_id
        params = [Param(f"p{j}", f"v{(i + j) % 3}") for j in range(5)]
        client.log_batch(r, metrics=[Metric("score", (i * 37 % 100) / 100.0, now, 0)], params=params)

    def post(path, body):
        req = urllib.request.Request(
            f"{base}/api/2.0/mlflow/{path}", data=body, headers={"Content-Type": "application/json"}
        )
        return urllib.request.urlopen(req).read()

    search = json.dumps(
        {"experiment_ids": [exp], "filter": FILTER, "order_by": ["metrics.score DESC"], "max_results": 100}
    ).encode()
    answer = post("runs/search", search)

    def parse_only():
        msg = SearchRuns.Response()
        parse_dict(json.loads(answer), msg)
        return [Run.from_proto(r) for r in msg.runs]

    runs = len(parse_only())
    print(f"search_runs ({runs} runs, {len(answer)} bytes):")
    print(f"  client        {median_ms(lambda: client.search_runs([exp], FILTER, order_by=['metrics.score DESC'], max_results=100)):.2f} ms")
    print(f"  raw HTTP      {median_ms(lambda: post('runs/search', search)):.2f} ms")
    print(f"  client parse  {median_ms(parse_only):.2f} ms (no server involved)")

    run = client.create_run(exp).info.run_id
    step = [0]

    def batch():
        step[0] += 1
        return [Metric(f"k{i % 10}", float(i), now + step[0], step[0] * 1000 + i) for i in range(1000)]

    def raw_batch():
        step[0] += 1
        ms = [
            {"key": f"k{i % 10}", "value": float(i), "timestamp": now + step[0], "step": step[0] * 1000 + i}
            for i in range(1000)
        ]
        body = json.dumps({"run_id": run, "metrics": ms}).encode()
        t0 = time.perf_counter()
        post("runs/log-batch", body)
        return time.perf_counter() - t0

    def encode_only():
        msg = LogBatch(run_id=run, metrics=[m.to_proto() for m in batch()])
        return message_to_json(msg)

    print("log_batch of 1000 metrics:")
    print(f"  client        {median_ms(lambda: client.log_batch(run, metrics=batch(), synchronous=True)):.2f} ms")
    print(f"  raw HTTP      {statistics.median(raw_batch() for _ in range(20)) * 1000:.2f} ms")
    print(f"  client encode {median_ms(encode_only):.2f} ms (entities to JSON, no server involved)")


if __name__ == "__main__":
    main()
