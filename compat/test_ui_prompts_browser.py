"""MLflow's Prompts pages in a real browser (Debian's Chromium, headless, Playwright) on rsflow
and on `mlflow server` 3.17.2 with the same prompts registered by the stock client (issue #16):
the prompt list and a prompt's page (versions, template). One page load per view, through the
harness of compat/ui_walk.py: a failed request or console error that `mlflow server` does not
show on the same page, or missing key text, fails.
"""

from __future__ import annotations

import mlflow
import pytest

from helpers import MLFLOW, RSFLOW, target_kind
from test_ui_traces_browser import IGNORED
from ui_walk import View, compare, shots_dir, ui_build, walk_servers

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


VIEWS = [
    View("prompts", "#/prompts", ["ui-greeting", "ui-chat"]),
    View("prompt-detail", "#/prompts/ui-greeting", ["ui-greeting", "Hi {{name}}!", "shorter"]),
]


@pytest.mark.timeout(600)
def test_prompt_pages_show_no_error_mlflow_does_not(module_servers):
    build = ui_build()
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(build)])
    for s in (ref, rs):
        seed(s)
    shots = shots_dir("rsflow-prompt-shots-")
    seen = walk_servers((ref, rs), lambda s: VIEWS, shots, IGNORED, settle_ms=0)
    compare(seen, "prompt pages", shots)
