"""Side-by-side benchmark: rsflow vs `mlflow server` vs FastTrackML, plus physical references.

Run by bench/run.sh (which builds and installs what this needs); configuration is by
environment, see bench/README.md. For every repetition it measures, in this order:

  - the physical references on the workdir's disk (copy with and without fsync, plain read);
  - the stock client's ceiling: the same client against bench/ceiling.rs, a trivial server;
  - each server on fresh state: start-up time to the first good /health, idle memory, the
    stock-client workloads (client_work.py in its own process), raw HTTP load with wrk, idle
    memory after the load. The resident memory of the server's whole process tree is sampled
    every BENCH_SAMPLE_MS throughout and attributed to the workload running at the time.

Results go to BENCH_RESULTS/report.json (raw and aggregated) and report.md (report.py).
"""

import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import report  # noqa: E402  (bench/ is not a package)
import s3_bench  # noqa: E402
from pagecache import make_room  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"


def env_int(name, full, smoke):
    return int(os.environ.get(name, smoke if SMOKE else full))


CFG = {
    "smoke": SMOKE,
    "reps": env_int("BENCH_REPS", 3, 1),
    "big_mb": env_int("BENCH_BIG_MB", 1024, 4),
    "small_files": env_int("BENCH_SMALL_FILES", 1000, 20),
    "small_kb": env_int("BENCH_SMALL_KB", 4, 4),
    "log_metric_n": env_int("BENCH_LOG_METRIC_N", 200, 10),
    "batches": env_int("BENCH_BATCHES", 20, 2),
    "batch_size": env_int("BENCH_BATCH_SIZE", 1000, 100),
    "runs": env_int("BENCH_RUNS", 300, 10),
    "history": env_int("BENCH_HISTORY", 2000, 100),
    "search_reps": env_int("BENCH_SEARCH_REPS", 20, 2),
    "list_reps": env_int("BENCH_LIST_REPS", 5, 1),
    "wrk_secs": env_int("BENCH_WRK_SECS", 10, 1),
    "wrk_conns": env_int("BENCH_WRK_CONNS", 32, 4),
    "wrk_threads": env_int("BENCH_WRK_THREADS", 2, 1),
    "wrk_batch": env_int("BENCH_WRK_BATCH", 100, 10),
    "sample_ms": env_int("BENCH_SAMPLE_MS", 50, 50),
    "port_base": env_int("BENCH_PORT_BASE", 15700, 15700),
    # The big file through the proxy to an S3 server (s3_bench.py); 0 leaves it out.
    "s3": env_int("BENCH_S3", 1, 1),
    # Only the S3 section (for working on it; the goals of the other sections read n/a).
    "s3_only": env_int("BENCH_S3_ONLY", 0, 0),
    # Which S3 server the S3 section runs on (run.sh: s3s-fs or s3s-fs-wide).
    "s3_server": os.environ.get("BENCH_S3_SERVER", "s3s-fs"),
}
SERVERS = [s for s in os.environ.get("BENCH_SERVERS", "rsflow,mlflow,fasttrackml").split(",") if s]
WORKDIR = os.environ["BENCH_WORKDIR"]
RESULTS = os.environ["BENCH_RESULTS"]
RSFLOW_BIN = os.environ["RSFLOW_BIN"]
MLFLOW_BIN = os.environ["MLFLOW_BIN"]
FML_BIN = os.environ.get("FML_BIN", "")
CEILING_BIN = os.environ["CEILING_BIN"]
CLIENT_PY = os.environ["CLIENT_PY"]
S3S_BIN = os.environ.get("S3S_BIN", "")
WRK_BIN = os.environ.get("WRK_BIN", "wrk")
CHUNK = 1 << 20


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# Memory of a process tree


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def tree_rss_kib(root):
    """VmRSS summed over `root` and all its descendants (KiB); 0 once the tree is gone."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack.extend(_children(pid))
    return total


class Sampler(threading.Thread):
    """Samples the tree's RSS every interval; keeps the peak for each phase name."""

    def __init__(self, pid, interval_s):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval_s
        self.phase = None
        self.peaks = {}
        self.samples = 0
        self._halt = threading.Event()

    def set_phase(self, name):
        self.phase = name
        # A phase's first sample is taken at once, so even a short phase has one.
        self._record(name)

    def _record(self, phase):
        if phase is None:
            return
        rss = tree_rss_kib(self.pid)
        self.samples += 1
        if rss > self.peaks.get(phase, 0):
            self.peaks[phase] = rss

    def run(self):
        while not self._halt.wait(self.interval):
            self._record(self.phase)

    def stop(self):
        self._halt.set()
        self.join()


# ---------------------------------------------------------------------------------------------
# Servers


def http_get(port, path, timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_health(port, proc, t0, timeout_s):
    """Seconds from t0 (just before the process was launched) to the first 200 on /health."""
    while True:
        try:
            status, _ = http_get(port, "/health", timeout=1.0)
            if status == 200:
                return time.perf_counter() - t0
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        if proc.poll() is not None:
            raise BenchError(f"server exited with {proc.returncode} before /health answered")
        if time.perf_counter() - t0 > timeout_s:
            raise BenchError(f"/health did not answer within {timeout_s}s")
        time.sleep(0.0005)


def server_command(kind, port, state, destination=None):
    destination = destination or f"{state}/mlartifacts"
    if kind in ("rsflow", "mlflow"):
        # The same flags for both; mlflow gets its defaults (uvicorn, 4 workers, serve-artifacts):
        # exactly `mlflow server`.
        binary = RSFLOW_BIN if kind == "rsflow" else MLFLOW_BIN
        return [
            binary, "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{state}/mlflow.db",
            "--artifacts-destination", destination,
        ]  # fmt: skip
    if kind == "fasttrackml":
        return [
            FML_BIN, "server", "--listen-address", f"127.0.0.1:{port}",
            "--database-uri", f"sqlite://{state}/fasttrackml.db",
            "--default-artifact-root", f"{state}/artifacts",
        ]  # fmt: skip
    if kind == "ceiling":
        return [CEILING_BIN, str(port)]
    raise ValueError(kind)


class Server:
    """One server on fresh state; `destination` and `env` for the S3 section (s3_bench.py)."""

    def __init__(self, kind, port, state, destination=None, env=None):
        self.kind, self.port, self.state = kind, port, state
        self.destination, self.extra_env = destination, env or {}
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self):
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        self.logf = open(os.path.join(WORKDIR, f"{self.kind}-{self.port}.log"), "wb")
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
                   **self.extra_env)  # fmt: skip
        t0 = time.perf_counter()
        # Own session: stop() signals this process group, i.e. exactly what we started.
        self.proc = subprocess.Popen(
            server_command(self.kind, self.port, self.state, self.destination),
            cwd=self.state, stdout=self.logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
        return wait_health(self.port, self.proc, t0, 180)

    def stop(self):
        if self.proc is None:
            return
        for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # Workers that outlived the leader are still in its process group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
        self.logf.close()


# ---------------------------------------------------------------------------------------------
# Workloads


def client_env(url):
    return dict(
        os.environ,
        MLFLOW_TRACKING_URI=url,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_HTTP_REQUEST_TIMEOUT="900",
        BENCH_LOG_METRIC_N=str(CFG["log_metric_n"]),
        BENCH_BATCHES=str(CFG["batches"]),
        BENCH_BATCH_SIZE=str(CFG["batch_size"]),
        BENCH_RUNS=str(CFG["runs"]),
        BENCH_HISTORY=str(CFG["history"]),
        BENCH_SEARCH_REPS=str(CFG["search_reps"]),
        BENCH_LIST_REPS=str(CFG["list_reps"]),
    )


def run_client(mode, url, data, sampler, no_artifacts=False, label="", cmd=None, env=None):
    """Runs client_work.py (or `cmd`, which speaks its protocol); returns ({workload: result},
    done-info). Raises on any failure."""
    if cmd is None:
        cmd = [CLIENT_PY, os.path.join(HERE, "client_work.py"), "--mode", mode,
               "--big", data["big"], "--small", data["small"], "--tmp", data["tmp"]]  # fmt: skip
    if no_artifacts:
        cmd.append("--no-artifacts")
    errpath = os.path.join(WORKDIR, f"client-{label}.stderr")
    results, done = {}, None
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                env={**client_env(url), **(env or {})},
                                start_new_session=True)  # fmt: skip
        try:
            for line in proc.stdout:
                kind, _, payload = line.rstrip("\n").partition(" ")
                if kind == "PHASE":
                    if sampler:
                        sampler.set_phase(payload)
                    log(f"  {label}: {payload}")
                elif kind == "RESULT":
                    r = json.loads(payload)
                    results[r.pop("name")] = r
                    if sampler:
                        sampler.set_phase(None)
                elif kind == "DONE":
                    done = json.loads(payload)
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if rc != 0 or done is None:
        with open(errpath, errors="replace") as f:
            tail = f.read()[-3000:]
        raise BenchError(f"client ({label}) failed with exit code {rc}:\n{tail}")
    return results, done


def run_wrk(kind, url, conns, threads, env_extra, sampler=None, phase=None):
    cmd = [WRK_BIN, f"-t{threads}", f"-c{conns}", f"-d{CFG['wrk_secs']}s", "--timeout", "10s",
           "-s", os.path.join(HERE, "wrk", "bench.lua"), url]  # fmt: skip
    env = dict(os.environ, BENCH_WRK_KIND=kind, BENCH_WRK_BATCH=str(CFG["wrk_batch"]), **env_extra)
    os.sync()
    if sampler:
        sampler.set_phase(phase)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    finally:
        if sampler:
            sampler.set_phase(None)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    r = json.loads(line[len("WRKJSON ") :])
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs else 0.0
    r["errors"] = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    if r["errors"]:
        r["stderr"] = proc.stderr[-1000:]
    return r


def wrk_loads(server, done, sampler):
    """The raw-HTTP load; returns {name: wrk result}."""
    c, t = CFG["wrk_conns"], CFG["wrk_threads"]
    base = server.url
    loads = [
        ("log_batch", "log_batch", base + "/", c, t, {"BENCH_RUN_ID": done["batch_run_id"]}),
        ("log_metric_c1", "log_metric", base + "/", 1, 1, {"BENCH_RUN_ID": done["batch_run_id"]}),
        ("runs_get", "get", f"{base}/api/2.0/mlflow/runs/get?run_id={done['get_run_id']}", c, t, {}),
        ("runs_search", "search", base + "/api/2.0/mlflow/runs/search", c, t,
         {"BENCH_EXP_ID": done["experiment_id"]}),
    ]  # fmt: skip
    if "artifact_path" in done:
        url = f"{base}/api/2.0/mlflow-artifacts/artifacts/{done['artifact_path']}"
        loads.append(("artifact_get_1mib", "get", url, c, t, {}))
    out = {}
    for name, kind, url, conns, threads, extra in loads:
        log(f"  {server.kind}: wrk {name} -c{conns} {CFG['wrk_secs']}s")
        out[name] = run_wrk(kind, url, conns, threads, extra, sampler, f"wrk_{name}")
    return out


def idle_rss(pid, settle_s=1.0, n=10):
    time.sleep(settle_s)
    samples = []
    for _ in range(n):
        samples.append(tree_rss_kib(pid))
        time.sleep(0.1)
    return statistics.median(samples)


def bench_server(kind, port, data, rep):
    server = Server(kind, port, os.path.join(WORKDIR, f"state-{kind}"))
    out = {"rep": rep}
    try:
        log(f"rep {rep}: starting {kind} on :{port}")
        # The machine is shared: the load average says how quiet it was.
        out["loadavg_start"] = os.getloadavg()[0]
        os.sync()
        out["startup_s"] = server.start()
        out["idle_kib"] = idle_rss(server.proc.pid)
        sampler = Sampler(server.proc.pid, CFG["sample_ms"] / 1000.0)
        sampler.start()
        try:
            out["client"], done = run_client(
                "server", server.url, data, sampler,
                no_artifacts=(kind == "fasttrackml"), label=f"{kind}-{rep}",
            )  # fmt: skip
            out["wrk"] = wrk_loads(server, done, sampler)
        finally:
            sampler.stop()
        out["peaks_kib"] = sampler.peaks
        out["idle_after_kib"] = idle_rss(server.proc.pid)
        out["loadavg_end"] = os.getloadavg()[0]
    finally:
        server.stop()
        shutil.rmtree(server.state, ignore_errors=True)
    return out


def physical_refs(big):
    """Copy with fsync (what an upload must at least cost), without, and a plain read."""
    size = os.path.getsize(big)
    dst = os.path.join(WORKDIR, "copy.bin")
    buf = bytearray(CHUNK)
    out = {"bytes": size}
    # The source comes from the page cache, as it does for the client's uploads.
    with open(big, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    for label, do_sync in (("copy_fsync_s", True), ("copy_nofsync_s", False)):
        if os.path.exists(dst):
            os.unlink(dst)
        make_room(size, WORKDIR)
        os.sync()
        t0 = time.perf_counter()
        with open(big, "rb", buffering=0) as src, open(dst, "wb", buffering=0) as out_f:
            view = memoryview(buf)
            while True:
                n = src.readinto(buf)
                if not n:
                    break
                out_f.write(view[:n])
            if do_sync:
                os.fsync(out_f.fileno())
        out[label] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open(dst, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    out["read_s"] = time.perf_counter() - t0
    os.unlink(dst)
    return out


def client_ceiling(port, data, rep):
    server = Server("ceiling", port, os.path.join(WORKDIR, "state-ceiling"))
    try:
        server.start()
        results, _ = run_client("ceiling", server.url, data, None, label=f"ceiling-{rep}")
        return {"rep": rep, **results}
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Set-up and main


def make_data():
    data = {"big": os.path.join(WORKDIR, "big.bin"), "small": os.path.join(WORKDIR, "small"),
            "tmp": os.path.join(WORKDIR, "client-tmp")}  # fmt: skip
    size = CFG["big_mb"] * CHUNK
    if not (os.path.exists(data["big"]) and os.path.getsize(data["big"]) == size):
        log(f"writing {CFG['big_mb']} MiB test file")
        block = os.urandom(CHUNK)
        with open(data["big"], "wb") as f:
            for _ in range(CFG["big_mb"]):
                f.write(block)
    shutil.rmtree(data["small"], ignore_errors=True)
    os.makedirs(data["small"])
    for i in range(CFG["small_files"]):
        with open(os.path.join(data["small"], f"f{i:04d}.bin"), "wb") as f:
            f.write(os.urandom(CFG["small_kb"] * 1024))
    os.makedirs(data["tmp"], exist_ok=True)
    return data


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    df = cmd_out(["df", "-hT", WORKDIR]).splitlines()
    dev = df[-1].split()[0] if len(df) > 1 else ""
    base = os.path.basename(dev)
    rot = ""
    try:
        with open(f"/sys/block/{base}/queue/rotational") as f:
            rot = "rotational" if f.read().strip() == "1" else "non-rotational"
    except OSError:
        pass
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "disk": (" ".join(df[-1].split()[:3]) + f" ({rot})") if len(df) > 1 else "",
        "python": platform.python_version(),
    }


def versions():
    repo = os.path.dirname(HERE)
    v = {
        "rsflow": cmd_out(["git", "-C", repo, "describe", "--always", "--dirty"]),
        "rsflow_bin": RSFLOW_BIN,
        "mlflow": cmd_out([CLIENT_PY, "-c", "import mlflow; print(mlflow.__version__)"]),
        "wrk": cmd_out(["sh", "-c", f"{WRK_BIN} -v 2>&1 | head -1"]),
    }
    if FML_BIN:
        v["fasttrackml"] = cmd_out([FML_BIN, "--version"])
    return v


def main():
    # SIGTERM unwinds like an exception, so every `finally` stops the server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(WORKDIR, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    servers = [s for s in SERVERS if s != "fasttrackml" or FML_BIN]
    if "fasttrackml" in SERVERS and not FML_BIN:
        log("FastTrackML is not installed: left out")
    log(f"config: {json.dumps(CFG)}; servers: {servers}")
    data = make_data()
    raw = {"refs": [], "ceiling": [], "servers": {s: [] for s in servers}, "errors": [], "s3": []}
    if (CFG["s3"] or CFG["s3_only"]) and not S3S_BIN:
        raise BenchError("BENCH_S3=1 needs S3S_BIN (the s3s-fs binary; run.sh installs it)")
    s3_helpers = SimpleNamespace(
        Server=Server, Sampler=Sampler, run_client=run_client, log=log, BenchError=BenchError,
        workdir=WORKDIR, sample_s=CFG["sample_ms"] / 1000.0, s3s_bin=S3S_BIN,
        client_py=CLIENT_PY, here=HERE, servers=servers, smoke=SMOKE,
    )  # fmt: skip
    for rep in range(CFG["reps"]):
        ports = CFG["port_base"] + 10 + (rep % 8) * 10
        if CFG["s3_only"]:
            raw["s3"].append({"rep": rep, **s3_bench.run_rep(rep, ports, data, s3_helpers)})
            continue
        log(f"rep {rep}: physical references")
        raw["refs"].append({"rep": rep, **physical_refs(data["big"])})
        log(f"rep {rep}: client ceiling")
        raw["ceiling"].append(client_ceiling(ports + 9, data, rep))
        for i, kind in enumerate(servers):
            try:
                raw["servers"][kind].append(bench_server(kind, ports + i, data, rep))
            except BenchError as e:
                # Our own server must work; the others' failures are part of the result.
                if kind == "rsflow" or SMOKE:
                    raise
                log(f"rep {rep}: {kind} failed: {e}")
                raw["errors"].append({"server": kind, "rep": rep, "error": str(e)[-2000:]})
        if CFG["s3"]:
            s3 = s3_bench.run_rep(rep, ports, data, s3_helpers)
            for err in s3.pop("errors", []):
                raw["errors"].append({"server": "mlflow (S3)", "rep": rep, "error": err})
            raw["s3"].append({"rep": rep, **s3})
    doc = {"config": CFG, "servers": servers, "machine": machine_info(), "versions": versions(),
           "command": os.environ.get("BENCH_COMMAND", "bash bench/run.sh").strip(), "raw": raw}  # fmt: skip
    doc.update(report.aggregate(doc))
    with open(os.path.join(RESULTS, "report.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
    with open(os.path.join(RESULTS, "report.md"), "w") as f:
        f.write(report.render(doc))
    log(f"wrote {RESULTS}/report.md and report.json")
    problems = report.load_errors(doc, strict=SMOKE)
    if problems:
        for p in problems:
            log(f"ERROR: {p}")
        sys.exit(1)


if __name__ == "__main__":
    main()
