"""Local-disk upload through the proxy against the disk itself (issue 22), every run reported.

The stock client's `log_artifact` of one file (BENCH_UPLOAD_MB, 256) to `rsflow server
--serve-artifacts` on the default local destination, alternated with a copy + fsync of the
same file on the same disk (what an upload must at least cost). Each repetition gives one
ratio, upload MB/s over copy+fsync MB/s of that same repetition; the goal is every ratio
>= 0.9, not the median. The file comes from the page cache in both cases. The server's CPU
per GiB includes the artifact's SHA-256 wherever it was taken: each repetition waits for the
digest (a HEAD of the file right after the upload waits for a digest still being computed)
and reports how long after the upload's response it was served.

    python bench/local_upload_bench.py [--rsflow-bin target/release/rsflow] [--reps 5]
        [--mb 256] [--workdir DIR] [--out DIR] [--digest off]

With `--perf FILE` the server runs under `perf record -g` for the uploads (a profile, not a
figure: the timings of such a run are not reported as results).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_fsync(src: Path, dst: Path) -> float:
    """Seconds to copy `src` to `dst` and fsync it, as bench.py's physical reference."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    if dst.exists():
        dst.unlink()
    os.sync()
    t0 = time.perf_counter()
    with open(src, "rb", buffering=0) as f, open(dst, "wb", buffering=0) as out:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            out.write(view[:n])
        os.fsync(out.fileno())
    took = time.perf_counter() - t0
    dst.unlink()
    return took


UPLOAD = r"""
import os, sys, time
import requests
from mlflow import MlflowClient
c = MlflowClient(sys.argv[1])
run = c.create_run("0")
t0, c0 = time.perf_counter(), time.process_time()
c.log_artifact(run.info.run_id, sys.argv[2])
t1 = time.perf_counter()
cpu = time.process_time() - c0
# When the digest is there: a HEAD of the file waits for a digest still being computed.
rel = run.info.artifact_uri.split(":", 1)[1].lstrip("/")
h = requests.head(f"{sys.argv[1]}/api/2.0/mlflow-artifacts/artifacts/{rel}/"
                  f"{os.path.basename(sys.argv[2])}")
h.raise_for_status()
print(cpu, t1 - t0, time.perf_counter() - t1, h.headers.get("repr-digest", "-"))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rsflow-bin", default=str(REPO / "target/release/rsflow"))
    ap.add_argument("--python", default=str(REPO / ".venv/bin/python"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mb", type=int, default=int(os.environ.get("BENCH_UPLOAD_MB", 256)))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--digest", default="on", choices=["on", "off"])
    ap.add_argument("--perf", default=None)
    args = ap.parse_args()
    args.rsflow_bin = str(Path(args.rsflow_bin).resolve())

    work = Path(args.workdir or tempfile.mkdtemp(prefix="upl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    big = work / "big.bin"
    with open(big, "wb") as f:
        block = os.urandom(CHUNK)
        for _ in range(args.mb):
            f.write(block)
    state = work / "server"
    state.mkdir()
    port = free_port()
    env = dict(os.environ, RSFLOW_LOG="warn")
    if args.digest == "off":
        env["RSFLOW_ARTIFACT_DIGESTS"] = "off"
    server = subprocess.Popen(
        [args.rsflow_bin, "server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=state, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    perf = None
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        if args.perf:
            perf = subprocess.Popen(["perf", "record", "-g", "-o", args.perf, "-p",
                                     str(server.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        rows = []
        for rep in range(args.reps):
            ref = copy_fsync(big, work / "copy.bin")
            os.sync()
            cpu0 = cpu_s(server.pid)
            out = subprocess.run([args.python, "-c", UPLOAD, url, str(big)], check=True,
                                 capture_output=True, text=True)
            client_cpu, up, lag, repr_digest = out.stdout.strip().splitlines()[-1].split()
            client_cpu, up = float(client_cpu), float(up)
            stored = [p for p in (state / "mlartifacts").rglob(big.name) if p.is_file()]
            if [p.stat().st_size for p in stored] != [big.stat().st_size]:
                raise SystemExit(f"upload {rep}: stored {stored}, expected one file of "
                                 f"{big.stat().st_size} bytes")
            # The digest may land after the upload (rsflow hashes what it could not keep up
            # with from the page cache once the file is published). The client's HEAD right
            # after the upload waited for it: how long is the digest's lag (plus one request).
            digest_lag = None
            if args.digest == "on":
                if repr_digest == "-":
                    raise SystemExit(f"upload {rep}: served without a digest")
                os.getxattr(stored[0], "user.rsflow.sha256")
                digest_lag = float(lag)
            cpu = cpu_s(server.pid) - cpu0
            shutil.rmtree(state / "mlartifacts", ignore_errors=True)
            os.sync()
            row = {"rep": rep, "upload_s": up, "copy_fsync_s": ref,
                   "upload_mb_s": args.mb / up, "copy_fsync_mb_s": args.mb / ref,
                   "ratio": ref / up, "digest_after_upload_s": digest_lag,
                   "server_cpu_s_per_gib": cpu * 1024 / args.mb,
                   "client_cpu_s_per_gib": client_cpu * 1024 / args.mb}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if perf:
            perf.send_signal(2)
            perf.wait()
        server.terminate()
        server.wait()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    ratios = [r["ratio"] for r in rows]
    cpu = statistics.median(r["server_cpu_s_per_gib"] for r in rows)
    client_cpu = statistics.median(r["client_cpu_s_per_gib"] for r in rows)
    lags = [r["digest_after_upload_s"] for r in rows if r["digest_after_upload_s"] is not None]
    report = {"mb": args.mb, "digest": args.digest, "rows": rows,
              "digest_after_upload_s_max": max(lags) if lags else None,
              "median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
              "server_cpu_s_per_gib": cpu, "client_cpu_s_per_gib": client_cpu,
              "load": os.getloadavg()}
    print(f"upload/copy+fsync ratios: {', '.join(f'{r:.2f}' for r in ratios)} "
          f"(median {report['median_ratio']:.2f}, min {report['min_ratio']:.2f}); server CPU "
          f"{cpu:.2f} s/GiB, client CPU {client_cpu:.2f} s/GiB (medians)"
          + (f"; digest served <= {max(lags) * 1000:.0f} ms after the upload" if lags else ""))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "local_upload.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
