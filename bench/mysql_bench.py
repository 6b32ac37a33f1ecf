#!/usr/bin/env python3
"""rsflow vs `mlflow server` 3.17.2 on one MySQL / MariaDB database (issue 20), modelled on
bench/postgres_bench.py.

    .venv/bin/python bench/mysql_bench.py                    # full size, prints a table
    .venv/bin/python bench/mysql_bench.py --runs 10000 --metric-rows 100000 --repeat 3
    .venv/bin/python bench/mysql_bench.py --write-readme     # also updates bench/README-mysql.md

What it does:
  1. Creates a fresh database (through RSFLOW_TEST_MYSQL_URL, or starts scripts/mariadb.sh) and
     lets rsflow create MLflow's MySQL schema in it.
  2. Fills it with SQL (INSERT ... SELECT over a numbers table, not through the API): one
     experiment with --runs runs (status, start/end time, 2 tags, 2 params, metrics `loss` and
     `acc` with a few steps each, latest_metrics derived from them), plus one run whose `loss`
     history holds --history-steps points; --metric-rows metric rows in total.
  3. Starts rsflow (release build) and `mlflow server` (its default 4 workers, PyMySQL) side by
     side on that database and measures both, interleaving their requests:
       - search_runs: a filter on a metric and a param, ordered by another metric, 100 results;
         and a tag + attribute filter ordered by start_time;
       - get-history of the long run (all points) and of an ordinary run;
       - log_batch throughput: --clients threads, each logging --batches batches of
         --batch-size metrics (plus a param and a tag) into its own run;
       - log_batch throughput over raw HTTP: wrk (bench/wrk/bench.lua) with --wrk-conns
         connections for --wrk-secs seconds, --batch-size metrics per request, the requests
         spread over --wrk-conns runs.
     Latencies are medians of --repeat timed requests after two warm-up rounds; throughput is
     the median of --repeat rounds after one warm-up round. (rsflow's optional search indexes,
     RSFLOW_DB_SEARCH_INDEXES, are PostgreSQL's only: there is one phase here.)
  4. Prints a Markdown table with the ratios (MLflow time / rsflow time; rsflow throughput /
     MLflow throughput) and the raw numbers as JSON; exits 1 when the two servers answered the
     searches differently.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import pymysql
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The requests, rounds and their timing are PostgreSQL's benchmark's, unchanged: the two
# benchmarks differ only in how the database is made, filled and reported.
from postgres_bench import check_search, fmt_latency, measure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
README = REPO / "bench" / "README-mysql.md"
BEGIN, END = "<!-- mysql_bench:begin -->", "<!-- mysql_bench:end -->"
API = "/api/2.0/mlflow"

def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- database


def admin_url() -> str:
    url = os.environ.get("RSFLOW_TEST_MYSQL_URL")
    if url:
        return url
    log("RSFLOW_TEST_MYSQL_URL not set: starting scripts/mariadb.sh")
    out = subprocess.run(["bash", str(REPO / "scripts" / "mariadb.sh"), "start"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def with_database(url: str, name: str) -> str:
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


def connect(url: str, database: str | None = None):
    u = urllib.parse.urlsplit(url)
    if database is None:
        database = u.path.lstrip("/") or None
    return pymysql.connect(host=u.hostname, port=u.port or 3306,
                           user=urllib.parse.unquote(u.username or ""),
                           password=urllib.parse.unquote(u.password or ""),
                           database=database, autocommit=True)


def create_database(admin: str, name: str) -> str:
    con = connect(admin)
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    con.close()
    return with_database(admin, name)


def drop_database(admin: str, name: str) -> None:
    con = connect(admin)
    with con.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    con.close()


def fill(url: str, runs: int, metric_rows: int, history_steps: int) -> dict:
    """MLflow-schema rows straight through SQL; returns the ids the benchmark needs."""
    per_run = max(2, (metric_rows - history_steps) // runs)
    loss_steps, acc_steps = (per_run + 1) // 2, per_run // 2
    t0 = 1_700_000_000_000
    con = connect(url)
    con.autocommit(False)
    cur = con.cursor()
    # A numbers table 0..n-1 (MySQL has no generate_series), doubled up to the largest need.
    need = max(runs + 1, history_steps, loss_steps, acc_steps)
    cur.execute("CREATE TEMPORARY TABLE bench_seq (n INT NOT NULL PRIMARY KEY)")
    cur.execute("INSERT INTO bench_seq VALUES (0)")
    have = 1
    while have < need:
        cur.execute("CREATE TEMPORARY TABLE bench_seq2 AS SELECT n FROM bench_seq")
        cur.execute("INSERT INTO bench_seq SELECT n + %s FROM bench_seq2", (have,))
        cur.execute("DROP TEMPORARY TABLE bench_seq2")
        have *= 2
    ids = {}
    for name in ("bench", "bench-history", "bench-logging"):
        cur.execute(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time, workspace) VALUES (%s, %s, 'active', %s, %s, 'default')",
            (name, f"mlflow-artifacts:/{name}", t0, t0))
        ids[name] = str(cur.lastrowid)
    exp = int(ids["bench"])
    cur.execute(
        "CREATE TEMPORARY TABLE bench_ids (i INT NOT NULL PRIMARY KEY, run_uuid VARCHAR(32)) "
        "SELECT n AS i, MD5(CONCAT('run', n)) AS run_uuid FROM bench_seq WHERE n BETWEEN 1 AND %s",
        (runs,))
    cur.execute(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id) SELECT run_uuid, CONCAT('run-', i), 'UNKNOWN', '', '', 'bench', "
        "CASE WHEN i %% 10 = 0 THEN 'FAILED' ELSE 'FINISHED' END, %s + i * 1000, "
        "%s + i * 1000 + 500, '', 'active', CONCAT('mlflow-artifacts:/bench/', run_uuid, "
        "'/artifacts'), %s FROM bench_ids", (t0, t0, exp))
    cur.execute("INSERT INTO tags (`key`, value, run_uuid) SELECT 'mlflow.runName', "
                "CONCAT('run-', i), run_uuid FROM bench_ids")
    cur.execute("INSERT INTO tags (`key`, value, run_uuid) SELECT 'team', "
                "ELT(1 + i % 4, 'red', 'green', 'blue', 'gold'), run_uuid FROM bench_ids")
    cur.execute("INSERT INTO params (`key`, value, run_uuid) SELECT 'model', "
                "ELT(1 + i % 5, 'resnet', 'vit', 'mlp', 'cnn', 'gbm'), run_uuid FROM bench_ids")
    cur.execute("INSERT INTO params (`key`, value, run_uuid) SELECT 'lr', "
                "CAST(0.001 * (1 + i % 10) AS CHAR), run_uuid FROM bench_ids")
    cur.execute("SELECT RAND(42)")  # seeds the session's RAND() for reproducible values
    for key, steps in (("loss", loss_steps), ("acc", acc_steps)):
        cur.execute(
            "INSERT INTO metrics (`key`, value, timestamp, run_uuid, step, is_nan) "
            "SELECT %s, RAND(), %s + i * 1000 + s.n, run_uuid, s.n, 0 "
            "FROM bench_ids, bench_seq AS s WHERE s.n < %s", (key, t0, steps))
        con.commit()
    # The long history lives in its own experiment so that it does not skew the searches.
    hist_run = uuid.uuid4().hex
    cur.execute(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
        "experiment_id) VALUES (%s, 'history', 'UNKNOWN', '', '', 'bench', 'FINISHED', %s, %s, "
        "'', 'active', %s, %s)",
        (hist_run, t0, t0 + 1, f"mlflow-artifacts:/h/{hist_run}/artifacts", int(ids["bench-history"])))
    cur.execute(
        "INSERT INTO metrics (`key`, value, timestamp, run_uuid, step, is_nan) "
        "SELECT 'loss', 1.0 / (n + 1), %s + n, %s, n, 0 FROM bench_seq WHERE n < %s",
        (t0, hist_run, history_steps))
    # Each (run, key, step) has one row: the latest is the one at the largest step.
    cur.execute(
        "INSERT INTO latest_metrics (`key`, value, timestamp, step, is_nan, run_uuid) "
        "SELECT m.`key`, m.value, m.timestamp, m.step, m.is_nan, m.run_uuid FROM metrics m "
        "JOIN (SELECT run_uuid, `key`, MAX(step) AS step FROM metrics GROUP BY run_uuid, `key`) x "
        "ON x.run_uuid = m.run_uuid AND x.`key` = m.`key` AND x.step = m.step")
    con.commit()
    cur.execute("SELECT count(*) FROM metrics")
    total = cur.fetchone()[0]
    con.commit()
    con.autocommit(True)
    cur.execute("ANALYZE TABLE runs, tags, params, metrics, latest_metrics")
    cur.fetchall()
    con.close()
    ids.update(history_run=hist_run, short_run=md5_run(1), metric_rows=total)
    return ids


def md5_run(i: int) -> str:
    import hashlib

    return hashlib.md5(f"run{i}".encode()).hexdigest()


# --------------------------------------------------------------------------- servers


_NEXT_PORT = [int(os.environ.get("MYSQL_BENCH_PORT_BASE", "0"))]


def free_port() -> int:
    """A free loopback port: the next free one from MYSQL_BENCH_PORT_BASE when it is set (shared
    machines hand out port ranges), else any."""
    while _NEXT_PORT[0]:
        port = _NEXT_PORT[0]
        _NEXT_PORT[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, argv: list[str], port: int, workdir: Path, env: dict):
        self.kind, self.port = kind, port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = workdir / f"{kind}.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{kind} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"{kind} did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start(kind: str, args, url: str, workdir: Path) -> Server:
    port = free_port()
    if kind != "rsflow":
        url = url.replace("mysql://", "mysql+pymysql://", 1)
    common = ["--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", url,
              "--artifacts-destination", str(workdir / "artifacts")]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", RSFLOW_LOG="warn")
    if kind == "rsflow":
        argv = [str(args.rsflow_bin), "server", *common]
    else:
        argv = [str(args.mlflow_bin), "server", *common]
        if args.mlflow_workers:
            argv += ["--workers", str(args.mlflow_workers)]
    return Server(kind, argv, port, workdir, env)


# --------------------------------------------------------------------------- report


def report(results: dict, args, ids: dict, setup_s: float) -> str:
    labels = list(results)
    pairs = [(r, r.replace("rsflow", "mlflow")) for r in labels if r.startswith("rsflow")]
    pairs = [(r, m) for r, m in pairs if m in results]
    lines = [
        f"Data: {args.runs:,} runs in one experiment, {ids['metric_rows']:,} metric rows "
        f"(one run with a {args.history_steps:,}-point history), filled by SQL in {setup_s:.0f} s. "
        f"Medians of {args.repeat}, the servers of a phase interleaved request by request; "
        f"log_batch: {args.clients} Python client threads x {args.batches} batches x "
        f"{args.batch_size} metrics (+1 param, +1 tag) per round; log_batch (wrk): "
        f"{args.wrk_conns} connections for {args.wrk_secs} s per round, {args.batch_size} metrics "
        f"per request, spread over {args.wrk_conns} runs. Ratio: how many times faster rsflow is "
        "than mlflow server.",
        "",
        "| measurement | " + " | ".join(labels) + " | "
        + " | ".join(f"ratio{r[len('rsflow'):]}" for r, _ in pairs) + " |",
        "|---|" + "---:|" * (len(labels) + len(pairs)),
    ]
    for key in results["rsflow"]:
        cells = []
        for label in labels:
            v = results[label][key]
            cells.append(f"{v:,.0f}" if key.startswith("log_batch") else fmt_latency(v))
        for r, m in pairs:
            a, b = results[r][key], results[m][key]
            cells.append(f"**{(a / b if key.startswith('log_batch') else b / a):.1f}x**")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"{server_version(args.admin)} (scripts/mariadb.sh: innodb_flush_log_at_trx_commit=2); rsflow "
        f"{args.rsflow_bin.parent.name} build; mlflow server 3.17.2 with "
        f"{args.mlflow_workers or 'its default (4)'} workers; {time.strftime('%Y-%m-%d')}.",
    ]
    return "\n".join(lines)


def server_version(admin: str) -> str:
    con = connect(admin)
    with con.cursor() as cur:
        cur.execute("SELECT VERSION()")
        v = cur.fetchone()[0]
    con.close()
    return ("MariaDB " if "mariadb" in v.lower() else "MySQL ") + v.split("-")[0]


def write_readme(section: str) -> None:
    text = README.read_text() if README.exists() else f"# MySQL benchmark\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")
    log(f"updated {README}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--metric-rows", type=int, default=1_000_000)
    p.add_argument("--history-steps", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--wrk-conns", type=int, default=16)
    p.add_argument("--wrk-secs", type=int, default=5)
    p.add_argument("--rsflow-bin", type=Path, default=REPO / "target" / "release" / "rsflow")
    p.add_argument("--mlflow-bin", type=Path, default=Path(sys.executable).parent / "mlflow")
    p.add_argument("--mlflow-workers", type=int, default=0, help="0: mlflow server's default")
    p.add_argument("--skip-mlflow", action="store_true")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--write-readme", action="store_true")
    args = p.parse_args()
    args.rsflow_bin = args.rsflow_bin.resolve()
    if not args.rsflow_bin.exists():
        raise SystemExit(f"{args.rsflow_bin} missing: cargo build --release -p rsflow")
    args.admin = admin_url()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    url = create_database(args.admin, name)
    workdir = Path(tempfile.mkdtemp(prefix="rsflow-mysqlbench-"))
    results: dict = {}
    try:
        log(f"database {name}: schema through rsflow")
        start("rsflow", args, url, workdir).stop()
        t0 = time.monotonic()
        log(f"filling: {args.runs} runs, {args.metric_rows} metric rows")
        ids = fill(url, args.runs, args.metric_rows, args.history_steps)
        setup_s = time.monotonic() - t0
        answers = {}
        kinds = ["rsflow"] if args.skip_mlflow else ["rsflow", "mlflow"]
        servers = {k: start(k, args, url, workdir) for k in kinds}
        try:
            for label, server in servers.items():
                answers[label] = check_search(server, ids)
            if any(not a for a in answers["rsflow"].values()):
                log("ERROR: a search found no runs (the fill is wrong)")
                raise SystemExit(1)
            results.update(measure(servers, ids, args))
        finally:
            for server in servers.values():
                server.stop()
        same = all(a == answers["rsflow"] for a in answers.values())
        if not same:
            log("ERROR: the servers answered the searches differently")
        section = report(results, args, ids, setup_s)
        print(section)
        print(json.dumps({"results": results, "same_search_answers":
                          all(a == answers["rsflow"] for a in answers.values())}, indent=1))
        if args.write_readme:
            write_readme(section)
        if not same:
            raise SystemExit(1)
    finally:
        if not args.keep_db:
            drop_database(args.admin, name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
