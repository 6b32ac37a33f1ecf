"""Artifact flows of the stock client on every storage backend (issue: storage backends).

The storage servers come from `scripts/storage-servers.sh start`; `... env` exports the
RSFLOW_TEST_* variables read here (the test command always sets them). A backend whose
variable is absent is skipped with the reason; one whose variable is set but whose server
does not work fails (rsflow refuses to start and says why).

- Proxy mode on S3 (s3s-fs and moto), Azure Blob (Azurite), GCS (gcp-storage-emulator) and
  SFTP (OpenSSH, by key and by a password in the URI): rsflow serves `mlflow-artifacts:` roots from `--artifacts-destination <uri>`;
  the client logs, lists, downloads and deletes through rsflow, and the objects are checked
  in the store itself (MLflow's layout: <prefix>/<exp>/<run>/artifacts/<path>).
- Multipart upload (and presigned download) through the proxy on S3.
- Direct mode on S3, Azure and GCS: `--default-artifact-root <uri> --no-serve-artifacts`; the
  client writes to the store itself and rsflow's run routes read it with its own credentials.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import mlflow
import pytest
import requests

from helpers import RSFLOW, sha256_file, tree_contents, unique, write_random_file, write_tree

TREE = {
    "top.txt": b"top level\n",
    "empty.txt": b"",
    "dir with space/a b.txt": b"spaced out",
    "nested/deeper/deep.bin": bytes(range(256)) * 64,
}

MIB = 1024 * 1024
ARTIFACT_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"


def _var(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass
class Backend:
    name: str
    needs: str
    uri: Callable[[str], str]
    server_env: Callable[[], dict[str, str]]
    # Keys (store paths under the bucket/container/dir) that exist now, for layout checks.
    keys: Callable[[str], set[str]] | None = None
    client_env: Callable[[], dict[str, str]] = field(default=lambda: {})


def _s3_env(endpoint_var: str) -> dict[str, str]:
    return {
        "MLFLOW_S3_ENDPOINT_URL": os.environ[endpoint_var],
        "AWS_ACCESS_KEY_ID": os.environ["RSFLOW_TEST_S3_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": os.environ["RSFLOW_TEST_S3_SECRET_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


# rsflow's SFTP digest sidecars (`.rsflow-sha256.<name>`, see test_integrity_storage.py) are
# not part of MLflow's layout; the SFTP layout checks leave them out unless asked. Object
# stores keep digests in object metadata: their listings are returned whole, so any extra
# object fails the layout checks.
SIDECAR_PREFIX = ".rsflow-sha256."


def _layout(keys: set[str], sidecars: bool) -> set[str]:
    return keys if sidecars else {k for k in keys if not k.rsplit("/", 1)[-1].startswith(SIDECAR_PREFIX)}


def _s3_keys(endpoint_var: str) -> Callable[..., set[str]]:
    def keys(prefix: str, sidecars: bool = False) -> set[str]:
        import boto3

        env = _s3_env(endpoint_var)
        s3 = boto3.client(
            "s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        out: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=os.environ["RSFLOW_TEST_S3_BUCKET"], Prefix=prefix + "/"
        ):
            out |= {o["Key"][len(prefix) + 1 :] for o in page.get("Contents", [])}
        return out

    return keys


def _azure_keys(prefix: str, sidecars: bool = False) -> set[str]:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient.from_connection_string(os.environ["RSFLOW_TEST_AZURE_CONNECTION_STRING"])
    container = os.environ["RSFLOW_TEST_AZURE_URI"].split("://", 1)[1].split("@", 1)[0]
    blobs = svc.get_container_client(container).list_blobs(name_starts_with=prefix + "/")
    return {b.name[len(prefix) + 1 :] for b in blobs}


def _gcs_keys(prefix: str, sidecars: bool = False) -> set[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with _environ({"STORAGE_EMULATOR_HOST": "http://" + os.environ["RSFLOW_TEST_GCS_EMULATOR"]}):
        client = storage.Client(project="rsflow", credentials=AnonymousCredentials())
        blobs = client.list_blobs(os.environ["RSFLOW_TEST_GCS_BUCKET"], prefix=prefix + "/")
        return {b.name[len(prefix) + 1 :] for b in blobs}


def _sftp_dir(var: str) -> Path:
    # sftp://user[:password]@127.0.0.1:port/<absolute dir on this machine>
    rest = os.environ[var].split("://", 1)[1]
    return Path("/" + rest.split("/", 1)[1])


def _sftp_keys(var: str) -> Callable[..., set[str]]:
    def keys(prefix: str, sidecars: bool = False) -> set[str]:
        root = _sftp_dir(var) / prefix
        return _layout({p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()},
                       sidecars)

    return keys


BACKENDS = {
    "s3s": Backend(
        "s3s", "RSFLOW_TEST_S3_ENDPOINT",
        uri=lambda prefix: f"s3://{os.environ['RSFLOW_TEST_S3_BUCKET']}/{prefix}",
        server_env=lambda: _s3_env("RSFLOW_TEST_S3_ENDPOINT"),
        keys=_s3_keys("RSFLOW_TEST_S3_ENDPOINT"),
        client_env=lambda: _s3_env("RSFLOW_TEST_S3_ENDPOINT"),
    ),
    "moto": Backend(
        "moto", "RSFLOW_TEST_MOTO_ENDPOINT",
        uri=lambda prefix: f"s3://{os.environ['RSFLOW_TEST_S3_BUCKET']}/{prefix}",
        server_env=lambda: _s3_env("RSFLOW_TEST_MOTO_ENDPOINT"),
        keys=_s3_keys("RSFLOW_TEST_MOTO_ENDPOINT"),
        client_env=lambda: _s3_env("RSFLOW_TEST_MOTO_ENDPOINT"),
    ),
    "azurite": Backend(
        "azurite", "RSFLOW_TEST_AZURE_CONNECTION_STRING",
        uri=lambda prefix: f"{os.environ['RSFLOW_TEST_AZURE_URI']}/{prefix}",
        server_env=lambda: {
            "AZURE_STORAGE_CONNECTION_STRING": os.environ["RSFLOW_TEST_AZURE_CONNECTION_STRING"]
        },
        keys=_azure_keys,
        client_env=lambda: {
            "AZURE_STORAGE_CONNECTION_STRING": os.environ["RSFLOW_TEST_AZURE_CONNECTION_STRING"]
        },
    ),
    "gcs": Backend(
        "gcs", "RSFLOW_TEST_GCS_EMULATOR",
        uri=lambda prefix: f"gs://{os.environ['RSFLOW_TEST_GCS_BUCKET']}/{prefix}",
        server_env=lambda: {"STORAGE_EMULATOR_HOST": os.environ["RSFLOW_TEST_GCS_EMULATOR"]},
        keys=_gcs_keys,
        client_env=lambda: {"STORAGE_EMULATOR_HOST": "http://" + os.environ["RSFLOW_TEST_GCS_EMULATOR"]},
    ),
    "sftp": Backend(
        "sftp", "RSFLOW_TEST_SFTP_URI",
        uri=lambda prefix: f"{os.environ['RSFLOW_TEST_SFTP_URI'].rstrip('/')}/{prefix}",
        server_env=lambda: {"HOME": os.environ["RSFLOW_TEST_SFTP_HOME"]},
        keys=_sftp_keys("RSFLOW_TEST_SFTP_URI"),
    ),
    # A throwaway system user that sshd lets in by password only (storage-servers.sh, as
    # root); $HOME holds the known_hosts entry, as for the key login.
    "sftp-password": Backend(
        "sftp-password", "RSFLOW_TEST_SFTP_PASSWORD_URI",
        uri=lambda prefix: f"{os.environ['RSFLOW_TEST_SFTP_PASSWORD_URI'].rstrip('/')}/{prefix}",
        server_env=lambda: {"HOME": os.environ["RSFLOW_TEST_SFTP_HOME"]},
        keys=_sftp_keys("RSFLOW_TEST_SFTP_PASSWORD_URI"),
    ),
}


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """Set environment variables for the block (server processes copy os.environ at start)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _backend(name: str) -> Backend:
    b = BACKENDS[name]
    if not _var(b.needs) and _var("RSFLOW_TEST_SFTP_PASSWORD_SKIP") and name == "sftp-password":
        pytest.skip(os.environ["RSFLOW_TEST_SFTP_PASSWORD_SKIP"])
    if not _var(b.needs):
        pytest.skip(f"{b.needs} is not set: run `bash scripts/storage-servers.sh start` and "
                    f"`eval \"$(bash scripts/storage-servers.sh env)\"` (the test command does)")
    return b


def _start(servers, backend: Backend, extra_env: dict[str, str] | None = None,
           destination: str | None = None, extra_args: list[str] | None = None):
    """rsflow with the backend's credentials in its environment. (The destination goes in
    as a flag: the helper's `artifacts_destination` is a Path, which folds `s3://` to `s3:/`.)"""
    env = {**backend.server_env(), **(extra_env or {})}
    args = list(extra_args or [])
    if destination is not None:
        args += ["--artifacts-destination", destination]
    with _environ(env):
        return servers.start(RSFLOW, artifacts_destination=None, extra_args=args)


def _run_layout_prefix(dest_prefix: str, run) -> str:
    return f"{dest_prefix}/{run.info.experiment_id}/{run.info.run_id}/artifacts"


@pytest.fixture(autouse=True)
def _only_rsflow():
    if os.environ.get("COMPAT_TARGET", RSFLOW) not in ("", RSFLOW):
        pytest.skip("storage backends are exercised on rsflow (the reference needs the SDKs server-side too)")


# --------------------------------------------------------------------------- proxy mode


@pytest.mark.parametrize("name", list(BACKENDS))
def test_proxied_flows(name, servers, bind_client, tmp_path):
    backend = _backend(name)
    prefix = unique(f"proxy-{name}")
    server = _start(servers, backend, destination=backend.uri(prefix))
    client = bind_client(server)

    info = server.get("/api/3.0/mlflow/server-info").json()
    assert info["artifact_serving_enabled"] is True
    assert info["multipart_uploads_enabled"] is False  # not enabled on the server

    mlflow.set_experiment(unique(f"exp-{name}"))
    src = write_tree(tmp_path / "src", TREE)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src), artifact_path="tree")
        mlflow.log_text("hello\n", "notes/readme.md")
    run_id = run.info.run_id
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")

    root = client.list_artifacts(run_id)
    assert [(f.path, f.is_dir) for f in root] == [("notes", True), ("tree", True)]
    tree = client.list_artifacts(run_id, "tree")
    assert [(f.path, f.is_dir, f.file_size) for f in tree] == [
        ("tree/dir with space", True, None),
        ("tree/empty.txt", False, None),
        ("tree/nested", True, None),
        ("tree/top.txt", False, 10),
    ]

    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="tree",
                                                   dst_path=str(tmp_path / "dl")))
    assert tree_contents(out) == TREE
    readme = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.md")
    assert readme == "hello\n"

    # The objects are in the store itself, in MLflow's layout.
    if backend.keys is not None:
        keys = backend.keys(_run_layout_prefix(prefix, run))
        assert keys == {f"tree/{k}" for k in TREE} | {"notes/readme.md"}, keys

    # Run routes (UI) read through the destination too, ranges included.
    listing = server.get("/ajax-api/2.0/mlflow/artifacts/list",
                         params={"run_id": run_id, "path": "tree/nested"}).json()
    assert listing["files"] == [{"path": "tree/nested/deeper", "is_dir": True}]
    got = server.get("/get-artifact", params={"run_id": run_id, "path": "tree/top.txt"},
                     headers={"Range": "bytes=4-8"})
    assert got.status_code == 206 and got.content == b"level"

    # Several upload parts (5 MiB) and ranged store reads (2 MiB, 8 at a time): the bytes come
    # back whole and in order, and a Range across a read boundary is exact (GCS: two chunks
    # of a resumable upload and the rest).
    big = tmp_path / "parts.bin"
    digest = write_random_file(big, 17 * MIB + 12345)
    with open(big, "rb") as f:
        assert server.put(f"{ARTIFACT_ROUTE}big/parts.bin", data=f).status_code == 200
    got = server.get(f"{ARTIFACT_ROUTE}big/parts.bin")
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == digest
    start = 2 * MIB - 100
    part = server.get(f"{ARTIFACT_ROUTE}big/parts.bin",
                      headers={"Range": f"bytes={start}-{start + 4 * MIB}"})
    assert part.status_code == 206 and part.content == got.content[start:start + 4 * MIB + 1]

    # Delete through the client's artifact repository, then nothing is left.
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(run.info.artifact_uri).delete_artifacts("tree")
    assert [f.path for f in client.list_artifacts(run_id)] == ["notes"]
    if backend.keys is not None:
        assert backend.keys(_run_layout_prefix(prefix, run)) == {"notes/readme.md"}


def test_unreachable_destination_refuses_to_start(servers, tmp_path):
    """A destination that cannot be reached stops rsflow at startup with the reason."""
    import subprocess

    from helpers import build_server_args, child_env, free_port

    port = free_port()
    dead = free_port()
    argv, _, _ = build_server_args(RSFLOW, tmp_path, port, artifacts_destination=None,
                                   extra_args=["--artifacts-destination", "s3://nowhere/prefix"])
    env = child_env(MLFLOW_S3_ENDPOINT_URL=f"http://127.0.0.1:{dead}", AWS_ACCESS_KEY_ID="k",
                    AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
                    AWS_EC2_METADATA_DISABLED="true", RSFLOW_STORAGE_CONNECT_TIMEOUT="1",
                    RSFLOW_STORAGE_TIMEOUT="2")
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "s3://nowhere/prefix" in err and "probe" in err, err


def test_expected_bucket_owner_refuses_to_start(tmp_path):
    """MLflow sends ExpectedBucketOwner when MLFLOW_S3_EXPECTED_BUCKET_OWNER is set; rsflow
    cannot, so it stops at start naming the variable rather than drop the check silently."""
    import subprocess

    from helpers import build_server_args, child_env, free_port

    argv, _, _ = build_server_args(RSFLOW, tmp_path, free_port(), artifacts_destination=None,
                                   extra_args=["--artifacts-destination", "s3://bkt/prefix"])
    env = child_env(MLFLOW_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_ACCESS_KEY_ID="k",
                    AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
                    AWS_EC2_METADATA_DISABLED="true", MLFLOW_S3_EXPECTED_BUCKET_OWNER="111122223333")
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0, err
    assert "MLFLOW_S3_EXPECTED_BUCKET_OWNER" in err and "s3://bkt/prefix" in err, err


def test_sftp_password_is_never_shown(servers, tmp_path):
    """A password login works without the password reaching argv or the log; a wrong
    password stops rsflow at startup, at once, with ssh's reason and the URI redacted."""
    import subprocess
    import time
    from urllib.parse import urlsplit

    from helpers import build_server_args, child_env, free_port

    backend = _backend("sftp-password")
    uri = backend.uri(unique("pw"))
    password = urlsplit(uri).password
    assert password
    server = _start(servers, backend, destination=uri)
    assert server.get("/health").status_code == 200
    # No process rsflow started shows it in its arguments (the ssh master runs detached, so
    # look at all); rsflow's own argv has it because this test put it there.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if cmdline.parent.name in (str(server.proc.pid), str(os.getpid())):
            continue
        with contextlib.suppress(OSError):
            assert password.encode() not in cmdline.read_bytes(), cmdline
    assert password not in server.log_text()

    wrong = uri.replace(f":{password}@", ":not-the-password@")
    argv, _, _ = build_server_args(RSFLOW, tmp_path, free_port(), artifacts_destination=None,
                                   extra_args=["--artifacts-destination", wrong])
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=tmp_path, env=child_env(**backend.server_env()),
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    err = proc.stdout + proc.stderr
    assert proc.returncode != 0, err
    assert "Permission denied" in err, err
    assert "not-the-password" not in err and password not in err, err
    assert took < 20, f"a wrong password took {took:.1f}s to fail"


def _ssh_processes() -> dict[int, tuple[int, list[str]]]:
    """{pid: (ppid, argv)} of every ssh process on the machine."""
    out = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            argv = [a.decode(errors="replace") for a in cmdline.read_bytes().split(b"\0") if a]
            if argv and Path(argv[0]).name == "ssh":
                stat = (cmdline.parent / "stat").read_text()
                out[int(cmdline.parent.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), argv)
    return out


def _control_socket(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "-S" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("ControlPath="):
            return a.split("=", 1)[1]
    return None


@pytest.mark.parametrize("name", ["sftp", "sftp-password"])
def test_sftp_control_master_follows_a_killed_server(name, servers):
    """The ssh control master rsflow starts (detached, outside its process group) exits by
    itself once rsflow is gone, even after a kill -9: nothing is left running on the machine."""
    import time

    backend = _backend(name)
    server = _start(servers, backend, destination=backend.uri(unique("master")))
    r = server.request("PUT", "/api/2.0/mlflow-artifacts/artifacts/m/x.txt", data=b"x", timeout=60)
    assert r.status_code == 200, r.text
    procs = _ssh_processes()
    # rsflow's own sftp channel is a child ssh speaking through the master's control socket.
    sockets = {_control_socket(argv) for ppid, argv in procs.values() if ppid == server.proc.pid}
    sockets.discard(None)
    assert sockets, procs
    masters = {pid for pid, (_, argv) in procs.items()
               if "-M" in argv and _control_socket(argv) in sockets}
    assert masters, procs
    server.proc.kill()
    server.proc.wait(timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in masters):
        time.sleep(1)
    left = [p for p in masters if Path(f"/proc/{p}").exists()]
    assert not left, f"ssh control masters outlived rsflow: {[procs[p][1] for p in left]}"


# --------------------------------------------------------------------------- multipart


@pytest.mark.parametrize("name", ["s3s", "moto", "azurite"])
def test_multipart_upload_and_presigned_download(name, servers, bind_client, tmp_path):
    """Above the client's threshold, files go to the store in presigned parts (S3: UploadPart
    URLs; Azure: Put Block URLs with a blob SAS); S3 downloads come from presigned URLs."""
    backend = _backend(name)
    prefix = unique(f"mpu-{name}")
    server = _start(servers, backend, destination=backend.uri(prefix), extra_env={
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "true",
    })
    info = server.get("/api/3.0/mlflow/server-info").json()
    presigned_downloads = name != "azurite"  # as MLflow: presigned downloads are S3-only
    assert info["multipart_uploads_enabled"] is True
    assert info["multipart_downloads_enabled"] is presigned_downloads
    bind_client(server)

    big = tmp_path / "big.bin"
    digest = write_random_file(big, 12 * MIB)
    small = write_tree(tmp_path / "s", {"small.txt": b"below the threshold"}) / "small.txt"
    client_env = {
        # The client decides on MPU from server-info; make the threshold small.
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(1 * MIB),
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(5 * MIB),
        "MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE": str(5 * MIB),
    }
    mlflow.set_experiment(unique("mpu"))
    calls: list[str] = []
    original = requests.Session.request

    def spy(self, method, url, *a, **kw):
        calls.append(f"{method} {url.split('?')[0]}")
        return original(self, method, url, *a, **kw)

    with _environ(client_env), pytest.MonkeyPatch.context() as mp:
        mp.setattr(requests.Session, "request", spy)
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(big), artifact_path="data")
            mlflow.log_artifact(str(small), artifact_path="data")
        dl = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="data/big.bin",
                                                      dst_path=str(tmp_path / "dl")))
    assert sha256_file(dl) == digest
    creates = [c for c in calls if "/mlflow-artifacts/mpu/create/" in c]
    completes = [c for c in calls if "/mlflow-artifacts/mpu/complete/" in c]
    assert len(creates) == 1 and len(completes) == 1, calls
    assert any("/mlflow-artifacts/presigned/" in c for c in calls) is presigned_downloads, calls
    # The 12 MiB file went to the store in 3 parts, not through rsflow.
    assert not any(c.startswith("PUT") and ARTIFACT_ROUTE in c and c.endswith("/data/big.bin")
                   for c in calls), calls
    keys = backend.keys(_run_layout_prefix(prefix, run))
    assert keys == {"data/big.bin", "data/small.txt"}, keys


# --------------------------------------------------------------------------- direct mode


@pytest.mark.parametrize("name", ["s3s", "moto", "azurite", "gcs"])
def test_direct_mode(name, servers, bind_client, tmp_path):
    backend = _backend(name)
    prefix = unique(f"direct-{name}")
    server = _start(servers, backend, extra_args=["--default-artifact-root", backend.uri(prefix), "--no-serve-artifacts"])
    client = bind_client(server)
    src = write_tree(tmp_path / "src", TREE)
    with _environ(backend.client_env()):
        exp = mlflow.set_experiment(unique(f"direct-{name}"))
        assert exp.artifact_location == f"{backend.uri(prefix)}/{exp.experiment_id}"
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(src), artifact_path="tree")
        # The client wrote to the store itself...
        assert client.list_artifacts(run.info.run_id, "tree")
    keys = backend.keys(_run_layout_prefix(prefix, run))
    assert keys == {f"tree/{k}" for k in TREE}, keys

    # ...and rsflow reads it with its own credentials for the UI routes.
    listing = server.get("/ajax-api/2.0/mlflow/artifacts/list",
                         params={"run_id": run.info.run_id, "path": "tree"}).json()
    assert listing["root_uri"] == run.info.artifact_uri
    assert listing["files"] == [
        {"path": "tree/dir with space", "is_dir": True},
        {"path": "tree/empty.txt", "is_dir": False},
        {"path": "tree/nested", "is_dir": True},
        {"path": "tree/top.txt", "is_dir": False, "file_size": 10},
    ]
    got = server.get("/get-artifact", params={"run_id": run.info.run_id,
                                              "path": "tree/nested/deeper/deep.bin"})
    assert got.status_code == 200, got.text
    assert got.content == TREE["nested/deeper/deep.bin"]
    missing = server.get("/get-artifact", params={"run_id": run.info.run_id, "path": "tree/nope"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
