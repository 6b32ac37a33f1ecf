"""MLflow's GenAI evaluation pages in a real browser (Debian's Chromium, headless, Playwright) on
rsflow and on `mlflow server` 3.17.2, with the same data made by the stock client
(compat/flows/ui_genai_producer.py: no LLM, no network) (issue #16):

- Datasets: the experiment's dataset list, a dataset's page (by path and by
  `?selectedDatasetId=`), with its records;
- Evaluation runs: the list (run, dataset, `exact_match/mean`), a run's Overview, Issues and
  Traces tabs, and the run page's Evaluations tab (traces with their assessments);
- Judges: the registered scorers (a built-in scorer, registered only). The 3.17.2 UI lists
  them only when server-info says `features_enabled.gateway` (it is `MLFLOW_ENABLE_AI_GATEWAY`
  on `mlflow server`, on by default); rsflow serves no AI gateway and says false, so its Judges
  page shows "Create and manage judges" as `mlflow server` does with the gateway off. The walk
  loads the page twice on both servers, with the browser's copy of server-info set to
  gateway true ("judges": the scorer list, read from rsflow's scorers/list and
  online-configs) and to false ("judges-no-gateway");
- Review: the queue list with the viewer's "Default" queue, a custom queue
  (`?selectedQueueId=`), an item under review (`&selectedItemId=`, the label schemas as
  questions) and the "Manage questions" dialog (the label schemas; opened with a click, it has
  no URL of its own);
- the UI's own writes, by clicking, after the read-only views: submitting a review (two
  assessments, the item's status), resolving an issue, creating a queue with a question,
  adding a question (a label schema) in the "Manage questions" dialog. After
  the walk, what they wrote must read back the same from both servers.

Pages that the 3.17.2 UI does not have: `#/experiments/<id>/label-schemas` and
`#/experiments/<id>/labeling-sessions` exist only as tab names and render "Page Not Found" on
`mlflow server` (label schemas are managed in the Review page's "Manage questions" dialog), and
there is no experiment-wide issues page (`#/experiments/<id>/overview/issues` shows the Overview;
issues are shown on the Issues tab of the run that found them, walked here).

The harness (compat/ui_walk.py) and the failure rule are those of
compat/test_ui_traces_browser.py: a page fails on
rsflow when it shows a failed request (HTTP >= 400, or no answer) or a console error that
`mlflow server` does not show on the same page, or when its key text is missing. Screenshots of
both servers go to COMPAT_UI_SHOTS (default: a temp dir).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers import MLFLOW, RSFLOW, child_env, target_kind
from ui_walk import View, compare, seed_servers, shots_dir, ui_build, walk_servers

pytestmark = pytest.mark.skipif(target_kind() != RSFLOW, reason="compares rsflow with the reference")

PRODUCER = Path(__file__).parent / "flows" / "ui_genai_producer.py"
# Families outside issue #16 (the assistant, the AI gateway, GenAI demo data, MCP servers, the
# job runner): rsflow does not serve them, so their failures are not counted. Unlike the trace
# test's list, datasets and scorers are NOT ignored here: they are what these pages show.
IGNORED = re.compile(r"/ajax-api/3\.0/(mlflow/)?(assistant|gateway|demo|mcp-servers|jobs)(/|\?|$)")


def seed(server) -> dict:
    proc = subprocess.run([sys.executable, str(PRODUCER), server.tracking_uri],
                          env=child_env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="1"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _click_text(text: str, exact: bool = True):
    return lambda page: page.get_by_text(text, exact=exact).first.click(timeout=20_000)


def _click_button(name: str, last: bool = False):
    def click(page):
        buttons = page.get_by_role("button", name=name)
        (buttons.last if last else buttons.first).click(timeout=20_000)
    return click


# The UI's own writes, after the read-only pages: submit a review (two assessments and the
# item's status), resolve an issue, create a queue with a question.
SUBMIT_REVIEW = [_click_text("Right"), _click_text("Select an option"), _click_text("formal"),
                 _click_button("Submit")]
RESOLVE_ISSUE = [_click_button("Resolve")]
CREATE_QUEUE = [
    _click_button("New queue"),
    lambda page: page.get_by_placeholder("e.g. Hallucination review").fill("ui-new-queue"),
    _click_text("Select or create questions"),
    lambda page: page.get_by_role("option").filter(has_text="ui_tone").first.click(timeout=20_000),
    _click_text("New review queue"),  # closes the question list
    _click_button("Create", last=True),
]
CREATE_QUESTION = [
    _click_button("Manage questions"),
    _click_button("Add question"),
    lambda page: page.get_by_placeholder("Is the answer correct?").fill("ui_score"),
    _click_text("Numeric"),
    _click_button("Create", last=True),
]


# View(name, URL fragment, texts the page must show on both servers, steps run after the page
#      loads (each a function of the page) or None, the `features_enabled.gateway` the browser
#      sees in server-info or None for the server's own)
def views(ids: dict) -> list[View]:
    e, ds, run, q = ids["exp"], ids["dataset"], ids["run"], ids["queue"]
    records = ["ui-eval-ds", "4 records", '{"q":"lower case wins"}', '{"expected":"nope"}',
               '{"expected":"WHAT IS RSFLOW"}']
    review = f"#/experiments/{e}/review-queue"
    return [
        View("datasets", f"#/experiments/{e}/datasets", ["ui-eval-ds", "Create dataset"], None, None),
        View("dataset", f"#/experiments/{e}/datasets/{ds}", records, None, None),
        View("dataset-selected", f"#/experiments/{e}/datasets?selectedDatasetId={ds}", records, None, None),
        View("evaluation-runs", f"#/experiments/{e}/evaluation-runs",
             ["ui-eval-run", "ui-eval-ds", "exact_match/mean", "0.75"], None, None),
        View("evaluation-run", f"#/experiments/{e}/evaluation-runs/{run}",
             ["ui-eval-run", "About this run", "1 issue found"], None, None),
        View("evaluation-run-issues", f"#/experiments/{e}/evaluation-runs/{run}/issues",
             ["Pending (1)", "ui-issue: answers shout", "Every answer comes back in upper case.", "style"],
             None, None),
        View("evaluation-run-traces", f"#/experiments/{e}/evaluation-runs/{run}/traces",
             ['"LOWER CASE WINS"', "exact_match", "4 of 4"], None, None),
        View("run-evaluations", f"#/experiments/{e}/runs/{run}/evaluations",
             ["ui-eval-run", '"LOWER CASE WINS"', "exact_match", "4 of 4"], None, None),
        View("judges", f"#/experiments/{e}/judges", ["ui_safety", "Version 1", "Evaluating traces: OFF"],
             None, True),
        View("judges-no-gateway", f"#/experiments/{e}/judges", ["Create and manage judges"], None, False),
        View("review", review, ["Default", "ui-review", "3 questions", '"WHAT IS RSFLOW"'], None, None),
        View("review-queue", f"{review}?selectedQueueId={q}",
             ["2 questions", "All (3)", "Completed (1)", '"LOWER CASE WINS"', "Reviewed"], None, None),
        View("review-item", f"{review}?selectedQueueId={q}&selectedItemId={ids['traces'][1]}",
             ["1 of 3 reviewed", "ui_tone", "Pick the answer's tone.", "ui_correct", "Is the answer right?"],
             None, None),
        View("review-questions", review, ["Review questions", "ui_correct", "ui_tone", "Expectation"],
             [_click_button("Manage questions")], None),
        View("review-submit", f"{review}?selectedQueueId={q}&selectedItemId={ids['traces'][1]}",
             ["2 of 3 reviewed"], SUBMIT_REVIEW, None),
        View("issue-resolve", f"#/experiments/{e}/evaluation-runs/{run}/issues",
             ["Pending (0)", "Resolved (1)"], RESOLVE_ISSUE, None),
        View("queue-create", review, ["ui-new-queue"], CREATE_QUEUE, None),
        View("question-create", review, ["4 questions", "ui_score"], CREATE_QUESTION, None),
    ]


def written(server, ids: dict) -> dict:
    """What the UI's writes left on the server, without ids or times."""
    v3 = server.url("/api/3.0/mlflow")
    names = {t: i for i, t in enumerate(ids["traces"])}
    trace = requests.get(f"{v3}/traces/{ids['traces'][1]}", timeout=30).json()["trace"]["trace_info"]
    human = sorted((a["assessment_name"], a["source"]["source_type"], a["source"].get("source_id"),
                    json.dumps(a.get("feedback", a.get("expectation"))))
                   for a in trace.get("assessments", []) if a["source"]["source_type"] == "HUMAN")
    items = requests.get(f"{v3}/review-queues/items/list", params={"queue_id": ids["queue"]},
                         timeout=30).json()["items"]
    issue = requests.get(f"{v3}/issues/{ids['issue']}", timeout=30).json()["issue"]
    queues = requests.get(f"{v3}/review-queues/list", params={"experiment_id": ids["exp"]},
                          timeout=30).json()["review_queues"]
    listed = requests.get(f"{v3}/label-schemas/list", params={"experiment_id": ids["exp"]},
                          timeout=30).json()["label_schemas"]
    schemas = {ls["schema_id"]: ls["name"] for ls in listed}
    return {
        "assessments": human,
        "items": sorted((names[i["item_id"]], i["status"], i.get("completed_by")) for i in items),
        "issue": issue["status"],
        "schemas": sorted((ls["name"], ls["type"], json.dumps(ls.get("input"), sort_keys=True),
                           ls.get("instruction"), bool(ls.get("enable_comment")), ls.get("is_default"))
                          for ls in listed),
        "queues": sorted((q["name"], q["queue_type"], tuple(q.get("users", [])), q.get("created_by"),
                          tuple(sorted(schemas[s] for s in q.get("schema_ids", [])))) for q in queues),
    }


@pytest.mark.timeout(900)
def test_genai_pages_show_no_error_mlflow_does_not(module_servers):
    build = ui_build()
    ref = module_servers.start(MLFLOW)
    rs = module_servers.start(RSFLOW, extra_args=["--ui-dir", str(build)])
    ids = seed_servers((ref, rs), seed)
    shots = shots_dir("rsflow-genai-shots-")
    seen = walk_servers((ref, rs), lambda s: views(ids[s.kind]), shots, IGNORED)
    compare(seen, "GenAI evaluation pages", shots)
    # The UI's writes land on rsflow as on mlflow server.
    state = {s.kind: written(s, ids[s.kind]) for s in (ref, rs)}
    assert ("ui_tone", "HUMAN", "default", '{"value": "formal"}') in state[MLFLOW]["assessments"]
    assert state[MLFLOW]["issue"] == "resolved"
    assert "ui_score" in [schema[0] for schema in state[MLFLOW]["schemas"]]
    assert state[RSFLOW] == state[MLFLOW]
