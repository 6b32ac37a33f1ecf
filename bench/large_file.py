"""One large artifact through rsflow with the stock client: upload, download, byte-for-byte
check, and the server's peak resident memory during each (sampled every 50 ms).

    .venv/bin/python bench/large_file.py [--gib 4] [--bin target/release/rsflow] [--port 15790]

Needs about 3x the size free on the work directory's disk (source, stored copy, download).
"""

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import mlflow
from mlflow.tracking import MlflowClient

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pagecache import make_room  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """The highest RSS of `pid` while the `with` block runs."""

    def __init__(self, pid):
        self.pid, self.value, self._stop = pid, 0.0, threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.value = max(self.value, rss_mib(self.pid))
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.value = max(self.value, rss_mib(self.pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=4.0)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "rsflow"))
    ap.add_argument("--port", type=int, default=15790)
    ap.add_argument("--workdir", default=os.path.join(HERE, "..", ".tmp", "large-file"))
    args = ap.parse_args()
    size = int(args.gib * (1 << 30))
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(dir=os.path.realpath(args.workdir))
    log = open(os.path.join(args.workdir, "server.log"), "wb")
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [args.bin, "server", "--host", "127.0.0.1", "--port", str(args.port),
         "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
         "--artifacts-destination", f"{work}/mlartifacts"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"rsflow did not start; see {log.name}")
        src = os.path.join(work, "large.bin")
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                f.write(block)
        client = MlflowClient(url)
        mlflow.set_tracking_uri(url)
        run = client.create_run(client.create_experiment("large-file")).info.run_id
        idle = rss_mib(server.pid)
        make_room(size, work)
        os.sync()
        with Peak(server.pid) as up_peak:
            t0 = time.perf_counter()
            client.log_artifact(run, src)
            up_s = time.perf_counter() - t0
        dst = os.path.join(work, "down")
        os.makedirs(dst)
        make_room(size, work)
        os.sync()
        with Peak(server.pid) as down_peak:
            t0 = time.perf_counter()
            got = mlflow.artifacts.download_artifacts(
                run_id=run, artifact_path="large.bin", dst_path=dst
            )
            down_s = time.perf_counter() - t0
        same = filecmp.cmp(src, got, shallow=False)
        mib = size / (1 << 20)
        print(f"size: {mib:.0f} MiB; server idle RSS {idle:.1f} MiB")
        print(f"upload:   {mib / up_s:.0f} MiB/s, server peak RSS {up_peak.value:.1f} MiB")
        print(f"download: {mib / down_s:.0f} MiB/s, server peak RSS {down_peak.value:.1f} MiB")
        print(f"downloaded bytes identical: {same}")
        return 0 if same else 1
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
