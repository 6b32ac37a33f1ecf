//! Python's text forms of values, as the reference interpolates them into its messages and
//! stores them: `repr()` of strings, lists, sets and floats, and `json.dumps` with its
//! defaults. Our messages and stored JSON match MLflow's byte for byte through these.

use std::fmt::Write as _;

use serde_json::Value;

/// Whether Python's `str.isprintable()` holds for `c` (approximated for the categories that
/// matter: controls, separators other than space, and common format characters).
fn is_printable(c: char) -> bool {
    if c.is_control() {
        return false;
    }
    !matches!(
        c,
        '\u{a0}'
            | '\u{ad}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}'
            | '\u{3000}'
            | '\u{feff}'
            | '\u{e000}'..='\u{f8ff}'
    )
}

/// `repr(s)` for a Python `str`.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let n = c as u32;
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02x}")
                } else if n <= 0xffff {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
        }
    }
    out.push(quote);
    out
}

/// `repr()` of an optional string: `None` or the quoted string.
pub fn repr_opt_str(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), repr_str)
}

/// `repr(list_of_str)`.
pub fn repr_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| repr_str(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// `repr(set_of_str)`. Python's order depends on the per-process hash seed, so any order is as
/// faithful as another; sorted keeps messages stable.
pub fn repr_set(items: &[&str]) -> String {
    let mut sorted: Vec<&str> = items.to_vec();
    sorted.sort_unstable();
    let parts: Vec<String> = sorted.iter().map(|s| repr_str(s)).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `repr(x)` for a float: shortest round-trip digits, fixed notation for exponents in
/// `-4..16`, scientific otherwise.
pub fn repr_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// `json.dumps(s)` with its default `ensure_ascii=True`.
pub fn json_dumps_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s, true);
    out
}

/// A JSON string literal as `json.dumps` writes it, appended to `out`; `ascii` is its
/// `ensure_ascii`.
pub fn write_json_str(out: &mut String, s: &str, ascii: bool) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs that need no escape are copied whole; a byte below 0x80 is a whole character, and
    // a run only ends on a character boundary (a byte below 0x80, or the start of a character
    // that `ascii` escapes).
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Per byte: 0 copied as is, 1 escaped, 2 escaped only with `ascii` (0x7f and up).
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = if b < 0x20 || b == b'"' as usize || b == b'\\' as usize {
                1
            } else if b >= 0x7f {
                2
            } else {
                0
            };
            b += 1;
        }
        t
    };
    let stop = if ascii { 2 } else { 1 };
    while i < bytes.len() {
        let class = CLASS[usize::from(bytes[i])];
        if class == 0 || class > stop {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        let c = s[i..].chars().next().unwrap_or_default();
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
        i += c.len_utf8();
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Python's `json.dumps` (default separators, `ensure_ascii`), for values MLflow writes as
/// JSON text that other MLflow code reads back.
pub fn json_dumps(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => json_dumps_str(s),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(json_dumps).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", json_dumps_str(k), json_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `write_json_str` one character at a time, as Python's encoder walks a string.
    fn json_str_by_char(s: &str, ascii: bool) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (ascii && (c as u32) > 0x7e) => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn json_strings_copy_runs_and_escape_like_python() {
        let cases = [
            "",
            "plain ascii text",
            "quote \" backslash \\ newline \n tab \t cr \r bs \u{8} ff \u{c}",
            "\u{0}\u{1}\u{1f} \u{7f}~",
            "é ü ß, 日本語, emoji 😀 at the end 😀",
            "😀",
            "\"{\\\"inputs\\\": [1, 2]}\"",
            "mixed\u{7f}é\"😀\n",
        ];
        for s in cases {
            for ascii in [false, true] {
                let mut out = String::from("prefix");
                write_json_str(&mut out, s, ascii);
                assert_eq!(
                    out,
                    format!("prefix{}", json_str_by_char(s, ascii)),
                    "{s:?}"
                );
            }
        }
        assert_eq!(json_dumps_str("é\u{7f}"), "\"\\u00e9\\u007f\"");
    }

    #[test]
    fn reprs_match_python() {
        assert_eq!(repr_str("a"), "'a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'\"b"), "'a\\'\"b'");
        assert_eq!(repr_str("a\nb\\"), "'a\\nb\\\\'");
        assert_eq!(repr_list(&["metrics.a ASC", "x"]), "['metrics.a ASC', 'x']");
        assert_eq!(repr_set(&["b", "a"]), "{'a', 'b'}");
        assert_eq!(repr_float(1.5), "1.5");
        assert_eq!(repr_float(2.0), "2.0");
        assert_eq!(repr_float(1e20), "1e+20");
        assert_eq!(repr_float(1e15), "1000000000000000.0");
        assert_eq!(repr_float(1e16), "1e+16");
        assert_eq!(repr_float(0.0001), "0.0001");
        assert_eq!(repr_float(0.00001), "1e-05");
        assert_eq!(repr_float(-1.25e-7), "-1.25e-07");
        assert_eq!(repr_float(123.456), "123.456");
    }

    #[test]
    fn repr_escapes_what_python_does_not_print() {
        assert_eq!(repr_str("abc"), "'abc'");
        assert_eq!(repr_str("2'\"x"), "'2\\'\"x'");
        assert_eq!(repr_str("a\\b\nc\u{1}"), "'a\\\\b\\nc\\x01'");
        assert_eq!(repr_str("é✓"), "'é✓'");
        assert_eq!(repr_str("\u{a0}\u{2028}\u{e000}"), "'\\xa0\\u2028\\ue000'");
        assert_eq!(repr_opt_str(None), "None");
        assert_eq!(repr_opt_str(Some("x")), "'x'");
    }

    #[test]
    fn py_json_matches_python_dumps() {
        let v = serde_json::json!([{"name": "wf", "version": 1}, {"name": "é", "version": "2"}]);
        assert_eq!(
            json_dumps(&v),
            r#"[{"name": "wf", "version": 1}, {"name": "\u00e9", "version": "2"}]"#
        );
        assert_eq!(
            json_dumps(&serde_json::json!({"a": null, "b": [true]})),
            r#"{"a": null, "b": [true]}"#
        );
    }

    #[test]
    fn json_dumps_str_is_ascii() {
        assert_eq!(
            json_dumps_str("a\"b\\\n\u{8}é😀"),
            r#""a\"b\\\n\b\u00e9\ud83d\ude00""#
        );
    }
}
