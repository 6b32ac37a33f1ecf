"""The S3 section of the benchmark: the big file through the proxy to an S3 server.

For every repetition, each on a fresh s3s-fs (its data directory in BENCH_WORKDIR, so on
the same disk as everything else) with an empty bucket:

  - boto3 straight to the S3 server (s3_direct.py: `upload_file` / `download_file`, default
    TransferConfig): what a user gets without any tracking server in the way;
  - rsflow with `--artifacts-destination s3://bucket/prefix` (MLFLOW_S3_ENDPOINT_URL etc.);
  - `mlflow server` with the same destination (its boto3 does the S3 side).

The servers run the stock client's `log_artifact` / `download_artifacts` (client_work.py
`--mode big`); their process tree's resident memory is sampled as in the main benchmark. The
S3 server's own memory is not counted: it is the storage, not the server under test.

bench.py calls `run_rep`; its helpers (Server, Sampler, run_client, log) are passed in, so
this module holds only what is specific to S3.
"""

import os
import shutil
import socket
import subprocess
import time

ACCESS_KEY = "rsflowbench"
SECRET_KEY = "rsflowbenchsecret"
BUCKET = "rsflow-bench"
PREFIX = "artifacts"
# Port offsets inside a repetition's block of ten (bench.py uses +0..+2 and +9).
S3_OFFSET, RSFLOW_OFFSET, MLFLOW_OFFSET = 5, 6, 7


def s3_env(endpoint):
    """What MLflow's S3 repository (and boto3) read; rsflow reads the same variables."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class S3Server:
    """s3s-fs on a fresh directory; the bucket is a directory of it."""

    def __init__(self, binary, port, data_dir, logdir):
        self.binary, self.port, self.data = binary, port, data_dir
        self.endpoint = f"http://127.0.0.1:{port}"
        self.logpath = os.path.join(logdir, f"s3s-fs-{port}.log")
        self.proc = None

    def start(self):
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(os.path.join(self.data, BUCKET))
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, self.data],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3s-fs exited with {self.proc.returncode}; see {self.logpath}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"s3s-fs did not listen on {self.port} within 30 s")

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.proc = None
        self.logf.close()
        shutil.rmtree(self.data, ignore_errors=True)


def run_rep(rep, ports, data, h):
    """One repetition of the S3 section; returns {"boto3": ..., "rsflow": ..., "mlflow": ...}.

    `h` carries bench.py's helpers and settings: Server, Sampler, run_client, log, workdir,
    sample_s, s3s_bin, client_py, here, servers, BenchError."""
    out = {}
    s3 = S3Server(h.s3s_bin, ports + S3_OFFSET, os.path.join(h.workdir, "s3s-data"), h.workdir)
    env = s3_env(s3.endpoint)

    def fresh():
        s3.stop()
        os.sync()
        s3.start()

    try:
        h.log(f"rep {rep}: S3: boto3 direct")
        fresh()
        cmd = [h.client_py, os.path.join(h.here, "s3_direct.py"), "--endpoint", s3.endpoint,
               "--bucket", BUCKET, "--key", f"{PREFIX}/direct/{os.path.basename(data['big'])}",
               "--big", data["big"], "--tmp", data["tmp"]]  # fmt: skip
        results, _ = h.run_client("s3", s3.endpoint, data, None, label=f"s3-boto3-{rep}",
                                  cmd=cmd, env=env)  # fmt: skip
        out["boto3"] = {"rep": rep, "client": results}
        for kind, offset in (("rsflow", RSFLOW_OFFSET), ("mlflow", MLFLOW_OFFSET)):
            # The smoke leaves `mlflow server` out here: the same bench_server path runs for
            # rsflow, and the smoke's local section already starts mlflow (each start is
            # 30 s to 2 min of Python imports on this machine).
            if kind not in h.servers or (h.smoke and kind == "mlflow"):
                continue
            h.log(f"rep {rep}: S3: {kind} --artifacts-destination s3://{BUCKET}/{PREFIX}")
            fresh()
            try:
                out[kind] = bench_server(kind, ports + offset, data, rep, env, h)
            except h.BenchError as e:
                if kind == "rsflow" or h.smoke:
                    raise
                h.log(f"rep {rep}: S3: {kind} failed: {e}")
                out.setdefault("errors", []).append(str(e)[-2000:])
    finally:
        s3.stop()
    return out


def bench_server(kind, port, data, rep, env, h):
    server = h.Server(kind, port, os.path.join(h.workdir, f"state-s3-{kind}"),
                      destination=f"s3://{BUCKET}/{PREFIX}", env=env)  # fmt: skip
    res = {"rep": rep}
    try:
        res["loadavg_start"] = os.getloadavg()[0]
        server.start()
        sampler = h.Sampler(server.proc.pid, h.sample_s)
        sampler.start()
        try:
            res["client"], _ = h.run_client("big", server.url, data, sampler,
                                            label=f"s3-{kind}-{rep}")  # fmt: skip
        finally:
            sampler.stop()
        res["peaks_kib"] = sampler.peaks
        res["loadavg_end"] = os.getloadavg()[0]
    finally:
        server.stop()
        shutil.rmtree(server.state, ignore_errors=True)
    return res
