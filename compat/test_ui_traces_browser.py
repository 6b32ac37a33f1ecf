"""MLflow's trace views in a real browser (Debian's Chromium, headless, driven by Playwright) on
rsflow and on `mlflow server` 3.17.2, with the same data produced by the stock client (issue #15):
the experiment's Traces tab, a trace's detail view (span tree, assessments), the experiment
Overview page (an empty experiment and one with traces), the Sessions page and a session, and the
Traces tabs of a run and of a logged model.

A page fails on rsflow when it shows a failed request (HTTP >= 400, or no answer) or a console
error that `mlflow server` does not show on the same page, or when its key content (trace names,
span names, assessment names, "0 traces") is missing. The harness is compat/ui_walk.py.
Screenshots of both servers go to COMPAT_UI_SHOTS (default: a temp dir).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import MLFLOW, RSFLOW, SUMMARY_LINES, child_env, target_kind
from ui_walk import View, compare, seed_servers, shots_dir, ui_build, walk_servers

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="compares rsflow with the reference")

PRODUCER = Path(__file__).parent / "flows" / "ui_trace_producer.py"
# Families rsflow does not serve (the assistant's chat, the AI gateway, GenAI demo data, MCP
# servers): their failures on rsflow are listed in the "rsflow figures" section, not failed on.
# Every other request counts: trace routes, scorers and evaluation datasets included.
IGNORED = re.compile(r"/ajax-api/3\.0/(mlflow/)?(assistant|gateway|demo|mcp-servers)(/|\?|$)")
IGNORED_SEEN: set[str] = set()


def seed(server) -> dict[str, str]:
    proc = subprocess.run([sys.executable, str(PRODUCER), server.tracking_uri],
                          env=child_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="1"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def views(ids: dict[str, str]) -> list[View]:
    e = ids["exp"]
    return [
        View("overview-empty", f"#/experiments/{ids['empty']}",
             ["Overall error rate: 0.0%", "No data available for the selected time range"]),
        View("overview", f"#/experiments/{e}", []),
        View("traces", f"#/experiments/{e}/traces",
             ["answer to what is rsflow", "and a follow-up", '"b": 7', '"HI"']),
        View("trace-detail", f"#/experiments/{e}/traces?selectedEvaluationId={ids['main']}",
             ["answer_question", "fetch_docs", "lookup_tool", "answer to what is rsflow",
              "helpfulness_score", "expected_answer_fact"]),
        View("sessions", f"#/experiments/{e}/chat-sessions", ["View Sessions in Traces tab"]),
        View("session", f"#/experiments/{e}/chat-sessions/sess-ui-1",
             ["what is rsflow", "and a follow-up"]),
        View("run-traces", f"#/experiments/{e}/runs/{ids['run']}/traces", ['"b": 7']),
        View("model-traces", f"#/experiments/{e}/models/{ids['model']}/traces", ['"HI"']),
    ]


@pytest.mark.timeout(900)
def test_trace_views_show_no_error_mlflow_does_not(module_servers):
    build = ui_build()
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(build)])
    ids = seed_servers((ref, rs), seed)
    shots = shots_dir("rsflow-trace-shots-")
    seen = walk_servers((ref, rs), lambda s: views(ids[s.kind]), shots, IGNORED,
                        ignored_seen=IGNORED_SEEN)
    for problem in sorted(IGNORED_SEEN):
        SUMMARY_LINES.append(f"  rsflow, a family it does not serve: {problem}")
    compare(seen, "trace views", shots)
