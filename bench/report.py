"""Aggregation and rendering of the benchmark: medians over repetitions, ratios, goals.

Every comparison is a ratio taken inside one repetition (same machine state, same minute) and
then the median over repetitions; the value columns are the medians of the raw values. A ratio
is always oriented so that above 1 means rsflow is better (faster, higher throughput).

    python bench/report.py bench/results/report.json   # re-render report.md from the JSON
"""

import json
import os
import statistics
import sys

MIB = 1 << 20
NAMES = {"rsflow": "rsflow", "mlflow": "mlflow server", "fasttrackml": "FastTrackML"}


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _client(name, field):
    return lambda r, cfg: _get(r, "client", name, field)


def _rate(name, count_field, scale=1.0):
    def f(r, cfg):
        w = _get(r, "client", name)
        if not w or not w.get("seconds"):
            return None
        return w[count_field] * scale / w["seconds"]

    return f


def _ms(name):
    return lambda r, cfg: None if _get(r, "client", name) is None else r["client"][name]["seconds"] * 1000


def _wrk(name, field, scale=1.0):
    def f(r, cfg):
        v = _get(r, "wrk", name, field)
        return None if v is None else v * scale

    return f


def _wrk_batch(r, cfg):
    v = _get(r, "wrk", "log_batch", "rps")
    return None if v is None else v * cfg["wrk_batch"]


def _peak(*phases):
    def f(r, cfg):
        vals = [v for k, v in (r.get("peaks_kib") or {}).items() if any(k.startswith(p) for p in phases)]
        return max(vals) / 1024 if vals else None

    return f


def _kib(field):
    return lambda r, cfg: None if r.get(field) is None else r[field] / 1024


# (id, section, label, unit, better, extractor(rep_result, cfg))
METRICS = [
    ("big_upload", "client", "artifact upload, {big_mb} MiB (`log_artifact`)", "MiB/s", "higher",
     _rate("big_upload", "bytes", 1 / MIB)),
    ("big_download", "client", "artifact download, {big_mb} MiB (`download_artifacts`)", "MiB/s", "higher",
     _rate("big_download", "bytes", 1 / MIB)),
    ("small_upload", "client", "{small_files} files of {small_kb} KiB: upload (`log_artifacts`)", "files/s", "higher",
     _rate("small_upload", "files")),
    ("small_list", "client", "{small_files} files: list (`list_artifacts`)", "ms", "lower", _ms("small_list")),
    ("small_download", "client", "{small_files} files: download (`download_artifacts`)", "files/s", "higher",
     _rate("small_download", "files")),
    ("log_metric_p50", "client", "`log_metric`, {log_metric_n} sequential: p50 per call", "ms", "lower",
     _client("log_metric", "p50_ms")),
    ("log_batch", "client", "`log_batch`, {batches} x {batch_size} metrics", "metrics/s", "higher",
     _rate("log_batch", "metrics")),
    ("create_run", "client", "`create_run` + params and tags, {runs} runs", "runs/s", "higher",
     _rate("create_run", "runs")),
    ("search_runs", "client", "`search_runs`, filter + order (median of {search_reps})", "ms", "lower",
     _ms("search_runs")),
    ("metric_history", "client", "`get_metric_history`, {history} points (median of 10)", "ms", "lower",
     _ms("metric_history")),
    ("wrk_log_batch", "wrk", "log-batch ({wrk_batch} metrics/request): throughput", "metrics/s", "higher", _wrk_batch),
    ("wrk_log_batch_p50", "wrk", "log-batch: p50", "ms", "lower", _wrk("log_batch", "p50_us", 1e-3)),
    ("wrk_log_batch_p99", "wrk", "log-batch: p99", "ms", "lower", _wrk("log_batch", "p99_us", 1e-3)),
    ("wrk_log_metric_p50", "wrk", "log-metric, 1 connection: p50", "ms", "lower", _wrk("log_metric_c1", "p50_us", 1e-3)),
    ("wrk_log_metric_p99", "wrk", "log-metric, 1 connection: p99", "ms", "lower", _wrk("log_metric_c1", "p99_us", 1e-3)),
    ("wrk_runs_get", "wrk", "runs/get: throughput", "req/s", "higher", _wrk("runs_get", "rps")),
    ("wrk_runs_get_p50", "wrk", "runs/get: p50", "ms", "lower", _wrk("runs_get", "p50_us", 1e-3)),
    ("wrk_runs_get_p99", "wrk", "runs/get: p99", "ms", "lower", _wrk("runs_get", "p99_us", 1e-3)),
    ("wrk_runs_search", "wrk", "runs/search (filter + order): throughput", "req/s", "higher", _wrk("runs_search", "rps")),
    ("wrk_runs_search_p50", "wrk", "runs/search: p50", "ms", "lower", _wrk("runs_search", "p50_us", 1e-3)),
    ("wrk_runs_search_p99", "wrk", "runs/search: p99", "ms", "lower", _wrk("runs_search", "p99_us", 1e-3)),
    ("wrk_artifact", "wrk", "1 MiB artifact GET: throughput", "req/s", "higher", _wrk("artifact_get_1mib", "rps")),
    ("wrk_artifact_p50", "wrk", "1 MiB artifact GET: p50", "ms", "lower", _wrk("artifact_get_1mib", "p50_us", 1e-3)),
    ("wrk_artifact_p99", "wrk", "1 MiB artifact GET: p99", "ms", "lower", _wrk("artifact_get_1mib", "p99_us", 1e-3)),
    ("startup", "res", "start-up to the first good `/health`", "ms", "lower",
     lambda r, cfg: r["startup_s"] * 1000),
    ("idle", "res", "idle RSS, fresh (process tree)", "MiB", "lower", _kib("idle_kib")),
    ("idle_after", "res", "idle RSS after all workloads", "MiB", "lower", _kib("idle_after_kib")),
    ("peak_big", "res", "peak RSS during the {big_mb} MiB transfers", "MiB", "lower", _peak("big_")),
    ("peak_small", "res", "peak RSS during the small-file workloads", "MiB", "lower", _peak("small_")),
    ("peak_tracking", "res", "peak RSS during the tracking workloads", "MiB", "lower",
     _peak("log_", "create_run", "search_runs", "metric_history")),
    ("peak_wrk", "res", "peak RSS under the wrk load", "MiB", "lower", _peak("wrk_")),
]  # fmt: skip
SECTIONS = [
    ("client", "Stock client (`mlflow==3.17.2`), one process, sequential"),
    ("wrk", "Raw HTTP load (`wrk`, {wrk_conns} connections, {wrk_threads} threads, {wrk_secs} s each)"),
    ("res", "Start-up and memory (resident set of the server's whole process tree)"),
]


def _median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def _advantage(rs, other, better):
    if rs is None or other is None or rs == 0 or other == 0:
        return None
    return rs / other if better == "higher" else other / rs


def _by_rep(items):
    return {x["rep"]: x for x in items}


def _refs_rep(ref, ceil):
    out = {}
    if ref:
        b = ref["bytes"] / MIB
        out["disk_write_fsync"] = b / ref["copy_fsync_s"]
        out["disk_write"] = b / ref["copy_nofsync_s"]
        out["disk_read"] = b / ref["read_s"]
    if ceil:
        out["ceiling_upload"] = ceil["big_upload"]["bytes"] / MIB / ceil["big_upload"]["seconds"]
        out["ceiling_download"] = ceil["big_download"]["bytes"] / MIB / ceil["big_download"]["seconds"]
    if ref and ceil:
        out["upload_ref"] = min(out["ceiling_upload"], out["disk_write_fsync"])
        out["download_ref"] = min(out["ceiling_download"], out["disk_read"])
    return out


# The S3 section (s3_bench.py): (id, label, unit, better, extractor(side result)).
S3_METRICS = [
    ("upload", "upload, {big_mb} MiB (`log_artifact`; boto3: `upload_file`)", "MiB/s", "higher",
     lambda r: _rate("big_upload", "bytes", 1 / MIB)(r, None)),
    ("download", "download, {big_mb} MiB (`download_artifacts`; boto3: `download_file`)", "MiB/s",
     "higher", lambda r: _rate("big_download", "bytes", 1 / MIB)(r, None)),
    ("peak", "peak RSS of the server's process tree during the transfers", "MiB", "lower",
     lambda r: _peak("big_")(r, None)),
]  # fmt: skip
S3_SIDES = {"rsflow": "rsflow", "mlflow": "mlflow server", "boto3": "boto3 direct"}


def aggregate_s3(doc):
    """Medians per side and rsflow's per-repetition ratios against mlflow server and boto3."""
    reps = doc["raw"].get("s3") or []
    per_rep = {side: {r["rep"]: {m[0]: m[4](r[side]) for m in S3_METRICS} for r in reps if side in r}
               for side in S3_SIDES}  # fmt: skip
    medians = {side: {m[0]: _median([v[m[0]] for v in per_rep[side].values()]) for m in S3_METRICS}
               for side in S3_SIDES}  # fmt: skip
    ratios = {}
    for other in ("mlflow", "boto3"):
        ratios[other] = {
            m[0]: _median([_advantage(per_rep["rsflow"][rep][m[0]], per_rep[other][rep][m[0]], m[3])
                           for rep in per_rep["rsflow"] if rep in per_rep[other]])
            for m in S3_METRICS
        }  # fmt: skip
    return {"per_rep": per_rep, "medians": medians, "ratios": ratios}


def aggregate(doc):
    cfg, raw = doc["config"], doc["raw"]
    servers = doc["servers"]
    per_rep = {s: {r["rep"]: {m[0]: m[5](r, cfg) for m in METRICS} for r in raw["servers"][s]}
               for s in servers}  # fmt: skip
    medians = {s: {m[0]: _median([v[m[0]] for v in per_rep[s].values()]) for m in METRICS}
               for s in servers}  # fmt: skip
    ratios = {}
    if "rsflow" in servers:
        for other in servers:
            if other == "rsflow":
                continue
            ratios[other] = {}
            for m in METRICS:
                vals = [_advantage(per_rep["rsflow"][rep][m[0]], per_rep[other][rep][m[0]], m[4])
                        for rep in per_rep["rsflow"] if rep in per_rep[other]]  # fmt: skip
                ratios[other][m[0]] = _median(vals)
    refs_by_rep = _by_rep(raw["refs"])
    ceil_by_rep = _by_rep(raw["ceiling"])
    ref_reps = {rep: _refs_rep(refs_by_rep.get(rep), ceil_by_rep.get(rep))
                for rep in sorted(set(refs_by_rep) | set(ceil_by_rep))}  # fmt: skip
    ref_keys = sorted({k for v in ref_reps.values() for k in v})
    refs = {k: _median([v.get(k) for v in ref_reps.values()]) for k in ref_keys}
    # rsflow against the physical references, per repetition.
    vs_refs = {}
    rs = per_rep.get("rsflow", {})
    for key, metric, ref_key in (
        ("upload_vs_ref", "big_upload", "upload_ref"),
        ("download_vs_ref", "big_download", "download_ref"),
        ("upload_vs_disk_fsync", "big_upload", "disk_write_fsync"),
        ("download_vs_disk_read", "big_download", "disk_read"),
        ("upload_vs_ceiling", "big_upload", "ceiling_upload"),
        ("download_vs_ceiling", "big_download", "ceiling_download"),
    ):
        vs_refs[key] = _median([
            rs[rep][metric] / ref_reps[rep][ref_key]
            for rep in rs
            if rep in ref_reps and ref_reps[rep].get(ref_key) and rs[rep].get(metric)
        ])  # fmt: skip
    agg = {"per_rep": per_rep, "medians": medians, "ratios": ratios, "refs": refs,
           "refs_per_rep": ref_reps, "vs_refs": vs_refs}  # fmt: skip
    agg["s3"] = aggregate_s3(doc)
    agg["goals"] = goals(cfg, agg)
    return agg


def goals(cfg, agg):
    med = agg["medians"].get("rsflow", {})
    vs_ml = agg["ratios"].get("mlflow", {})
    vs_ft = agg["ratios"].get("fasttrackml", {})
    vsr = agg["vs_refs"]
    big = cfg["big_mb"]

    def g(goal, value, target, met, fmt):
        return {"goal": goal, "measured": None if value is None else fmt.format(value),
                "target": target, "met": None if value is None else bool(met(value))}  # fmt: skip

    x = "{:.2f}x"
    return [
        g(f"{big} MiB upload through the proxy vs min(client ceiling, disk copy+fsync)",
          vsr.get("upload_vs_ref"), ">= 0.90x", lambda v: v >= 0.9, x),
        g(f"{big} MiB download through the proxy vs min(client ceiling, disk read)",
          vsr.get("download_vs_ref"), ">= 0.90x", lambda v: v >= 0.9, x),
        g(f"{big} MiB upload vs mlflow server", vs_ml.get("big_upload"), ">= 2x", lambda v: v >= 2, x),
        g(f"{big} MiB download vs mlflow server", vs_ml.get("big_download"), ">= 2x", lambda v: v >= 2, x),
        g("log_batch throughput vs mlflow server (stock client)", vs_ml.get("log_batch"), ">= 10x",
          lambda v: v >= 10, x),
        g("log_batch throughput vs mlflow server (wrk)", vs_ml.get("wrk_log_batch"), ">= 10x",
          lambda v: v >= 10, x),
        g("log_batch throughput vs FastTrackML (stock client)", vs_ft.get("log_batch"), ">= 1.5x",
          lambda v: v >= 1.5, x),
        g("log_batch throughput vs FastTrackML (wrk)", vs_ft.get("wrk_log_batch"), ">= 1.5x",
          lambda v: v >= 1.5, x),
        g("search_runs latency vs FastTrackML (stock client; FastTrackML's / rsflow's)",
          vs_ft.get("search_runs"), ">= 2x", lambda v: v >= 2, x),
        g("runs/search p50 latency vs FastTrackML (wrk; FastTrackML's / rsflow's)",
          vs_ft.get("wrk_runs_search_p50"), ">= 2x", lambda v: v >= 2, x),
        g("log-metric p50 over HTTP (wrk, 1 connection)", med.get("wrk_log_metric_p50"), "< 1 ms",
          lambda v: v < 1, "{:.3f} ms"),
        g("idle memory (fresh)", med.get("idle"), "<= 20 MiB", lambda v: v <= 20, "{:.1f} MiB"),
        g(f"peak memory during the {big} MiB transfers", med.get("peak_big"), "<= 64 MiB",
          lambda v: v <= 64, "{:.1f} MiB"),
        g("start-up to the first good /health", med.get("startup"), "< 50 ms", lambda v: v < 50,
          "{:.1f} ms"),
    ] + s3_goals(cfg, agg)  # fmt: skip


def s3_goals(cfg, agg):
    s3 = agg.get("s3")
    if not s3 or not s3["per_rep"]["rsflow"]:
        return []
    big, ml, b3 = cfg["big_mb"], s3["ratios"]["mlflow"], s3["ratios"]["boto3"]
    peak = s3["medians"]["rsflow"]["peak"]

    def g(goal, value, target, ok, fmt="{:.2f}x"):
        return {"goal": goal, "measured": None if value is None else fmt.format(value),
                "target": target, "met": None if value is None else bool(ok(value))}  # fmt: skip

    return [
        g(f"S3: {big} MiB upload through the proxy vs mlflow server", ml["upload"], ">= 3x",
          lambda v: v >= 3),
        g(f"S3: {big} MiB download through the proxy vs mlflow server", ml["download"], ">= 3x",
          lambda v: v >= 3),
        g(f"S3: {big} MiB upload through the proxy vs boto3 direct", b3["upload"], ">= 0.80x",
          lambda v: v >= 0.8),
        g(f"S3: {big} MiB download through the proxy vs boto3 direct", b3["download"], ">= 0.80x",
          lambda v: v >= 0.8),
        g(f"S3: peak memory during the {big} MiB transfers", peak, "<= 64 MiB", lambda v: v <= 64,
          "{:.1f} MiB"),
    ]  # fmt: skip


def load_errors(doc, strict):
    """What makes the run fail: rsflow errors always; with strict (smoke), a broken path too."""
    problems = []
    for s in doc["servers"]:
        for r in doc["raw"]["servers"][s]:
            for name, w in (r.get("wrk") or {}).items():
                if not w["errors"]:
                    continue
                msg = f"{s} rep {r['rep']}: wrk {name}: {w['errors']} errors of {w['requests']} requests"
                if s == "rsflow" or (strict and w["errors"] >= w["requests"]):
                    problems.append(msg + (": " + w.get("stderr", "")).rstrip())
    if strict:
        problems += [f"{e['server']} rep {e['rep']}: {e['error']}" for e in doc["raw"]["errors"]]
    return problems


# ---------------------------------------------------------------------------------------------
# Markdown


def _fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _ratio(v):
    return "—" if v is None else f"**{v:.2f}x**" if v >= 1 else f"{v:.2f}x"


def _loadavg(doc):
    vals = [r[k] for s in doc["servers"] for r in doc["raw"]["servers"][s]
            for k in ("loadavg_start", "loadavg_end") if k in r]  # fmt: skip
    return f"{min(vals):.1f} to {max(vals):.1f}" if vals else "not recorded"


def render(doc):
    cfg, servers = doc["config"], doc["servers"]
    med, ratios = doc["medians"], doc["ratios"]
    others = [s for s in servers if s != "rsflow"]
    m, v = doc["machine"], doc["versions"]
    out = ["# rsflow benchmark: rsflow vs `mlflow server` vs FastTrackML", ""]
    if cfg["smoke"]:
        out += ["**Smoke run** (tiny sizes, one repetition): checks that every path works; "
                "its numbers mean nothing.", ""]  # fmt: skip
    out += [
        f"- date: {m['date_utc']}; command: `{doc.get('command', 'bash bench/run.sh')}`",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, kernel {m['kernel']}, "
        f"disk {m['disk']}",
        f"- versions: rsflow {v.get('rsflow', '?')}, mlflow {v.get('mlflow', '?')} "
        f"(server: default uvicorn workers), FastTrackML {v.get('fasttrackml', 'not run')}, "
        f"{v.get('wrk', 'wrk')}",
        f"- {cfg['reps']} repetitions; values are medians; each ratio is taken within one "
        "repetition, then the median over repetitions. **Ratios: above 1 means rsflow is better** "
        "(for times: the other's time / rsflow's).",
        "- wrk's latency percentiles include its coordinated-omission correction (a stalled "
        "request also counts the requests it held up), so they exceed what one request sees.",
        f"- the client, the servers and wrk share the same {m['cores']} cores; clients and load "
        "generators take CPU from the server under test. 1-minute load average around each server's "
        f"run: {_loadavg(doc)}.",
        "",
        "## Goals",
        "",
        "| goal | measured | target | |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for g in doc["goals"]:
        mark = "n/a" if g["met"] is None else "met" if g["met"] else "**missed**"
        out.append(f"| {g['goal']} | {g['measured'] or '—'} | {g['target']} | {mark} |")
    out.append("")
    for sec, title in SECTIONS:
        out += [f"## {title.format(**cfg)}", ""]
        head = "| workload | unit | " + " | ".join(NAMES[s] for s in servers)
        head += "".join(f" | rsflow vs {NAMES[o]}" for o in others) + " |"
        out += [head, "|---|---|" + "---:|" * (len(servers) + len(others))]
        for mid, msec, label, unit, better, _ in METRICS:
            if msec != sec:
                continue
            vals = [med[s].get(mid) for s in servers]
            if all(x is None for x in vals):
                continue
            row = f"| {label.format(**cfg)} | {unit} | " + " | ".join(_fmt(x) for x in vals)
            row += "".join(f" | {_ratio(ratios[o].get(mid))}" for o in others) + " |"
            out.append(row)
        out.append("")
    refs, vsr = doc["refs"], doc["vs_refs"]
    rs_med = med.get("rsflow", {})
    out += [
        f"## Physical references ({cfg['big_mb']} MiB, same disk as the servers' state)",
        "",
        "| reference | MiB/s | rsflow | rsflow / reference |",
        "|---|---:|---:|---:|",
        f"| disk: copy + fsync | {_fmt(refs.get('disk_write_fsync'))} | "
        f"{_fmt(rs_med.get('big_upload'))} (upload) | {_ratio(vsr.get('upload_vs_disk_fsync'))} |",
        f"| disk: copy, no fsync | {_fmt(refs.get('disk_write'))} | | |",
        f"| disk: plain read (page cache warm, as for the servers) | {_fmt(refs.get('disk_read'))} | "
        f"{_fmt(rs_med.get('big_download'))} (download) | {_ratio(vsr.get('download_vs_disk_read'))} |",
        f"| stock client ceiling: upload to a trivial server | {_fmt(refs.get('ceiling_upload'))} | "
        f"{_fmt(rs_med.get('big_upload'))} | {_ratio(vsr.get('upload_vs_ceiling'))} |",
        f"| stock client ceiling: download from a trivial server | {_fmt(refs.get('ceiling_download'))} | "
        f"{_fmt(rs_med.get('big_download'))} | {_ratio(vsr.get('download_vs_ceiling'))} |",
        "",
    ]  # fmt: skip
    out += render_s3(doc)
    notes = []
    for e in doc["raw"]["errors"]:
        notes.append(f"- {NAMES.get(e['server'], e['server'])}, repetition {e['rep']}, failed: "
                     f"`{e['error'].strip().splitlines()[-1][:300]}`")  # fmt: skip
    for s in servers:
        for r in doc["raw"]["servers"][s]:
            for name, w in (r.get("wrk") or {}).items():
                if w["errors"]:
                    notes.append(f"- {NAMES[s]}, repetition {r['rep']}, wrk {name}: {w['errors']} "
                                 f"errors in {w['requests']} requests")  # fmt: skip
    if "fasttrackml" in servers:
        notes.append("- FastTrackML does not proxy artifacts (its clients write to the artifact "
                     "store directly), so it runs only the tracking workloads.")  # fmt: skip
    if notes:
        out += ["## Notes", ""] + notes + [""]
    return "\n".join(out)


def _s3_server(cfg):
    name = cfg.get("s3_server", "s3s-fs")
    return "s3s-fs with 1 MiB GetObject reads" if name == "s3s-fs-wide" else name


def render_s3(doc):
    cfg, s3 = doc["config"], doc.get("s3")
    if not s3 or not s3["per_rep"]["rsflow"]:
        return []
    sides = [k for k in S3_SIDES if s3["per_rep"][k]]
    others = [o for o in ("mlflow", "boto3") if o in sides]
    out = [
        f"## {cfg['big_mb']} MiB through the proxy to S3 ({_s3_server(cfg)} on the same disk, "
        "fresh per transfer)",
        "",
        "Servers run with `--artifacts-destination s3://bucket/prefix` and MLFLOW_S3_ENDPOINT_URL; "
        "the stock client talks to the server; boto3 direct is `upload_file`/`download_file` with "
        "the default TransferConfig straight to the same S3 server.",
        "",
        "| workload | unit | " + " | ".join(S3_SIDES[k] for k in sides)
        + "".join(f" | rsflow vs {S3_SIDES[o]}" for o in others) + " |",
        "|---|---|" + "---:|" * (len(sides) + len(others)),
    ]  # fmt: skip
    for mid, label, unit, better, _ in S3_METRICS:
        vals = [s3["medians"][k].get(mid) for k in sides]
        row = f"| {label.format(**cfg)} | {unit} | " + " | ".join(_fmt(x) for x in vals)
        row += "".join(f" | {_ratio(s3['ratios'][o].get(mid))}" for o in others) + " |"
        out.append(row)
    return out + [""]


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results", "report.json")
    with open(path) as f:
        d = json.load(f)
    d.update(aggregate(d))
    sys.stdout.write(render(d))
