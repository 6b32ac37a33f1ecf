#!/usr/bin/env python3
"""`rsflow db upgrade` vs `mlflow db upgrade` (3.18.0) on the same SQLite file (issue 18).

    .venv/bin/python bench/upgrade_bench.py            # 1,000,000 metrics, MLflow 2.9's head
    .venv/bin/python bench/upgrade_bench.py --small    # 10,000 metrics: the test command's smoke

The database is made at MLflow 2.9's head (acf3f17fdcc7) the way MLflow makes one (its initial
tables, then alembic with MLflow's config: compat/flows/build_revisions.py under the 3.18.0
venv), then filled with SQL directly: one experiment, --runs runs with params, tags and
latest_metrics, and --metrics metric rows spread over them (steps, timestamps, values). Then
it is copied once per tool, and each tool upgrades its copy to 3.18.0's head under
/usr/bin/time -v: wall time and peak RSS (maximum resident set size). Both copies must end at
the same revision with the same metrics count. The 51 steps from 2.9's head include the
SQLite "move and copy" rebuilds of the tables MLflow rewrites and the index builds over the
metrics table; both tools run the same statements, rsflow in one transaction.

Writes <out>/upgrade-report.md and upgrade-report.json (default bench/results/; --small:
bench/results/smoke/).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REV_2_9 = "acf3f17fdcc7"
HEAD = "f4a9b2c7d1e6"


def timed(cmd: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return {"wall_s": round(wall, 3), "peak_rss_mib": round(rss_kb / 1024, 1)}


def fill(db: Path, runs: int, metrics: int) -> None:
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("INSERT INTO experiments (experiment_id, name, artifact_location, "
                "lifecycle_stage, creation_time, last_update_time) "
                "VALUES (1, 'bench', '/tmp/bench', 'active', 1, 1)")
    run_ids = [f"{i:032x}" for i in range(1, runs + 1)]
    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id, deleted_time) VALUES (?, ?, 'LOCAL', '', '', 'u', 'FINISHED', ?, ?, '', "
        "'active', '/tmp/bench', 1, NULL)",
        [(r, f"run-{i}", 1_700_000_000_000 + i, 1_700_000_001_000 + i)
         for i, r in enumerate(run_ids)])
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                    [(f"p{j}", str(j), r) for r in run_ids for j in range(5)])
    con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                    [(f"t{j}", "v" * 20, r) for r in run_ids for j in range(3)])
    per_run = max(1, metrics // (runs * 4))
    rnd = random.Random(7)

    def rows():
        n = 0
        for r in run_ids:
            for key in ("loss", "acc", "lr", "grad_norm"):
                for s in range(per_run):
                    if n == metrics:
                        return
                    n += 1
                    yield (key, rnd.random(), 1_700_000_000_000 + s, r, s, 0)
        # (any remainder is spread over the first run)
        s = per_run
        while n < metrics:
            n += 1
            s += 1
            yield ("extra", rnd.random(), 1_700_000_000_000 + s, run_ids[0], s, 0)

    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES (?, ?, ?, ?, ?, ?)", rows())
    # (SQLite's bare columns next to MAX() come from the row holding the maximum.)
    con.execute("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "SELECT key, value, timestamp, MAX(step), is_nan, run_uuid FROM metrics "
                "GROUP BY run_uuid, key")
    con.commit()
    con.close()


def state(db: Path) -> tuple:
    con = sqlite3.connect(db)
    out = (con.execute("SELECT version_num FROM alembic_version").fetchone()[0],
           con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
    con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="10,000 metrics (smoke)")
    ap.add_argument("--metrics", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rsflow-bin", default=os.environ.get("RSFLOW_BIN")
                    or str(REPO / "target" / "release" / "rsflow"))
    ap.add_argument("--mlflow318-py", default=os.environ.get("RSFLOW_MLFLOW318_PY")
                    or str(REPO / ".venv-mlflow318" / "bin" / "python"))
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--work", default="/tmp/rsflow-upgrade-bench")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.small:
        a.metrics, a.runs = 10_000, 10
    out = Path(a.out or (REPO / "bench" / "results" / ("smoke" if a.small else "")))
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")

    t0 = time.perf_counter()
    proc = subprocess.run([a.mlflow318_py, str(REPO / "compat/flows/build_revisions.py"),
                           "sqlite", str(work), REV_2_9, REV_2_9],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-4000:])
    base = work / f"{REV_2_9}.db"
    fill(base, a.runs, a.metrics)
    made = time.perf_counter() - t0
    size_mib = base.stat().st_size / 2**20

    results = {}
    tools = [("rsflow", [a.rsflow_bin, "db", "upgrade"])]
    if not a.skip_mlflow:
        tools.append(("mlflow", [str(Path(a.mlflow318_py).parent / "mlflow"), "db", "upgrade"]))
    for name, cmd in tools:
        copy = work / f"{name}.db"
        shutil.copyfile(base, copy)
        results[name] = timed([*cmd, f"sqlite:///{copy}"], env)
        rev, n = state(copy)
        assert rev == HEAD and n == a.metrics, (name, rev, n)
        results[name]["revision"] = rev
    report = {"metrics": a.metrics, "runs": a.runs, "from": REV_2_9, "to": HEAD,
              "db_mib": round(size_mib, 1), "build_s": round(made, 1), "results": results,
              "rsflow_bin": a.rsflow_bin, "load1": os.getloadavg()[0]}
    if "mlflow" in results:
        report["speedup"] = round(results["mlflow"]["wall_s"] / results["rsflow"]["wall_s"], 2)
        report["rss_ratio"] = round(results["mlflow"]["peak_rss_mib"]
                                    / results["rsflow"]["peak_rss_mib"], 2)
    out.mkdir(parents=True, exist_ok=True)
    (out / "upgrade-report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# db upgrade: {a.metrics:,} metrics, MLflow 2.9's head -> 3.18.0's head (SQLite)",
             "", f"Database: {size_mib:.1f} MiB, {a.runs} runs; rsflow: `{a.rsflow_bin}`; "
             f"load average at the end {report['load1']:.2f}.", "",
             "| tool | wall (s) | peak RSS (MiB) |", "|---|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} db upgrade | {r['wall_s']} | {r['peak_rss_mib']} |")
    if "speedup" in report:
        lines += ["", f"rsflow is {report['speedup']}x faster with {report['rss_ratio']}x less "
                  "peak memory (mlflow / rsflow)."]
    (out / "upgrade-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
