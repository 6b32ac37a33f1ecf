//! Python `repr()` of the values MLflow interpolates into its error messages, so that our
//! messages match the reference byte for byte (quotes, escapes, `None`).

use std::fmt::Write as _;

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
pub(crate) fn str_repr(s: &str) -> String {
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
pub(crate) fn opt_str_repr(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), str_repr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_quote_like_python() {
        assert_eq!(str_repr("abc"), "'abc'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("2'\"x"), "'2\\'\"x'");
        assert_eq!(str_repr("a\\b\nc\u{1}"), "'a\\\\b\\nc\\x01'");
        assert_eq!(str_repr("é✓"), "'é✓'");
        assert_eq!(opt_str_repr(None), "None");
    }
}
