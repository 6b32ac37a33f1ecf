"""Stock-client workloads for the benchmark, run in their own process by bench.py.

Talks to one server through the unmodified `mlflow` client (MLFLOW_TRACKING_URI) and reports
on stdout, one line per event, so the orchestrator can attribute its memory samples:

    PHASE <name>          a timed workload starts
    RESULT <json>         it ended: {"name": ..., numbers...}
    DONE <json>           every workload ended: ids the raw-HTTP load needs

Any failure raises, and the process exits non-zero: a benchmark that silently measures an
error page is worse than none.

    python client_work.py --mode server|ceiling|big [--no-artifacts] --big FILE --small DIR --tmp DIR

`--mode big` runs only the big upload and download, in a new run (the S3-destination section).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import time
import uuid

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from pagecache import make_room  # bench/ is on sys.path: this script runs from it


def env_int(name, default):
    return int(os.environ.get(name, default))


N_LOG_METRIC = env_int("BENCH_LOG_METRIC_N", 200)
N_BATCHES = env_int("BENCH_BATCHES", 20)
BATCH_SIZE = env_int("BENCH_BATCH_SIZE", 1000)
N_RUNS = env_int("BENCH_RUNS", 300)
N_HISTORY = env_int("BENCH_HISTORY", 2000)
N_SEARCH = env_int("BENCH_SEARCH_REPS", 20)
N_LIST = env_int("BENCH_LIST_REPS", 5)
ONE_MB = 1 << 20


def emit(kind, payload):
    text = payload if isinstance(payload, str) else json.dumps(payload)
    sys.stdout.write(f"{kind} {text}\n")
    sys.stdout.flush()


class Phase:
    """Times one workload and reports it; `extra` adds numbers to the result line."""

    def __init__(self, name):
        self.name = name
        self.extra = {}

    def __enter__(self):
        settle()
        emit("PHASE", self.name)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            seconds = time.perf_counter() - self.t0
            emit("RESULT", {"name": self.name, "seconds": seconds, **self.extra})
        return False


def settle():
    """Flush dirty pages before a timed workload (untimed): otherwise the writeback of the
    previous workload's gigabyte lands on the next one's fsyncs, and a server that ran the
    artifact workloads first would pay for them in its tracking numbers."""
    os.sync()


def median_ms(samples):
    return statistics.median(samples) * 1000.0


def p99_ms(samples):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))] * 1000.0


def fresh_dir(base, name):
    path = os.path.join(base, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def count_files(root):
    return sum(len(files) for _, _, files in os.walk(root))


def big_transfer(client, run_id, big, tmp):
    size = os.path.getsize(big)
    name = os.path.basename(big)
    make_room(size, tmp)
    with Phase("big_upload") as ph:
        client.log_artifact(run_id, big)
        ph.extra["bytes"] = size
    dst = fresh_dir(tmp, "down-big")
    make_room(size, tmp)
    with Phase("big_download") as ph:
        got = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, dst_path=dst)
        ph.extra["bytes"] = size
    if os.path.getsize(got) != size:
        raise RuntimeError(f"downloaded {os.path.getsize(got)} bytes, uploaded {size}")
    shutil.rmtree(dst)


def small_files(client, run_id, small, tmp):
    n = count_files(small)
    with Phase("small_upload") as ph:
        client.log_artifacts(run_id, small, "small")
        ph.extra["files"] = n
    settle()
    times = []
    for _ in range(N_LIST):
        t0 = time.perf_counter()
        listed = client.list_artifacts(run_id, "small")
        times.append(time.perf_counter() - t0)
        if len(listed) != n:
            raise RuntimeError(f"listed {len(listed)} files, uploaded {n}")
    emit("PHASE", "small_list")
    emit("RESULT", {"name": "small_list", "seconds": statistics.median(times), "files": n})
    dst = fresh_dir(tmp, "down-small")
    with Phase("small_download") as ph:
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="small", dst_path=dst)
        ph.extra["files"] = n
    if count_files(dst) != n:
        raise RuntimeError(f"downloaded {count_files(dst)} files, uploaded {n}")
    shutil.rmtree(dst)


def tracking(client, exp_id):
    now = int(time.time() * 1000)

    run = client.create_run(exp_id).info.run_id
    per_call = []
    with Phase("log_metric") as ph:
        for i in range(N_LOG_METRIC):
            t0 = time.perf_counter()
            client.log_metric(run, "loss", i * 0.5, timestamp=now + i, step=i)
            per_call.append(time.perf_counter() - t0)
        ph.extra.update(calls=N_LOG_METRIC, p50_ms=median_ms(per_call), p99_ms=p99_ms(per_call))

    batch_run = client.create_run(exp_id).info.run_id
    with Phase("log_batch") as ph:
        for b in range(N_BATCHES):
            metrics = [
                Metric(f"k{i % 10}", float(i), now + b, b * BATCH_SIZE + i)
                for i in range(BATCH_SIZE)
            ]
            client.log_batch(batch_run, metrics=metrics, synchronous=True)
        ph.extra.update(metrics=N_BATCHES * BATCH_SIZE, batches=N_BATCHES)

    per_run = []
    with Phase("create_run") as ph:
        for i in range(N_RUNS):
            t0 = time.perf_counter()
            tags = {"team": f"t{i % 4}", "owner": "bench", "kind": "sweep", "seq": str(i), "x": "y"}
            r = client.create_run(exp_id, tags=tags, run_name=f"r{i}").info.run_id
            params = [Param(f"p{j}", f"v{(i + j) % 3}") for j in range(5)]
            score = Metric("score", (i * 37 % 100) / 100.0, now, 0)
            client.log_batch(r, metrics=[score], params=params, synchronous=True)
            per_run.append(time.perf_counter() - t0)
        ph.extra.update(runs=N_RUNS, p50_ms=median_ms(per_run))

    # Filter and order over the runs just created; every repetition must return the same rows.
    filt = "params.p0 = 'v0' and metrics.score > 0.2 and tags.team != 't3'"
    expected = None
    settle()
    times = []
    for _ in range(N_SEARCH):
        t0 = time.perf_counter()
        found = client.search_runs(
            [exp_id], filter_string=filt, order_by=["metrics.score DESC"], max_results=100
        )
        times.append(time.perf_counter() - t0)
        ids = [r.info.run_id for r in found]
        if not ids:
            raise RuntimeError("search_runs found nothing")
        if expected is None:
            expected = ids
        elif ids != expected:
            raise RuntimeError("search_runs answered differently across repetitions")
    emit("PHASE", "search_runs")
    emit(
        "RESULT",
        {"name": "search_runs", "seconds": statistics.median(times), "rows": len(expected)},
    )

    hist_run = client.create_run(exp_id).info.run_id
    for start in range(0, N_HISTORY, 1000):
        chunk = [
            Metric("hist", i * 0.25, now + i, i) for i in range(start, min(N_HISTORY, start + 1000))
        ]
        client.log_batch(hist_run, metrics=chunk, synchronous=True)
    settle()
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        hist = client.get_metric_history(hist_run, "hist")
        times.append(time.perf_counter() - t0)
        if len(hist) != N_HISTORY:
            raise RuntimeError(f"metric history has {len(hist)} points, logged {N_HISTORY}")
    emit("PHASE", "metric_history")
    emit(
        "RESULT",
        {"name": "metric_history", "seconds": statistics.median(times), "points": N_HISTORY},
    )
    # runs/get under load reads a typical run: tags, params and a metric, as created above.
    return {"get_run_id": r, "batch_run_id": run}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["server", "ceiling", "big"], required=True)
    ap.add_argument("--no-artifacts", action="store_true")
    ap.add_argument("--big", required=True)
    ap.add_argument("--small", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()

    client = MlflowClient()
    if args.mode == "ceiling":
        # The trivial server knows no runs: any id answers, with a mlflow-artifacts: URI.
        big_transfer(client, uuid.uuid4().hex, args.big, args.tmp)
        emit("DONE", {})
        return

    exp_id = client.create_experiment(f"bench-{uuid.uuid4().hex[:8]}")
    done = {"experiment_id": exp_id}
    if args.mode == "big":
        big_transfer(client, client.create_run(exp_id).info.run_id, args.big, args.tmp)
        emit("DONE", done)
        return
    if not args.no_artifacts:
        art_run = client.create_run(exp_id).info.run_id
        big_transfer(client, art_run, args.big, args.tmp)
        small_files(client, art_run, args.small, args.tmp)
        # The 1 MiB artifact the raw-HTTP load fetches (set-up, not timed).
        one = os.path.join(fresh_dir(args.tmp, "onemb"), "onemb.bin")
        with open(one, "wb") as f:
            f.write(os.urandom(ONE_MB))
        client.log_artifact(art_run, one)
        done["artifact_path"] = f"{exp_id}/{art_run}/artifacts/onemb.bin"
    done.update(tracking(client, exp_id))
    emit("DONE", done)


if __name__ == "__main__":
    main()
