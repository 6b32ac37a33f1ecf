"""Deliberate differences between rsflow and the reference `mlflow server`.

Consulted by test_differential.py. A step listed in KNOWN_DIFFERENCES is not
compared with the reference when the target is rsflow; instead rsflow's answer
must be a proper JSON error: a 4xx status with an `error_code`, and exactly the
(status, error_code) given in EXPECTED_BETTER where a pair is listed.

Only list steps where MLflow answers with a 5xx (which the stock client retries
7 times with backoff) or with a non-JSON page where a JSON 4xx is right.
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
}

# What rsflow answers instead: step -> (HTTP status, error_code or None for "any").
EXPECTED_BETTER: dict[str, tuple[int, str | None]] = {
    "unknown-endpoint": (404, "ENDPOINT_NOT_FOUND"),
    "runs-search-wrong-method": (405, None),
    "runs-search-duplicate-order-by": (400, "INVALID_PARAMETER_VALUE"),
    "artifact-delete-absolute-path": (400, "INVALID_PARAMETER_VALUE"),
}

assert set(EXPECTED_BETTER) <= set(KNOWN_DIFFERENCES)
