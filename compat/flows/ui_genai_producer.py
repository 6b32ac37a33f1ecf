"""Produce the GenAI evaluation data the browser test (compat/test_ui_genai_browser.py) shows,
with the stock client in a process of its own (no LLM, no network). Prints one JSON line with
the ids it made.

    python ui_genai_producer.py <tracking_uri>

- an evaluation dataset "ui-eval-ds" (tag team=ui) with four records merged in two calls;
- a `mlflow.genai.evaluate` run "ui-eval-run" over that dataset with a local predict_fn and
  a code-based `@scorer` (exact_match), which makes four traces with assessments;
- a registered built-in scorer (Safety, only registered: never run);
- two label schemas (categorical "ui_tone", pass/fail "ui_correct"), a custom review queue
  "ui-review" with the traces of "hello there" (marked complete), "lower case wins" and
  "tracking server", and the no-auth viewer's user queue ("default") with "what is rsflow";
- an issue "ui-issue: answers shout" found by the evaluation run.
"""

import json
import sys

import mlflow
import mlflow.genai.datasets as gd
from mlflow.genai import label_schemas as ls
from mlflow.genai import review_queues as rq
from mlflow.genai.scorers import Safety, scorer
from mlflow.tracing.client import TracingClient

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
exp_id = mlflow.set_experiment("ui-genai").experiment_id
out = {"exp": exp_id}

ds = gd.create_dataset(name="ui-eval-ds", experiment_id=exp_id, tags={"team": "ui"})
ds.merge_records([
    {"inputs": {"q": "what is rsflow"}, "expectations": {"expected": "WHAT IS RSFLOW"}},
    {"inputs": {"q": "hello there"}, "expectations": {"expected": "HELLO THERE"}},
])
ds.merge_records([
    {"inputs": {"q": "tracking server"}, "expectations": {"expected": "TRACKING SERVER"}},
    {"inputs": {"q": "lower case wins"}, "expectations": {"expected": "nope"}},
])
out["dataset"] = ds.dataset_id


@scorer
def exact_match(outputs, expectations):
    return outputs == expectations["expected"]


with mlflow.start_run(run_name="ui-eval-run") as run:
    result = mlflow.genai.evaluate(data=ds, predict_fn=lambda q: q.upper(), scorers=[exact_match])
out["run"] = run.info.run_id
assert result.run_id == run.info.run_id, (result.run_id, run.info.run_id)

Safety().register(name="ui_safety", experiment_id=exp_id)

# evaluate() runs the rows in parallel: order the traces by their question, not by time, so
# that both servers put the same rows in the same queues.
traces = mlflow.search_traces(run_id=out["run"], return_type="list")
traces.sort(key=lambda t: json.loads(t.info.request_preview)["q"])
trace_ids = [t.info.trace_id for t in traces]
assert len(trace_ids) == 4, trace_ids
out["traces"] = trace_ids

tone = ls.create_label_schema("ui_tone", type="feedback", experiment_id=exp_id,
                              input=ls.InputCategorical(options=["formal", "casual"]),
                              instruction="Pick the answer's tone.", enable_comment=True)
correct = ls.create_label_schema("ui_correct", type="expectation", experiment_id=exp_id,
                                 input=ls.InputPassFail(positive_label="Right", negative_label="Wrong"),
                                 instruction="Is the answer right?")
out["schemas"] = [tone.schema_id, correct.schema_id]

queue = rq.create_review_queue("ui-review", queue_type="custom", users=["alice", "bob"],
                               schema_ids=out["schemas"], experiment_id=exp_id)
rq.add_items_to_review_queue(queue.queue_id, item_ids=trace_ids[:3])
rq.set_review_queue_item_status(queue.queue_id, item_id=trace_ids[0], status="complete",
                                completed_by="alice")
out["queue"] = queue.queue_id
mine = rq.get_or_create_user_queue(user="default", experiment_id=exp_id)
rq.add_items_to_review_queue(mine.queue_id, item_ids=[trace_ids[3]])
out["user_queue"] = mine.queue_id

issue = TracingClient()._create_issue(
    experiment_id=exp_id, name="ui-issue: answers shout",
    description="Every answer comes back in upper case.", severity="high",
    root_causes=["predict_fn upper-cases"], source_run_id=out["run"], categories=["style"])
out["issue"] = issue.issue_id

print(json.dumps(out))
