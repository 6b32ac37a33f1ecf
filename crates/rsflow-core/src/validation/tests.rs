//! Each expected text below is what MLflow 3.17.2's `mlflow/utils/validation.py` answered for
//! the same input (`OK n` gives the length of a kept or truncated value).

use super::*;
use crate::wire::{Dataset, DatasetInput, KeyValue, Metric, MetricValue};

fn show<T>(r: Result<T>, ok: impl Fn(T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => {
            assert_eq!(e.code, crate::ErrorCode::InvalidParameterValue);
            format!("ERR {}", e.message)
        }
    }
}

fn unit(r: Result<()>) -> String {
    show(r, |()| "OK".to_string())
}

fn kept(r: Result<KeyValue>) -> String {
    show(r, |kv| format!("OK {}", kv.value.chars().count()))
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

fn metric_of(key: &str, value: f64, timestamp: i64) -> Metric {
    Metric {
        key: key.into(),
        value: MetricValue(value),
        timestamp,
        ..Default::default()
    }
}

fn dataset(
    name: &str,
    digest: &str,
    source: &str,
    schema: Option<&str>,
    tags: &[(&str, &str)],
) -> DatasetInput {
    DatasetInput {
        tags: tags.iter().map(|(k, v)| kv(k, v)).collect(),
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: source.into(),
            schema: schema.map(Into::into),
            profile: None,
        },
    }
}

#[test]
#[rustfmt::skip]
fn metric_name_matches_the_reference() {
    assert_eq!(unit(metric_name("loss")),
        "OK");
    assert_eq!(unit(metric_name("a/b")),
        "OK");
    assert_eq!(unit(metric_name("a b:c")),
        "OK");
    assert_eq!(unit(metric_name("a.b-c_d")),
        "OK");
    assert_eq!(unit(metric_name("ünïcode")),
        "OK");
    assert_eq!(unit(metric_name("日本")),
        "OK");
    assert_eq!(unit(metric_name("")),
        "ERR Invalid value \"\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(metric_name(".")),
        "ERR Invalid value \".\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(metric_name("..")),
        "ERR Invalid value \"..\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..'");
    assert_eq!(unit(metric_name("a/../b")),
        "ERR Invalid value \"a/../b\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'b'");
    assert_eq!(unit(metric_name("/abs")),
        "ERR Invalid value \"/abs\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '/abs'");
    assert_eq!(unit(metric_name("a//b")),
        "ERR Invalid value \"a//b\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(metric_name("./a")),
        "ERR Invalid value \"./a\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(metric_name("a/")),
        "ERR Invalid value \"a/\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(metric_name("bad!")),
        "ERR Invalid value \"bad!\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name("new\nline")),
        "ERR Invalid value \"new\\nline\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name("loss\n")),
        "OK");
    assert_eq!(unit(metric_name("a\tb")),
        "ERR Invalid value \"a\\tb\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name("tab\t")),
        "ERR Invalid value \"tab\\t\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name(&"x".repeat(251))),
        "OK");
    assert_eq!(unit(metric_name(&"x".repeat(250))),
        "OK");
    assert_eq!(unit(metric_name(&"é".repeat(251))),
        "OK");
    assert_eq!(unit(metric_name("'quote'")),
        "ERR Invalid value \"'quote'\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name("\"dq\"")),
        "ERR Invalid value \"\\\"dq\\\"\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_name("a/./b")),
        "ERR Invalid value \"a/./b\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(metric_name("//x")),
        "ERR Invalid value \"//x\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '//x'");
    assert_eq!(unit(metric_name("..a")),
        "ERR Invalid value \"..a\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..a'");
    assert_eq!(unit(metric_name("a..")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn param_name_matches_the_reference() {
    assert_eq!(unit(param_name("loss")),
        "OK");
    assert_eq!(unit(param_name("a/b")),
        "OK");
    assert_eq!(unit(param_name("a b:c")),
        "OK");
    assert_eq!(unit(param_name("a.b-c_d")),
        "OK");
    assert_eq!(unit(param_name("ünïcode")),
        "OK");
    assert_eq!(unit(param_name("日本")),
        "OK");
    assert_eq!(unit(param_name("")),
        "ERR Invalid value \"\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(param_name(".")),
        "ERR Invalid value \".\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(param_name("..")),
        "ERR Invalid value \"..\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..'");
    assert_eq!(unit(param_name("a/../b")),
        "ERR Invalid value \"a/../b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'b'");
    assert_eq!(unit(param_name("/abs")),
        "ERR Invalid value \"/abs\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '/abs'");
    assert_eq!(unit(param_name("a//b")),
        "ERR Invalid value \"a//b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(param_name("./a")),
        "ERR Invalid value \"./a\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(param_name("a/")),
        "ERR Invalid value \"a/\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(param_name("bad!")),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name("new\nline")),
        "ERR Invalid value \"new\\nline\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name("loss\n")),
        "OK");
    assert_eq!(unit(param_name("a\tb")),
        "ERR Invalid value \"a\\tb\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name("tab\t")),
        "ERR Invalid value \"tab\\t\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name(&"x".repeat(251))),
        "OK");
    assert_eq!(unit(param_name(&"x".repeat(250))),
        "OK");
    assert_eq!(unit(param_name(&"é".repeat(251))),
        "OK");
    assert_eq!(unit(param_name("'quote'")),
        "ERR Invalid value \"'quote'\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name("\"dq\"")),
        "ERR Invalid value \"\\\"dq\\\"\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(param_name("a/./b")),
        "ERR Invalid value \"a/./b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(param_name("//x")),
        "ERR Invalid value \"//x\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '//x'");
    assert_eq!(unit(param_name("..a")),
        "ERR Invalid value \"..a\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..a'");
    assert_eq!(unit(param_name("a..")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn tag_name_matches_the_reference() {
    assert_eq!(unit(tag_name("loss")),
        "OK");
    assert_eq!(unit(tag_name("a/b")),
        "OK");
    assert_eq!(unit(tag_name("a b:c")),
        "OK");
    assert_eq!(unit(tag_name("a.b-c_d")),
        "OK");
    assert_eq!(unit(tag_name("ünïcode")),
        "OK");
    assert_eq!(unit(tag_name("日本")),
        "OK");
    assert_eq!(unit(tag_name("")),
        "ERR Invalid value \"\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(tag_name(".")),
        "ERR Invalid value \".\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(tag_name("..")),
        "ERR Invalid value \"..\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..'");
    assert_eq!(unit(tag_name("a/../b")),
        "ERR Invalid value \"a/../b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'b'");
    assert_eq!(unit(tag_name("/abs")),
        "ERR Invalid value \"/abs\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '/abs'");
    assert_eq!(unit(tag_name("a//b")),
        "ERR Invalid value \"a//b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(tag_name("./a")),
        "ERR Invalid value \"./a\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(tag_name("a/")),
        "ERR Invalid value \"a/\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a'");
    assert_eq!(unit(tag_name("bad!")),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name("new\nline")),
        "ERR Invalid value \"new\\nline\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name("loss\n")),
        "OK");
    assert_eq!(unit(tag_name("a\tb")),
        "ERR Invalid value \"a\\tb\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name("tab\t")),
        "ERR Invalid value \"tab\\t\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name(&"x".repeat(251))),
        "OK");
    assert_eq!(unit(tag_name(&"x".repeat(250))),
        "OK");
    assert_eq!(unit(tag_name(&"é".repeat(251))),
        "OK");
    assert_eq!(unit(tag_name("'quote'")),
        "ERR Invalid value \"'quote'\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name("\"dq\"")),
        "ERR Invalid value \"\\\"dq\\\"\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(tag_name("a/./b")),
        "ERR Invalid value \"a/./b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'a/b'");
    assert_eq!(unit(tag_name("//x")),
        "ERR Invalid value \"//x\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '//x'");
    assert_eq!(unit(tag_name("..a")),
        "ERR Invalid value \"..a\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..a'");
    assert_eq!(unit(tag_name("a..")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn metric_matches_the_reference() {
    assert_eq!(unit(metric(&metric_of("m", 1.5, 0))),
        "OK");
    assert_eq!(unit(metric(&metric_of("m", f64::NAN, -1))),
        "ERR Invalid value -1 for parameter 'timestamp' supplied: metric 'm' (value=nan). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric(&metric_of("bad!", 1.0, 5))),
        "ERR Invalid value \"bad!\" for parameter 'name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric(&metric_of(&"x".repeat(251), 1.0, 0))),
        "ERR 'Metric name' exceeds the maximum length of 250 characters");
    assert_eq!(unit(metric(&metric_of("m", 2.0, -5))),
        "ERR Invalid value -5 for parameter 'timestamp' supplied: metric 'm' (value=2.0). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric(&metric_of("m", 1e+20, -1))),
        "ERR Invalid value -1 for parameter 'timestamp' supplied: metric 'm' (value=1e+20). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric(&metric_of("m", f64::INFINITY, -1))),
        "ERR Invalid value -1 for parameter 'timestamp' supplied: metric 'm' (value=inf). Timestamp must be a nonnegative long (64-bit integer) ");
}

#[test]
#[rustfmt::skip]
fn metric_in_batch_matches_the_reference() {
    assert_eq!(unit(metric_in_batch(&metric_of("m", 1.5, 0), 3)),
        "OK");
    assert_eq!(unit(metric_in_batch(&metric_of("m", f64::NAN, -1), 3)),
        "ERR Invalid value -1 for parameter 'metrics[3].timestamp' supplied: metric 'm' (value=nan). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric_in_batch(&metric_of("bad!", 1.0, 5), 3)),
        "ERR Invalid value \"bad!\" for parameter 'metrics[3].name' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(metric_in_batch(&metric_of(&"x".repeat(251), 1.0, 0), 3)),
        "ERR 'Metric name' exceeds the maximum length of 250 characters");
    assert_eq!(unit(metric_in_batch(&metric_of("m", 2.0, -5), 3)),
        "ERR Invalid value -5 for parameter 'metrics[3].timestamp' supplied: metric 'm' (value=2.0). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric_in_batch(&metric_of("m", 1e+20, -1), 3)),
        "ERR Invalid value -1 for parameter 'metrics[3].timestamp' supplied: metric 'm' (value=1e+20). Timestamp must be a nonnegative long (64-bit integer) ");
    assert_eq!(unit(metric_in_batch(&metric_of("m", f64::INFINITY, -1), 3)),
        "ERR Invalid value -1 for parameter 'metrics[3].timestamp' supplied: metric 'm' (value=inf). Timestamp must be a nonnegative long (64-bit integer) ");
}

#[test]
#[rustfmt::skip]
fn param_matches_the_reference() {
    assert_eq!(kept(param(kv("p", "v"), true)),
        "OK 1");
    assert_eq!(kept(param(kv("p", "v"), false)),
        "OK 1");
    assert_eq!(kept(param(kv("p", &"x".repeat(6001)), true)),
        "OK 6000");
    assert_eq!(kept(param(kv("p", &"x".repeat(6001)), false)),
        "ERR 'Param value' exceeds the maximum length of 6000 characters");
    assert_eq!(kept(param(kv(&"x".repeat(251), "v"), true)),
        "ERR 'Param key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(param(kv(&"x".repeat(251), "v"), false)),
        "ERR 'Param key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(param(kv("bad!", "v"), true)),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(param(kv("bad!", "v"), false)),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(param(kv("p", &"é".repeat(6001)), true)),
        "OK 6000");
    assert_eq!(kept(param(kv("p", &"é".repeat(6001)), false)),
        "ERR 'Param value' exceeds the maximum length of 6000 characters");
}

#[test]
#[rustfmt::skip]
fn param_in_batch_matches_the_reference() {
    assert_eq!(kept(param_in_batch(kv("p", "v"), true, 2)),
        "OK 1");
    assert_eq!(kept(param_in_batch(kv("p", "v"), false, 2)),
        "OK 1");
    assert_eq!(kept(param_in_batch(kv("p", &"x".repeat(6001)), true, 2)),
        "OK 6000");
    assert_eq!(kept(param_in_batch(kv("p", &"x".repeat(6001)), false, 2)),
        "ERR 'Param value' exceeds the maximum length of 6000 characters");
    assert_eq!(kept(param_in_batch(kv(&"x".repeat(251), "v"), true, 2)),
        "ERR 'Param key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(param_in_batch(kv(&"x".repeat(251), "v"), false, 2)),
        "ERR 'Param key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(param_in_batch(kv("bad!", "v"), true, 2)),
        "ERR Invalid value \"bad!\" for parameter 'params[2].key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(param_in_batch(kv("bad!", "v"), false, 2)),
        "ERR Invalid value \"bad!\" for parameter 'params[2].key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(param_in_batch(kv("p", &"é".repeat(6001)), true, 2)),
        "OK 6000");
    assert_eq!(kept(param_in_batch(kv("p", &"é".repeat(6001)), false, 2)),
        "ERR 'Param value' exceeds the maximum length of 6000 characters");
}

#[test]
#[rustfmt::skip]
fn run_tag_matches_the_reference() {
    assert_eq!(kept(run_tag(kv("t", "v"), true)),
        "OK 1");
    assert_eq!(kept(run_tag(kv("t", "v"), false)),
        "OK 1");
    assert_eq!(kept(run_tag(kv("t", &"x".repeat(8001)), true)),
        "OK 8000");
    assert_eq!(kept(run_tag(kv("t", &"x".repeat(8001)), false)),
        "ERR 'value' exceeds the maximum length of 8000 characters");
    assert_eq!(kept(run_tag(kv(&"x".repeat(251), "v"), true)),
        "ERR 'key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(run_tag(kv(&"x".repeat(251), "v"), false)),
        "ERR 'key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(run_tag(kv("bad!", "v"), true)),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(run_tag(kv("bad!", "v"), false)),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
}

#[test]
#[rustfmt::skip]
fn run_tag_in_batch_matches_the_reference() {
    assert_eq!(kept(run_tag_in_batch(kv("t", "v"), true, 1)),
        "OK 1");
    assert_eq!(kept(run_tag_in_batch(kv("t", "v"), false, 1)),
        "OK 1");
    assert_eq!(kept(run_tag_in_batch(kv("t", &"x".repeat(8001)), true, 1)),
        "OK 8000");
    assert_eq!(kept(run_tag_in_batch(kv("t", &"x".repeat(8001)), false, 1)),
        "ERR 'tags[1].value' exceeds the maximum length of 8000 characters");
    assert_eq!(kept(run_tag_in_batch(kv(&"x".repeat(251), "v"), true, 1)),
        "ERR 'tags[1].key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(run_tag_in_batch(kv(&"x".repeat(251), "v"), false, 1)),
        "ERR 'tags[1].key' exceeds the maximum length of 250 characters");
    assert_eq!(kept(run_tag_in_batch(kv("bad!", "v"), true, 1)),
        "ERR Invalid value \"bad!\" for parameter 'tags[1].key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(kept(run_tag_in_batch(kv("bad!", "v"), false, 1)),
        "ERR Invalid value \"bad!\" for parameter 'tags[1].key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
}

#[test]
#[rustfmt::skip]
fn experiment_name_matches_the_reference() {
    assert_eq!(unit(experiment_name("exp")),
        "OK");
    assert_eq!(unit(experiment_name("")),
        "ERR Invalid experiment name: ''");
    assert_eq!(unit(experiment_name(&"x".repeat(500))),
        "OK");
    assert_eq!(unit(experiment_name(&"x".repeat(501))),
        "ERR 'name' exceeds the maximum length of 500 characters");
    assert_eq!(unit(experiment_name("a/b:c")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn experiment_tag_matches_the_reference() {
    assert_eq!(unit(experiment_tag(&kv("k", "v"))),
        "OK");
    assert_eq!(unit(experiment_tag(&kv(&"x".repeat(251), "v"))),
        "ERR 'key' exceeds the maximum length of 250 characters");
    assert_eq!(unit(experiment_tag(&kv("k", &"x".repeat(20001)))),
        "ERR 'value' exceeds the maximum length of 20000 characters");
    assert_eq!(unit(experiment_tag(&kv("bad!", "v"))),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(experiment_tag(&kv("k", &"x".repeat(20000)))),
        "OK");
}

#[test]
#[rustfmt::skip]
fn run_id_matches_the_reference() {
    assert_eq!(unit(run_id("abc123")),
        "OK");
    assert_eq!(unit(run_id(&"a".repeat(256))),
        "OK");
    assert_eq!(unit(run_id(&"a".repeat(257))),
        "ERR Invalid value \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("-abc")),
        "ERR Invalid value \"-abc\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("_abc")),
        "ERR Invalid value \"_abc\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("ab-c_d")),
        "OK");
    assert_eq!(unit(run_id("abc\n")),
        "OK");
    assert_eq!(unit(run_id("ab c")),
        "ERR Invalid value \"ab c\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("")),
        "ERR Invalid value \"\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("é")),
        "ERR Invalid value \"\\u00e9\" for parameter 'run_id' supplied.");
    assert_eq!(unit(run_id("aé")),
        "OK");
    assert_eq!(unit(run_id("a/b")),
        "ERR Invalid value \"a/b\" for parameter 'run_id' supplied.");
}

#[test]
#[rustfmt::skip]
fn experiment_id_matches_the_reference() {
    assert_eq!(show(experiment_id("0"), |v| format!("OK {v}")),
        "OK 0");
    assert_eq!(show(experiment_id("12"), |v| format!("OK {v}")),
        "OK 12");
    assert_eq!(show(experiment_id(" 12 "), |v| format!("OK {v}")),
        "OK 12");
    assert_eq!(show(experiment_id("-1"), |v| format!("OK {v}")),
        "OK -1");
    assert_eq!(show(experiment_id("+5"), |v| format!("OK {v}")),
        "OK 5");
    assert_eq!(show(experiment_id("1_0"), |v| format!("OK {v}")),
        "OK 10");
    assert_eq!(show(experiment_id("1__0"), |v| format!("OK {v}")),
        "ERR Invalid experiment ID '1__0'. Experiment ID must be a valid integer.");
    assert_eq!(show(experiment_id("abc"), |v| format!("OK {v}")),
        "ERR Invalid experiment ID 'abc'. Experiment ID must be a valid integer.");
    assert_eq!(show(experiment_id("1.5"), |v| format!("OK {v}")),
        "ERR Invalid experiment ID '1.5'. Experiment ID must be a valid integer.");
    assert_eq!(show(experiment_id(""), |v| format!("OK {v}")),
        "ERR Invalid experiment ID ''. Experiment ID must be a valid integer.");
    assert_eq!(show(experiment_id("99999999999999999999"), |v| format!("OK {v}")),
        // Python's int is unbounded; the database then fails with a 500. Deliberately a 400.
        "ERR Invalid experiment ID '99999999999999999999'. Experiment ID must be a valid integer.");
}

#[test]
#[rustfmt::skip]
fn batch_limits_matches_the_reference() {
    assert_eq!(unit(batch_limits(1000, 100, 0)),
        "ERR A batch logging request can contain at most 1000 metrics, params, and tags. Got 1100 metrics, params, and tags. Please split up metrics, params, and tags across multiple requests and try again.");
    assert_eq!(unit(batch_limits(1001, 0, 0)),
        "ERR A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again.");
    assert_eq!(unit(batch_limits(0, 101, 0)),
        "ERR A batch logging request can contain at most 100 params. Got 101 params. Please split up params across multiple requests and try again.");
    assert_eq!(unit(batch_limits(0, 0, 101)),
        "ERR A batch logging request can contain at most 100 tags. Got 101 tags. Please split up tags across multiple requests and try again.");
    assert_eq!(unit(batch_limits(900, 100, 1)),
        "ERR A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 metrics, params, and tags. Please split up metrics, params, and tags across multiple requests and try again.");
    assert_eq!(unit(batch_limits(1000, 0, 0)),
        "OK");
}

#[test]
#[rustfmt::skip]
fn unique_param_keys_matches_the_reference() {
    assert_eq!(unit(unique_param_keys(&[kv("a", "v"), kv("b", "v")])),
        "OK");
    assert_eq!(unit(unique_param_keys(&[kv("a", "v"), kv("a", "v")])),
        "ERR Duplicate parameter keys have been submitted: ['a']. Please ensure the request contains only one param value per param key.");
    assert_eq!(unit(unique_param_keys(&[kv("a", "v"), kv("b", "v"), kv("a", "v"), kv("a", "v"), kv("b", "v")])),
        "ERR Duplicate parameter keys have been submitted: ['a', 'a', 'b']. Please ensure the request contains only one param value per param key.");
    assert_eq!(unit(unique_param_keys(&[kv("it's", "v"), kv("it's", "v")])),
        "ERR Duplicate parameter keys have been submitted: [\"it's\"]. Please ensure the request contains only one param value per param key.");
}

#[test]
#[rustfmt::skip]
fn dataset_input_matches_the_reference() {
    assert_eq!(unit(dataset_input(&dataset("n", "d", "s", None, &[]))),
        "OK");
    assert_eq!(unit(dataset_input(&dataset(&"x".repeat(501), "d", "s", None, &[]))),
        "ERR 'name' exceeds the maximum length of 500 characters");
    assert_eq!(unit(dataset_input(&dataset("n", &"x".repeat(37), "s", None, &[]))),
        "ERR 'digest' exceeds the maximum length of 36 characters");
    assert_eq!(unit(dataset_input(&dataset("n", "d", &"x".repeat(65536), None, &[]))),
        "ERR 'source' exceeds the maximum length of 65535 characters");
    assert_eq!(unit(dataset_input(&dataset("n", "d", "s", Some(&"x".repeat(1048576)), &[]))),
        "ERR 'schema' exceeds the maximum length of 1048575 characters");
    assert_eq!(unit(dataset_input(&dataset("n", "d", "s", None, &[(&"x".repeat(256), "v")]))),
        "ERR 'key' exceeds the maximum length of 255 characters");
    assert_eq!(unit(dataset_input(&dataset("n", "d", "s", None, &[("k", &"x".repeat(501))]))),
        "ERR 'value' exceeds the maximum length of 500 characters");
}

#[test]
#[rustfmt::skip]
fn registered_model_name_matches_the_reference() {
    assert_eq!(unit(registered_model_name("model")),
        "OK");
    assert_eq!(unit(registered_model_name("")),
        "ERR Missing value for required parameter 'name'.");
    assert_eq!(unit(registered_model_name("  ")),
        "ERR Missing value for required parameter 'name'.");
    assert_eq!(unit(registered_model_name("a/b")),
        "ERR Invalid model name 'a/b'. Names cannot contain '/' or ':'.");
    assert_eq!(unit(registered_model_name("a:b")),
        "ERR Invalid model name 'a:b'. Names cannot contain '/' or ':'.");
    assert_eq!(unit(registered_model_name("..")),
        "ERR Invalid value \"..\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '..'");
    assert_eq!(unit(registered_model_name(".")),
        "ERR Invalid value \".\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(registered_model_name("a/../b")),
        "ERR Invalid model name 'a/../b'. Names cannot contain '/' or ':'.");
    assert_eq!(unit(registered_model_name("./m")),
        "ERR Invalid model name './m'. Names cannot contain '/' or ':'.");
    assert_eq!(unit(registered_model_name("m.")),
        "OK");
    assert_eq!(unit(registered_model_name("mödel")),
        "OK");
    assert_eq!(unit(registered_model_name("with space")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn model_alias_matches_the_reference() {
    assert_eq!(unit(model_alias("champion")),
        "OK");
    assert_eq!(unit(model_alias("")),
        "ERR Registered model alias name cannot be empty.");
    assert_eq!(unit(model_alias("with space")),
        "ERR Invalid alias name: 'with space'. Names may only contain alphanumerics, underscores (_), and dashes (-).");
    assert_eq!(unit(model_alias("a-b_c")),
        "OK");
    assert_eq!(unit(model_alias(&"x".repeat(255))),
        "OK");
    assert_eq!(unit(model_alias(&"x".repeat(256))),
        "ERR 'Registered model alias name' exceeds the maximum length of 255 characters");
    assert_eq!(unit(model_alias("ünï")),
        "OK");
    assert_eq!(unit(model_alias("a.b")),
        "ERR Invalid alias name: 'a.b'. Names may only contain alphanumerics, underscores (_), and dashes (-).");
    assert_eq!(unit(model_alias("a\n")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn model_alias_not_reserved_matches_the_reference() {
    assert_eq!(unit(model_alias_not_reserved("champion")),
        "OK");
    assert_eq!(unit(model_alias_not_reserved("latest")),
        "ERR 'latest' alias name (case insensitive) is reserved.");
    assert_eq!(unit(model_alias_not_reserved("LaTeSt")),
        "ERR 'latest' alias name (case insensitive) is reserved.");
    assert_eq!(unit(model_alias_not_reserved("v1")),
        "ERR Version alias name 'v1' is reserved.");
    assert_eq!(unit(model_alias_not_reserved("V23")),
        "ERR Version alias name 'V23' is reserved.");
    assert_eq!(unit(model_alias_not_reserved("v")),
        "OK");
    assert_eq!(unit(model_alias_not_reserved("v1a")),
        "OK");
    assert_eq!(unit(model_alias_not_reserved("version1")),
        "OK");
}

#[test]
#[rustfmt::skip]
fn registry_tag_matches_the_reference() {
    assert_eq!(unit(registry_tag("k", "v")),
        "OK");
    assert_eq!(unit(registry_tag(&"x".repeat(251), "v")),
        "ERR 'key' exceeds the maximum length of 250 characters");
    assert_eq!(unit(registry_tag("k", &"x".repeat(100001))),
        "ERR 'value' exceeds the maximum length of 100000 characters");
    assert_eq!(unit(registry_tag("bad!", "v")),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(registry_tag("", "v")),
        "ERR Invalid value \"\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
}

#[test]
#[rustfmt::skip]
fn model_version_tag_matches_the_reference() {
    assert_eq!(unit(model_version_tag("k", "v")),
        "OK");
    assert_eq!(unit(model_version_tag(&"x".repeat(251), "v")),
        "ERR 'key' exceeds the maximum length of 250 characters");
    assert_eq!(unit(model_version_tag("k", &"x".repeat(100001))),
        "ERR 'value' exceeds the maximum length of 100000 characters");
    assert_eq!(unit(model_version_tag("bad!", "v")),
        "ERR Invalid value \"bad!\" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).");
    assert_eq!(unit(model_version_tag("", "v")),
        "ERR Invalid value \"\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '.'");
    assert_eq!(unit(model_version_tag("mlflow.prompt.text", &"x".repeat(100001))),
        "ERR Prompt text exceeds max length of 100000 characters.");
}

#[test]
#[rustfmt::skip]
fn logged_model_name_matches_the_reference() {
    assert_eq!(unit(logged_model_name("model")),
        "OK");
    assert_eq!(unit(logged_model_name("")),
        "ERR Invalid model name ('') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("a/b")),
        "ERR Invalid model name ('a/b') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("a.b")),
        "ERR Invalid model name ('a.b') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("50%")),
        "ERR Invalid model name ('50%') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("it's")),
        "ERR Invalid model name (\"it's\") provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("dq\"")),
        "ERR Invalid model name ('dq\"') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")");
    assert_eq!(unit(logged_model_name("ok-name_1")),
        "OK");
}

#[test]
fn truncation_flag_values() {
    assert!(truncate_long_values(None));
    assert!(truncate_long_values(Some("TRUE")));
    assert!(truncate_long_values(Some("yes")));
    assert!(!truncate_long_values(Some("False")));
    assert!(!truncate_long_values(Some("0")));
}

#[test]
fn normpath_matches_posixpath() {
    for (input, want) in [
        ("", "."),
        ("a/../b", "b"),
        ("//x", "//x"),
        ("///x", "/x"),
        ("a/./b/", "a/b"),
        ("../a", "../a"),
        ("/..", "/"),
        ("a/b/../../..", ".."),
    ] {
        assert_eq!(normpath(input), want, "{input}");
    }
}
