"""Differential test of the GenAI evaluation routes (issue #16): evaluation datasets, scorers,
label schemas, review queues and issues. One raw request sequence against a fresh reference
`mlflow server` and a fresh target, compared after normalisation (the machinery of
test_differential.py, plus: JSON-string fields parsed, record lists sorted, digests, dashed
uuids and wall-clock times inside JSON strings replaced by placeholders).

Bad-input rows check 4xx (never 5xx on the target) and, at the end, that none of them stored
anything.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from helpers import MLFLOW, compat_backend, target_kind
from test_differential import S, _fmt, observe

V2 = "/api/2.0/mlflow"
V3 = "/api/3.0/mlflow"
DS = V3 + "/datasets"
SC = V3 + "/scorers"
LS = V3 + "/label-schemas"
RQ = V3 + "/review-queues"
TRACE = "0af7651916cd43dd8448eb211c80319c"

BUILTIN = {
    "name": "safety", "aggregations": None, "description": "Ensure safety.", "is_session_level_scorer": False,
    "timeout": 0, "mlflow_version": "3.17.2", "serialization_version": 1, "builtin_scorer_class": "Safety",
    "builtin_scorer_pydantic_data": {"name": "safety", "aggregations": None, "description": "Ensure safety.",
                                     "timeout": None, "required_columns": ["inputs", "outputs"],
                                     "inference_params": None, "extra_headers": None, "model": None,
                                     "instructions": "No harm."},
    "call_source": None, "call_signature": None, "original_func_name": None,
    "instructions_judge_pydantic_data": None, "memory_augmented_judge_data": None,
    "third_party_scorer_data": None, "ensemble_scorer_data": None,
}
CUSTOM = {**BUILTIN, "name": "exact_match", "builtin_scorer_class": None, "builtin_scorer_pydantic_data": None,
          "call_source": "return outputs == expectations['expected']",
          "call_signature": "(outputs, expectations)", "original_func_name": "exact_match"}
NESTED_CUSTOM = {**BUILTIN, "ensemble_scorer_data": {"scorers": [CUSTOM]}}
STEERING = {**BUILTIN, "builtin_scorer_class": None, "builtin_scorer_pydantic_data": None,
            "third_party_scorer_data": {"model": None, "kwargs": {"completion_kwargs": {"api_base": "http://x"}}}}
GATEWAY = {**BUILTIN, "builtin_scorer_pydantic_data": {**BUILTIN["builtin_scorer_pydantic_data"],
                                                         "model": "gateway:/nope"}}

RECORDS_1 = [
    {"inputs": {"q": "a"}, "expectations": {"expected": "A"}, "tags": {"mlflow.user": "u1"},
     "source": {"source_type": "HUMAN", "source_data": {}}},
    {"inputs": {"q": "b", "n": 2}, "outputs": {"answer": "B", "score": 0.5}, "expectations": {"expected": "B"},
     "tags": {"mlflow.user": "u1"}, "source": {"source_type": "trace", "source_data": {"trace_id": "tr-1"}}},
    {"inputs": {"q": "c"}, "outputs": "plain", "source": {"source_type": "DOCUMENT",
                                                          "source_data": {"source_id": "doc-7"}}},
]
RECORDS_2 = [
    {"inputs": {"q": "a"}, "expectations": {"expected": "AA", "extra": 1}, "tags": {"mlflow.user": "u2", "k": "v"}},
    {"inputs": {"q": "d"}, "expectations": {"expected": "D"}},
    {"inputs": {"q": "d"}, "expectations": {"other": True}, "outputs": None},
]


def _j(v) -> str:
    return json.dumps(v)


STEPS = [
    S("exp-create", "POST", f"{V2}/experiments/create", json={"name": "genai-diff"}, capture={"exp": "experiment_id"}),
    S("exp-create-2", "POST", f"{V2}/experiments/create", json={"name": "genai-diff-2"},
      capture={"exp2": "experiment_id"}),
    # ----------------------------------------------------------------- datasets
    S("ds-create", "POST", f"{DS}/create", json={"name": "ds1", "experiment_ids": ["${exp}"],
                                                  "tags": _j({"mlflow.user": "u1", "team": "a"})},
      capture={"ds": "dataset.dataset_id"}),
    S("ds-create-2", "POST", f"{DS}/create", json={"name": "other", "tags": "{}"}, capture={"ds2": "dataset.dataset_id"}),
    S("ds-create-same-name", "POST", f"{DS}/create", json={"name": "ds1", "experiment_ids": ["${exp2}"]},
      capture={"ds3": "dataset.dataset_id"}),
    S("ds-create-no-name", "POST", f"{DS}/create", json={"experiment_ids": ["${exp}"]}),
    S("ds-create-name-int", "POST", f"{DS}/create", json={"name": 5}),
    S("ds-create-ids-not-list", "POST", f"{DS}/create", json={"name": "x", "experiment_ids": 7}),
    S("ds-get", "GET", DS + "/${ds}"),
    S("ds-get-missing", "GET", f"{DS}/d-{'0' * 32}"),
    S("ds-get-create-literal", "GET", f"{DS}/create"),
    S("ds-upsert", "POST", DS + "/${ds}/records", json={"records": _j(RECORDS_1)}),
    S("ds-upsert-merge", "POST", DS + "/${ds}/records", json={"records": _j(RECORDS_2), "updated_by": "x"}),
    S("ds-upsert-empty", "POST", DS + "/${ds2}/records", json={"records": "[]"}),
    S("ds-upsert-no-records", "POST", DS + "/${ds}/records", json={}),
    S("ds-upsert-records-not-string", "POST", DS + "/${ds}/records", json={"records": RECORDS_1}),
    S("ds-upsert-bad-source-type", "POST", DS + "/${ds}/records",
      json={"records": _j([{"inputs": {"q": "zz"}, "source": {"source_type": "robot"}}])}),
    S("ds-create-bad-tags-json", "POST", f"{DS}/create", json={"name": "x", "tags": "{"}),
    S("ds-upsert-bad-json", "POST", DS + "/${ds2}/records", json={"records": "[{"}),
    S("ds-upsert-inputs-list", "POST", DS + "/${ds2}/records", json={"records": _j([{"inputs": [1]}])}),
    S("ds-upsert-source-extra-key", "POST", DS + "/${ds2}/records",
      json={"records": _j([{"inputs": {"q": 1}, "source": {"source_type": "HUMAN", "zz": 1}}])}),
    S("ds-upsert-unknown-dataset", "POST", f"{DS}/d-{'0' * 32}/records", json={"records": _j([{"inputs": {"q": 1}}])},
      message="ignore"),
    S("ds-get-after-bad-upserts", "GET", DS + "/${ds2}"),
    S("ds-get-after-upsert", "GET", DS + "/${ds}"),
    S("ds-get-empty-upsert", "GET", DS + "/${ds2}"),
    S("ds-records", "GET", DS + "/${ds}/records"),
    S("ds-records-page", "GET", DS + "/${ds}/records", params={"max_results": 3}),
    S("ds-records-of-absent-dataset", "GET", f"{DS}/d-{'0' * 32}/records"),
    S("ds-records-delete-unknown", "DELETE", DS + "/${ds}/records", json={"dataset_record_ids": ["dr-" + "0" * 32]}),
    # The dataset page's own writes, as the 3.17.2 UI sends them: an edited record carries its
    # `dataset_record_id` (ignored: records match on their inputs) and a HUMAN source with
    # `source_data.user_name`; the list reads records 500 at a time with `dataset_id` repeated
    # in the query; the dataset picker searches `name ILIKE`.
    S("ds-ui-upsert-edit", "POST", DS + "/${ds}/records", json={"dataset_id": "${ds}", "records": _j([
        {"dataset_record_id": "dr-" + "1" * 32, "inputs": {"q": "a"}, "expectations": {"expected": "AAA"},
         "tags": {}, "source": {"source_type": "HUMAN", "source_data": {"user_name": ""}}}])}),
    S("ds-ui-records", "GET", DS + "/${ds}/records", params={"dataset_id": "${ds}", "max_results": "500"}),
    S("ds-ui-search-ilike", "POST", f"{DS}/search", json={
        "experiment_ids": ["${exp}"], "filter_string": "name ILIKE '%DS%'", "order_by": ["created_time DESC"],
        "max_results": 50}),
    S("ds-tags-set", "PATCH", DS + "/${ds}/tags", json={"tags": _j({"team": "b", "env": "dev", "gone": None})}),
    S("ds-tags-set-missing", "PATCH", DS + "/${ds}/tags", json={}),
    S("ds-tags-set-unknown-dataset", "PATCH", f"{DS}/d-{'0' * 32}/tags", json={"tags": "{}"}),
    S("ds-tag-delete", "DELETE", DS + "/${ds}/tags/env"),
    S("ds-tag-delete-again", "DELETE", DS + "/${ds}/tags/env"),
    S("ds-tag-delete-absent-dataset", "DELETE", f"{DS}/d-{'0' * 32}/tags/env"),
    S("ds-get-after-tags", "GET", DS + "/${ds}"),
    S("ds-search", "POST", f"{DS}/search", json={}),
    S("ds-search-get", "GET", f"{DS}/search", params={"filter_string": "name = 'ds1'", "order_by": "created_time ASC"}),
    S("ds-search-exp", "POST", f"{DS}/search", json={"experiment_ids": ["${exp}"]}),
    S("ds-search-filter-tag", "POST", f"{DS}/search", json={"filter_string": "tags.team = 'b'"}),
    S("ds-search-filter-like", "POST", f"{DS}/search", json={"filter_string": "name LIKE 'ds%'",
                                                             "order_by": ["name ASC", "created_time DESC"]}),
    S("ds-search-filter-in", "POST", f"{DS}/search", json={"filter_string": "name IN ('other', 'nope')"}),
    S("ds-search-filter-time", "POST", f"{DS}/search", json={"filter_string": "created_time > 0"}),
    S("ds-search-filter-user", "POST", f"{DS}/search", json={"filter_string": "created_by = 'u1'"}),
    S("ds-search-page", "POST", f"{DS}/search", json={"max_results": 1, "order_by": ["name DESC"]}),
    S("ds-search-bad-key", "POST", f"{DS}/search", json={"filter_string": "bogus = 'a'"},
      message="until:Valid keys are"),
    S("ds-search-bad-entity", "POST", f"{DS}/search", json={"filter_string": "params.x = 'a'"}),
    S("ds-search-bad-tag-comparator", "POST", f"{DS}/search", json={"filter_string": "tags.team > 'a'"}),
    S("ds-search-bad-order", "POST", f"{DS}/search", json={"order_by": ["created_by"]},
      message="until:Valid keys are"),
    S("ds-search-too-many", "POST", f"{DS}/search", json={"max_results": 100000}),
    S("ds-experiment-ids", "GET", DS + "/${ds}/experiment-ids"),
    S("ds-experiment-ids-none", "GET", DS + "/${ds2}/experiment-ids"),
    S("ds-add-experiments", "POST", DS + "/${ds}/add-experiments", json={"experiment_ids": ["${exp2}"]}),
    S("ds-add-unknown-experiment", "POST", DS + "/${ds}/add-experiments", json={"experiment_ids": ["987654"]}),
    S("ds-add-unknown-dataset", "POST", f"{DS}/d-{'0' * 32}/add-experiments", json={"experiment_ids": ["${exp}"]}),
    S("ds-experiment-ids-after-add", "GET", DS + "/${ds}/experiment-ids"),
    S("ds-remove-experiments", "POST", DS + "/${ds}/remove-experiments", json={"experiment_ids": ["${exp}", "55"]}),
    S("ds-remove-unknown-dataset", "POST", f"{DS}/d-{'0' * 32}/remove-experiments", json={"experiment_ids": ["1"]}),
    S("ds-experiment-ids-after-remove", "GET", DS + "/${ds}/experiment-ids"),
    S("ds-delete", "DELETE", DS + "/${ds3}"),
    S("ds-get-deleted", "GET", DS + "/${ds3}"),
    S("ds-delete-again", "DELETE", DS + "/${ds3}"),
    S("ds-delete-ajax", "DELETE", "/ajax-api/3.0/mlflow/datasets/${ds2}"),
    S("ds-search-after-delete", "POST", f"{DS}/search", json={}),
    # ----------------------------------------------------------------- scorers
    S("sc-register", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "safety", "serialized_scorer": _j(BUILTIN)},
      capture={"scorer": "scorer_id"}),
    S("sc-register-v2", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "safety", "serialized_scorer": _j({**BUILTIN, "timeout": 5})}),
    S("sc-register-other", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "another", "serialized_scorer": _j(BUILTIN)}),
    S("sc-register-exp2", "POST", f"{SC}/register",
      json={"experiment_id": "${exp2}", "name": "safety", "serialized_scorer": _j(BUILTIN)}),
    S("sc-register-custom", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "exact_match", "serialized_scorer": _j(CUSTOM)}),
    S("sc-register-nested-custom", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "ens", "serialized_scorer": _j(NESTED_CUSTOM)}),
    S("sc-register-steering", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "tp", "serialized_scorer": _j(STEERING)}),
    S("sc-register-gateway-missing", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "gw", "serialized_scorer": _j(GATEWAY)}),
    S("sc-register-bad-json", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "bad", "serialized_scorer": "{nope"}),
    S("sc-register-no-name", "POST", f"{SC}/register", json={"experiment_id": "${exp}", "serialized_scorer": "{}"}),
    S("sc-register-blank-name", "POST", f"{SC}/register",
      json={"experiment_id": "${exp}", "name": "  ", "serialized_scorer": _j(BUILTIN)}),
    S("sc-register-unknown-exp", "POST", f"{SC}/register",
      json={"experiment_id": "987654", "name": "s", "serialized_scorer": _j(BUILTIN)}),
    S("sc-list", "GET", f"{SC}/list", params={"experiment_id": "${exp}"}),
    S("sc-list-ids", "GET", f"{SC}/list", params={"experiment_ids": ["${exp}", "${exp2}", "987654"]}),
    S("sc-list-all", "GET", f"{SC}/list"),
    S("sc-list-both", "GET", f"{SC}/list", params={"experiment_id": "${exp}", "experiment_ids": "${exp2}"}),
    S("sc-list-unknown-exp", "GET", f"{SC}/list", params={"experiment_id": "987654"}),
    S("sc-versions", "GET", f"{SC}/versions", params={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-versions-missing", "GET", f"{SC}/versions", params={"experiment_id": "${exp}", "name": "nope"}),
    S("sc-versions-no-name", "GET", f"{SC}/versions", params={"experiment_id": "${exp}"}),
    S("sc-get-latest", "GET", f"{SC}/get", params={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-get-v1", "GET", f"{SC}/get", params={"experiment_id": "${exp}", "name": "safety", "version": 1}),
    S("sc-get-v9", "GET", f"{SC}/get", params={"experiment_id": "${exp}", "name": "safety", "version": 9}),
    S("sc-get-missing", "GET", f"{SC}/get", params={"experiment_id": "${exp}", "name": "nope"}),
    S("sc-get-bad-version", "GET", f"{SC}/get", params={"experiment_id": "${exp}", "name": "safety", "version": "x"}),
    S("sc-online-configs-none", "GET", f"{SC}/online-configs", params={"scorer_ids": "${scorer}"}),
    S("sc-online-config-positive", "PUT", f"{SC}/online-config",
      json={"experiment_id": "${exp}", "name": "safety", "sample_rate": 0.5}),
    S("sc-online-config-zero", "PUT", f"{SC}/online-config",
      json={"experiment_id": "${exp}", "name": "safety", "sample_rate": 0, "filter_string": "tags.a = 'b'"}),
    S("sc-online-config-out-of-range", "PUT", f"{SC}/online-config",
      json={"experiment_id": "${exp}", "name": "safety", "sample_rate": 1.5}),
    S("sc-online-config-bad-filter-type", "PUT", f"{SC}/online-config",
      json={"experiment_id": "${exp}", "name": "safety", "sample_rate": 0, "filter_string": 3}),
    S("sc-online-config-unknown-scorer", "PUT", f"{SC}/online-config",
      json={"experiment_id": "${exp}", "name": "nope", "sample_rate": 0}),
    S("sc-online-config-missing-rate", "PUT", f"{SC}/online-config", json={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-online-configs", "GET", f"{SC}/online-configs", params={"scorer_ids": ["${scorer}", "nope"]}),
    S("sc-delete-v1", "DELETE", f"{SC}/delete", json={"experiment_id": "${exp}", "name": "safety", "version": 1}),
    S("sc-delete-v1-again", "DELETE", f"{SC}/delete", json={"experiment_id": "${exp}", "name": "safety", "version": 1}),
    S("sc-versions-after-delete", "GET", f"{SC}/versions", params={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-delete-all", "DELETE", f"{SC}/delete", json={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-delete-missing", "DELETE", f"{SC}/delete", json={"experiment_id": "${exp}", "name": "safety"}),
    S("sc-list-after-delete", "GET", f"{SC}/list", params={"experiment_id": "${exp}"}),
    # ----------------------------------------------------------------- label schemas
    S("ls-list-seeds-default", "GET", f"{LS}/list", params={"experiment_id": "${exp}"}),
    S("ls-get-default-by-name", "GET", f"{LS}/get-by-name", params={"experiment_id": "${exp}", "name": "Feedback"},
      capture={"ls_default": "label_schema.schema_id"}),
    S("ls-create-pass-fail", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "correct", "type": "FEEDBACK", "instruction": "Is it right?",
        "input": {"pass_fail": {"positive_label": "yes", "negative_label": "no"}}},
      capture={"ls1": "label_schema.schema_id"}),
    S("ls-create-categorical", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "tone", "type": "EXPECTATION", "enable_comment": True,
        "input": {"categorical": {"options": ["calm", "rude"], "multi_select": True}}},
      capture={"ls2": "label_schema.schema_id"}),
    S("ls-create-numeric", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "score", "type": "FEEDBACK",
        "input": {"numeric": {"min_value": 1, "max_value": 5}}}),
    S("ls-create-text", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "notes", "type": "FEEDBACK", "input": {"text": {"max_length": 100}}}),
    S("ls-create-duplicate", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "tone", "type": "FEEDBACK", "input": {"text": {}}}),
    S("ls-create-reserved-name", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": " feedback ", "type": "FEEDBACK", "input": {"text": {}}}),
    S("ls-create-no-type", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "input": {"text": {}}}),
    S("ls-create-lower-type", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "type": "feedback", "input": {"text": {}}}),
    S("ls-create-no-input", "POST", f"{LS}/create", json={"experiment_id": "${exp}", "name": "x", "type": "FEEDBACK"}),
    S("ls-create-bad-pass-fail", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "type": "FEEDBACK",
        "input": {"pass_fail": {"positive_label": "a", "negative_label": "a"}}}),
    S("ls-create-bad-options", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "type": "FEEDBACK",
        "input": {"categorical": {"options": ["a", "a"]}}}),
    S("ls-create-bad-numeric", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "type": "FEEDBACK", "input": {"numeric": {"min_value": 5, "max_value": 1}}}),
    S("ls-create-bad-text", "POST", f"{LS}/create", json={
        "experiment_id": "${exp}", "name": "x", "type": "FEEDBACK", "input": {"text": {"max_length": 0}}}),
    S("ls-create-unknown-exp", "POST", f"{LS}/create", json={
        "experiment_id": "987654", "name": "x", "type": "FEEDBACK", "input": {"text": {}}}),
    S("ls-get", "GET", f"{LS}/get", params={"schema_id": "${ls1}"}),
    S("ls-get-missing", "GET", f"{LS}/get", params={"schema_id": "ls-nope"}),
    S("ls-get-by-name", "GET", f"{LS}/get-by-name", params={"experiment_id": "${exp}", "name": "tone"}),
    S("ls-get-by-name-missing", "GET", f"{LS}/get-by-name", params={"experiment_id": "${exp}", "name": "nope"}),
    S("ls-list", "GET", f"{LS}/list", params={"experiment_id": "${exp}"}),
    S("ls-list-page", "GET", f"{LS}/list", params={"experiment_id": "${exp}", "max_results": 2}),
    S("ls-list-bad-max", "GET", f"{LS}/list", params={"experiment_id": "${exp}", "max_results": 0}),
    S("ls-update", "PATCH", f"{LS}/update", json={
        "schema_id": "${ls2}", "name": "tone2", "instruction": "new",
        "input": {"categorical": {"options": ["calm", "rude", "ok"], "multi_select": True}}}),
    S("ls-update-change-input-type", "PATCH", f"{LS}/update", json={"schema_id": "${ls2}", "input": {"text": {}}}),
    S("ls-update-multi-select", "PATCH", f"{LS}/update", json={
        "schema_id": "${ls2}", "input": {"categorical": {"options": ["a"], "multi_select": False}}}),
    S("ls-update-rename-clash", "PATCH", f"{LS}/update", json={"schema_id": "${ls2}", "name": "correct"}),
    S("ls-update-default", "PATCH", f"{LS}/update", json={"schema_id": "${ls_default}", "instruction": "x"}),
    S("ls-update-missing", "PATCH", f"{LS}/update", json={"schema_id": "ls-nope", "name": "y"}),
    S("ls-delete-default", "DELETE", f"{LS}/delete", json={"schema_id": "${ls_default}"}),
    S("ls-delete-unknown", "DELETE", f"{LS}/delete", json={"schema_id": "ls-nope"}),
    # ----------------------------------------------------------------- review queues
    S("trace-start", "POST", f"{V3}/traces", json={"trace": {"trace_info": {
        "trace_id": f"tr-{TRACE}", "trace_location": {"type": "MLFLOW_EXPERIMENT",
                                                        "mlflow_experiment": {"experiment_id": "${exp}"}},
        "request_time": "2023-11-14T22:13:20.000Z", "execution_duration": "0.100s", "state": "OK"}}}),
    S("rq-create", "POST", f"{RQ}/create", json={
        "experiment_id": "${exp}", "name": "Triage", "queue_type": "CUSTOM", "users": ["Bob ", "alice"],
        "schema_ids": ["${ls1}"], "created_by": "ignored"}, capture={"rq": "review_queue.queue_id"}),
    S("rq-create-same-name-other-case", "POST", f"{RQ}/create", json={
        "experiment_id": "${exp}", "name": "TRIAGE", "queue_type": "CUSTOM"}),
    S("rq-create-reserved", "POST", f"{RQ}/create", json={"experiment_id": "${exp}", "name": "Default", "queue_type": "CUSTOM"}),
    S("rq-create-no-type", "POST", f"{RQ}/create", json={"experiment_id": "${exp}", "name": "q"}),
    S("rq-create-user-with-schemas", "POST", f"{RQ}/create", json={
        "experiment_id": "${exp}", "name": "carol", "queue_type": "USER", "schema_ids": ["${ls1}"]}),
    S("rq-create-unknown-schema", "POST", f"{RQ}/create", json={
        "experiment_id": "${exp}", "name": "q2", "queue_type": "CUSTOM", "schema_ids": ["ls-nope"]}),
    S("rq-create-too-many-users", "POST", f"{RQ}/create", json={
        "experiment_id": "${exp}", "name": "q3", "queue_type": "CUSTOM", "users": [f"u{i}" for i in range(11)]}),
    S("rq-user-queue", "POST", f"{RQ}/get-or-create-user", json={"experiment_id": "${exp}", "user": " Dana "},
      capture={"rq_user": "review_queue.queue_id"}),
    S("rq-user-queue-again", "POST", f"{RQ}/get-or-create-user", json={"experiment_id": "${exp}", "user": "dana"}),
    S("rq-user-queue-clash", "POST", f"{RQ}/get-or-create-user", json={"experiment_id": "${exp}", "user": "triage"}),
    S("rq-get", "GET", f"{RQ}/get", params={"queue_id": "${rq}"}),
    S("rq-get-missing", "GET", f"{RQ}/get", params={"queue_id": "rq-nope"}),
    S("rq-get-by-name", "GET", f"{RQ}/get-by-name", params={"experiment_id": "${exp}", "name": "triage"}),
    S("rq-items-add", "POST", f"{RQ}/items/add", json={"queue_id": "${rq}", "item_ids": [f"tr-{TRACE}", f"tr-{TRACE}"]}),
    S("rq-items-add-unknown-trace", "POST", f"{RQ}/items/add", json={"queue_id": "${rq}", "item_ids": ["tr-nope"]}),
    S("rq-items-add-empty", "POST", f"{RQ}/items/add", json={"queue_id": "${rq}", "item_ids": []}),
    S("rq-items-list", "GET", f"{RQ}/items/list", params={"queue_id": "${rq}"}),
    S("rq-items-list-status", "GET", f"{RQ}/items/list", params={"queue_id": "${rq}", "status": "COMPLETE"}),
    S("rq-set-status-complete", "POST", f"{RQ}/items/set-status", json={
        "queue_id": "${rq}", "item_id": f"tr-{TRACE}", "status": "COMPLETE", "completed_by": "Bob"}),
    S("rq-set-status-no-user", "POST", f"{RQ}/items/set-status", json={
        "queue_id": "${rq}", "item_id": f"tr-{TRACE}", "status": "DECLINED"}),
    S("rq-set-status-pending-with-user", "POST", f"{RQ}/items/set-status", json={
        "queue_id": "${rq}", "item_id": f"tr-{TRACE}", "status": "PENDING", "completed_by": "x"}),
    S("rq-set-status-missing-item", "POST", f"{RQ}/items/set-status", json={
        "queue_id": "${rq}", "item_id": "tr-nope", "status": "PENDING"}),
    S("rq-set-status-reopen", "POST", f"{RQ}/items/set-status", json={
        "queue_id": "${rq}", "item_id": f"tr-{TRACE}", "status": "PENDING"}),
    S("rq-list", "GET", f"{RQ}/list", params={"experiment_id": "${exp}"}),
    S("rq-list-user", "GET", f"{RQ}/list", params={"experiment_id": "${exp}", "user": "ALICE"}),
    S("rq-list-item", "GET", f"{RQ}/list", params={"experiment_id": "${exp}", "item_id": f"tr-{TRACE}"}),
    S("rq-list-no-exp", "GET", f"{RQ}/list"),
    S("rq-update-schemas-locked", "POST", f"{RQ}/update", json={
        "queue_id": "${rq}", "update_schema_ids": True, "schema_ids": []}),
    S("rq-update", "POST", f"{RQ}/update", json={
        "queue_id": "${rq}", "name": "Triage 2", "update_users": True, "users": ["erin"], "new_owner": " Zed "}),
    S("rq-update-user-queue", "POST", f"{RQ}/update", json={"queue_id": "${rq_user}", "name": "x"}),
    S("rq-items-remove", "POST", f"{RQ}/items/remove", json={"queue_id": "${rq}", "item_ids": [f"tr-{TRACE}"]}),
    S("rq-items-after-remove", "GET", f"{RQ}/items/list", params={"queue_id": "${rq}"}),
    S("rq-delete", "POST", f"{RQ}/delete", json={"queue_id": "${rq_user}"}),
    S("rq-delete-again", "POST", f"{RQ}/delete", json={"queue_id": "${rq_user}"}),
    S("rq-list-after-delete", "GET", f"{RQ}/list", params={"experiment_id": "${exp}"}),
    # ----------------------------------------------------------------- issues
    S("is-create", "POST", f"{V3}/issues", json={
        "experiment_id": "${exp}", "name": "Hallucination", "description": "Makes things up",
        "severity": "high", "root_causes": ["no retrieval"], "categories": ["quality"], "created_by": "me"},
      capture={"iss": "issue.issue_id"}),
    S("is-create-minimal", "POST", f"{V3}/issues", json={
        "experiment_id": "${exp}", "name": "Slow", "description": "Latency"}, capture={"iss2": "issue.issue_id"}),
    S("is-create-no-description", "POST", f"{V3}/issues", json={"experiment_id": "${exp}", "name": "x"}),
    S("is-create-unknown-exp", "POST", f"{V3}/issues", json={
        "experiment_id": "987654", "name": "x", "description": "y"}),
    S("is-create-bad-status", "POST", f"{V3}/issues", json={
        "experiment_id": "${exp}", "name": "x", "description": "y", "status": "open"}),
    S("is-get", "GET", V3 + "/issues/${iss}"),
    S("is-get-missing", "GET", f"{V3}/issues/iss-nope"),
    S("is-update", "PATCH", V3 + "/issues/${iss2}", json={"issue_id": "${iss2}", "status": "resolved", "severity": "low"}),
    S("is-update-no-issue-id", "PATCH", V3 + "/issues/${iss2}", json={"status": "rejected"}),
    S("is-update-missing", "PATCH", f"{V3}/issues/iss-nope", json={"issue_id": "iss-nope", "name": "n"}),
    S("is-search", "POST", f"{V3}/issues/search", json={"experiment_id": "${exp}"}),
    S("is-search-filter", "POST", f"{V3}/issues/search", json={"experiment_id": "${exp}", "filter_string": "status = 'resolved'"}),
    S("is-search-count", "POST", f"{V3}/issues/search", json={"experiment_id": "${exp}", "include_trace_count": True}),
    S("is-search-page", "POST", f"{V3}/issues/search", json={"experiment_id": "${exp}", "max_results": 1}),
    S("is-search-bad-filter", "POST", f"{V3}/issues/search", json={"filter_string": "name = 'x'"},
      message="until:Supported fields"),
]

# Where rsflow answers on purpose differently: (status, error_code) rsflow must give.
GENAI_KNOWN_DIFFERENCES: dict[str, tuple[str, tuple[int, str | None]]] = {
    "ds-create-bad-tags-json": ("MLflow fails json.loads with an HTML 500.", (400, "INVALID_PARAMETER_VALUE")),
    "ds-upsert-bad-json": ("MLflow fails json.loads with an HTML 500.", (400, "INVALID_PARAMETER_VALUE")),
    "ds-upsert-inputs-list": ("MLflow answers 500 INTERNAL_ERROR from SQLAlchemy.", (400, "INVALID_PARAMETER_VALUE")),
    "ds-upsert-source-extra-key": ("MLflow answers 500 (unexpected keyword argument).",
                                   (400, "INVALID_PARAMETER_VALUE")),
    "ds-upsert-unknown-dataset": ("MLflow answers 400 BAD_REQUEST quoting an SQLite FOREIGN KEY error; rsflow "
                                  "says the dataset does not exist.", (404, "RESOURCE_DOES_NOT_EXIST")),
    "is-create-bad-status": ("MLflow fails IssueStatus('open') with a 500.", (400, "INVALID_PARAMETER_VALUE")),
    "ds-upsert-records-not-string": (
        "MLflow's schema check refuses a non-string 'records' with 400 too, but words it through "
        "protobuf's parser; rsflow gives the same code.",
        (400, "INVALID_PARAMETER_VALUE"),
    ),
    "sc-get-bad-version": (
        "A non-integer version is a 400 INVALID_PARAMETER_VALUE on both; the wording differs.",
        (400, "INVALID_PARAMETER_VALUE"),
    ),
}

# MLflow 3.17.2 on PostgreSQL fails add-experiments itself (psycopg binds the ids as VARCHAR
# against the INTEGER column: 400 BAD_REQUEST "operator does not exist"), so the links and the
# rows that read them differ there; rsflow links the experiments as MLflow does on SQLite.
PG_KNOWN_DIFFERENCES: dict[str, tuple[str, tuple[int, str | None]]] = {
    "ds-add-experiments": ("MLflow on PostgreSQL: 400 operator does not exist.", (200, None)),
    "ds-add-unknown-experiment": ("MLflow on PostgreSQL: 400 operator does not exist.",
                                  (404, "RESOURCE_DOES_NOT_EXIST")),
    "ds-experiment-ids-after-add": ("Follows from ds-add-experiments.", (200, None)),
    "ds-experiment-ids-after-remove": ("Follows from ds-add-experiments.", (200, None)),
}

_TS = re.compile(r"^\d{13}$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_JSON_STRING_KEYS = {"tags", "schema", "profile", "records", "serialized_scorer"}


def _scrub(obj, key=""):
    """Server-clock ints and per-run ids inside parsed JSON strings."""
    if isinstance(obj, dict):
        return {k: _scrub(v, k) for k, v in sorted(obj.items())}
    if isinstance(obj, list):
        items = [_scrub(v, key) for v in obj]
        if key == "records":
            items.sort(key=lambda v: json.dumps(v.get("inputs"), sort_keys=True) if isinstance(v, dict) else "")
        return items
    if isinstance(obj, int) and not isinstance(obj, bool) and "time" in key and obj >= 10**12:
        return "<TS>"
    if isinstance(obj, str):
        if key in ("dataset_record_id",):
            return "<RID>"
        return _UUID.sub("<UUID>", obj)
    return obj


def _canon(obj, key=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in _JSON_STRING_KEYS and isinstance(v, str):
                try:
                    v = {"<json>": _scrub(json.loads(v), k)}
                except ValueError:
                    pass
            if k in ("created_at", "last_updated_at") and isinstance(v, int) and v >= 10**12:
                v = "<TS>"
            if k == "digest" and isinstance(v, str):
                v = "<DIGEST>"
            if k in ("scorer_id", "online_scoring_config_id") and isinstance(v, str):
                v = "<SCORER_ID>" if k == "scorer_id" else "<CONFIG_ID>"
            out[k] = _canon(v, k)
        return out
    if isinstance(obj, list):
        return [_canon(v, key) for v in obj]
    if isinstance(obj, str):
        return _UUID.sub("<UUID>", obj)
    return obj


def test_step_names_unique():
    names = [s.name for s in STEPS]
    assert len(names) == len(set(names))
    assert set(GENAI_KNOWN_DIFFERENCES) | set(PG_KNOWN_DIFFERENCES) <= set(names)


@pytest.fixture(scope="module")
def genai_observations(module_servers):
    ref = module_servers.start(MLFLOW)
    target = module_servers.start(target_kind())
    ref_obs = {k: _canon(v) for k, v in observe(ref, STEPS).items()}
    target_obs = {k: _canon(v) for k, v in observe(target, STEPS).items()}
    if dump := os.environ.get("COMPAT_DUMP_DIR"):
        Path(dump).mkdir(parents=True, exist_ok=True)
        Path(dump, "genai-mlflow.json").write_text(json.dumps(ref_obs, indent=1, sort_keys=True))
        Path(dump, f"genai-{target.kind}.json").write_text(json.dumps(target_obs, indent=1, sort_keys=True))
    ref.stop()
    target.stop()
    return ref_obs, target_obs, target.kind


@pytest.mark.parametrize("step", [s.name for s in STEPS])
def test_genai_step_matches_reference(genai_observations, step):
    ref_obs, target_obs, kind = genai_observations
    got, want = target_obs[step], ref_obs[step]
    known = {**GENAI_KNOWN_DIFFERENCES, **(PG_KNOWN_DIFFERENCES if compat_backend() == "postgres" else {})}
    if want["status"] >= 400 and kind != MLFLOW and (step not in known or known[step][1][0] >= 400):
        # Bad input: a 4xx on the target, also where MLflow fails with a 5xx.
        assert 400 <= got["status"] < 500, f"{step}: {_fmt(got)}"
    if step in known and kind != MLFLOW:
        why, (status, code) = known[step]
        assert got["status"] == status, f"{step}: {why}\n{_fmt(got)}"
        if code is not None:
            assert got["body"]["error_code"] == code, _fmt(got)
        return
    assert got == want, f"{step}: {kind} differs from mlflow\n--- mlflow ---\n{_fmt(want)}\n--- {kind} ---\n{_fmt(got)}"
