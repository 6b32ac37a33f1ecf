#!/usr/bin/env python3
"""GenAI evaluation: rsflow vs `mlflow server` 3.17.2 on SQLite, side by side (issue #16).

    .venv/bin/python bench/genai_bench.py                 # full size (release rsflow)
    .venv/bin/python bench/genai_bench.py --smoke         # tiny sizes, seconds

What it measures, with the stock mlflow client against each server (a fresh database per
server and repetition; repetitions alternate the order of the servers):
  1. merge_records: `mlflow.genai.datasets.create_dataset` then `merge_records` of --records
     records (inputs, expectations, one tag each) in one call; wall time of the merge, then
     the same records merged again (all updates) and read back with `to_df()`.
  2. evaluate: `mlflow.genai.evaluate` over --rows rows of a managed dataset with a local
     predict_fn and an exact_match `@scorer`; wall time of the call (the client's own work,
     tracing export, assessments, run logging; the same client code on both sides).

Ratios are mlflow time / rsflow time within a repetition (above 1: rsflow faster), then the
median over repetitions. The 1-minute load average is recorded: the machine is shared.
Writes <out>/genai-report.md and genai-report.json (default bench/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, workdir: Path, rsflow_bin: str):
        self.kind, self.port = kind, free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        db = f"sqlite:///{workdir / 'mlflow.db'}"
        art = str(workdir / "mlartifacts")
        if kind == "rsflow":
            argv = [rsflow_bin, "server", "--port", str(self.port), "--backend-store-uri", db,
                    "--artifacts-destination", art]
        else:
            argv = [str(Path(sys.executable).parent / "mlflow"), "server", "--port", str(self.port),
                    "--workers", "1", "--backend-store-uri", db, "--artifacts-destination", art]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.log = open(workdir / f"{kind}.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{kind} did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def run_one(server: Server, records: int, rows: int) -> dict:
    import mlflow
    from mlflow.genai import datasets as gd
    from mlflow.genai.scorers import scorer

    @scorer
    def exact_match(outputs, expectations):
        return outputs == expectations["expected"]

    mlflow.set_tracking_uri(server.url)
    exp = mlflow.set_experiment("genai-bench").experiment_id
    recs = [{"inputs": {"question": f"what is {i}?", "id": i},
             "expectations": {"expected": f"WHAT IS {i}?"}, "tags": {"batch": "1"}} for i in range(records)]
    ds = gd.create_dataset(name="bench-merge", experiment_id=exp)
    t = time.perf_counter()
    ds.merge_records(recs)
    merge_s = time.perf_counter() - t
    t = time.perf_counter()
    ds.merge_records([{**r, "expectations": {"expected": r["expectations"]["expected"], "v": 2}} for r in recs])
    remerge_s = time.perf_counter() - t
    t = time.perf_counter()
    n = len(gd.get_dataset(dataset_id=ds.dataset_id).to_df())
    to_df_s = time.perf_counter() - t
    assert n == records, n

    eval_ds = gd.create_dataset(name="bench-eval", experiment_id=exp)
    eval_ds.merge_records([{"inputs": {"q": f"q{i}"}, "expectations": {"expected": f"Q{i}" if i % 4 else "x"}}
                           for i in range(rows)])
    t = time.perf_counter()
    res = mlflow.genai.evaluate(data=eval_ds, predict_fn=lambda q: q.upper(), scorers=[exact_match])
    eval_s = time.perf_counter() - t
    want = sum(1 for i in range(rows) if i % 4) / rows
    assert abs(res.metrics["exact_match/mean"] - want) < 1e-9, res.metrics
    mlflow.set_tracking_uri(None)
    return {"merge_s": merge_s, "remerge_s": remerge_s, "to_df_s": to_df_s, "evaluate_s": eval_s,
            "load1": os.getloadavg()[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--rows", type=int, default=200)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--smoke", action="store_true", help="100 records, 10 rows, rsflow only")
    p.add_argument("--rsflow-bin", default=os.environ.get("RSFLOW_BIN"))
    p.add_argument("--out", default=None)
    a = p.parse_args()
    if a.smoke:
        a.records, a.rows, a.reps = 100, 10, 1
    rsflow_bin = a.rsflow_bin or str(REPO / "target" / ("debug" if a.smoke else "release") / "rsflow")
    kinds = ["rsflow"] if a.smoke else ["rsflow", "mlflow"]
    out = Path(a.out or REPO / "bench" / "results" / ("smoke" if a.smoke else ""))
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="genai-bench-") as tmp:
        for rep in range(a.reps):
            order = kinds if rep % 2 == 0 else list(reversed(kinds))
            for kind in order:
                server = Server(kind, Path(tmp) / f"{kind}-{rep}", rsflow_bin)
                try:
                    r = run_one(server, a.records, a.rows)
                finally:
                    server.stop()
                print(f"rep {rep} {kind}: {json.dumps({k: round(v, 3) for k, v in r.items()})}", flush=True)
                results[kind].append(r)
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    ratios = {}
    if "mlflow" in results:
        for m in ("merge_s", "remerge_s", "to_df_s", "evaluate_s"):
            ratios[m] = statistics.median(
                results["mlflow"][i][m] / results["rsflow"][i][m] for i in range(a.reps))
    report = {"records": a.records, "rows": a.rows, "reps": a.reps, "median_s": med, "ratio": ratios,
              "runs": results, "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "genai-report.json").write_text(json.dumps(report, indent=1))
    lines = ["# GenAI benchmark: rsflow vs `mlflow server` (SQLite, stock client 3.17.2)", "",
             f"{a.records:,} records merged, {a.rows} evaluation rows, {a.reps} repetition(s); "
             f"{report['machine']}, shared machine (1-min load in the JSON).", "",
             "| step | rsflow s | mlflow s | ratio (mlflow / rsflow) |", "|---|---|---|---|"]
    for m, label in (("merge_s", f"merge_records of {a.records:,} new records"),
                     ("remerge_s", f"merge_records of the same {a.records:,} (updates)"),
                     ("to_df_s", "to_df() of the dataset"),
                     ("evaluate_s", f"genai.evaluate over {a.rows} rows")):
        ml = med.get("mlflow", {}).get(m)
        lines.append(f"| {label} | {med['rsflow'][m]:.2f} | {'' if ml is None else f'{ml:.2f}'} | "
                     f"{'' if m not in ratios else f'{ratios[m]:.1f}x'} |")
    (out / "genai-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
