"""The browser harness shared by the UI tests (compat/test_ui_*browser.py): MLflow's own UI build
in Debian's Chromium (headless, driven by Playwright) on rsflow and on `mlflow server` 3.17.2,
with the same data on both.

Each test lists its views (`View`); `walk` loads every view on one server in a fresh page (one
browser context per server, the origin's cookies and storage cleared before each view) and
records what a person would see go wrong there: a failed request (HTTP >= 400, or no answer), a
console error or an uncaught page error, and every expected text the page does not show.
`compare` then fails on anything rsflow shows that `mlflow server` does not show on the same
view, on a text missing on rsflow, and on a text missing on `mlflow server` (then the expectation,
not the server, is wrong). Screenshots of both servers go to COMPAT_UI_SHOTS (default: a temp
dir), named `<server>-<view>.png`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from helpers import MLFLOW, RSFLOW, SUMMARY_LINES

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
_IDS = re.compile(r"tr-[0-9a-f]{32}|m-[0-9a-f]{32}|[0-9a-f]{32}")
# Chromium reports this when a ResizeObserver callback changes layout within one frame: it depends
# on frame timing under load, not on what a server answered (both servers serve the same UI build),
# and it came once on rsflow's metric page in a CI run while mlflow server's run was quiet.
_LAYOUT_TIMING = re.compile(
    r"^(null )?ResizeObserver loop (completed with undelivered notifications|limit exceeded)")
# The UI's SharedWorker script (its telemetry worker): see _Network.
_SHARED_WORKER = re.compile(r"/[^/?]*\.worker\.js(\?|$)")
# What Storage.clearDataForOrigin clears before each view: all of an origin's storage but the
# HTTP cache (which it does not touch).
_STORAGE = "cookies,local_storage,indexeddb,websql,cache_storage,service_workers,file_systems"


@dataclass
class View:
    name: str
    frag: str  # the URL fragment after the server's root, e.g. "#/experiments/1"
    texts: list[str] = field(default_factory=list)  # the page must show each, on both servers
    steps: list[Callable] | None = None  # run after the page loads (clicks), each f(page)
    gateway: bool | None = None  # the `features_enabled.gateway` the browser sees, or the server's


def chromium() -> str:
    for c in (os.environ.get("COMPAT_CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail("Chromium not found (apt-get install -y chromium; scripts/test.sh installs it)",
                pytrace=False)


def ui_build() -> Path:
    import mlflow.server

    build = Path(mlflow.server.__file__).parent / "js" / "build"
    if not (build / "index.html").is_file():
        pytest.fail(f"the reference mlflow package has no UI build at {build}", pytrace=False)
    return build


def norm(text: str, port: int) -> str:
    """A problem's text without what differs between the two servers (port, ids)."""
    text = text.replace(f"127.0.0.1:{port}", "<HOST>").replace(f"localhost:{port}", "<HOST>")
    text = re.sub(r"/experiments/\d+", "/experiments/<E>", text)
    return _IDS.sub("<ID>", text)


def shots_dir(prefix: str) -> Path:
    shots = Path(os.environ.get("COMPAT_UI_SHOTS") or tempfile.mkdtemp(prefix=prefix))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def seed_servers(servers, seed: Callable) -> dict:
    """{kind: seed(server)}, the servers seeded at once (each seed writes to its own server
    only; most of it is a client subprocess starting and waiting on its server)."""
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        seeds = {s.kind: pool.submit(seed, s) for s in servers}
        return {kind: f.result() for kind, f in seeds.items()}


def walk_servers(servers, views_of: Callable, shots: Path, ignored: re.Pattern | None = None,
                 viewport: tuple[int, int] = (1600, 1000), settle_ms: int = 1500,
                 ignored_seen: set[str] | None = None) -> dict[str, dict[str, dict]]:
    """Walk the views (`views_of(server)`) on every server at once, each in its own Chromium
    (one thread and one Playwright per server: most of a walk is waiting for pages to settle);
    {kind: walk(...)}."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing (compat/requirements.txt; scripts/venv.sh installs it)",
                    pytrace=False)

    def one(server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), headless=True,
                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                return walk(browser, server, views_of(server), shots, ignored, viewport=viewport,
                            settle_ms=settle_ms, ignored_seen=ignored_seen)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        walks = {s.kind: pool.submit(one, s) for s in servers}
        return {kind: w.result() for kind, w in walks.items()}


def walk(browser, server, views: list[View], shots: Path, ignored: re.Pattern | None = None, *,
         viewport: tuple[int, int] = (1600, 1000), settle_ms: int = 1500,
         ignored_seen: set[str] | None = None) -> dict[str, dict]:
    """Visit every view; {view: {"problems": set, "missing": list}}. Requests and console lines
    matching `ignored` are not problems; on rsflow, ignored failed requests go to `ignored_seen`.

    One browser context per server, a fresh page per view: the context's HTTP cache keeps the
    UI's script chunks (both servers send them with max-age=2419200), so they are not fetched
    and compiled again for every view. What a view could inherit from the one before, the
    origin's cookies and storage (local storage, IndexedDB, ...; a new page has its own session
    storage), is cleared before it opens, and its problems are those its own page reports."""
    out: dict[str, dict] = {}
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    origin = server.url("/").rstrip("/")
    try:
        for view in views:
            context.clear_cookies()
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": _STORAGE})
            cdp.detach()
            out[view.name] = visit(page, server, view, shots, ignored, settle_ms, ignored_seen)
            page.close()
    finally:
        context.close()
    return out


def visit(page, server, view: View, shots: Path, ignored: re.Pattern | None, settle_ms: int,
          ignored_seen: set[str] | None) -> dict:
    """Open one view in `page`; {"problems": set, "missing": list}."""
    def skip(text: str) -> bool:
        return bool(ignored and ignored.search(text))

    if view.gateway is not None:
        def set_gateway(route, _request, gateway=view.gateway):
            resp = route.fetch()
            info = resp.json()
            info.setdefault("features_enabled", {})["gateway"] = gateway
            route.fulfill(response=resp, json=info)

        page.route("**/server-info", set_gateway)
    problems: set[str] = set()

    def where(url: str) -> str:
        return norm(url.split("?")[0], server.port)

    def on_response(resp):
        if resp.status < 400:
            return
        line = f"HTTP {resp.status} {resp.request.method} {where(resp.url)}"
        if not skip(resp.url):
            problems.add(line)
        elif ignored_seen is not None and server.kind == RSFLOW:
            ignored_seen.add(line)

    def on_failed(req):
        if not skip(req.url):
            problems.add(f"failed {req.method} {where(req.url)}")

    def on_console(msg):
        if msg.type == "error" and not _LAYOUT_TIMING.search(msg.text):
            loc = (msg.location or {}).get("url", "")
            if not (skip(msg.text) or skip(loc)):
                problems.add(f"console {norm(msg.text, server.port)[:300]}")

    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.add(f"pageerror {norm(str(exc), server.port)[:300]}"))
    network = _Network(page)
    page.goto(server.url("/") + view.frag, wait_until="load", timeout=120_000)
    missing = []
    for i, step in enumerate(view.steps or []):
        try:
            step(page)
            # What the step started (a dialog's requests, a write) finishes before the next.
            network.wait_idle(timeout_ms=5_000)
        except Exception as exc:  # noqa: BLE001 - reported as missing, with the screenshot
            missing.append(f"step {i}: {str(exc).splitlines()[0][:200]}")
            break
    for text in view.texts:
        try:
            page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=20_000)
        except Exception:  # noqa: BLE001 - reported with the screenshot
            missing.append(text)
    # Some views poll: "idle" may never come, so it is waited for a while only.
    network.wait_idle(timeout_ms=6_000)
    page.wait_for_timeout(settle_ms)
    page.screenshot(path=str(shots / f"{server.kind}-{view.name}.png"), full_page=False)
    return {"problems": problems, "missing": missing}


class _Network:
    """Playwright's "networkidle" (no request in flight for 500 ms), for the page's own requests.

    Playwright's own never comes on these pages: the UI starts a SharedWorker (its telemetry
    worker, `*.worker.js`), whose script request is reported to the page but never finishes
    nor fails there, so `wait_for_load_state("networkidle")` always ran to its time-out. That
    request is left out here; every other request of the page (all its frames) counts."""

    QUIET_S = 0.5

    def __init__(self, page):
        self.page = page
        self.inflight: set = set()
        self.last = time.monotonic()
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _start(self, req) -> None:
        self.last = time.monotonic()
        if not (req.resource_type == "script" and _SHARED_WORKER.search(req.url)):
            self.inflight.add(req)

    def _end(self, req) -> None:
        self.last = time.monotonic()
        self.inflight.discard(req)

    def wait_idle(self, timeout_ms: int) -> bool:
        """Wait until no request has started or ended for 500 ms with none in flight; False
        when that did not come within timeout_ms."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            now = time.monotonic()
            if not self.inflight and now - self.last >= self.QUIET_S:
                return True
            if now >= deadline:
                return False
            self.page.wait_for_timeout(50)


def compare(seen: dict[str, dict[str, dict]], what: str, shots: Path) -> None:
    """Fail on what rsflow shows and `mlflow server` does not, and on missing texts."""
    SUMMARY_LINES.append(f"{what} in Chromium: {len(seen[RSFLOW])} views per server, "
                         f"screenshots in {shots}")
    for view, got in sorted(seen[MLFLOW].items()):
        if got["problems"]:
            SUMMARY_LINES.append(f"  mlflow server shows too on {view}: {sorted(got['problems'])}")
    ref_missing = {v: got["missing"] for v, got in seen[MLFLOW].items() if got["missing"]}
    extra = {v: sorted(got["problems"] - seen[MLFLOW][v]["problems"])
             for v, got in seen[RSFLOW].items()}
    extra = {v: problems for v, problems in extra.items() if problems}
    missing = {v: got["missing"] for v, got in seen[RSFLOW].items() if got["missing"]}
    # The reference shows every expected text: the expectations describe the real pages.
    assert not ref_missing, f"mlflow server lacks expected texts: {ref_missing}"
    assert not extra and not missing, (
        "rsflow differs from mlflow server:\n"
        + json.dumps({"problems": extra, "missing texts": missing}, indent=1))
    shots_taken = {p.name for p in shots.glob("*.png")}
    for kind in (MLFLOW, RSFLOW):
        for v in seen[kind]:
            assert f"{kind}-{v}.png" in shots_taken, f"no screenshot of {v} on {kind}"
