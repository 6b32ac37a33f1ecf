"""`rsflow artifacts verify` names files deleted behind rsflow's back (issue 19) on every
backend: local disk, S3 (s3s-fs, moto), Azure Blob (Azurite), GCS (emulator) and SFTP.

rsflow records each file it publishes through the proxy in a table of its own in the backend
database (`rsflow_artifact_index`, crates/rsflow-store/src/artifact_index.rs); the store gains
no file or object, so MLflow's listings are unchanged, and `mlflow server` 3.17.2 opens the
same database and destination and lists the run exactly as it lists a run it uploaded itself.
Real servers (scripts/storage-servers.sh, the reference `mlflow server`), no mocks.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import mlflow
import pytest

from helpers import MLFLOW, RSFLOW, child_env, rsflow_bin, start_server, unique  # noqa: F401
from test_integrity_storage import _delete_as_mlflow, _object, _write_raw
from test_storage_flows import ARTIFACT_ROUTE, BACKENDS, _backend, _start

pytestmark = [pytest.mark.timeout(300)]

TREE = {
    "a.bin": os.urandom(200_000),
    "sub/b.txt": b"hello\n",
    "sub/keep.txt": b"kept\n",
    "gone/x.bin": os.urandom(3000),
    "gone/deeper/y.bin": os.urandom(10),
}


@pytest.fixture(autouse=True)
def _only_rsflow():
    if os.environ.get("COMPAT_TARGET", RSFLOW) not in ("", RSFLOW):
        pytest.skip("rsflow's own digest index")


def _upload(server, tmp: Path):
    src = tmp / "src"
    for rel, data in TREE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    client = mlflow.MlflowClient(server.tracking_uri)
    exp = client.create_experiment(unique("missing"))
    run = client.create_run(exp)
    client.log_artifacts(run.info.run_id, str(src))
    return client, run


def _rsflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(rsflow_bin()), *args], capture_output=True, text=True,
                          env=child_env(**(env or {})), timeout=240)


def _index_rows(server, like: str) -> list[str]:
    """Rows of rsflow's index, read from the database directly."""
    uri = server.backend
    if uri.startswith("sqlite:///"):
        with sqlite3.connect(uri[len("sqlite:///"):]) as db:
            return [r[0] for r in db.execute(
                "SELECT location FROM rsflow_artifact_index WHERE location LIKE ? "
                "ORDER BY location", (f"%{like}%",))]
    import sqlalchemy

    eng = sqlalchemy.create_engine(uri)
    with eng.connect() as c:
        rows = c.execute(sqlalchemy.text(
            "SELECT location FROM rsflow_artifact_index WHERE location LIKE :l ORDER BY location"),
            {"l": f"%{like}%"}).fetchall()
    eng.dispose()
    return [r[0] for r in rows]


def _damage(name: str, backend, dest_uri: str, dest_dir: Path | None, run_prefix: str) -> None:
    """Behind rsflow's back: delete one file and one whole directory, corrupt a.bin."""
    if dest_dir is not None:  # local disk, and the SFTP server's directory on this machine
        root = dest_dir / run_prefix
        (root / "sub/b.txt").unlink()
        import shutil

        shutil.rmtree(root / "gone")
        path = root / "a.bin"
        st = path.stat()
        raw = bytearray(path.read_bytes())
        raw[10] ^= 0xFF
        with open(path, "r+b") as f:  # in place: the xattr (local) stays
            f.write(bytes(raw))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # SFTP sidecar still "describes" it
        return
    root_uri = f"{dest_uri}/{run_prefix}"
    _delete_as_mlflow(backend, root_uri, "sub/b.txt")
    _delete_as_mlflow(backend, root_uri, "gone")
    store_prefix = dest_uri.split("://", 1)[1].split("/", 1)[1] + "/" + run_prefix
    meta, _ = _object(backend, store_prefix, "a.bin")
    _write_raw(backend, store_prefix, "a.bin", os.urandom(len(TREE["a.bin"])), meta)


@pytest.mark.parametrize("name", ["local", *BACKENDS])
def test_verify_names_missing_and_corrupted(name, servers, tmp_path):
    env: dict[str, str] = {}
    if name == "local":
        server = servers.start(RSFLOW)
        dest_uri = str(server.artifacts_dir)
        dest_dir: Path | None = server.artifacts_dir
        backend = None
    else:
        backend = _backend(name)
        prefix = unique(f"missing-{name}")
        dest_uri = backend.uri(prefix)
        server = _start(servers, backend, destination=dest_uri)
        env = backend.server_env()
        dest_dir = None
        if name.startswith("sftp"):
            from test_storage_flows import _sftp_dir

            dest_dir = _sftp_dir(backend.needs) / prefix
    client, run = _upload(server, tmp_path)
    run_id = run.info.run_id
    run_prefix = f"{run.info.experiment_id}/{run_id}/artifacts"
    # One row per published file, nothing in the store beside MLflow's layout.
    rows = _index_rows(server, run_id)
    assert len(rows) == len(TREE) and all(r.endswith(tuple(TREE)) for r in rows), rows
    if backend is not None and backend.keys is not None and not name.startswith("sftp"):
        assert backend.keys(prefix) == {f"{run_prefix}/{k}" for k in TREE}

    by_run = ["artifacts", "verify", "--run-id", run_id, "--backend-store-uri", server.backend,
              "--artifacts-destination", dest_uri]
    ok = _rsflow(*by_run, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{len(TREE)} files: {len(TREE)} verified, 0 corrupted or missing" in ok.stdout, ok.stdout

    _damage(name, backend, dest_uri, dest_dir, run_prefix)
    bad = _rsflow(*by_run, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for line in ("MISSING sub/b.txt", "MISSING gone/x.bin", "MISSING gone/deeper/y.bin",
                 "CORRUPTED a.bin"):
        assert line in bad.stdout, (line, bad.stdout)
    assert "sub/keep.txt" not in bad.stdout, bad.stdout
    assert "5 files: 1 verified, 4 corrupted or missing" in bad.stdout, bad.stdout
    # The whole destination names the same files, from its root.
    whole = _rsflow("artifacts", "verify", "--artifacts-destination", dest_uri,
                    "--backend-store-uri", server.backend, env=env)
    assert whole.returncode == 1
    assert f"MISSING {run_prefix}/gone/x.bin" in whole.stdout, whole.stdout
    assert f"CORRUPTED {run_prefix}/a.bin" in whole.stdout, whole.stdout

    # A delete through rsflow's proxy removes the row with the file (MLflow's answer: `{}`).
    gone = server.delete(f"{ARTIFACT_ROUTE}{run_prefix}/sub/keep.txt")
    assert gone.status_code == 200 and gone.json() == {}, gone.text
    left = _index_rows(server, run_id)
    assert left and not any(r.endswith("/sub/keep.txt") for r in left), left
    # gc of a deleted run leaves no row.
    client.delete_run(run_id)
    gc = _rsflow("gc", "--backend-store-uri", server.backend, "--artifacts-destination", dest_uri,
                 "--run-ids", run_id, env=env)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert _index_rows(server, run_id) == []
    after = _rsflow("artifacts", "verify", "--artifacts-destination", dest_uri,
                    "--backend-store-uri", server.backend, env=env)
    assert run_id not in after.stdout, after.stdout


def _tree(client, run_id: str, path: str | None = None) -> set[tuple[str, bool, int | None]]:
    out = set()
    for f in client.list_artifacts(run_id, path):
        out.add((f.path, f.is_dir, f.file_size))
        if f.is_dir:
            out |= _tree(client, run_id, f.path)
    return out


def _files_on_disk(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_mlflow_server_serves_the_same_database_and_root(tmp_path):
    """Switching back: `mlflow server` 3.17.2 on rsflow's database (with its index table) and
    destination lists rsflow's upload exactly as a tree it uploaded itself, and `mlflow db
    upgrade` accepts the database."""
    import sys

    work = tmp_path / "w"
    rs = start_server(RSFLOW, work)
    try:
        client, run = _upload(rs, tmp_path)
        assert len(_index_rows(rs, run.info.run_id)) == len(TREE)
    finally:
        rs.stop()
    ml = start_server(MLFLOW, work, backend=rs.backend, artifacts_destination=rs.artifacts_dir)
    try:
        mclient = mlflow.MlflowClient(ml.tracking_uri)
        theirs = mclient.create_run(run.info.experiment_id)
        src = tmp_path / "src"  # the same tree, uploaded by mlflow itself
        mclient.log_artifacts(theirs.info.run_id, str(src))
        ours_listed = _tree(mclient, run.info.run_id)
        assert ours_listed == _tree(mclient, theirs.info.run_id)
        assert {p for p, _, _ in ours_listed} == {
            "a.bin", "sub", "sub/b.txt", "sub/keep.txt", "gone", "gone/x.bin", "gone/deeper",
            "gone/deeper/y.bin"}
        exp_dir = rs.artifacts_dir / run.info.experiment_id
        assert _files_on_disk(exp_dir / run.info.run_id) == _files_on_disk(
            exp_dir / theirs.info.run_id)
        back = Path(mclient.download_artifacts(run.info.run_id, "a.bin", str(tmp_path / "dl")))
        assert back.read_bytes() == TREE["a.bin"]
    finally:
        ml.stop()
    up = subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", rs.backend],
                        capture_output=True, text=True, env=child_env(), timeout=240)
    assert up.returncode == 0, up.stdout + up.stderr
    check = _rsflow("db", "check", rs.backend)
    assert check.returncode == 0 and "rsflow_artifact_index" not in check.stdout, \
        check.stdout + check.stderr
    # And back to rsflow: the table is kept, both runs verify (MLflow's upload has no digest).
    rs2 = start_server(RSFLOW, work, backend=rs.backend, artifacts_destination=rs.artifacts_dir)
    try:
        both = _rsflow("artifacts", "verify", "--artifacts-destination", str(rs.artifacts_dir),
                       "--backend-store-uri", rs.backend)
        assert both.returncode == 0, both.stdout + both.stderr
        assert "10 files: 5 verified, 0 corrupted or missing, 5 without a stored digest" in \
            both.stdout, both.stdout
    finally:
        rs2.stop()
