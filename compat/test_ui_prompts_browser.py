"""MLflow's Prompts pages in a real browser (Debian's Chromium, headless, Playwright) on rsflow
and on `mlflow server` 3.17.2 with the same prompts registered by the stock client (issue #16):
the prompt list and a prompt's page (versions, template). One page load per view; the harness
and the failure rule are those of compat/test_ui_traces_browser.py (a failed request or console
error that `mlflow server` does not show on the same page, or missing key text, fails).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import mlflow
import pytest

from helpers import MLFLOW, RSFLOW, SUMMARY_LINES, target_kind
from test_ui_traces_browser import IGNORED, _norm, chromium, ui_build

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="compares rsflow with the reference")


def seed(server) -> None:
    mlflow.set_tracking_uri(server.tracking_uri)
    try:
        mlflow.genai.register_prompt(name="ui-greeting", template="Hello {{name}}, welcome to {{place}}",
                                     commit_message="first cut", tags={"team": "ui"})
        mlflow.genai.register_prompt(name="ui-greeting", template="Hi {{name}}!", commit_message="shorter")
        mlflow.genai.set_prompt_alias("ui-greeting", "production", 1)
        mlflow.genai.register_prompt(
            name="ui-chat", template=[{"role": "system", "content": "You are {{persona}}"},
                                      {"role": "user", "content": "{{question}}"}])
    finally:
        mlflow.set_tracking_uri(None)


PAGES = [
    ("prompts", "#/prompts", ["ui-greeting", "ui-chat"]),
    ("prompt-detail", "#/prompts/ui-greeting", ["ui-greeting", "Hi {{name}}!", "shorter"]),
]


def walk(browser, server, shots: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, frag, texts in PAGES:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        problems: set[str] = set()

        def on_response(resp, problems=problems):
            if resp.status >= 400 and not IGNORED.search(resp.url):
                problems.add(f"HTTP {resp.status} {resp.request.method} "
                             f"{_norm(resp.url.split('?')[0], server.port)}")

        def on_console(msg, problems=problems):
            if msg.type == "error" and not IGNORED.search(msg.text):
                problems.add(f"console {_norm(msg.text, server.port)[:300]}")

        page.on("response", on_response)
        page.on("requestfailed", lambda req, problems=problems: problems.add(
            f"failed {req.method} {_norm(req.url.split('?')[0], server.port)}"))
        page.on("console", on_console)
        page.on("pageerror", lambda exc, problems=problems: problems.add(
            f"pageerror {_norm(str(exc), server.port)[:300]}"))
        page.goto(server.url("/") + frag, wait_until="load", timeout=120_000)
        missing = []
        for text in texts:
            try:
                page.get_by_text(text, exact=False).first.wait_for(state="attached", timeout=20_000)
            except Exception:  # noqa: BLE001 - reported below with the screenshot
                missing.append(text)
        try:
            page.wait_for_load_state("networkidle", timeout=6_000)
        except Exception:  # noqa: BLE001
            pass
        page.screenshot(path=str(shots / f"{server.kind}-{name}.png"), full_page=False)
        out[name] = {"problems": problems, "missing": missing}
        context.close()
    return out


@pytest.mark.timeout(600)
def test_prompt_pages_show_no_error_mlflow_does_not(module_servers):
    from playwright.sync_api import sync_playwright

    build = ui_build()
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(build)])
    for s in (ref, rs):
        seed(s)
    shots = Path(os.environ.get("COMPAT_UI_SHOTS") or tempfile.mkdtemp(prefix="rsflow-prompt-shots-"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            seen = {s.kind: walk(browser, s, shots) for s in (ref, rs)}
        finally:
            browser.close()
    SUMMARY_LINES.append(f"prompt pages in Chromium: {len(PAGES)} pages per server, screenshots in {shots}")
    ref_missing = {pg: got["missing"] for pg, got in seen[MLFLOW].items() if got["missing"]}
    extra = {pg: sorted(got["problems"] - seen[MLFLOW][pg]["problems"]) for pg, got in seen[RSFLOW].items()}
    extra = {pg: pr for pg, pr in extra.items() if pr}
    missing = {pg: got["missing"] for pg, got in seen[RSFLOW].items() if got["missing"]}
    assert not ref_missing, f"mlflow server lacks expected texts: {ref_missing}"
    assert not extra and not missing, (
        "rsflow differs from mlflow server:\n" + json.dumps({"problems": extra, "missing texts": missing}, indent=1))
