"""Operations benchmark (issue 19), reported as ratios (medians of repeats):

  gc        `rsflow gc` vs `mlflow gc` (artifacts deleted through `mlflow server`, as mlflow gc
            needs) on identical copies of N deleted runs with 10 artifacts each, local disk.
  metrics   `runs/get` throughput under wrk with and without `--expose-prometheus` (request
            ids and the per-request span are on in both); /metrics is scraped during the load
            and parsed with prometheus_client's OpenMetrics parser.
  sha256    local upload throughput (a file PUT through the proxy) with the SHA-256 digest on
            and off (RSFLOW_ARTIFACT_DIGESTS=off).

Environment: RSFLOW_BIN (default target/release/rsflow), RSFLOW_VENV (default .venv),
BENCH_WORKDIR, BENCH_GC_RUNS (10000), BENCH_GC_REPS (1), BENCH_REPS (3), BENCH_WRK_SECS (8),
BENCH_UPLOAD_MB (512), BENCH_SMOKE=1 (tiny sizes). Results: bench/results/ops_report.{json,md}.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
RSFLOW = Path(os.environ.get("RSFLOW_BIN", REPO / "target/release/rsflow"))
VENV = Path(os.environ.get("RSFLOW_VENV", REPO / ".venv"))
MLFLOW = VENV / "bin/mlflow"
GC_RUNS = int(os.environ.get("BENCH_GC_RUNS", 200 if SMOKE else 10_000))
GC_REPS = int(os.environ.get("BENCH_GC_REPS", 1))
# mlflow gc removes 2-3 runs a second on a busy 2-core machine: 10,000 runs would take an hour,
# so it may run on fewer (its cost is per run, sequential); the ratio compares runs/s.
GC_MLFLOW_RUNS = min(GC_RUNS, int(os.environ.get("BENCH_GC_MLFLOW_RUNS", GC_RUNS)))
REPS = int(os.environ.get("BENCH_REPS", 1 if SMOKE else 3))
WRK_SECS = int(os.environ.get("BENCH_WRK_SECS", 2 if SMOKE else 4))
# The metrics A/B alternates short wrk runs many times: on a shared machine the load drifts.
METRICS_REPS = int(os.environ.get("BENCH_METRICS_REPS", 1 if SMOKE else 10))
UPLOAD_MB = int(os.environ.get("BENCH_UPLOAD_MB", 16 if SMOKE else 512))
FILES_PER_RUN = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("MLFLOW_TRACKING_URI", None)
    e.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
             MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **extra)
    return e


class Server:
    def __init__(self, kind: str, work: Path, *extra: str, **env_extra: str):
        self.port = free_port()
        exe = [str(RSFLOW), "server"] if kind == "rsflow" else [str(MLFLOW), "server"]
        argv = exe + ["--host", "127.0.0.1", "--port", str(self.port),
                      "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
                      "--artifacts-destination", str(work / "art"), *extra]
        self.log = open(work / f"{kind}-{self.port}.log", "ab")
        self.proc = subprocess.Popen(argv, cwd=work, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env(**env_extra), start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{kind} server did not start")

    def call(self, endpoint: str, body: dict) -> dict:
        req = urllib.request.Request(f"{self.url}/api/2.0/mlflow/{endpoint}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


# ---------------------------------------------------------------- gc


def make_gc_template(root: Path, n: int) -> str:
    """An MLflow database with one experiment and `n` runs deleted a day ago, each with a
    param, a tag, a metric and 10 files of 1 KiB; written directly (it is only the input)."""
    root.mkdir(parents=True)
    srv = Server("rsflow", root)
    try:
        exp = srv.call("experiments/create", {"name": "gc-bench"})["experiment_id"]
    finally:
        srv.stop()
    con = sqlite3.connect(root / "mlflow.db")
    now = int(time.time() * 1000)
    payload = os.urandom(1024)
    rows = []
    for i in range(n):
        rid = f"{i:032x}"
        rows.append(rid)
        d = root / "art" / exp / rid / "artifacts"
        d.mkdir(parents=True)
        for j in range(FILES_PER_RUN):
            (d / f"f{j}.bin").write_bytes(payload)
    uri = lambda r: f"mlflow-artifacts:/{exp}/{r}/artifacts"  # noqa: E731
    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id, deleted_time) VALUES (?, ?, 'UNKNOWN', '', '', 'bench', 'FINISHED', ?, "
        "?, '', 'deleted', ?, ?, ?)",
        [(r, r[-8:], now - 90_000_000, now - 90_000_000, uri(r), int(exp), now - 86_400_000)
         for r in rows])
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES ('p', 'v', ?)",
                    [(r,) for r in rows])
    con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES ('t', 'x', ?)",
                    [(r,) for r in rows])
    con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES ('m', 1.0, 1, ?, 0, 0)", [(r,) for r in rows])
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES ('m', 1.0, 1, 0, 0, ?)", [(r,) for r in rows])
    con.commit()
    con.close()
    return exp


def copy(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)
    for log in dst.glob("*.log"):
        log.unlink()


def gc_done(work: Path, exp: str) -> bool:
    con = sqlite3.connect(work / "mlflow.db")
    runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    con.close()
    files = sum(1 for p in (work / "art" / exp).rglob("*") if p.is_file()) \
        if (work / "art" / exp).exists() else 0
    return runs == 0 and files == 0


def bench_gc(base: Path) -> dict:
    tpl = base / "gc-template"
    t0 = time.time()
    exp = make_gc_template(tpl, GC_RUNS)
    print(f"gc: template of {GC_RUNS} runs x {FILES_PER_RUN} files in {time.time() - t0:.1f} s",
          flush=True)
    ml_tpl, ml_exp = tpl, exp
    if GC_MLFLOW_RUNS < GC_RUNS:
        ml_tpl = base / "gc-template-mlflow"
        ml_exp = make_gc_template(ml_tpl, GC_MLFLOW_RUNS)
    rs, ml = [], []
    for rep in range(GC_REPS):
        a = base / f"gc-rs-{rep}"
        copy(tpl, a)
        t = time.perf_counter()
        subprocess.run([str(RSFLOW), "gc", "--backend-store-uri", f"sqlite:///{a / 'mlflow.db'}",
                        "--artifacts-destination", str(a / "art")], check=True,
                       stdout=subprocess.DEVNULL, env=env())
        rs.append(time.perf_counter() - t)
        assert gc_done(a, exp), "rsflow gc left runs or files"
        shutil.rmtree(a)
        print(f"gc: rsflow gc {rs[-1]:.2f} s", flush=True)

        b = base / f"gc-ml-{rep}"
        copy(ml_tpl, b)
        srv = Server("mlflow", b)
        try:
            t = time.perf_counter()
            subprocess.run([str(MLFLOW), "gc", "--backend-store-uri",
                            f"sqlite:///{b / 'mlflow.db'}"], check=True,
                           stdout=subprocess.DEVNULL, env=env(MLFLOW_TRACKING_URI=srv.url))
            ml.append(time.perf_counter() - t)
        finally:
            srv.stop()
        assert gc_done(b, ml_exp), "mlflow gc left runs or files"
        shutil.rmtree(b)
        print(f"gc: mlflow gc {ml[-1]:.2f} s", flush=True)
    shutil.rmtree(tpl)
    if ml_tpl != tpl:
        shutil.rmtree(ml_tpl)
    r, m = statistics.median(rs), statistics.median(ml)
    return {"runs": GC_RUNS, "mlflow_runs": GC_MLFLOW_RUNS, "files_per_run": FILES_PER_RUN,
            "rsflow_s": rs, "mlflow_s": ml, "rsflow_runs_per_s": GC_RUNS / r,
            "mlflow_runs_per_s": GC_MLFLOW_RUNS / m,
            "speedup": (GC_RUNS / r) / (GC_MLFLOW_RUNS / m)}


# ---------------------------------------------------------------- metrics overhead


def wrk(url: str) -> float:
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{WRK_SECS}s", url], capture_output=True,
                         text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def bench_metrics(base: Path) -> dict:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    plain_dir, prom_dir = base / "m-plain", base / "m-prom"
    plain_dir.mkdir()
    prom_dir.mkdir()
    plain = Server("rsflow", plain_dir)
    prom = Server("rsflow", prom_dir, "--expose-prometheus", str(prom_dir / "prom"))
    try:
        urls = {}
        for name, srv in (("plain", plain), ("prom", prom)):
            run = srv.call("runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
            srv.call("runs/log-batch", {"run_id": run, "params": [{"key": "p", "value": "v"}],
                                        "metrics": [{"key": "m", "value": 1, "timestamp": 1,
                                                     "step": 0}]})
            urls[name] = f"{srv.url}/api/2.0/mlflow/runs/get?run_id={run}"
        res = {"plain": [], "prom": []}
        for rep in range(METRICS_REPS):
            # Alternate which goes first, so neither always meets the other's leftovers.
            for name in (("plain", "prom") if rep % 2 == 0 else ("prom", "plain")):
                res[name].append(wrk(urls[name]))
        with urllib.request.urlopen(prom.url + "/metrics", timeout=10) as r:
            fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
        served = sum(s.value for s in fams["mlflow_http_request_duration_seconds"].samples
                     if s.name.endswith("_count") and s.labels["path"] == "/api/2.0/mlflow/runs/get")
    finally:
        plain.stop()
        prom.stop()
    # Each pair ran back to back: the median of the pairs' ratios.
    ratios = [q / p for p, q in zip(res["plain"], res["prom"])]
    return {"rps_without_metrics": res["plain"], "rps_with_metrics": res["prom"],
            "overhead_pct": 100.0 * (1 - statistics.median(ratios)),
            "runs_get_counted_in_metrics": served,
            "metric_families_parsed": len(fams)}


# ---------------------------------------------------------------- sha256 cost


def upload(url: str, path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["curl", "-sf", "-T", str(path), url, "-o", "/dev/null"], check=True)
    return time.perf_counter() - t


def bench_sha(base: Path) -> dict:
    src = base / "upload.bin"
    with open(src, "wb") as f:
        for _ in range(UPLOAD_MB):
            f.write(os.urandom(1 << 20))
    on_dir, off_dir = base / "sha-on", base / "sha-off"
    on_dir.mkdir()
    off_dir.mkdir()
    on = Server("rsflow", on_dir)
    off = Server("rsflow", off_dir, RSFLOW_ARTIFACT_DIGESTS="off")
    times = {"on": [], "off": []}
    try:
        for rep in range(REPS):
            for name, srv in (("off", off), ("on", on)):
                times[name].append(upload(
                    f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/b/{rep}.bin", src))
    finally:
        on.stop()
        off.stop()
    src.unlink()
    mb = UPLOAD_MB
    t_on, t_off = statistics.median(times["on"]), statistics.median(times["off"])
    return {"upload_mb": mb, "seconds_digest_on": times["on"], "seconds_digest_off": times["off"],
            "mb_s_on": mb / t_on, "mb_s_off": mb / t_off,
            "throughput_cost_pct": 100.0 * (1 - t_off / t_on)}


def main() -> None:
    base = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="ops-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["gc", "metrics", "sha256"]
    report = {"smoke": SMOKE, "reps": REPS, "rsflow": str(RSFLOW)}
    try:
        if "metrics" in which:
            report["metrics"] = bench_metrics(base)
            print("metrics:", json.dumps(report["metrics"]), flush=True)
        if "sha256" in which:
            report["sha256"] = bench_sha(base)
            print("sha256:", json.dumps(report["sha256"]), flush=True)
        if "gc" in which:
            report["gc"] = bench_gc(base)
            print("gc:", json.dumps(report["gc"]), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = HERE / "results" / ("smoke" if SMOKE else "")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ops_report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Operations benchmark (issue 19)", "",
             "| row | rsflow | reference | ratio |", "|---|---|---|---|"]
    if "gc" in report:
        g = report["gc"]
        lines.append(f"| gc of deleted runs x {g['files_per_run']} files (local): rsflow on "
                     f"{g['runs']}, mlflow on {g['mlflow_runs']} | {g['rsflow_runs_per_s']:.0f} "
                     f"runs/s | mlflow gc {g['mlflow_runs_per_s']:.1f} runs/s | "
                     f"{g['speedup']:.0f}x faster |")
    if "metrics" in report:
        m = report["metrics"]
        lines.append(f"| runs/get with --expose-prometheus | "
                     f"{statistics.median(m['rps_with_metrics']):.0f} req/s | without "
                     f"{statistics.median(m['rps_without_metrics']):.0f} req/s | "
                     f"{m['overhead_pct']:+.1f}% overhead |")
    if "sha256" in report:
        s = report["sha256"]
        lines.append(f"| {s['upload_mb']} MiB local upload, SHA-256 on | {s['mb_s_on']:.0f} MB/s |"
                     f" digest off {s['mb_s_off']:.0f} MB/s | {s['throughput_cost_pct']:+.1f}% "
                     "cost |")
    (out / "ops_report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
