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

# The basic-auth app (`--app-name basic-auth`, compat/test_auth.py). Not steps of
# test_differential: documented here so that every deliberate difference lives in one file.
AUTH_DIFFERENCES: dict[str, str] = {
    "auth-401-body": (
        "MLflow answers missing or wrong credentials with 401, `WWW-Authenticate: Basic "
        "realm=\"mlflow\"` and a text/html body; rsflow sends the same status, header and "
        "message as an MLflow JSON error (error_code UNAUTHENTICATED)."
    ),
    "auth-403-body": (
        "MLflow answers a refused request with 403 and the text body `Permission denied`; rsflow "
        "sends {\"error_code\": \"PERMISSION_DENIED\", \"message\": \"Permission denied\"}. The "
        "client maps both to PERMISSION_DENIED."
    ),
    "auth-429-throttle": (
        "MLflow does not throttle logins. rsflow answers 429 RESOURCE_EXHAUSTED with Retry-After "
        "after 10 failed logins for one user name (100 for one client address) within 60 s; a "
        "credential already verified (cached) still works meanwhile."
    ),
    "auth-cache-default": (
        "MLflow's auth_cache_ttl_seconds defaults to 0 (no credential cache: a PBKDF2/scrypt "
        "check per request) because its cache is per worker; rsflow is one process that drops "
        "cached logins on every password, admin-flag or user change and defaults to 60 s "
        "(auth_cache_ttl_seconds = 0 still turns it off). rsflow also caches a user's grants "
        "for that long (MLflow reads them per request); changes made through the same server "
        "count at once, changes made through another server on the same auth database after "
        "at most the TTL."
    ),
    "auth-mysql-database": (
        "MLflow keeps the basic-auth database on MySQL too; rsflow refuses a mysql:// "
        "database_uri at start, in one line with the URI redacted (SQLite and PostgreSQL only)."
    ),
    "auth-search-runs-unreadable-experiment": (
        "MLflow answers runs/search over an experiment the caller may not read without that "
        "experiment's runs; rsflow refuses the search with 403, as it does for traces."
    ),
    "auth-unmodelled-validators": (
        "Routes whose MLflow validators rsflow does not model yet (gateway, review queues, "
        "issues and datasets by id, jobs, workspaces, online scoring, prompt optimization, "
        "label schemas by id) are admin-only on rsflow (fail closed); MLflow lets users with "
        "the right grant through. Scorers are checked on their experiment."
    ),
    "auth-trusted-header": (
        "rsflow only: --auth-trusted-header NAME with --auth-trusted-proxies CIDR,... takes the "
        "user from a header set by an SSO proxy, honoured only from those peers; such users are "
        "created on first sight without a password."
    ),
}
