"""Deliberate differences between rsflow and the reference `mlflow server`.

Consulted by test_differential.py. A step listed in KNOWN_DIFFERENCES is not
compared with the reference when the target is rsflow; instead rsflow's answer
must be a proper JSON error: a 4xx status with an `error_code`, and exactly the
(status, error_code) given in EXPECTED_BETTER where a pair is listed.

Only list steps where MLflow answers with a 5xx (which the stock client retries
7 times with backoff), with a non-MLflow body (HTML, `{"detail": ...}`, empty) where
MLflow's JSON error is right, with a database error for valid input, or silently
accepts invalid input. A step whose EXPECTED_BETTER status is below 400 is a success
where MLflow fails; its body must then equal EXPECTED_BODY[step] when one is given.
"""

KNOWN_DIFFERENCES: dict[str, str] = {
    "unknown-endpoint": (
        "MLflow answers an unknown /api path with Flask's HTML 404 page; rsflow returns a JSON "
        "ENDPOINT_NOT_FOUND error (the client maps both to ENDPOINT_NOT_FOUND)."
    ),
    "runs-search-wrong-method": (
        "MLflow answers GET on the POST-only runs/search with Flask's HTML 405 page; rsflow "
        "returns a JSON 405 error."
    ),
    "runs-search-duplicate-order-by": (
        "MLflow answers a duplicate order_by key with 500 INTERNAL_ERROR, which the client "
        "retries for minutes; rsflow rejects it with 400 INVALID_PARAMETER_VALUE."
    ),
    "artifact-delete-absolute-path": (
        "MLflow's Flask DELETE route 308-redirects `artifacts//etc/x` to the slash-merged "
        "relative path `artifacts/etc/x` (and would delete that); rsflow rejects the absolute "
        "path with 400 INVALID_PARAMETER_VALUE 'Invalid path'."
    ),
    "server-info": (
        "rsflow advertises only what it implements: no presigned-upload-url endpoint, no AI "
        "gateway; it also sends the 3.18 keys (artifact_serving_enabled, "
        "artifacts_presigned_only) that newer clients read."
    ),
    "run-create-default-exp": (
        "MLflow 3.17.2 answers runs/create without experiment_id with 400 BAD_REQUEST carrying a "
        "SQLite FOREIGN KEY error; rsflow creates the run in the Default experiment \"0\" as the "
        "proto documents (empty experiment_id means \"0\")."
    ),
    "run-update-bad-status": (
        "MLflow silently ignores an unknown run status ('BOGUS') and answers 200; rsflow rejects "
        "it with 400 INVALID_PARAMETER_VALUE."
    ),
    "art-put-trailing-slash": (
        "MLflow's uvicorn route answers {\"detail\": ...}; rsflow answers the same message as an "
        "MLflow JSON error (INVALID_PARAMETER_VALUE)."
    ),
    "art-get-dir": (
        "MLflow's uvicorn route answers {\"detail\": ...}; rsflow answers the same message as an "
        "MLflow JSON error (INVALID_PARAMETER_VALUE)."
    ),
    "art-get-range-unsatisfiable": (
        "MLflow answers 416 with an empty text body; rsflow answers 416 with the same "
        "Content-Range and an MLflow JSON error body."
    ),
}

# What rsflow answers instead: step -> (HTTP status, error_code or None for "any").
EXPECTED_BETTER: dict[str, tuple[int, str | None]] = {
    "unknown-endpoint": (404, "ENDPOINT_NOT_FOUND"),
    "runs-search-wrong-method": (405, None),
    "runs-search-duplicate-order-by": (400, "INVALID_PARAMETER_VALUE"),
    "artifact-delete-absolute-path": (400, "INVALID_PARAMETER_VALUE"),
    "server-info": (200, None),
    "run-create-default-exp": (200, None),
    "run-update-bad-status": (400, "INVALID_PARAMETER_VALUE"),
    "art-put-trailing-slash": (400, "INVALID_PARAMETER_VALUE"),
    "art-get-dir": (400, "INVALID_PARAMETER_VALUE"),
    "art-get-range-unsatisfiable": (416, "INVALID_PARAMETER_VALUE"),
}

# Exact bodies for the successes above, where they are fixed.
EXPECTED_BODY: dict[str, dict] = {
    "server-info": {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "artifact_serving_enabled": True,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "model_artifact_presigned_downloads_supported": False,
        "features_enabled": {"gateway": False, "scheduled_issue_detection": False},
        "tracking_auth": "",
        "artifacts_presigned_only": False,
    },
}

assert set(EXPECTED_BETTER) <= set(KNOWN_DIFFERENCES)
assert set(EXPECTED_BODY) <= set(EXPECTED_BETTER)
