"""Hostile requests (issue: hardening; spec security.md §1a/§1b/§1c, §3.5).

Every advisory row of security.md §1 is replayed as raw requests against a fresh rsflow
(byte-exact through `raw_http`, so no client library normalises `..`, `%2e` or `\\`).
Each attack request must get a 4xx (an MLflow JSON error unless the HTTP layer itself refused
malformed bytes), its answer must not carry the canary's bytes, and afterwards:

- the canary file outside the configured roots is byte-identical and no file appeared (or
  vanished) anywhere outside the artifact root and the server's own database files;
- absolute targets the attacks named (`/tmp/rsflow-hostile-*`) do not exist;
- the server still answers /health and a normal upload round trip.

The module prints one figure line ("hostile: N requests tried, N refused ...") that the
closing note quotes. rsflow only: the reference server fails several rows by design.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import RSFLOW, raw_http, report_figure, target_kind

pytestmark = pytest.mark.skipif(
    target_kind() != RSFLOW,
    reason="hardening checks are rsflow's own; MLflow fails several rows by design (security.md §1)",
)

ART = "/api/2.0/mlflow-artifacts/artifacts"
AJAX_ART = "/ajax-api/2.0/mlflow-artifacts/artifacts"
API = "/api/2.0/mlflow"
CANARY = os.urandom(64).hex().encode()


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    tried: int = 0
    refused: int = 0
    json_errors: int = 0
    neutralised: int = 0
    by_row: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


TALLY = Tally()


@dataclass
class Env:
    server: object
    port: int
    top: Path  # holds srv/ (the server's cwd) and outside/
    dest: Path  # --artifacts-destination
    outside: Path
    exp_id: str
    run_id: str
    model: str
    logged_model: str
    abs_targets: list[Path] = field(default_factory=list)
    before: dict = field(default_factory=dict)

    def req(self, method, target, **kw):
        return raw_http(self.port, method, target, **kw)

    def json(self, method, endpoint, payload):
        import json

        return self.req(method, f"{API}/{endpoint}", body=json.dumps(payload).encode(),
                        headers={"Content-Type": "application/json"})


def attack(env: Env, row: str, method: str, target: str | bytes, *, wire_ok: bool = False,
           **kw) -> None:
    """Send one hostile request; it must be refused with a 4xx.

    wire_ok: the HTTP layer may refuse the bytes before routing (empty 400, not JSON).
    A raw '#' cannot be refused: the HTTP parser (the `http` crate, like every browser) drops
    the fragment before routing, so the request acts on the part before '#', inside the root.
    Such requests count as neutralised when the answer holds no canary; the filesystem
    checks prove nothing outside changed.
    Failures are collected so one run reports every accepted request at once.
    """
    raw_fragment = "#" in (target if isinstance(target, str) else target.decode("latin-1"))
    TALLY.tried += 1
    TALLY.by_row[row] += 1
    try:
        resp = env.req(method, target, **kw)
    except (ConnectionError, OSError) as e:
        TALLY.failures.append(f"[{row}] {method} {target!r}: no answer ({e})")
        return
    TALLY.statuses[resp.status] += 1
    problems = []
    if not 400 <= resp.status < 500:
        problems.append(f"status {resp.status}")
    if CANARY in resp.body:
        problems.append("canary bytes in the answer")
    if resp.is_json_error:
        TALLY.json_errors += 1
    elif not (wire_ok and resp.status == 400):
        problems.append(f"not an MLflow JSON error: {resp.headers.get('content-type')} {resp.body[:120]!r}")
    if problems and raw_fragment and CANARY not in resp.body and resp.status < 500 or (
            raw_fragment and resp.status == 501 and resp.is_json_error):
        TALLY.neutralised += 1
        return
    if problems:
        TALLY.failures.append(f"[{row}] {method} {target!r}: {', '.join(problems)}; {resp.body[:200]!r}")
    else:
        TALLY.refused += 1


def snapshot(env: Env) -> dict[str, tuple]:
    """Every entry under `top` except the artifact root and the server's own files."""
    own = {"mlflow.db", "mlflow.db-wal", "mlflow.db-shm", "mlflow.db-journal"}
    out = {}
    for dirpath, dirnames, filenames in os.walk(env.top, followlinks=False):
        d = Path(dirpath)
        if d == env.dest:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = d / name
            if d == env.server.workdir and (name in own or name.startswith("server-")):
                continue
            if p == env.dest:
                continue
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
            out[str(p.relative_to(env.top))] = (st.st_mode, st.st_size, digest)
    return out


# --------------------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def env(module_servers):
    import json

    top = module_servers.workdir("hostile")
    outside = top / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "canary.txt").write_bytes(CANARY)
    (outside / "dir" / "secret.txt").write_bytes(CANARY)
    server = module_servers.start(RSFLOW, workdir=top / "srv")
    port = server.port

    def call(method, endpoint, payload):
        r = raw_http(port, method, f"{API}/{endpoint}", body=json.dumps(payload).encode(),
                     headers={"Content-Type": "application/json"})
        assert r.status == 200, (endpoint, r.status, r.body)
        return r.json()

    exp_id = call("POST", "experiments/create", {"name": f"hostile-{uuid.uuid4().hex[:8]}"})["experiment_id"]
    run_id = call("POST", "runs/create", {"experiment_id": exp_id})["run"]["info"]["run_id"]
    run_art = f"{exp_id}/{run_id}/artifacts"
    for rel, data in [("ok.txt", b"fine\n"), ("model/MLmodel", b"flavors: {}\n")]:
        r = raw_http(port, "PUT", f"{ART}/{run_art}/{rel}", body=data)
        assert r.status == 200, r.body
    model = f"hostile-model-{uuid.uuid4().hex[:6]}"
    call("POST", "registered-models/create", {"name": model})
    call("POST", "model-versions/create",
         {"name": model, "source": f"mlflow-artifacts:/{run_art}/model", "run_id": run_id})
    logged = call("POST", "logged-models", {"experiment_id": exp_id})["model"]["info"]["model_id"]

    dest = server.artifacts_dir
    # Symlinks planted inside the roots, pointing outside (PR #18964's case).
    run_dir = dest / exp_id / run_id / "artifacts"
    (run_dir / "dirlink").symlink_to(outside)
    (run_dir / "filelink").symlink_to(outside / "canary.txt")
    (run_dir / "model" / "mlink").symlink_to(outside)
    (dest / "rootlink").symlink_to(outside)
    (dest / "rootfile").symlink_to(outside / "canary.txt")

    e = Env(server=server, port=port, top=top, dest=dest, outside=outside, exp_id=exp_id,
            run_id=run_id, model=model, logged_model=logged)
    e.before = snapshot(e)
    yield e
    check_outside_untouched(e)


def check_outside_untouched(env: Env) -> None:
    assert (env.outside / "canary.txt").read_bytes() == CANARY
    after = snapshot(env)
    changed = {k for k in env.before.keys() | after.keys() if env.before.get(k) != after.get(k)}
    assert not changed, f"files changed outside the artifact root: {sorted(changed)}"
    leaked = [str(p) for p in env.abs_targets if os.path.lexists(p)]
    assert not leaked, f"absolute targets created: {leaked}"


def abs_target(env: Env, tag: str) -> Path:
    p = Path(f"/tmp/rsflow-hostile-{uuid.uuid4().hex[:10]}-{tag}")
    env.abs_targets.append(p)
    return p


# --------------------------------------------------------------------------- encodings


def traversals(up: int, leaf: str) -> list[tuple[str, str, bool]]:
    """Ways to write `../` x up + `outside/<leaf>`: (label, text, wire_ok)."""
    tail = f"outside/{leaf}" if leaf else "outside"
    enc_tail = tail.replace("/", "%2f")
    return [
        ("raw ../", "../" * up + tail, False),
        ("%2e%2e%2f", "%2e%2e%2f" * up + enc_tail, False),
        ("%2E%2E/", "%2E%2E/" * up + tail, False),
        ("..%2f", "..%2f" * up + tail, False),
        (".%2e/", ".%2e/" * up + tail, False),
        ("double %252e", "%252e%252e%252f" * up + tail, False),
        ("triple %25252e", "%25252e%25252e%25252f" * up + tail, False),
        ("overlong %c0%ae%c0%ae%c0%af", "%c0%ae%c0%ae%c0%af" * up + tail, False),
        ("overlong %c0%ae%c0%ae/", "%c0%ae%c0%ae/" * up + tail, False),
        ("backslash %5c", "..%5c" * up + tail.replace("/", "%5c"), False),
        ("raw backslash", "..\\" * up + tail.replace("/", "\\"), True),
        ("double %255c", "..%255c" * up + tail, False),
        ("NUL %00", "../" * up + tail + "%00.txt", False),
        ("NUL prefix", "ok.txt%00/" + "../" * up + tail, False),
        ("raw NUL", "a\x00/" + "../" * up + tail, True),
        ("# %23", "x%23/" + "../" * up + tail, False),
        ("# raw", "x#/" + "../" * up + tail, True),
        ("? %3f", "a%3f/" + "../" * (up + 1) + tail, False),
        ("; ..;", "..;/" * up + tail, False),
        ("; %3b", "%2e%2e%3b/" * up + tail, False),
        ("absolute", "/" + tail, False),  # relative to nothing: '/outside/..' is absolute
        ("absolute %2f", "%2f" + tail.replace("/", "%2f"), False),
        ("file:", "file:///" + tail, False),
        ("drive C:", "C:%5c" + tail.replace("/", "%5c"), False),
        ("drive C:/", "C:/" + tail, False),
        ("UNC", "%5c%5c127.0.0.1%5c" + tail.replace("/", "%5c"), False),
    ]


def abs_variants(path: Path) -> list[tuple[str, str, bool]]:
    p = str(path)
    return [
        ("abs path", p, False),
        ("abs %2f", p.replace("/", "%2f"), False),
        ("abs double", p.replace("/", "%252f"), False),
        ("abs file://", "file://" + p, False),
    ]


# Depth of each root below `top`: srv/mlartifacts = 2; run root adds exp/run/artifacts.
DEST_UP = 2
RUN_UP = 5
MODEL_UP = 6  # the registered version's root: <run root>/model
LOGGED_UP = 6  # <dest>/<exp>/models/<model_id>/artifacts


def test_artifact_proxy_routes(env):
    """CVE-2023-6015 (PUT), -6831/-1560 (DELETE, double decoding), -3765 (list, absolute),
    -6753 (separators), GA/PROXY GET (CVE-2023-30172 family), mpu (PR #21947), presigned."""
    for label, p, wire in traversals(DEST_UP, "pwned-put") + abs_variants(abs_target(env, "put")):
        attack(env, "1b PROXY PUT " + label, "PUT", f"{ART}/{p}", body=b"pwned", wire_ok=wire)
    for label, p, wire in traversals(DEST_UP, "canary.txt") + abs_variants(env.outside / "canary.txt"):
        attack(env, "1b PROXY GET " + label, "GET", f"{ART}/{p}", wire_ok=wire)
        attack(env, "1b PROXY DELETE " + label, "DELETE", f"{ART}/{p}", wire_ok=wire)
        attack(env, "1b PROXY GET ajax " + label, "GET", f"{AJAX_ART}/{p}", wire_ok=wire)
        attack(env, "1b presigned " + label, "GET", f"/api/2.0/mlflow-artifacts/presigned/{p}",
               wire_ok=wire)
    for label, p, wire in traversals(DEST_UP, "") + abs_variants(env.outside):
        attack(env, "1b PROXY DELETE dir " + label, "DELETE", f"{ART}/{p}", wire_ok=wire)
        attack(env, "1b PROXY list " + label, "GET", f"{AJAX_ART}?path={p}", wire_ok=wire)
    for raw in ["/", "C:/", "C:\\", "/etc", "%2f", "//", "\\\\host\\share"]:
        attack(env, "1b PROXY list absolute (CVE-2023-3765)", "GET", f"{AJAX_ART}?path={raw}",
               wire_ok="\\" in raw)
    for label, p, wire in traversals(DEST_UP, "pwned-mpu"):
        for step, body in [("create", b'{"path": "x", "num_parts": 1}'),
                           ("complete", b'{"path": "x", "upload_id": "u", "parts": []}'),
                           ("abort", b'{"path": "x", "upload_id": "u"}')]:
            attack(env, f"1b mpu {step} url " + label, "POST",
                   f"/api/2.0/mlflow-artifacts/mpu/{step}/{p}", body=body,
                   headers={"Content-Type": "application/json"}, wire_ok=wire)
    import json

    # The body `path` is reduced to its basename (both separators), as MLflow 3.18 does, so
    # "/etc/passwd" from a pre-3.18 client names "passwd" inside the URL's directory; what is
    # left must be a valid file name: these reduce to "", "." or ".." (or decode to them).
    for body_path in ["..", "a/..", "..\\..", "x/.", "%252e%252e", "../", "%2e%2e"]:
        attack(env, "1b mpu body path", "POST", "/api/2.0/mlflow-artifacts/mpu/create/ok/file.bin",
               body=json.dumps({"path": body_path, "num_parts": 1}).encode(),
               headers={"Content-Type": "application/json"})


def test_run_artifact_routes(env):
    """CVE-2023-30172 (/get-artifact), CVE-2023-6976/-6975 (upload-artifact writes),
    CVE-2026-2033 (artifact handlers), artifacts/list."""
    r = env.run_id
    for label, p, wire in traversals(RUN_UP, "pwned-upload") + abs_variants(abs_target(env, "up")):
        attack(env, "1b upload-artifact " + label, "POST",
               f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={r}&path={p}", body=b"pwned",
               wire_ok=wire)
    for label, p, wire in traversals(RUN_UP, "canary.txt") + abs_variants(env.outside / "canary.txt"):
        attack(env, "1b GA " + label, "GET", f"/get-artifact?run_uuid={r}&path={p}", wire_ok=wire)
        attack(env, "1b GA run_id " + label, "GET", f"/get-artifact?run_id={r}&path={p}",
               wire_ok=wire)
    for label, p, wire in traversals(RUN_UP, "") + abs_variants(env.outside):
        attack(env, "1b artifacts/list " + label, "GET",
               f"{API}/artifacts/list?run_id={r}&path={p}", wire_ok=wire)
    # The server's own database, the classic overwrite target (CVE-2023-6975).
    attack(env, "1b upload-artifact over mlflow.db", "POST",
           f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={r}&path=../../../../mlflow.db",
           body=b"pwned")
    attack(env, "1b PROXY PUT over mlflow.db", "PUT", f"{ART}/..%2fmlflow.db", body=b"pwned")


def test_model_artifact_routes(env):
    """MVGA (`/model-versions/get-artifact`) and logged-model artifact routes."""
    m, lm = env.model, env.logged_model
    for label, p, wire in traversals(MODEL_UP, "canary.txt") + abs_variants(env.outside / "canary.txt"):
        attack(env, "1b MVGA " + label, "GET",
               f"/model-versions/get-artifact?name={m}&version=1&path={p}", wire_ok=wire)
        attack(env, "1b logged-model files " + label, "GET",
               f"/ajax-api/2.0/mlflow/logged-models/{lm}/artifacts/files?artifact_file_path={p}",
               wire_ok=wire)
    for label, p, wire in traversals(LOGGED_UP, ""):
        attack(env, "1b logged-model dirs " + label, "GET",
               f"{API}/logged-models/{lm}/artifacts/directories?artifact_directory_path={p}",
               wire_ok=wire)


def test_symlinks_planted_inside_the_root(env):
    """Symlinks inside the root pointing outside (PR #18964; spec D14)."""
    run_art = f"{env.exp_id}/{env.run_id}/artifacts"
    r = env.run_id
    cases = [
        ("GET", f"{ART}/{run_art}/dirlink/canary.txt", {}),
        ("GET", f"{ART}/{run_art}/dirlink/dir/secret.txt", {}),
        ("GET", f"{ART}/{run_art}/filelink", {}),
        ("GET", f"{ART}/rootlink/canary.txt", {}),
        ("GET", f"{ART}/rootfile", {}),
        ("PUT", f"{ART}/{run_art}/dirlink/pwned-symlink", {"body": b"pwned"}),
        ("PUT", f"{ART}/{run_art}/dirlink/new/deeper/pwned", {"body": b"pwned"}),
        ("PUT", f"{ART}/rootlink/pwned-root", {"body": b"pwned"}),
        ("DELETE", f"{ART}/{run_art}/dirlink/canary.txt", {}),
        ("DELETE", f"{ART}/{run_art}/dirlink/dir", {}),
        ("DELETE", f"{ART}/rootlink/canary.txt", {}),
        ("GET", f"{AJAX_ART}?path={run_art}/dirlink", {}),
        ("GET", f"{AJAX_ART}?path=rootlink", {}),
        ("GET", f"{AJAX_ART}?path=rootlink/dir", {}),
        ("GET", f"/get-artifact?run_uuid={r}&path=dirlink/canary.txt", {}),
        ("GET", f"/get-artifact?run_uuid={r}&path=filelink", {}),
        ("GET", f"{API}/artifacts/list?run_id={r}&path=dirlink", {}),
        ("POST", f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={r}&path=dirlink/pwned", {"body": b"pwned"}),
        ("GET", f"/model-versions/get-artifact?name={env.model}&version=1&path=mlink/canary.txt", {}),
        ("GET", f"{API}/artifacts/list?run_id={r}&path=model/mlink", {}),
    ]
    for method, target, kw in cases:
        attack(env, "1b symlink escape", method, target, **kw)
    assert (env.outside / "dir" / "secret.txt").read_bytes() == CANARY


def _mv(env, source, *, run_id="same", tags=None, name=None):
    import json

    payload = {"name": name or env.model, "source": source}
    if run_id == "same":
        payload["run_id"] = env.run_id
    elif run_id is not None:
        payload["run_id"] = run_id
    if tags:
        payload["tags"] = tags
    return json.dumps(payload).encode()


def mv_attack(env, row, source, **kw):
    attack(env, row, "POST", f"{API}/model-versions/create", body=_mv(env, source, **kw),
           headers={"Content-Type": "application/json"})


def test_model_version_sources(env):
    """§1a: model-version `source` rows, then MVGA on anything that might have been stored."""
    o = str(env.outside)
    run_art = f"{env.exp_id}/{env.run_id}/artifacts"
    rows = {
        "CVE-2023-1177": [o, "file://" + o, "/etc", "file:///etc"],
        "CVE-2023-1176": [o + "/canary.txt", o + "/does-not-exist"],
        "CVE-2023-2780": ["file://./" + o.lstrip("/"), "file://./etc", "file://localhost" + o,
                          "file://127.0.0.1" + o],
        "CVE-2023-2356": ["http://127.0.0.1/api/2.0/mlflow-artifacts/artifacts/../../../",
                          "mlflow-artifacts:/../../../", f"mlflow-artifacts:/{run_art}/../../../../",
                          f"mlflow-artifacts:/{run_art}/%2e%2e/%2e%2e/%2e%2e/%2e%2e"],
        "CVE-2023-6977": ["//proc/self/root", "//" + o.lstrip("/"), "///" + o.lstrip("/")],
        "CVE-2023-6909": [f"mlflow-artifacts:/{run_art}?/../../../../", "http:///?/../../../../etc/"],
        "CVE-2024-1483/2928/3848 (#)": [f"mlflow-artifacts:/{run_art}#/../../../", "file:///#/../" + o,
                                        "http:///#/../../../../etc/", f"mlflow-artifacts:/{run_art}%23/../../"],
        "CVE-2024-1558 (encoded, stored)": [f"mlflow-artifacts:/{run_art}/%252e%252e/%252e%252e/%252e%252e",
                                            f"mlflow-artifacts:/{run_art}/..%2f..%2f..%2f",
                                            f"mlflow-artifacts:/{run_art}/%c0%ae%c0%ae/%c0%ae%c0%ae"],
        "CVE-2024-3573 (scheme confusion)": ["file:" + o, "FILE://" + o, "File:" + o, "C:\\Windows",
                                             "c:/windows/system32", "\\\\127.0.0.1\\share"],
        "CVE-2025-11201": [f"runs:/{env.run_id}/../../../outside", f"models:/{env.model}/1/../../x",
                           f"runs:/{env.run_id}/%2e%2e/%2e%2e"],
        "1c SSRF (CVE-2023-6974, GHSA-mr9f)": ["http://169.254.169.254/latest/meta-data/",
                                               "https://169.254.169.254/latest/",
                                               "ftp://169.254.169.254/x",
                                               "mlflow-artifacts://169.254.169.254/x"],
        "CVE-2023-6018 (fake artifact server)": ["http://127.0.0.2:9/api/2.0/mlflow-artifacts/artifacts/",
                                                 "http://127.0.0.2:9/api/2.0/mlflow-artifacts/artifacts/x"],
        ";params": [f"mlflow-artifacts:/{run_art};x/../../", "file://" + o + ";params"],
    }
    for row, sources in rows.items():
        for src in sources:
            mv_attack(env, "1a MV " + row, src)
            mv_attack(env, "1a MV no run " + row, src, run_id=None)
    # CVE-2023-1176: refusals must not reveal whether a path exists.
    import json

    msgs = []
    for p in [o + "/canary.txt", o + "/nope.txt"]:
        r = env.req("POST", f"{API}/model-versions/create", body=_mv(env, p),
                    headers={"Content-Type": "application/json"})
        msgs.append(r.json()["message"].replace(p, "<p>"))
    assert msgs[0] == msgs[1], msgs
    # CVE-2026-2614: the prompt tag must not skip validation.
    prompt = [{"key": "mlflow.prompt.is_prompt", "value": "true"}]
    for src in ["file://" + o, o, "file:///etc/", "mlflow-artifacts:/../../"]:
        mv_attack(env, "1a MV prompt tag (CVE-2026-2614)", src, tags=prompt)
        mv_attack(env, "1a MV prompt tag (CVE-2026-2614)", src, tags=prompt, run_id=None)
    # Nothing above may have created a version: the only one is the fixture's.
    r = env.req("GET", f"{API}/model-versions/search?filter=name%3D%27{env.model}%27")
    assert [v["version"] for v in r.json()["model_versions"]] == ["1"], r.body
    for v in ["2", "3", "99"]:
        attack(env, "1a MVGA unregistered version", "GET",
               f"/model-versions/get-artifact?name={env.model}&version={v}&path=canary.txt")
        attack(env, "1a MVGA unregistered version", "GET",
               f"/model-versions/get-artifact?name={env.model}&version={v}&path=etc/passwd")
    # A source in another store is registered as MLflow registers it (the client reads it with
    # its own credentials), but the server never fetches it: reading it is refused.
    for src in ["s3://169.254.169.254/x", "s3://another-bucket/models/resnet"]:
        r = env.req("POST", f"{API}/model-versions/create", body=_mv(env, src),
                    headers={"Content-Type": "application/json"})
        assert r.status == 200, r.body
        version = r.json()["model_version"]["version"]
        for path in ["MLmodel", "canary.txt"]:
            attack(env, "1a MVGA source in another store", "GET",
                   f"/model-versions/get-artifact?name={env.model}&version={version}&path={path}")


def _exp_body(location):
    import json

    return json.dumps({"name": f"evil-{uuid.uuid4().hex[:8]}", "artifact_location": location}).encode()


def test_experiment_artifact_locations(env):
    """§1a/§1c: `artifact_location` rows (query/fragment/params traversal, runs:, SSRF hosts)."""
    o = str(env.outside)
    locations = {
        "CVE-2023-6909 (?)": ["http:///?/../../../../" + o.lstrip("/"), "http:///?/../../../../etc/",
                              "s3://b/x?/../../", "file:///tmp?/../../etc", "mlflow-artifacts:/x?%2e%2e/y"],
        "CVE-2024-1483/2928/3848 (#)": ["http:///#/../../../../etc/", "mlflow-artifacts:/#/../../",
                                        "file:///tmp#/../../etc", "/tmp/x#/../../etc", "s3://b/x%23/../"],
        "CVE-2024-1594 (#)": ["s3://bucket/x#../../", "gs://b/#frag"],
        ";params": ["file:///x;params/../", "s3://b/x;p", "/tmp/x;y"],
        "traversal": ["/tmp/%252e%252e/etc", o + "/../../etc", "file:///tmp/%2e%2e/%2e%2e/etc",
                      "mlflow-artifacts:/../../"],
        "runs:": [f"runs:/{env.run_id}/artifacts"],
        "length": ["s3://b/" + "a" * 2100],
        "1c SSRF host-addressed": [
            "http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/",
            "ftp://169.254.169.254/x", "sftp://169.254.169.254/x", "hdfs://169.254.169.254:8020/x",
            "viewfs://169.254.169.254/x", "r2://169.254.169.254/x", "b2://169.254.169.254/x",
            "abfss://c@169.254.169.254/x", "mlflow-artifacts://169.254.169.254/x",
            "https://169.254.169.254/api/2.0/mlflow-artifacts/artifacts/x",
            "http://evil\\@169.254.169.254/", "http://[::ffff:169.254.169.254]/",
            "http://2852039166/", "HTTP://169.254.169.254/", "http://user:pw@169.254.169.254:80/x",
        ],
    }
    for row, locs in locations.items():
        for loc in locs:
            for prefix in (API, "/ajax-api/2.0/mlflow"):
                attack(env, "1a/1c EXP " + row, "POST", f"{prefix}/experiments/create",
                       body=_exp_body(loc), headers={"Content-Type": "application/json"})
    # CVE-2024-8859's chain: a dbfs: experiment and an upload path with '?', then a source that
    # hides '../' behind '%3f'. The upload may be refused or unsupported; the source must fail.
    import json

    r = env.req("POST", f"{API}/experiments/create", body=json.dumps(
        {"name": f"dbfs-{uuid.uuid4().hex[:6]}", "artifact_location": "dbfs:/"}).encode(),
        headers={"Content-Type": "application/json"})
    if r.status == 200:
        exp = r.json()["experiment_id"]
        run = env.json("POST", "runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"]
        up = env.req("POST", f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=a?/a",
                     body=b"x")
        assert up.status in (400, 501) and up.is_json_error, up.body
        mv_attack(env, "1a MV CVE-2024-8859", f"dbfs:/{run}/artifacts/a%3f/../../../../", run_id=run)
        mv_attack(env, "1a MV CVE-2024-8859", f"dbfs:/{run}/artifacts/a?/../../../../", run_id=run)


def test_stored_locations_are_checked_again(env):
    """A database written by an older server may hold what the API now refuses: the read
    paths (GA, list, upload-artifact, MVGA) check the stored location again (host policy at
    use time, GHSA-mr9f; local sources outside the roots, CVE-2023-1177)."""
    import json

    exp = env.json("POST", "experiments/create", {"name": f"legacy-{uuid.uuid4().hex[:6]}"}).json()["experiment_id"]
    runs = [env.json("POST", "runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"]
            for _ in range(2)]
    name = f"legacy-model-{uuid.uuid4().hex[:6]}"
    env.json("POST", "registered-models/create", {"name": name})
    for _ in range(3):
        r = env.json("POST", "model-versions/create", {"name": name, "source": f"runs:/{runs[0]}/m",
                                                       "run_id": runs[0]})
        assert r.status == 200, r.body
    db = sqlite3.connect(env.server.db_path, timeout=30)
    with db:
        db.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                   (f"http://169.254.169.254/latest/{runs[0]}/artifacts", runs[0]))
        db.execute("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                   (f"sftp://169.254.169.254/{runs[1]}/artifacts", runs[1]))
        for version, src in [(1, str(env.outside)), (2, "http://169.254.169.254/latest/meta-data"),
                             (3, "file://" + str(env.outside))]:
            db.execute("UPDATE model_versions SET source = ?, storage_location = ?, run_id = NULL "
                       "WHERE name = ? AND version = ?", (src, src, name, version))
    db.close()
    for rid in runs:
        attack(env, "1c stored SSRF root: GA", "GET", f"/get-artifact?run_uuid={rid}&path=x")
        attack(env, "1c stored SSRF root: list", "GET", f"{API}/artifacts/list?run_id={rid}")
        attack(env, "1c stored SSRF root: upload", "POST",
               f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={rid}&path=x.txt", body=b"x")
    for v in (1, 2, 3):
        attack(env, "1a stored source outside roots: MVGA", "GET",
               f"/model-versions/get-artifact?name={name}&version={v}&path=canary.txt")
        attack(env, "1a stored source outside roots: MVGA", "GET",
               f"/model-versions/get-artifact?name={name}&version={v}&path=dir/secret.txt")
    del json


def test_host_origin_and_content_type(env):
    """§3.5 middleware (DNS rebinding, cross-origin writes), CVE-2023-43472, CVE-2023-6568."""
    run_art = f"{env.exp_id}/{env.run_id}/artifacts"
    for host in ["evil.com", "evil.com:80", "169.254.169.254", "localhost.evil.com:5000",
                 "127.0.0.1.nip.io", "[::1].evil.com", "0x7f000001", "LOCALHOST.evil", ""]:
        attack(env, "3.5 Host allow-list", "GET", f"{API}/experiments/search?max_results=1",
               host=host)
        attack(env, "3.5 Host allow-list", "PUT", f"{ART}/{run_art}/host-{abs(hash(host))}.txt",
               host=host, body=b"x")
    attack(env, "3.5 Host missing", "GET", f"{API}/experiments/search?max_results=1", host=None,
           wire_ok=True)
    created = []
    for origin in ["https://evil.com", "null", "http://localhost.evil.com", "http://127.0.0.1.evil.com",
                   "http://evil.com:5000", "file://"]:
        for method, target, body in [
            ("POST", f"{API}/experiments/create", _exp_body("mlflow-artifacts:/x")),
            ("PUT", f"{ART}/{run_art}/origin.txt", b"x"),
            ("DELETE", f"{ART}/{run_art}/ok.txt", b""),
            ("POST", f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={env.run_id}&path=o.txt", b"x"),
            ("PATCH", f"{API}/registered-models/update", b'{"name": "x"}'),
        ]:
            attack(env, "3.5 cross-origin write", method, target, body=body,
                   headers={"Origin": origin, "Content-Type": "application/json"})
            created.append(target)
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
               "<script>alert(1)</script>", "application/jsonx"]:
        attack(env, "CVE-2023-43472 content type", "POST", f"{API}/experiments/create",
               body=_exp_body("mlflow-artifacts:/x"), headers={"Content-Type": ct})
    r = env.req("POST", f"{API}/experiments/create", body=_exp_body("mlflow-artifacts:/x"),
                headers={"Content-Type": "<script>alert(1)</script>"})
    assert b"<script>" not in r.body, "CVE-2023-6568: the header must not be echoed"
    assert (env.dest / run_art / "ok.txt").read_bytes() == b"fine\n"
    assert not (env.dest / run_art / "origin.txt").exists()
    assert not list((env.dest / run_art).glob("host-*.txt"))


def test_unimplemented_attack_surfaces(env):
    """Routes from advisories that rsflow does not serve must be a JSON 4xx, not a crash:
    traces (CVE-2026-53995), users/create (CVE-2023-6014), webhooks (CVE-2026-2393), jobs
    (CVE-2026-2652), scorer invoke (CVE-2026-115886); the gateway proxy (PYSEC-2025-52) answers
    as an unconfigured MLflow does and connects nowhere."""
    import json

    cases = [
        ("POST", "/api/3.0/mlflow/traces", {"trace": {"trace_info": {"trace_id": "../x"}}}),
        ("POST", f"{API}/users/create", {"username": "a", "password": "b" * 12}),
        ("POST", f"{API}/webhooks", {"url": "http://169.254.169.254/"}),
        ("POST", "/ajax-api/3.0/jobs/", {"function_fullname": "os.system"}),
        ("POST", "/ajax-api/3.0/mlflow/scorer/invoke", {"serialized_scorer": "x"}),
    ]
    for method, target, payload in cases:
        attack(env, "unserved advisory routes", method, target, body=json.dumps(payload).encode(),
               headers={"Content-Type": "application/json"})
    # The gateway proxy (PYSEC-2025-52: SSRF through gateway_path) gives MLflow's answer with no
    # gateway configured, and connects nowhere, whatever the path.
    for path in ["http://169.254.169.254/", "gateway/x/invocations", "../../admin"]:
        r = env.req("POST", "/ajax-api/2.0/mlflow/gateway-proxy",
                    body=json.dumps({"gateway_path": path}).encode(),
                    headers={"Content-Type": "application/json"})
        assert r.status == 200 and r.json() == {"endpoints": []}, r.body


def test_zz_summary_and_server_health(env):
    """Runs last in the module: every attack was refused, and the server still works."""
    r = env.req("GET", "/health")
    assert r.status == 200
    run_art = f"{env.exp_id}/{env.run_id}/artifacts"
    assert env.req("PUT", f"{ART}/{run_art}/after.txt", body=b"still fine").status == 200
    assert env.req("GET", f"{ART}/{run_art}/after.txt").body == b"still fine"
    check_outside_untouched(env)
    rows = len(TALLY.by_row)
    report_figure(
        f"hostile: {TALLY.tried} requests tried ({rows} route x encoding cases), {TALLY.refused} refused with a 4xx "
        f"({TALLY.json_errors} as MLflow JSON errors), {TALLY.neutralised} neutralised (raw '#': the "
        f"HTTP parser drops the fragment), {len(TALLY.failures)} not refused; "
        f"statuses {dict(sorted(TALLY.statuses.items()))}; canary untouched, 0 files outside the roots"
    )
    assert not TALLY.failures, f"{len(TALLY.failures)} hostile requests were not refused:\n" + "\n".join(
        TALLY.failures[:80])
