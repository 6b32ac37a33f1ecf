"""Basic-auth cost: `runs/get` requests/s with auth on vs off (wrk, same binary, same data),
side by side with `mlflow server` (on vs off), and server CPU for 1000 wrong passwords.

    RSFLOW_BIN=target/release/rsflow .venv/bin/python bench/auth_bench.py
    AUTH_BENCH_SECS=5 AUTH_BENCH_REPEATS=3 AUTH_BENCH_MLFLOW=0 ...   # knobs

Goals (issue #17): auth costs <= 10% of runs/get throughput; 1000 wrong passwords cost < 2 s of
server CPU. Figures are medians of the repeats; ratios are taken within a repeat.
"""

from __future__ import annotations

import base64
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "compat"))
from helpers import MLFLOW, RSFLOW, free_port  # noqa: E402

SECS = int(os.environ.get("AUTH_BENCH_SECS", "5"))
REPEATS = int(os.environ.get("AUTH_BENCH_REPEATS", "3"))
WITH_MLFLOW = os.environ.get("AUTH_BENCH_MLFLOW", "1") == "1"
ADMIN = ("admin", "admin-password-1234")
USER = ("bench-user", "bench-password-1234")


def start(kind: str, workdir: Path, auth: bool) -> tuple[subprocess.Popen, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if kind == RSFLOW:
        argv = [os.environ.get("RSFLOW_BIN", str(REPO / "target/release/rsflow")), "server"]
    else:
        argv = [str(Path(sys.executable).parent / "mlflow"), "server", "--workers", "1"]
    argv += ["--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
             "--artifacts-destination", str(workdir / "art")]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", RSFLOW_LOG="warn")
    if auth:
        ini = workdir / "basic_auth.ini"
        # MLflow's default: no credential cache on MLflow; rsflow's default cache.
        ini.write_text(f"[mlflow]\ndefault_permission = READ\n"
                       f"database_uri = sqlite:///{workdir}/basic_auth.db\nadmin_username = admin\n")
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(ini), MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN[1],
                   MLFLOW_FLASK_SERVER_SECRET_KEY="bench")
        argv += ["--app-name", "basic-auth"]
        extra = REPO / "target" / "auth-pylib"  # Flask-WTF, as compat/test_auth.py installs it
        if extra.is_dir():
            env["PYTHONPATH"] = f"{extra}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "log.txt", "wb"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{kind} did not start: {(workdir / 'log.txt').read_text()[-2000:]}")


def seed(url: str, auth: bool) -> str:
    creds = ADMIN if auth else None
    if auth:
        r = requests.post(url + "/api/2.0/mlflow/users/create", auth=ADMIN,
                          json={"username": USER[0], "password": USER[1]})
        r.raise_for_status()
    exp = requests.post(url + "/api/2.0/mlflow/experiments/create", auth=creds,
                        json={"name": "bench"}).json()["experiment_id"]
    run = requests.post(url + "/api/2.0/mlflow/runs/create", auth=creds,
                        json={"experiment_id": exp, "start_time": 0}).json()["run"]["info"]["run_id"]
    check = requests.get(url + f"/api/2.0/mlflow/runs/get?run_id={run}",
                         auth=USER if auth else None)
    assert check.status_code == 200, check.text
    return run


def wrk(url: str, run: str, auth: bool) -> float:
    argv = ["wrk", "-t2", "-c16", f"-d{SECS}s"]
    if auth:
        token = base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()
        argv += ["-H", f"Authorization: Basic {token}"]
    out = subprocess.run(argv + [f"{url}/api/2.0/mlflow/runs/get?run_id={run}"],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(out)
    errors = re.search(r"Socket errors:.*", out)
    if errors:  # e.g. mlflow server with auth: each request waits for a full password hash
        print(f"  wrk {url}: {errors.group(0)}", file=sys.stderr, flush=True)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) of every process in the server's session: `mlflow server` runs its
    requests in a uvicorn child, so the pid alone would read 0. The server is started with
    start_new_session, so its session id is its pid."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == pid:  # fields[3] is the session id (field 6 of stat)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wrong_passwords(proc: subprocess.Popen, url: str) -> tuple[float, dict[int, int]]:
    before = cpu_seconds(proc.pid)
    statuses: dict[int, int] = {}
    with requests.Session() as s:
        for i in range(1000):
            # Every guess a different password for one existing user (a brute force).
            code = s.get(url + "/api/2.0/mlflow/experiments/search",
                         auth=(USER[0], f"guess-{i:06d}")).status_code
            statuses[code] = statuses.get(code, 0) + 1
    return cpu_seconds(proc.pid) - before, statuses


def main() -> None:
    kinds = [RSFLOW] + ([MLFLOW] if WITH_MLFLOW else [])
    results: dict[str, dict[str, list[float]]] = {k: {"off": [], "on": []} for k in kinds}
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        servers = {}
        try:
            for kind in kinds:
                for mode in ("off", "on"):
                    proc, url = start(kind, Path(tmp) / f"{kind}-{mode}", mode == "on")
                    servers[(kind, mode)] = (proc, url, seed(url, mode == "on"))
            for _ in range(REPEATS):
                for kind in kinds:
                    for mode in ("off", "on"):
                        proc, url, run = servers[(kind, mode)]
                        results[kind][mode].append(wrk(url, run, mode == "on"))
            cpu, statuses = wrong_passwords(*servers[(RSFLOW, "on")][:2])
            ref_cpu = None
            if WITH_MLFLOW:
                ref_cpu, ref_statuses = wrong_passwords(*servers[(MLFLOW, "on")][:2])
        finally:
            for proc, _, _ in servers.values():
                proc.terminate()
    print(f"runs/get requests/s (wrk -t2 -c16, {SECS} s, median of {REPEATS}):")
    for kind in kinds:
        off = statistics.median(results[kind]["off"])
        on = statistics.median(results[kind]["on"])
        ratios = [b / a for a, b in zip(results[kind]["off"], results[kind]["on"])]
        print(f"  {kind:7s} auth off {off:9.0f}  auth on {on:9.0f}  on/off {statistics.median(ratios):.3f}"
              f"  (cost {100 * (1 - statistics.median(ratios)):.1f}%)")
    print(f"1000 wrong passwords: rsflow server CPU {cpu:.3f} s, statuses {statuses}")
    if ref_cpu is not None:
        print(f"                      mlflow server CPU {ref_cpu:.3f} s, statuses {ref_statuses}")


if __name__ == "__main__":
    main()
