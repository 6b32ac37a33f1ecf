//! The fuzz targets of `fuzz/` on stable: each runs over a seed corpus, then over random
//! mutations of it for a bounded time (`RSFLOW_FUZZ_SECS` per target, default 2; seed
//! `RSFLOW_FUZZ_SEED`). A panic or a broken property fails with the offending input; an input
//! that takes more than 5 s is a failure too (pathological parsing).

#[path = "../../../../fuzz/src/lib.rs"]
mod targets;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

const TOKENS: &[&str] = &[
    "..",
    ".",
    "/",
    "%",
    "%2e",
    "%2E",
    "%2f",
    "%25",
    "%5c",
    "\\",
    "#",
    "?",
    ";",
    "%00",
    "\0",
    "%c0%ae",
    "%ff",
    ":",
    "//",
    "file:",
    "file://",
    "mlflow-artifacts:",
    "http://",
    "https://",
    "s3://",
    "runs:/",
    "models:/",
    "C:",
    "'",
    "\"",
    "(",
    ")",
    " AND ",
    " and ",
    " LIKE ",
    " ILIKE ",
    " IN ",
    " NOT IN ",
    " IS NULL",
    "=",
    "!=",
    "<=",
    ">",
    "metrics.",
    "params.",
    "tags.",
    "attributes.",
    "dataset.",
    "`",
    ",",
    "NULL",
    "é",
    "\u{FFFD}",
    "169.254.169.254",
    "@",
    "[",
    "]",
    "%3f",
    "%23",
    "%3b",
    " ",
    "\n",
    "\t",
    "0",
    "1e309",
    "-",
    "DESC",
    " ASC",
    "start_time",
    "run_name",
    "name",
    "version_number",
    "creation_timestamp",
    "%252e",
    "/api/2.0/mlflow-artifacts/artifacts/",
    "{",
    "}",
    "...",
    "... on MlflowRun ",
    "fragment F on MlflowRun { info { runUuid } } ",
    "query Q($d: MlflowGetRunInput!) ",
    "mutation ",
    "subscription ",
    "$d",
    "@skip(if: true)",
    "@include(if: $b)",
    "__typename",
    "a: ",
    "\"\"\"",
    "[1, 2]",
    "{k: \"v\"}",
];

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let common = [
        "",
        "a",
        "a/b/c.txt",
        ".",
        "..",
        "../x",
        "%2e%2e/x",
        "%252e%252e%252fx",
        "/etc/passwd",
        "C:\\Windows",
        "a#b",
        "a?b;c",
        "%c0%ae%c0%ae/",
        "..;/x",
        "file:///etc",
        "\\\\h\\s",
        "x%00y",
        "100%.txt",
        "日本/語.csv",
    ];
    let specific: &[&str] = match target {
        "search_filter" => &[
            "metrics.acc > 0.9",
            "params.lr = '0.1' AND tags.`a b` LIKE '%x%'",
            "attributes.status IN ('FINISHED', 'RUNNING')",
            "attributes.run_name ILIKE 'a%' and metrics.loss <= -1e10",
            "tags.x IS NULL",
            "dataset.name = 'd' AND dataset.digest != 'x'",
            "name = 'm' AND version_number > 2",
            "start_time DESC\nmetrics.acc ASC",
            "[[[[[[[[[[]]]]]]]]]]",
            "metrics.\"a\" = 1",
            "params.a = \"x\"",
            "creation_timestamp >= 1",
        ],
        "artifact_uri" | "artifact_location" => &[
            "mlflow-artifacts:/1/abc/artifacts",
            "mlflow-artifacts://h:5000/1/x",
            "http://h/api/2.0/mlflow-artifacts/artifacts/1/r",
            "http:///?/../../../../etc/",
            "http:///#/../../etc/",
            "file://localhost/srv/x",
            "file://./etc",
            "//proc/self/root",
            "s3://bucket/x;params",
            "http://169.254.169.254/latest/meta-data/",
            "http://artifacts.internal:5000/api/x",
            "dbfs:/x",
            "runs:/abc/artifacts",
            "/srv/%252e%252e/etc",
            "./mlruns",
        ],
        "graphql" => &[
            "{ mlflowGetRun(input: {runId: \"abc\"}) { run { info { runUuid status } } } }",
            "query GetRun($data: MlflowGetRunInput!) @component(name: \"x\") { mlflowGetRun(input: $data) { apiError { code __typename } run { info { runUuid } ...F ... on MlflowRun @include(if: true) { data { params { key } } } } } }\nfragment F on MlflowRun { experiment { name } }",
            "op:Q\nquery Q { mlflowSearchRuns(input: {experimentIds: [\"0\"], maxResults: 10}) { runs { info { runName } } } } query R { __typename }",
            "mutation S($i: MlflowSearchRunsInput) { mlflowSearchRuns(input: $i) { nextPageToken } }",
            "fragment A on MlflowRun { ...B } fragment B on MlflowRun { ...A } { mlflowGetRun(input: {}) { run { ...A } } }",
            "{ a1: mlflowGetExperiment(input: {experimentId: \"0\"}) { experiment { name } } a2: __typename }",
            "{ mlflowListArtifacts(input: {runId: \"r\", path: \"\"\"a\\nb\"\"\"}) { files { path isDir fileSize } } }",
            "subscription { x }",
        ],
        _ => &[],
    };
    common
        .iter()
        .chain(specific)
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

fn mutate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..6) {
        let pos = rng.usize(..=input.len());
        match rng.u8(..6) {
            0 | 1 => {
                let tok = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                input.splice(pos..pos, tok.iter().copied());
            }
            2 if !input.is_empty() => {
                let end = (pos + rng.usize(1..8)).min(input.len());
                input.drain(pos.min(end)..end);
            }
            3 if pos < input.len() => input[pos] = rng.u8(..),
            4 => {
                let other = &corpus[rng.usize(..corpus.len())];
                let cut = rng.usize(..=other.len());
                input.splice(pos..pos, other[..cut].iter().copied());
            }
            _ => {
                let start = rng.usize(..=input.len());
                let end = (start + rng.usize(..16)).min(input.len());
                let piece = input[start..end].to_vec();
                input.splice(pos..pos, piece);
            }
        }
    }
    input.truncate(targets::MAX_INPUT);
    input
}

fn run(name: &str) {
    let (_, target) = *targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("known target");
    let secs: f64 = std::env::var("RSFLOW_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    let seed: u64 = std::env::var("RSFLOW_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut corpus = seeds(name);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut runs = 0u64;
    let mut slowest = Duration::ZERO;
    let mut i = 0usize;
    while i < corpus.len() || Instant::now() < deadline {
        let input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            mutate(&mut rng, &corpus)
        };
        i += 1;
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        let took = t.elapsed();
        slowest = slowest.max(took);
        runs += 1;
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{name}: input {:?} ({} bytes, seed {seed}) failed: {msg}",
                String::from_utf8_lossy(&input),
                input.len()
            );
        }
        assert!(
            took < Duration::from_secs(5),
            "{name}: input {:?} took {took:?}",
            String::from_utf8_lossy(&input)
        );
        // Keep a few mutants around so later rounds build on deeper inputs.
        if i > corpus.len() && runs.is_multiple_of(64) && corpus.len() < 4096 {
            corpus.push(input);
        }
    }
    println!(
        "fuzz_smoke {name}: {runs} inputs in {secs} s (seed {seed}), slowest {:.1} ms",
        slowest.as_secs_f64() * 1000.0
    );
}

#[test]
fn fuzz_search_filter() {
    run("search_filter");
}

#[test]
fn fuzz_artifact_path() {
    run("artifact_path");
}

#[test]
fn fuzz_artifact_uri() {
    run("artifact_uri");
}

#[test]
fn fuzz_graphql() {
    run("graphql");
}

#[test]
fn fuzz_artifact_location() {
    run("artifact_location");
}
