#!/usr/bin/env python3
"""MLflow 3 tracing: rsflow vs `mlflow server` 3.17.2 on SQLite, side by side (issue #15).

    .venv/bin/python bench/trace_bench.py                 # full size, 3 repetitions
    .venv/bin/python bench/trace_bench.py --smoke         # tiny sizes, rsflow only, seconds
    bash bench/run.sh --traces                            # the same through run.sh

What it measures (each server on its own copy of the same database, fresh per repetition):
  1. OTLP ingest over raw HTTP: --ingest-threads connections post protobuf
     ExportTraceServiceRequest bodies (--ingest-batch spans per request, over
     --ingest-traces-per-req traces) to POST /v1/traces with x-mlflow-experiment-id for
     --ingest-secs seconds; spans/s of the 200 answers. The bodies are built once with the
     opentelemetry-proto classes; each request gets fresh trace ids by a byte substitution, so
     the client's own CPU stays small.
  2. get_trace of a --spans span trace: GET /api/3.0/mlflow/traces/get?trace_id=..., time to
     the last byte (median of --get-reps after one warm-up), and rsflow's peak RSS (VmHWM of a
     server started fresh for this repetition: start-up, get_trace, nothing else yet).
  3. search_traces over --traces traces: POST /api/3.0/mlflow/traces/search with a filter and
     order_by, max_results 100; p50 of --search-reps after two warm-ups.

The database (one experiment with the big trace and --traces small traces) is filled once
through rsflow's OTLP endpoint, then copied for every server and repetition; `mlflow server`
reads the same MLflow schema (the two-way database tests hold rsflow to that). Repetitions
alternate the order of the servers. Ratios are taken within a repetition (above 1: rsflow
better), then the median over repetitions. The 1-minute load average is recorded before
every server's run: the machine is shared.

Writes <out>/trace-report.md and trace-report.json (default bench/results/; --smoke:
bench/results/smoke/).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

REPO = Path(__file__).resolve().parent.parent
V3 = "/api/3.0/mlflow"
T0 = 1_700_000_000_000_000_000  # ns
BIG_TRACE = "ab" * 16
SEARCH_FILTER = "trace.status = 'OK' AND trace.execution_time_ms > 500"
SEARCH_ORDER = ["timestamp_ms DESC"]
GOALS = {"ingest": 20.0, "get_trace": 10.0, "search": 10.0, "rss_mib": 64.0}


def log(msg: str) -> None:
    print(f"[trace_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind: str, binary: str, state: Path):
        self.kind = kind
        self.port = free_port()
        self.state = state
        argv = [binary, "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
                "--artifacts-destination", str(state / "artifacts")]
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
                   MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", RSFLOW_LOG="warn")
        self.log_path = state / f"{kind}.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=state, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{kind} exited: {self.log_path.read_text()[-3000:]}")
            try:
                status, _ = self.request("GET", "/health", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"{kind} did not start: {self.log_path.read_text()[-3000:]}")

    def conn(self, timeout: float = 600) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 600) -> tuple[int, bytes]:
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def json(self, method: str, path: str, payload: dict) -> dict:
        status, body = self.request(method, path, json.dumps(payload).encode(),
                                    {"Content-Type": "application/json"})
        if status != 200:
            raise SystemExit(f"{self.kind} {method} {path}: {status} {body[:500]!r}")
        return json.loads(body)

    def peak_rss_mib(self) -> float:
        """VmHWM of the server's main process (rsflow is one process)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# --------------------------------------------------------------------------- payloads


def span(trace_id: bytes, i: int, parent: int | None, start_ns: int, dur_ns: int,
         ok: bool = True, pad: str = "") -> Span:
    s = Span(trace_id=trace_id, span_id=(i + 1).to_bytes(8, "big"), name=f"step-{i % 17}",
             kind=Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start_ns,
             end_time_unix_nano=start_ns + dur_ns)
    if parent is not None:
        s.parent_span_id = (parent + 1).to_bytes(8, "big")
    for key, value in (("mlflow.spanType", '"CHAIN"'),
                       ("mlflow.spanInputs", json.dumps({"query": f"q{i}", "pad": pad})),
                       ("mlflow.spanOutputs", json.dumps({"answer": f"a{i}"})),
                       ("llm.model", "bench-model")):
        kv = s.attributes.add()
        kv.key, kv.value.string_value = key, value
    s.status.CopyFrom(Status(code=Status.STATUS_CODE_OK if ok else Status.STATUS_CODE_ERROR))
    return s


def small_traces_body(first: int, count: int, spans_per_trace: int) -> bytes:
    """`count` traces of `spans_per_trace` spans (a root and its children), one request."""
    req = ExportTraceServiceRequest()
    out = req.resource_spans.add().scope_spans.add().spans
    for t in range(first, first + count):
        tid = (0x10_0000_0000 + t).to_bytes(16, "big")
        start = T0 + t * 1_000_000_000
        dur = (t % 1000 + 1) * 1_000_000  # 1..1000 ms: about half the traces pass the filter
        ok = t % 4 != 0
        for i in range(spans_per_trace):
            if i == 0:
                out.append(span(tid, 0, None, start, dur, ok=ok))
            else:
                out.append(span(tid, i, 0, start + i * 1000, dur // (spans_per_trace + 1)))
    return req.SerializeToString()


def big_trace_bodies(n: int, batch: int) -> list[bytes]:
    """One trace of n spans: a root, 100 children under it, the rest under those."""
    tid = bytes.fromhex(BIG_TRACE)
    bodies = []
    for first in range(0, n, batch):
        req = ExportTraceServiceRequest()
        out = req.resource_spans.add().scope_spans.add().spans
        for i in range(first, min(n, first + batch)):
            parent = None if i == 0 else (0 if i <= 100 else 1 + i % 100)
            out.append(span(tid, i, parent, T0 + i * 1000, 10_000_000 if i else 60_000_000_000,
                            pad="x" * 100))
        bodies.append(req.SerializeToString())
    return bodies


def ingest_template(spans: int, traces: int) -> tuple[bytes, list[bytes]]:
    """A request body of `spans` spans over `traces` traces, and the trace-id placeholders
    that each request replaces with fresh ids."""
    per = max(1, spans // traces)
    placeholders = [bytes([0xEE] * 8) + (k + 1).to_bytes(8, "big") for k in range(traces)]
    req = ExportTraceServiceRequest()
    out = req.resource_spans.add().scope_spans.add().spans
    for k, tid in enumerate(placeholders):
        n = per if k < traces - 1 else spans - per * (traces - 1)
        for i in range(n):
            out.append(span(tid, i, None if i == 0 else 0, T0 + i * 1000, 1_000_000))
    body = req.SerializeToString()
    for tid in placeholders:
        assert body.count(tid) == (per if tid != placeholders[-1] else spans - per * (traces - 1))
    return body, placeholders


# --------------------------------------------------------------------------- fill


def fill(rsflow_bin: str, state: Path, args) -> str:
    """The shared starting database, built through rsflow's OTLP endpoint."""
    server = Server("rsflow-fill", rsflow_bin, state)
    try:
        exp = server.json("POST", "/api/2.0/mlflow/experiments/create",
                          {"name": "trace-bench"})["experiment_id"]
        hdr = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": exp}
        t = time.perf_counter()
        for body in big_trace_bodies(args.spans, 1000):
            status, answer = server.request("POST", "/v1/traces", body, hdr)
            if status != 200:
                raise SystemExit(f"fill: big trace: {status} {answer[:300]!r}")
        per_req = 500
        for first in range(0, args.traces, per_req):
            body = small_traces_body(first, min(per_req, args.traces - first), 3)
            status, answer = server.request("POST", "/v1/traces", body, hdr)
            if status != 200:
                raise SystemExit(f"fill: small traces: {status} {answer[:300]!r}")
        log(f"filled: 1 trace of {args.spans} spans + {args.traces} traces in "
            f"{time.perf_counter() - t:.1f} s")
    finally:
        server.stop()
    (state / "rsflow-fill.log").unlink(missing_ok=True)
    return exp


# --------------------------------------------------------------------------- measurements


def measure_get_trace(server: Server, reps: int, spans: int) -> dict:
    path = f"{V3}/traces/get?trace_id=tr-{BIG_TRACE}"
    status, body = server.request("GET", path)  # warm-up, and the check
    if status != 200:
        raise SystemExit(f"{server.kind} get_trace: {status} {body[:300]!r}")
    got = len(json.loads(body)["trace"]["spans"])
    if got != spans:
        raise SystemExit(f"{server.kind} get_trace: {got} spans, expected {spans}")
    times = []
    for _ in range(reps):
        c = server.conn()
        t = time.perf_counter()
        c.request("GET", path)
        r = c.getresponse()
        n = len(r.read())
        times.append(time.perf_counter() - t)
        c.close()
        if r.status != 200:
            raise SystemExit(f"{server.kind} get_trace: {r.status}")
    return {"ms": statistics.median(times) * 1000, "all_ms": [x * 1000 for x in times],
            "bytes": n}


def measure_search(server: Server, exp: str, reps: int) -> dict:
    payload = json.dumps({
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
        "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER, "max_results": 100}).encode()
    hdr = {"Content-Type": "application/json"}
    c = server.conn()
    times, ids = [], None
    for k in range(reps + 2):
        t = time.perf_counter()
        c.request("POST", f"{V3}/traces/search", body=payload, headers=hdr)
        r = c.getresponse()
        body = r.read()
        took = time.perf_counter() - t
        if r.status != 200:
            raise SystemExit(f"{server.kind} search: {r.status} {body[:300]!r}")
        if k == 0:
            ids = [t["trace_id"] for t in json.loads(body).get("traces", [])]
        if k >= 2:
            times.append(took)
    c.close()
    return {"p50_ms": statistics.median(times) * 1000, "all_ms": [x * 1000 for x in times],
            "results": len(ids), "first_ids": ids[:5]}


def measure_ingest(server: Server, exp: str, args, rep: int) -> dict:
    body, placeholders = ingest_template(args.ingest_batch, args.ingest_traces_per_req)
    hdr = {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": exp}
    counter = [0]
    lock = threading.Lock()
    ok, errors, samples = [0], [0], []
    stop_at = [0.0]
    barrier = threading.Barrier(args.ingest_threads + 1)

    def fresh() -> bytes:
        with lock:
            counter[0] += 1
            n = counter[0]
        b = body
        for k, ph in enumerate(placeholders):
            tid = bytes([0xC0 + server.port % 32, rep]) + n.to_bytes(6, "big") + (k + 1).to_bytes(8, "big")
            b = b.replace(ph, tid)
        return b

    def worker() -> None:
        c = server.conn(120)
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            data = fresh()
            try:
                c.request("POST", "/v1/traces", body=data, headers=hdr)
                r = c.getresponse()
                answer = r.read()
            except OSError:
                c.close()
                c = server.conn(120)
                with lock:
                    errors[0] += 1
                continue
            with lock:
                if r.status == 200:
                    ok[0] += 1
                else:
                    errors[0] += 1
                    if len(samples) < 3:
                        samples.append(f"{r.status} {answer[:200]!r}")
        c.close()

    threads = [threading.Thread(target=worker) for _ in range(args.ingest_threads)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    stop_at[0] = start + args.ingest_secs
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"spans_per_s": ok[0] * args.ingest_batch / elapsed, "requests": ok[0],
            "errors": errors[0], "error_samples": samples, "secs": elapsed}


# --------------------------------------------------------------------------- report


def ratio(other: float, mine: float) -> float:
    return other / mine if mine else float("nan")


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and x != x:
        return "nan"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    if abs(x) >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.2f}{unit}"


def summarize(reps: list[dict], servers: list[str]) -> dict:
    s: dict = {}
    for kind in servers:
        rows = [r[kind] for r in reps if kind in r]
        s[kind] = {
            "ingest_spans_per_s": median_or_none([r["ingest"]["spans_per_s"] for r in rows]),
            "get_trace_ms": median_or_none([r["get_trace"]["ms"] for r in rows]),
            "search_p50_ms": median_or_none([r["search"]["p50_ms"] for r in rows]),
            "peak_rss_mib": median_or_none([r.get("peak_rss_mib") for r in rows]),
            "load": [r["load"] for r in rows],
        }
    if "mlflow" in servers and "rsflow" in servers:
        both = [r for r in reps if "mlflow" in r and "rsflow" in r]
        s["ratios"] = {
            "ingest": median_or_none([ratio(r["rsflow"]["ingest"]["spans_per_s"],
                                            r["mlflow"]["ingest"]["spans_per_s"]) for r in both]),
            "get_trace": median_or_none([ratio(r["mlflow"]["get_trace"]["ms"],
                                               r["rsflow"]["get_trace"]["ms"]) for r in both]),
            "search": median_or_none([ratio(r["mlflow"]["search"]["p50_ms"],
                                            r["rsflow"]["search"]["p50_ms"]) for r in both]),
            "per_rep": [{
                "ingest": ratio(r["rsflow"]["ingest"]["spans_per_s"], r["mlflow"]["ingest"]["spans_per_s"]),
                "get_trace": ratio(r["mlflow"]["get_trace"]["ms"], r["rsflow"]["get_trace"]["ms"]),
                "search": ratio(r["mlflow"]["search"]["p50_ms"], r["rsflow"]["search"]["p50_ms"]),
            } for r in both],
        }
    return s


def markdown(meta: dict, summary: dict, reps: list[dict], servers: list[str]) -> str:
    a = meta["args"]
    loads = [x for k in servers for x in summary[k]["load"]]
    lines = [
        "# Trace benchmark: rsflow vs `mlflow server` (SQLite)", "",
        f"- date: {meta['date']}; command: `{meta['command']}`",
        f"- rsflow {meta['commit']} ({meta['rsflow_bin']}); mlflow {meta['mlflow_version']}"
        " (default uvicorn workers)",
        f"- machine: {meta['machine']}; 1-minute load average before each server's run: "
        f"{min(loads):.1f} to {max(loads):.1f} (shared machine)" if loads else "",
        f"- {a['reps']} repetition(s), values are medians; ratios within a repetition, then the "
        "median; **above 1: rsflow better** (for times: mlflow's / rsflow's)",
        f"- ingest: {a['ingest_threads']} connections, {a['ingest_secs']} s, "
        f"{a['ingest_batch']} spans per request over {a['ingest_traces_per_req']} traces (protobuf)",
        f"- get_trace: one trace of {a['spans']:,} spans, median of {a['get_reps']} after a warm-up;"
        " peak RSS: rsflow's VmHWM after start-up + get_trace",
        f"- search: {a['traces']:,} traces, filter `{SEARCH_FILTER}`, order_by "
        f"`{SEARCH_ORDER[0]}`, max_results 100, p50 of {a['search_reps']}", "",
    ]
    if "ratios" in summary:
        r, rs = summary["ratios"], summary["rsflow"]
        met = lambda ok: "met" if ok else "**missed**"  # noqa: E731
        lines += ["## Goals", "", "| goal | measured | target | |", "|---|---|---|---|",
                  f"| OTLP ingest spans/s vs mlflow server | {fmt(r['ingest'])}x | >= 20x | {met(r['ingest'] >= GOALS['ingest'])} |",
                  f"| get_trace ({a['spans']:,} spans) vs mlflow server | {fmt(r['get_trace'])}x | >= 10x | {met(r['get_trace'] >= GOALS['get_trace'])} |",
                  f"| peak RSS serving it | {fmt(rs['peak_rss_mib'])} MiB | <= 64 MiB | {met(rs['peak_rss_mib'] <= GOALS['rss_mib'])} |",
                  f"| search_traces p50 ({a['traces']:,} traces) vs mlflow server | {fmt(r['search'])}x | >= 10x | {met(r['search'] >= GOALS['search'])} |",
                  ""]
    head = "| workload | unit | " + " | ".join(servers) + (" | rsflow vs mlflow |" if "ratios" in summary else " |")
    lines += ["## Medians", "", head, "|---|---|" + "---:|" * (len(servers) + ("ratios" in summary))]
    for key, label, unit, rkey in (
            ("ingest_spans_per_s", "OTLP ingest", "spans/s", "ingest"),
            ("get_trace_ms", f"get_trace, {a['spans']:,} spans", "ms", "get_trace"),
            ("search_p50_ms", f"search_traces p50, {a['traces']:,} traces", "ms", "search"),
            ("peak_rss_mib", "peak RSS after get_trace (main process)", "MiB", None)):
        row = f"| {label} | {unit} | " + " | ".join(fmt(summary[k][key]) for k in servers)
        if "ratios" in summary:
            row += f" | {fmt(summary['ratios'][rkey])}x" if rkey else " | "
        lines.append(row + " |")
    lines += ["", "## Repetitions", "", "| rep | server | load | ingest spans/s | errors | "
              "get_trace ms | search p50 ms | search hits | peak RSS MiB |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for i, rep in enumerate(reps, 1):
        for kind in servers:
            if kind not in rep:
                continue
            x = rep[kind]
            lines.append(f"| {i} | {kind} | {x['load']:.2f} | {fmt(x['ingest']['spans_per_s'])} | "
                         f"{x['ingest']['errors']} | {fmt(x['get_trace']['ms'])} | "
                         f"{fmt(x['search']['p50_ms'])} | {x['search']['results']} | "
                         f"{fmt(x.get('peak_rss_mib'))} |")
    return "\n".join(line for line in lines if line is not None) + "\n"


# --------------------------------------------------------------------------- main


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition, rsflow only")
    p.add_argument("--servers", default=None, help="rsflow,mlflow (smoke: rsflow)")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--spans", type=int, default=None, help="spans of the big trace (10000)")
    p.add_argument("--traces", type=int, default=None, help="traces to search (10000)")
    p.add_argument("--ingest-secs", type=float, default=None)
    p.add_argument("--ingest-threads", type=int, default=4)
    p.add_argument("--ingest-batch", type=int, default=100)
    p.add_argument("--ingest-traces-per-req", type=int, default=10)
    p.add_argument("--get-reps", type=int, default=None)
    p.add_argument("--search-reps", type=int, default=None)
    p.add_argument("--rsflow-bin", default=os.environ.get("RSFLOW_BIN"))
    p.add_argument("--mlflow-bin", default=os.environ.get("MLFLOW_BIN"))
    p.add_argument("--out", default=None)
    p.add_argument("--workdir", default=None)
    args = p.parse_args()
    smoke = args.smoke
    defaults = dict(servers="rsflow" if smoke else "rsflow,mlflow", reps=1 if smoke else 3,
                    spans=300 if smoke else 10_000, traces=300 if smoke else 10_000,
                    ingest_secs=1.0 if smoke else 10.0, get_reps=2 if smoke else 5,
                    search_reps=3 if smoke else 20)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if not args.rsflow_bin:
        cand = REPO / "target" / ("debug" if smoke else "release") / "rsflow"
        args.rsflow_bin = str(cand)
    if not args.mlflow_bin:
        args.mlflow_bin = str(Path(sys.executable).parent / "mlflow")
    args.rsflow_bin = str(Path(args.rsflow_bin).resolve())
    args.mlflow_bin = str(Path(args.mlflow_bin).absolute())
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bins = {"rsflow": args.rsflow_bin, "mlflow": args.mlflow_bin}
    for s in servers:
        if s not in bins or not os.access(bins[s], os.X_OK):
            raise SystemExit(f"server {s!r}: no executable ({bins.get(s)})")
    out = Path(args.out or (REPO / "bench" / "results" / ("smoke" if smoke else "")))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="trace-bench-", dir=args.workdir))
    try:
        seed = work / "seed"
        (seed / "artifacts").mkdir(parents=True)
        exp = fill(args.rsflow_bin, seed, args)
        reps = []
        for rep in range(args.reps):
            order = servers if rep % 2 == 0 else servers[::-1]
            row = {}
            for kind in order:
                state = work / f"{kind}-{rep}"
                shutil.copytree(seed, state)
                load = os.getloadavg()[0]
                log(f"rep {rep + 1}/{args.reps}: {kind} (load {load:.2f})")
                server = Server(kind, bins[kind], state)
                try:
                    res = {"load": load}
                    res["get_trace"] = measure_get_trace(server, args.get_reps, args.spans)
                    if kind == "rsflow":
                        res["peak_rss_mib"] = server.peak_rss_mib()
                    res["search"] = measure_search(server, exp, args.search_reps)
                    res["ingest"] = measure_ingest(server, exp, args, rep)
                finally:
                    server.stop()
                shutil.rmtree(state, ignore_errors=True)
                log(f"  {kind}: ingest {res['ingest']['spans_per_s']:,.0f} spans/s "
                    f"({res['ingest']['errors']} errors), get_trace {res['get_trace']['ms']:.1f} ms, "
                    f"search p50 {res['search']['p50_ms']:.1f} ms ({res['search']['results']} hits)")
                row[kind] = res
            if "rsflow" in row and "mlflow" in row:
                a, b = row["rsflow"]["search"], row["mlflow"]["search"]
                if a["results"] != b["results"]:
                    log(f"  WARNING: search hits differ: rsflow {a['results']}, mlflow {b['results']}")
            reps.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = summarize(reps, servers)
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    try:
        import mlflow  # noqa: PLC0415
        mlflow_version = mlflow.__version__
    except Exception:  # noqa: BLE001
        mlflow_version = "?"
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": " ".join(["bench/trace_bench.py", *sys.argv[1:]]), "commit": commit,
            "rsflow_bin": args.rsflow_bin, "mlflow_version": mlflow_version,
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, kernel {platform.release()}",
            "args": vars(args)}
    (out / "trace-report.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "reps": reps}, indent=2) + "\n")
    md = markdown(meta, summary, reps, servers)
    (out / "trace-report.md").write_text(md)
    print(md)
    bad = sum(r["rsflow"]["ingest"]["errors"] for r in reps if "rsflow" in r)
    if bad:
        log(f"rsflow answered {bad} ingest requests with an error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
