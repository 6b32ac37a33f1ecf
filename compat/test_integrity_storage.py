"""Artifact integrity on every storage backend (issue 19): the SHA-256 rsflow computes while
a proxied upload streams to S3 (s3s-fs, moto), Azure Blob (Azurite), GCS (emulator) or SFTP
comes back as `Repr-Digest` on download (whole and ranged), objects written by MLflow's own
artifact repositories download exactly as before (no digest header, no error), listings show
MLflow's layout only, and `rsflow artifacts verify` names every corrupted and every missing
file and exits 1.

Where the digest is kept (crates/rsflow-artifacts/src/digest.rs): on S3, Azure Blob and GCS in
the object's own metadata (`sha256`, `sha256size`): an upload of at most one part (5 MiB) in
the same request, a larger one by rewriting the completed object's metadata (S3 in-place
CopyObject, Azure Set Blob Metadata, GCS objects.patch), so the bucket holds exactly MLflow's
layout (checked by listing it with boto3 / azure-storage-blob / google-cloud-storage). SFTP
keeps a sidecar `.rsflow-sha256.<name>` beside each file. Real servers from
scripts/storage-servers.sh, no mocks.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers import RSFLOW, child_env, rsflow_bin, unique
from test_storage_flows import ARTIFACT_ROUTE, BACKENDS, MIB, _backend, _environ, _start

pytestmark = [pytest.mark.timeout(300)]

SIDECAR = ".rsflow-sha256."


@pytest.fixture(autouse=True)
def _only_rsflow():
    if os.environ.get("COMPAT_TARGET", RSFLOW) not in ("", RSFLOW):
        pytest.skip("rsflow's own digests")


def _repr(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _mlflow_repo(backend, uri: str):
    """MLflow's own artifact repository for `uri` (what `mlflow server` writes with)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(uri)


def _write_as_mlflow(backend, root_uri: str, rel: str, data: bytes, tmp: Path) -> None:
    """Put `data` at `rel` under `root_uri` the way MLflow does, bypassing rsflow."""
    if backend.name.startswith("sftp"):
        # MLflow's SFTP repository needs pysftp; the directory is on this machine.
        from test_storage_flows import _sftp_dir

        var = backend.needs
        path = _sftp_dir(var) / root_uri.split(os.environ[var].rstrip("/") + "/", 1)[1] / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = path.parent / (path.name + ".tmpwrite")
        tmp_file.write_bytes(data)
        os.replace(tmp_file, path)
        return
    src = tmp / Path(rel).name
    src.write_bytes(data)
    parent = str(Path(rel).parent) if "/" in rel else None
    with _environ(backend.client_env()):
        _mlflow_repo(backend, root_uri).log_artifact(str(src), parent)


def _delete_as_mlflow(backend, root_uri: str, rel: str) -> None:
    if backend.name.startswith("sftp"):
        from test_storage_flows import _sftp_dir

        var = backend.needs
        (_sftp_dir(var) / root_uri.split(os.environ[var].rstrip("/") + "/", 1)[1] / rel).unlink()
        return
    with _environ(backend.client_env()):
        _mlflow_repo(backend, root_uri).delete_artifacts(rel)


def _object(backend, prefix: str, rel: str):
    """(user metadata, content type) of the object `prefix/rel`, read from the store directly."""
    name = f"{prefix}/{rel}"
    if backend.name in ("s3s", "moto"):
        import boto3

        env = backend.client_env()
        s3 = boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        head = s3.head_object(Bucket=os.environ["RSFLOW_TEST_S3_BUCKET"], Key=name)
        return head["Metadata"], head["ContentType"]
    if backend.name == "azurite":
        props = _azure_blob(name).get_blob_properties()
        return dict(props.metadata), props.content_settings.content_type
    blob = _gcs_bucket().get_blob(name)
    return dict(blob.metadata or {}), blob.content_type


def _write_raw(backend, prefix: str, rel: str, data: bytes, metadata: dict[str, str]) -> None:
    """Store `data` at `prefix/rel` with `metadata`, bypassing rsflow: other bytes under the
    digest rsflow stored (what bit rot, or a tool that carries metadata over, leaves)."""
    name = f"{prefix}/{rel}"
    if backend.name in ("s3s", "moto"):
        import boto3

        env = backend.client_env()
        s3 = boto3.client("s3", endpoint_url=env["MLFLOW_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
        s3.put_object(Bucket=os.environ["RSFLOW_TEST_S3_BUCKET"], Key=name, Body=data,
                      Metadata=metadata)
    elif backend.name == "azurite":
        _azure_blob(name).upload_blob(data, overwrite=True, metadata=metadata)
    else:
        blob = _gcs_bucket().blob(name)
        blob.metadata = metadata
        blob.upload_from_string(data)


def _azure_blob(name: str):
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient.from_connection_string(os.environ["RSFLOW_TEST_AZURE_CONNECTION_STRING"])
    container = os.environ["RSFLOW_TEST_AZURE_URI"].split("://", 1)[1].split("@", 1)[0]
    return svc.get_blob_client(container, name)


def _gcs_bucket():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with _environ({"STORAGE_EMULATOR_HOST": "http://" + os.environ["RSFLOW_TEST_GCS_EMULATOR"]}):
        client = storage.Client(project="rsflow", credentials=AnonymousCredentials())
    return client.bucket(os.environ["RSFLOW_TEST_GCS_BUCKET"])


def _verify(backend, uri: str) -> subprocess.CompletedProcess:
    env = child_env(**backend.server_env())
    return subprocess.run([str(rsflow_bin()), "artifacts", "verify", "--artifacts-destination", uri],
                          capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_digests_on_every_backend(name, servers, tmp_path):
    backend = _backend(name)
    prefix = unique(f"digest-{name}")
    root_uri = backend.uri(prefix)
    server = _start(servers, backend, destination=root_uri)

    sftp = name.startswith("sftp")
    small = os.urandom(300_000)  # one request: digest in object metadata (SFTP: sidecar)
    # Parts (on GCS: a resumable session of two 8 MiB chunks): digest added to the object's
    # metadata after.
    big = os.urandom(9 * MIB + 4321)
    big2 = os.urandom(5 * MIB + 1)  # the smallest body sent in parts (GCS: one request)
    empty = b""
    files = {"d/small.bin": small, "d/big.bin": big, "d/big2.bin": big2, "d/empty.txt": empty}
    for rel, data in files.items():
        r = server.put(f"{ARTIFACT_ROUTE}{rel}", data=data)
        assert r.status_code == 200, r.text

    for rel, data in files.items():
        got = server.get(f"{ARTIFACT_ROUTE}{rel}")
        assert got.status_code == 200 and got.content == data, rel
        assert got.headers.get("repr-digest") == _repr(data), (rel, dict(got.headers))
        assert got.headers.get("digest", "").startswith("SHA-256="), rel
    # A resumed download: the tail of the same version, the same digest.
    url = f"{ARTIFACT_ROUTE}d/big.bin"
    whole = server.get(url)
    etag = whole.headers["etag"]
    assert etag.startswith('"'), etag  # strong
    tail = server.get(url, headers={"Range": f"bytes={4 * MIB}-", "If-Range": etag})
    assert tail.status_code == 206 and tail.content == big[4 * MIB:]
    assert tail.headers["repr-digest"] == _repr(big)

    # Listings show MLflow's layout only.
    listing = server.get(ARTIFACT_ROUTE.rstrip("/"), params={"path": "d"}).json()
    assert sorted(f["path"] for f in listing["files"]) == ["big.bin", "big2.bin", "empty.txt",
                                                            "small.bin"], listing
    if sftp:
        # SFTP keeps a sidecar beside every file (hidden from rsflow's listings).
        keys = backend.keys(prefix, sidecars=True)
        sidecars = {k for k in keys if Path(k).name.startswith(SIDECAR)}
        assert sidecars == {f"d/{SIDECAR}{n}" for n in ("small.bin", "big.bin", "big2.bin",
                                                          "empty.txt")}, keys
    else:
        # The bucket, listed directly, holds exactly MLflow's layout: no extra object.
        assert backend.keys(prefix) == set(files), backend.keys(prefix)
        # The digest (and the size it is for) is the object's own metadata, whole-object
        # uploads and multipart ones alike; the rewrite kept the content type.
        for rel, data in files.items():
            meta, ctype = _object(backend, prefix, rel)
            assert meta.get("sha256") == hashlib.sha256(data).hexdigest(), (rel, meta)
            assert meta.get("sha256size") == str(len(data)), (rel, meta)
            assert ctype == "application/octet-stream", (rel, ctype)
        # What a user who switches back sees: MLflow's own artifact repository (direct
        # access, as `--default-artifact-root` clients use) lists the four files only and
        # reads back the rewritten object byte for byte.
        with _environ(backend.client_env()):
            repo = _mlflow_repo(backend, root_uri)
            assert sorted(f.path for f in repo.list_artifacts("d")) == sorted(files), \
                repo.list_artifacts("d")
            (tmp_path / "back").mkdir()
            local = repo.download_artifacts("d/big.bin", str(tmp_path / "back"))
        assert Path(local).read_bytes() == big

    # A sidecar name cannot be uploaded (it could forge an SFTP digest): MLflow-shaped 400.
    forged = server.put(f"{ARTIFACT_ROUTE}d/{SIDECAR}small.bin", data=b"x")
    assert forged.status_code == 400 and forged.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    # Objects MLflow writes (no digest) download as before: no digest header, no error.
    foreign_small = os.urandom(1000)
    foreign_big = os.urandom(6 * MIB)
    _write_as_mlflow(backend, root_uri, "m/foreign.bin", foreign_small, tmp_path)
    _write_as_mlflow(backend, root_uri, "m/foreign-big.bin", foreign_big, tmp_path)
    for rel, data in {"m/foreign.bin": foreign_small, "m/foreign-big.bin": foreign_big}.items():
        got = server.get(f"{ARTIFACT_ROUTE}{rel}")
        assert got.status_code == 200 and got.content == data, rel
        assert "repr-digest" not in got.headers and "digest" not in got.headers, rel

    ok = _verify(backend, root_uri)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "6 files: 4 verified, 0 corrupted or missing, 2 without a stored digest" in ok.stdout, \
        ok.stdout

    # Rewritten by MLflow with other bytes of the same size: on object stores the write
    # replaces the metadata (no digest is left to serve or check); SFTP's sidecar is now stale.
    # SFTP reports modification times in whole seconds, so a rewrite of the same size within
    # the second of rsflow's upload cannot be told apart (a documented limit): the rewrite
    # comes a second later, as any real one would.
    if sftp:
        time.sleep(1.05)
    _write_as_mlflow(backend, root_uri, "d/big.bin", os.urandom(len(big)), tmp_path)
    got = server.get(url)
    assert got.status_code == 200 and "repr-digest" not in got.headers
    if not sftp:
        # The store itself dropped rsflow's metadata with the old bytes.
        meta, _ = _object(backend, prefix, "d/big.bin")
        assert "sha256" not in meta and "sha256size" not in meta, meta
    if sftp:
        # Deleted behind rsflow's back (its sidecar stays: the digest index), and bit rot in
        # place (the sidecar stays, the bytes change).
        _delete_as_mlflow(backend, root_uri, "d/big2.bin")
        from test_storage_flows import _sftp_dir

        path = _sftp_dir(backend.needs) / prefix / "d/small.bin"
        raw = bytearray(path.read_bytes())
        raw[10] ^= 0xFF
        st = path.stat()
        path.write_bytes(bytes(raw))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        # Other bytes under the stored digest: same size (the digest is still served, and
        # names other bytes) and another size (no longer served).
        meta2, _ = _object(backend, prefix, "d/big2.bin")
        _write_raw(backend, prefix, "d/big2.bin", os.urandom(len(big2)), meta2)
        got = server.get(f"{ARTIFACT_ROUTE}d/big2.bin")
        assert got.headers.get("repr-digest") == _repr(big2)
        meta_small, _ = _object(backend, prefix, "d/small.bin")
        _write_raw(backend, prefix, "d/small.bin", small[:-1], meta_small)
        got = server.get(f"{ARTIFACT_ROUTE}d/small.bin")
        assert got.status_code == 200 and "repr-digest" not in got.headers
    bad = _verify(backend, root_uri)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "CORRUPTED d/small.bin" in bad.stdout, bad.stdout
    if sftp:
        assert "CORRUPTED d/big.bin" in bad.stdout, bad.stdout
        assert "MISSING d/big2.bin" in bad.stdout, bad.stdout
    else:
        assert "CORRUPTED d/big2.bin" in bad.stdout, bad.stdout
        assert "d/big.bin" not in bad.stdout, bad.stdout
        assert "6 files: 1 verified, 2 corrupted or missing, 3 without a stored digest" in \
            bad.stdout, bad.stdout
    assert "CORRUPTED d/empty.txt" not in bad.stdout

    # Deleting through rsflow removes the file (and on SFTP its sidecar).
    assert server.delete(f"{ARTIFACT_ROUTE}d/big.bin").status_code == 200
    keys = backend.keys(prefix, sidecars=True)
    assert "d/big.bin" not in keys and f"d/{SIDECAR}big.bin" not in keys, keys
