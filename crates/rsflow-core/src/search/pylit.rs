//! The bits of Python the reference's value parsing leans on: `int()` / `float()` of strings,
//! `ast.literal_eval` of a parenthesised list, and `shlex.split` (`repr()` is in
//! [`crate::pyfmt`]).

use crate::pyfmt::{repr_float, repr_str};

/// Digits with Python's underscore rule (single underscores between digits only).
fn strip_underscores(s: &str) -> Option<String> {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_'
            && (i == 0
                || i + 1 == b.len()
                || !b[i - 1].is_ascii_digit()
                || !b[i + 1].is_ascii_digit())
        {
            return None;
        }
    }
    Some(s.replace('_', ""))
}

/// Python's `int(s)` for a `str`: surrounding whitespace, a sign and digit-separating
/// underscores allowed. `None` where Python raises or the value does not fit an `i64`.
pub(crate) fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || !body.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return None;
    }
    let digits = strip_underscores(body)?;
    let v: i128 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Python's `float(s)` for a `str`.
pub(crate) fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'_' | b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let cleaned = if body.contains('_') {
        // Underscores must sit between digits.
        strip_underscores(body)?
    } else {
        body.to_string()
    };
    cleaned.parse::<f64>().ok().map(|v| sign * v)
}

/// A value `ast.literal_eval` can produce from a filter's parenthesised list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Int(String),
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
}

impl Lit {
    pub fn repr(&self) -> String {
        match self {
            Lit::Str(s) => repr_str(s),
            Lit::Int(s) => s.clone(),
            Lit::Float(f) => repr_float(*f),
            Lit::Bool(b) => if *b { "True" } else { "False" }.into(),
            Lit::None => "None".into(),
            Lit::Tuple(items) => {
                let parts: Vec<String> = items.iter().map(Lit::repr).collect();
                if parts.len() == 1 {
                    format!("({},)", parts[0])
                } else {
                    format!("({})", parts.join(", "))
                }
            }
            Lit::List(items) => {
                let parts: Vec<String> = items.iter().map(Lit::repr).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

/// `ast.literal_eval(text)` for strings, numbers, `True`/`False`/`None`, tuples and lists.
/// `None` stands for Python's `SyntaxError` / `ValueError` (an ill-formed list).
pub(crate) fn literal_eval(text: &str) -> Option<Lit> {
    let mut p = LitParser {
        s: text.as_bytes(),
        src: text,
        i: 0,
        depth: 0,
    };
    let v = p.expr_list(None)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct LitParser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

impl LitParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len()
            && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
        {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Comma-separated expressions up to `close` (or end of input at top level). A bare single
    /// expression without a comma is itself, otherwise a tuple.
    fn expr_list(&mut self, close: Option<u8>) -> Option<Lit> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.ws();
            if self.peek() == close {
                break;
            }
            items.push(self.atom()?);
            self.ws();
            if self.peek() == Some(b',') {
                self.i += 1;
                comma = true;
            } else {
                break;
            }
        }
        if close.is_none() && items.is_empty() {
            return None;
        }
        if items.len() == 1 && !comma {
            return items.pop();
        }
        Some(Lit::Tuple(items))
    }

    fn atom(&mut self) -> Option<Lit> {
        self.ws();
        match self.peek()? {
            b'(' | b'[' => {
                self.depth += 1;
                // Bounded like CPython's parser, so hostile nesting cannot exhaust the stack.
                if self.depth > 100 {
                    return None;
                }
                let open = self.s[self.i];
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let inner = self.expr_list(Some(close))?;
                self.ws();
                if self.peek() != Some(close) {
                    return None;
                }
                self.i += 1;
                self.depth -= 1;
                Some(match (open, inner) {
                    (b'[', Lit::Tuple(items)) => Lit::List(items),
                    (b'[', single) => Lit::List(vec![single]),
                    (_, Lit::Tuple(items)) => Lit::Tuple(items),
                    (_, single) => single,
                })
            }
            b'\'' | b'"' => {
                // Adjacent literals concatenate: ('a' 'b') is ('ab').
                let mut s = self.string()?;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b'\'' | b'"') => s.push_str(&self.string()?),
                        _ => break,
                    }
                }
                Some(Lit::Str(s))
            }
            b'-' | b'+' => {
                let neg = self.s[self.i] == b'-';
                self.i += 1;
                match self.atom()? {
                    Lit::Int(d) => {
                        Some(Lit::Int(if neg && d != "0" { format!("-{d}") } else { d }))
                    }
                    Lit::Float(f) => Some(Lit::Float(if neg { -f } else { f })),
                    _ => None,
                }
            }
            b'0'..=b'9' | b'.' => self.number(),
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                match &self.src[start..self.i] {
                    "True" => Some(Lit::Bool(true)),
                    "False" => Some(Lit::Bool(false)),
                    "None" => Some(Lit::None),
                    _ => None,
                }
            }
        }
    }

    fn number(&mut self) -> Option<Lit> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
            || (self.i > start
                && matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s[self.i - 1], b'e' | b'E'))
        {
            self.i += 1;
        }
        let text = &self.src[start..self.i];
        if text.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
            let digits = strip_underscores(text)?;
            // Python rejects leading zeros in a non-zero decimal literal.
            if digits.len() > 1 && digits.starts_with('0') {
                return digits
                    .bytes()
                    .all(|c| c == b'0')
                    .then(|| Lit::Int("0".into()));
            }
            return Some(Lit::Int(digits));
        }
        if text
            .bytes()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E'))
        {
            return None;
        }
        py_float(text).map(Lit::Float)
    }

    fn string(&mut self) -> Option<String> {
        let q = self.s[self.i];
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        let qlen = if triple { 3 } else { 1 };
        self.i += qlen;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let c = rest.chars().next()?;
            if triple && rest.as_bytes().starts_with(&[q, q, q]) {
                self.i += 3;
                return Some(out);
            }
            if !triple && c as u32 == q as u32 {
                self.i += 1;
                return Some(out);
            }
            if !triple && c == '\n' {
                return None;
            }
            if c == '\\' {
                let e = rest[1..].chars().next()?;
                self.i += 1 + e.len_utf8();
                match e {
                    '\n' => {}
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    '"' => out.push('"'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = self.src.get(self.i..self.i + n)?;
                        let v = u32::from_str_radix(hex, 16).ok()?;
                        out.push(char::from_u32(v)?);
                        self.i += n;
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(v)?);
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }
}

/// `shlex.split(s)` (POSIX mode, no comments). `None` where Python raises `ValueError`.
pub(crate) fn shlex_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_ascii_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            '\\' => {
                cur.push(chars.next()?);
                in_token = true;
            }
            '\'' => {
                in_token = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        ch => cur.push(ch),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let n = chars.next()?;
                            if n != '"' && n != '\\' {
                                cur.push('\\');
                            }
                            cur.push(n);
                        }
                        ch => cur.push(ch),
                    }
                }
            }
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        out.push(cur);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_numbers() {
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("-1"), Some(-1));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_int("99999999999999999999"), None);
        assert_eq!(py_float("5."), Some(5.0));
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("-1.5e3"), Some(-1500.0));
        assert_eq!(py_float("inf"), Some(f64::INFINITY));
        assert_eq!(py_float("'x'"), None);
    }

    #[test]
    fn literal_eval_lists() {
        let s = |v: &str| Lit::Str(v.into());
        assert_eq!(literal_eval("('a')"), Some(s("a")));
        assert_eq!(literal_eval("('a',)"), Some(Lit::Tuple(vec![s("a")])));
        assert_eq!(
            literal_eval("('a', \"b\",)"),
            Some(Lit::Tuple(vec![s("a"), s("b")]))
        );
        assert_eq!(literal_eval("('a' 'b')"), Some(s("ab")));
        assert_eq!(literal_eval("('a\\'b')"), Some(s("a'b")));
        assert_eq!(literal_eval("()"), Some(Lit::Tuple(vec![])));
        assert_eq!(literal_eval("('a',,)"), None);
        assert_eq!(literal_eval("(a)"), None);
        let t = literal_eval("(1, 2.5, -3)").unwrap();
        assert_eq!(t.repr(), "(1, 2.5, -3)");
        assert_eq!(
            literal_eval(&format!("{}1{}", "(".repeat(500), ")".repeat(500))),
            None
        );
    }

    #[test]
    fn shlex_like_python() {
        let v = |x: &[&str]| Some(x.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(shlex_split("tags.\"a b\" DESC"), v(&["tags.a b", "DESC"]));
        assert_eq!(shlex_split("metrics.'a b'"), v(&["metrics.a b"]));
        assert_eq!(shlex_split("a  b\tc"), v(&["a", "b", "c"]));
        assert_eq!(shlex_split("tags.\"a"), None);
    }
}
