"""Operations benchmark (issue 19), reported as ratios (medians of repeats):

  gc        `rsflow gc` vs `mlflow gc` (artifacts deleted through `mlflow server`, as mlflow gc
            needs) on identical copies of N deleted runs with 10 artifacts each, local disk.
  gc-s3     the same with the artifacts on S3 (an s3s-fs started here, the test command's S3
            server; `--artifacts-destination s3://bench/<copy>` on both servers).
  download  `rsflow artifacts download` vs `mlflow artifacts download` of one file of
            BENCH_DOWNLOAD_MB (1024) from the same rsflow server, SHA-256 checked each time.
  metrics   `runs/get` throughput under wrk with and without `--expose-prometheus` (request
            ids and the per-request span are on in both); /metrics is scraped during the load
            and parsed with prometheus_client's OpenMetrics parser.
  sha256    local upload throughput (a file PUT through the proxy) with the SHA-256 digest on
            and off (RSFLOW_ARTIFACT_DIGESTS=off).

Environment: RSFLOW_BIN (default target/release/rsflow), RSFLOW_VENV (default .venv),
BENCH_WORKDIR, BENCH_GC_RUNS (10000), BENCH_GC_REPS (1), BENCH_REPS (3), BENCH_WRK_SECS (8),
BENCH_UPLOAD_MB (512), BENCH_DOWNLOAD_MB (1024), BENCH_GC_MLFLOW_RUNS (all; smoke 3),
BENCH_GC_S3_RUNS (1000: s3s-fs walks its whole bucket for every prefix listing, so with 100,000
objects the store, not the gc, sets the pace; both sides list the same way, runs/s compared),
BENCH_MLFLOW_ROWS (rows that also run mlflow: gc,gc-s3,download; smoke: gc), BENCH_SMOKE=1
(tiny sizes). Results: bench/results/ops_report.{json,md}.
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
GC_S3_RUNS = int(os.environ.get("BENCH_GC_S3_RUNS", min(GC_RUNS, 1_000)))
GC_REPS = int(os.environ.get("BENCH_GC_REPS", 1))
# mlflow gc removes 2-3 runs a second on a busy 2-core machine: 10,000 runs would take an hour,
# so it may run on fewer (its cost is per run, sequential); the ratio compares runs/s.
GC_MLFLOW_RUNS = min(GC_RUNS, int(os.environ.get("BENCH_GC_MLFLOW_RUNS",
                                                  3 if SMOKE else GC_RUNS)))
# Rows whose reference (mlflow) side runs. The smoke checks rsflow's code paths on every row
# but pays for the mlflow CLI and `mlflow server` start-up (~10 s each on a busy 2-core
# machine) on the cheapest row only, so the comparison code still runs; the full bench runs
# mlflow on every row.
MLFLOW_ROWS = set(os.environ.get("BENCH_MLFLOW_ROWS", "gc" if SMOKE else "gc,gc-s3,download")
                  .split(","))
# The server `mlflow gc` deletes the runs' artifacts through (mlflow-artifacts:/ URIs). The
# full bench uses `mlflow server`, the reference; the smoke uses rsflow's (its artifact DELETE
# route, which mlflow gc then exercises), saving `mlflow server`'s ~25 s start-up.
GC_MLFLOW_VIA = os.environ.get("BENCH_GC_MLFLOW_VIA", "rsflow" if SMOKE else "mlflow")
REPS = int(os.environ.get("BENCH_REPS", 1 if SMOKE else 3))
WRK_SECS = int(os.environ.get("BENCH_WRK_SECS", 2 if SMOKE else 4))
# The metrics A/B alternates short wrk runs many times: on a shared machine the load drifts.
METRICS_REPS = int(os.environ.get("BENCH_METRICS_REPS", 1 if SMOKE else 10))
UPLOAD_MB = int(os.environ.get("BENCH_UPLOAD_MB", 16 if SMOKE else 512))
DOWNLOAD_MB = int(os.environ.get("BENCH_DOWNLOAD_MB", 16 if SMOKE else 1024))
S3_BUCKET = "bench"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "benchkey", "AWS_SECRET_ACCESS_KEY": "benchsecret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
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
    def __init__(self, kind: str, work: Path, *extra: str, dest: str | None = None,
                 **env_extra: str):
        self.port = free_port()
        exe = [str(RSFLOW), "server"] if kind == "rsflow" else [str(MLFLOW), "server"]
        argv = exe + ["--host", "127.0.0.1", "--port", str(self.port),
                      "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
                      "--artifacts-destination", dest or str(work / "art"), *extra]
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


def make_gc_template(root: Path, n: int, art: Path | None = None) -> str:
    """An MLflow database with one experiment and `n` runs deleted a day ago, each with a
    param, a tag, a metric and 10 files of 1 KiB; written directly (it is only the input).
    The files go under `art` (default `root/art`; an s3s-fs bucket directory for S3)."""
    root.mkdir(parents=True)
    art = art or root / "art"
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
        d = art / exp / rid / "artifacts"
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


def gc_done(work: Path, exp: str, art: Path | None = None) -> bool:
    art = art or work / "art"
    con = sqlite3.connect(work / "mlflow.db")
    runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    con.close()
    files = sum(1 for p in (art / exp).rglob("*") if p.is_file()) if (art / exp).exists() else 0
    return runs == 0 and files == 0


class S3s:
    """An s3s-fs (the test command's S3 server) on a directory: objects are files under
    `data/<bucket>/`, so a template of 100,000 objects is written and copied as files."""

    def __init__(self, base: Path):
        exe = subprocess.run(["bash", str(REPO / "scripts/storage-servers.sh"), "s3s-bin"],
                             capture_output=True, text=True, check=True).stdout.strip()
        self.data = base / "s3s-data"
        self.bucket = self.data / S3_BUCKET
        self.bucket.mkdir(parents=True)
        self.port = free_port()
        self.log = open(base / "s3s-fs.log", "ab")
        self.proc = subprocess.Popen(
            [exe, "--host", "127.0.0.1", "--port", str(self.port), "--access-key",
             S3_KEYS["AWS_ACCESS_KEY_ID"], "--secret-key", S3_KEYS["AWS_SECRET_ACCESS_KEY"],
             str(self.data)], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self.env = {"MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.port}", **S3_KEYS}

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.log.close()


def bench_gc(base: Path, s3: S3s | None = None) -> dict:
    """`rsflow gc` vs `mlflow gc`; with `s3`, the artifacts live in its bucket (each copy under
    its own prefix) and both servers reach them as `s3://bench/<prefix>`."""
    tag = "gc-s3" if s3 else "gc"
    runs = GC_S3_RUNS if s3 else GC_RUNS
    ml_runs = min(runs, GC_MLFLOW_RUNS)
    tpl = base / f"{tag}-template"
    # Where a work directory's artifacts are, and the server's destination for them.
    art = (lambda w: s3.bucket / w.name) if s3 else (lambda w: w / "art")  # noqa: E731
    dest = (lambda w: f"s3://{S3_BUCKET}/{w.name}") if s3 else (lambda w: str(w / "art"))  # noqa: E731
    extra_env = s3.env if s3 else {}

    def clone(src: Path, dst: Path) -> None:
        copy(src, dst)
        if s3:
            shutil.copytree(art(src), art(dst))

    def drop(w: Path) -> None:
        shutil.rmtree(w)
        if s3:
            shutil.rmtree(art(w), ignore_errors=True)

    t0 = time.time()
    exp = make_gc_template(tpl, runs, art(tpl))
    print(f"{tag}: template of {runs} runs x {FILES_PER_RUN} files in "
          f"{time.time() - t0:.1f} s", flush=True)
    with_mlflow = tag in MLFLOW_ROWS
    ml_tpl, ml_exp = tpl, exp
    if with_mlflow and ml_runs < runs:
        ml_tpl = base / f"{tag}-template-mlflow"
        ml_exp = make_gc_template(ml_tpl, ml_runs, art(ml_tpl))
    rs, ml = [], []
    for rep in range(GC_REPS):
        a = base / f"{tag}-rs-{rep}"
        clone(tpl, a)
        t = time.perf_counter()
        subprocess.run([str(RSFLOW), "gc", "--backend-store-uri", f"sqlite:///{a / 'mlflow.db'}",
                        "--artifacts-destination", dest(a)], check=True,
                       stdout=subprocess.DEVNULL, env=env(**extra_env))
        rs.append(time.perf_counter() - t)
        assert gc_done(a, exp, art(a)), "rsflow gc left runs or files"
        drop(a)
        print(f"{tag}: rsflow gc {rs[-1]:.2f} s", flush=True)
        if not with_mlflow:
            continue

        b = base / f"{tag}-ml-{rep}"
        clone(ml_tpl, b)
        srv = Server(GC_MLFLOW_VIA, b, dest=dest(b), **extra_env)
        try:
            t = time.perf_counter()
            subprocess.run([str(MLFLOW), "gc", "--backend-store-uri",
                            f"sqlite:///{b / 'mlflow.db'}"], check=True,
                           stdout=subprocess.DEVNULL, env=env(MLFLOW_TRACKING_URI=srv.url))
            ml.append(time.perf_counter() - t)
        finally:
            srv.stop()
        assert gc_done(b, ml_exp, art(b)), "mlflow gc left runs or files"
        drop(b)
        print(f"{tag}: mlflow gc {ml[-1]:.2f} s", flush=True)
    drop(tpl)
    if ml_tpl != tpl:
        drop(ml_tpl)
    r = statistics.median(rs)
    out = {"runs": runs, "files_per_run": FILES_PER_RUN, "rsflow_s": rs,
           "rsflow_runs_per_s": runs / r}
    if ml:
        m = statistics.median(ml)
        out.update(mlflow_runs=ml_runs, mlflow_s=ml, mlflow_via=GC_MLFLOW_VIA,
                   mlflow_runs_per_s=ml_runs / m,
                   speedup=(runs / r) / (ml_runs / m))
    return out


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


# ---------------------------------------------------------------- CLI download


def sha256_of(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def bench_download(base: Path) -> dict:
    work = base / "dl"
    work.mkdir()
    src = base / "download.bin"
    with open(src, "wb") as f:
        for _ in range(DOWNLOAD_MB):
            f.write(os.urandom(1 << 20))
    want = sha256_of(src)
    srv = Server("rsflow", work)
    times = {"rsflow": [], "mlflow": []}
    try:
        info = srv.call("runs/create", {"experiment_id": "0"})["run"]["info"]
        rid, root = info["run_id"], info["artifact_uri"].split("mlflow-artifacts:/", 1)[1]
        upload(f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/{root.strip('/')}/big.bin", src)
        src.unlink()
        cli = {"rsflow": [str(RSFLOW), "artifacts", "download", "-q"],
               "mlflow": [str(MLFLOW), "artifacts", "download"]}
        sides = ("rsflow", "mlflow") if "download" in MLFLOW_ROWS else ("rsflow",)
        for rep in range(REPS):
            for name in (sides if rep % 2 == 0 else sides[::-1]):
                dst = base / f"dl-{name}-{rep}"
                t = time.perf_counter()
                subprocess.run(cli[name] + ["--run-id", rid, "--artifact-path", "big.bin",
                                            "--dst-path", str(dst)], check=True,
                               stdout=subprocess.DEVNULL, env=env(MLFLOW_TRACKING_URI=srv.url))
                times[name].append(time.perf_counter() - t)
                assert sha256_of(dst / "big.bin") == want, f"{name}: SHA-256 differs"
                shutil.rmtree(dst)
                print(f"download: {name} {times[name][-1]:.2f} s", flush=True)
    finally:
        srv.stop()
    r = statistics.median(times["rsflow"])
    out = {"download_mb": DOWNLOAD_MB, "rsflow_s": times["rsflow"], "rsflow_mb_s": DOWNLOAD_MB / r}
    if times["mlflow"]:
        m = statistics.median(times["mlflow"])
        out.update(mlflow_s=times["mlflow"], mlflow_mb_s=DOWNLOAD_MB / m, speedup=m / r)
    return out


def main() -> None:
    base = Path(os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="ops-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    which = sys.argv[1:] or ["gc", "gc-s3", "download", "metrics", "sha256"]
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
        if "gc-s3" in which:
            s3 = S3s(base)
            try:
                report["gc_s3"] = bench_gc(base, s3)
            finally:
                s3.stop()
            print("gc-s3:", json.dumps(report["gc_s3"]), flush=True)
        if "download" in which:
            report["download"] = bench_download(base)
            print("download:", json.dumps(report["download"]), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = HERE / "results" / ("smoke" if SMOKE else "")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ops_report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Operations benchmark (issue 19)", "",
             "| row | rsflow | reference | ratio |", "|---|---|---|---|"]
    for key, where in (("gc", "local"), ("gc_s3", "S3, s3s-fs")):
        if key in report:
            g = report[key]
            if "speedup" not in g:
                lines.append(f"| gc of {g['runs']} deleted runs x {g['files_per_run']} files "
                             f"({where}) | {g['rsflow_runs_per_s']:.0f} runs/s | (mlflow not "
                             "run) | - |")
                continue
            lines.append(f"| gc of deleted runs x {g['files_per_run']} files ({where}): rsflow on "
                         f"{g['runs']}, mlflow on {g['mlflow_runs']} | "
                         f"{g['rsflow_runs_per_s']:.0f} runs/s | mlflow gc "
                         f"{g['mlflow_runs_per_s']:.1f} runs/s | {g['speedup']:.0f}x faster |")
    if "download" in report:
        d = report["download"]
        if "speedup" not in d:
            lines.append(f"| `artifacts download` of {d['download_mb']} MiB | "
                         f"{d['rsflow_mb_s']:.0f} MB/s | (mlflow not run) | - |")
        else:
            lines.append(f"| `artifacts download` of {d['download_mb']} MiB (same rsflow "
                         f"server) | {d['rsflow_mb_s']:.0f} MB/s | mlflow artifacts download "
                         f"{d['mlflow_mb_s']:.0f} MB/s | {d['speedup']:.1f}x faster |")
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
