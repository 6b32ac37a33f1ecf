//! A lexer that tokenises filter strings the way `sqlparse` 0.6 does (the reference parses filters
//! with it), so that the same inputs are accepted and the same token texts reach error messages.
//!
//! Each rule mirrors one entry of sqlparse's `SQL_REGEX`, tried in the same order; rules that
//! cannot matter to a search filter (dollar quotes, multi-line comments, Hive `LATERAL VIEW`, ...)
//! are left out, so such text lexes as ordinary words and punctuation instead.

use super::keywords::KEYWORDS;

/// Token types: the subset of sqlparse's `ttype` tree the filter grammar distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tt {
    Whitespace,
    Newline,
    Comment,
    Name,
    Placeholder,
    Builtin,
    /// Exactly `Token.Keyword`.
    Keyword,
    /// `Token.Keyword.DML`, `.DDL`, ...: keywords that `token.match(Keyword, ..)` does not match.
    KeywordOther,
    /// `Token.Keyword.Order`: ASC / DESC [NULLS FIRST|LAST].
    Order,
    /// `Token.Operator.Comparison`: `=`, `!=`, `LIKE`, `NOT LIKE`, ...
    Comparison,
    Operator,
    Wildcard,
    Punctuation,
    Integer,
    Float,
    Hexadecimal,
    /// A single-quoted string literal.
    Single,
    /// A double-quoted string (`Token.Literal.String.Symbol`).
    Symbol,
    Assignment,
    Command,
    Error,
    /// Not produced by the lexer: the text of the [`KEYWORDS`] entries that sqlparse types as a
    /// plain operator (`DIV`).
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tok {
    pub tt: Tt,
    pub text: String,
}

impl Tok {
    pub fn is_whitespace(&self) -> bool {
        matches!(self.tt, Tt::Whitespace | Tt::Newline)
    }
    pub fn is_keyword(&self) -> bool {
        matches!(self.tt, Tt::Keyword | Tt::KeywordOther | Tt::Order)
    }
    /// sqlparse's `Token.match(Token.Keyword, [value])`: exact type, case-insensitive value.
    pub fn is_kw(&self, upper: &str) -> bool {
        self.tt == Tt::Keyword && self.text.to_uppercase() == upper
    }
}

/// Python's `\w` (Unicode-aware).
pub(crate) fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `[_A-ZÀ-Ü]` under `re.IGNORECASE`.
fn is_name_letter(c: char) -> bool {
    c == '_'
        || c.is_ascii_alphabetic()
        || ('\u{C0}'..='\u{DC}').contains(&c)
        || (('\u{E0}'..='\u{FC}').contains(&c) && c != '\u{F7}')
}

/// `[A-ZÀ-Ü]`.
fn is_name_start(c: char) -> bool {
    c != '_' && is_name_letter(c)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn at(&self, i: usize) -> Option<char> {
        self.s.get(i..).and_then(|r| r.chars().next())
    }
    fn prev(&self, i: usize) -> Option<char> {
        self.s[..i].chars().next_back()
    }
    /// End of a run of chars matching `f` starting at `i`.
    fn run(&self, i: usize, f: impl Fn(char) -> bool) -> usize {
        let mut j = i;
        while let Some(c) = self.at(j) {
            if !f(c) {
                break;
            }
            j += c.len_utf8();
        }
        j
    }
    fn starts_with_ci(&self, i: usize, word: &str) -> bool {
        self.s
            .get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    }
    fn word_boundary(&self, i: usize) -> bool {
        !self.at(i).is_some_and(is_word)
    }
}

/// Tokenises `s` into sqlparse-equivalent tokens.
pub(crate) fn tokenize(s: &str) -> Vec<Tok> {
    let cur = Cursor { s };
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let (tt, end) = next_token(&cur, i);
        out.push(Tok {
            tt,
            text: s[i..end].to_string(),
        });
        i = end;
    }
    out
}

fn next_token(cur: &Cursor, i: usize) -> (Tt, usize) {
    let c = cur.at(i).unwrap_or('\0');
    let rest = &cur.s[i..];
    // Comments: `(--|# ).*?(\r\n|\r|\n|$)`.
    if rest.starts_with("--") || rest.starts_with("# ") {
        let end = rest
            .find(['\r', '\n'])
            .map(|p| {
                if rest[p..].starts_with("\r\n") {
                    p + 2
                } else {
                    p + 1
                }
            })
            .unwrap_or(rest.len());
        return (Tt::Comment, i + end);
    }
    if rest.starts_with("\r\n") {
        return (Tt::Newline, i + 2);
    }
    if c == '\r' || c == '\n' {
        return (Tt::Newline, i + 1);
    }
    if c.is_whitespace() {
        return (Tt::Whitespace, i + c.len_utf8());
    }
    if rest.starts_with(":=") {
        return (Tt::Assignment, i + 2);
    }
    if rest.starts_with("::") {
        return (Tt::Punctuation, i + 2);
    }
    if c == '*' {
        return (Tt::Wildcard, i + 1);
    }
    if (c == '`' || c == '´')
        && let Some(end) = quoted(cur, i, c, false)
    {
        return (Tt::Name, end);
    }
    if c == '?' {
        return (Tt::Placeholder, i + 1);
    }
    if c == '%'
        && let Some(end) = percent_placeholder(cur, i)
    {
        return (Tt::Placeholder, end);
    }
    if matches!(c, '$' | ':' | '?') && !cur.prev(i).is_some_and(is_word) {
        let end = cur.run(i + 1, is_word);
        if end > i + 1 {
            return (Tt::Placeholder, end);
        }
    }
    if c == '\\' {
        let end = cur.run(i + 1, is_word);
        if end > i + 1 {
            return (Tt::Command, end);
        }
    }
    for kw in ["CASE", "IN", "VALUES", "USING", "FROM", "AS"] {
        if cur.starts_with_ci(i, kw) && cur.word_boundary(i + kw.len()) {
            return (Tt::Keyword, i + kw.len());
        }
    }
    if matches!(c, '@' | '#') {
        let p = if rest.starts_with("##") { i + 2 } else { i + 1 };
        if let Some(l) = cur.at(p).filter(|&l| is_name_start(l)) {
            let end = cur.run(p + l.len_utf8(), is_word);
            if end > p + l.len_utf8() {
                return (Tt::Name, end);
            }
        }
    }
    if is_name_start(c) {
        let end = cur.run(i + c.len_utf8(), is_word);
        // `[A-ZÀ-Ü]\w*(?=\s*\.(?!\d))`: a name before a period.
        let after_ws = cur.run(end, char::is_whitespace);
        if cur.at(after_ws) == Some('.')
            && !cur.at(after_ws + 1).is_some_and(|d| d.is_ascii_digit())
        {
            return (Tt::Name, end);
        }
        // `(?<=\.)[A-ZÀ-Ü]\w*`: a name after a period.
        if cur.prev(i) == Some('.') {
            return (Tt::Name, end);
        }
        // `[A-ZÀ-Ü]\w*(?=\()`: a function name.
        if cur.at(end) == Some('(') {
            return (Tt::Name, end);
        }
    }
    if let Some(r) = number(cur, i) {
        return r;
    }
    if c == '\''
        && let Some(end) = quoted(cur, i, '\'', true)
    {
        return (Tt::Single, end);
    }
    if c == '"'
        && let Some(end) = quoted(cur, i, '"', true)
    {
        return (Tt::Symbol, end);
    }
    if c == '['
        && !cur
            .prev(i)
            .is_some_and(|p| is_word(p) || p == ']' || p == ')')
        && let Some(p) = rest[1..].find([']', '['])
        && p > 0
        && rest[1 + p..].starts_with(']')
    {
        return (Tt::Name, i + p + 2);
    }
    if let Some(r) = multi_word(cur, i) {
        return r;
    }
    if is_word(c) {
        let end = cur.run(i + c.len_utf8(), |ch| is_word(ch) || ch == '$' || ch == '#');
        let upper = cur.s[i..end].to_uppercase();
        let tt = KEYWORDS
            .binary_search_by(|(k, _)| (*k).cmp(upper.as_str()))
            .map(|idx| KEYWORDS[idx].1)
            .unwrap_or(Tt::Name);
        return (tt, end);
    }
    if matches!(c, ';' | ':' | '(' | ')' | '[' | ']' | ',' | '.') {
        return (Tt::Punctuation, i + 1);
    }
    for op in ["->>", "->", "#>>", "#>", "@>", "<@", "-", "#-"] {
        if rest.starts_with(op) {
            return (Tt::Operator, i + op.len());
        }
    }
    let cmp_end = cur.run(i, |ch| matches!(ch, '<' | '>' | '=' | '~' | '!'));
    if cmp_end > i {
        return (Tt::Comparison, cmp_end);
    }
    let op_end = cur.run(i, |ch| "+/@#%^&|-".contains(ch));
    if op_end > i {
        return (Tt::Operator, op_end);
    }
    (Tt::Error, i + c.len_utf8())
}

/// `%(\(\w+\))?s`.
fn percent_placeholder(cur: &Cursor, i: usize) -> Option<usize> {
    let mut p = i + 1;
    if cur.at(p) == Some('(') {
        let end = cur.run(p + 1, is_word);
        if end > p + 1 && cur.at(end) == Some(')') {
            p = end + 1;
        }
    }
    (cur.at(p) == Some('s')).then_some(p + 1)
}

/// A quoted run: `q(qq|[^q])*q`, plus `\\q` escapes for string literals. The regex engine
/// explores alternatives depth-first, preferring to extend the loop over closing the quote; the
/// right-to-left pass below computes that first successful match without recursion.
fn quoted(cur: &Cursor, i: usize, q: char, backslash: bool) -> Option<usize> {
    let start = i + q.len_utf8();
    // Fast path: the greedy walk closes on the first lone quote; only an unterminated walk
    // needs the backtracking pass below.
    let mut it = cur.s[start..].char_indices().peekable();
    while let Some((o, ch)) = it.next() {
        let next_is_q = it.peek().is_some_and(|n| n.1 == q);
        if (ch == q || (backslash && ch == '\\')) && next_is_q {
            it.next();
        } else if ch == q {
            return Some(start + o + q.len_utf8());
        }
    }
    let body: Vec<(usize, char)> = cur.s[start..]
        .char_indices()
        .map(|(o, ch)| (start + o, ch))
        .collect();
    // res[k]: end of the match when the loop stands before body char k.
    let mut res: Vec<Option<usize>> = vec![None; body.len() + 2];
    for k in (0..body.len()).rev() {
        let ch = body[k].1;
        let next_is_q = body.get(k + 1).is_some_and(|n| n.1 == q);
        let mut r = None;
        if ch == q && next_is_q {
            r = res[k + 2];
        }
        if r.is_none() && backslash && ch == '\\' && next_is_q {
            r = res[k + 2];
        }
        if r.is_none() && ch != q {
            r = res[k + 1];
        }
        if r.is_none() && ch == q {
            r = Some(body[k].0 + q.len_utf8());
        }
        res[k] = r;
    }
    res[0]
}

/// The number rules: hexadecimal, float with exponent, float, integer (in that order), with the
/// backtracking their regexes allow before a letter.
fn number(cur: &Cursor, i: usize) -> Option<(Tt, usize)> {
    let c = cur.at(i)?;
    if is_name_letter(c) {
        return None;
    }
    let p = if c == '-' { i + 1 } else { i };
    // `-?0x[\dA-F]+`
    if cur.at(p) == Some('0') && matches!(cur.at(p + 1), Some('x' | 'X')) {
        let end = cur.run(p + 2, |ch| ch.is_ascii_hexdigit());
        if end > p + 2 {
            return Some((Tt::Hexadecimal, end));
        }
    }
    let int_end = cur.run(p, is_digit);
    // `-?\d+(\.\d+)?E-?\d+`
    if int_end > p {
        let mut q = int_end;
        if cur.at(q) == Some('.') {
            let f = cur.run(q + 1, is_digit);
            if f > q + 1 {
                q = f;
            }
        }
        if matches!(cur.at(q), Some('e' | 'E')) {
            let mut e = q + 1;
            if cur.at(e) == Some('-') {
                e += 1;
            }
            let end = cur.run(e, is_digit);
            if end > e {
                return Some((Tt::Float, end));
            }
        }
    }
    let letter_at = |j: usize| cur.at(j).is_some_and(is_name_letter);
    // `-?(\d+(\.\d*)|\.\d+)(?![_A-ZÀ-Ü])`
    if int_end > p && cur.at(int_end) == Some('.') {
        let frac_end = cur.run(int_end + 1, is_digit);
        if !letter_at(frac_end) {
            return Some((Tt::Float, frac_end));
        }
        if frac_end > int_end + 1 {
            return Some((Tt::Float, frac_end - 1));
        }
    }
    if int_end == p && cur.at(p) == Some('.') {
        let frac_end = cur.run(p + 1, is_digit);
        if frac_end > p + 1 {
            if !letter_at(frac_end) {
                return Some((Tt::Float, frac_end));
            }
            if frac_end > p + 2 {
                return Some((Tt::Float, frac_end - 1));
            }
        }
    }
    // `-?\d+(?![_A-ZÀ-Ü])`
    if int_end > p {
        if !letter_at(int_end) {
            return Some((Tt::Integer, int_end));
        }
        if int_end > p + 1 {
            return Some((Tt::Integer, int_end - 1));
        }
    }
    None
}

/// The multi-word keyword rules (`NOT NULL`, `ASC NULLS LAST`, `NOT LIKE`, `GROUP BY`, ...).
fn multi_word(cur: &Cursor, i: usize) -> Option<(Tt, usize)> {
    // Matches `words` separated by `\s+`, then `\b`.
    let seq = |words: &[&str]| -> Option<usize> {
        let mut p = i;
        for (n, w) in words.iter().enumerate() {
            if n > 0 {
                let ws = cur.run(p, char::is_whitespace);
                if ws == p {
                    return None;
                }
                p = ws;
            }
            if !cur.starts_with_ci(p, w) {
                return None;
            }
            p += w.len();
        }
        cur.word_boundary(p).then_some(p)
    };
    let first = |alts: &[&[&str]]| alts.iter().find_map(|w| seq(w));
    let join = first(&[
        &["LEFT", "INNER", "JOIN"],
        &["LEFT", "OUTER", "JOIN"],
        &["LEFT", "STRAIGHT", "JOIN"],
        &["RIGHT", "INNER", "JOIN"],
        &["RIGHT", "OUTER", "JOIN"],
        &["RIGHT", "STRAIGHT", "JOIN"],
        &["FULL", "INNER", "JOIN"],
        &["FULL", "OUTER", "JOIN"],
        &["FULL", "STRAIGHT", "JOIN"],
        &["LEFT", "JOIN"],
        &["RIGHT", "JOIN"],
        &["FULL", "JOIN"],
        &["INNER", "JOIN"],
        &["OUTER", "JOIN"],
        &["STRAIGHT", "JOIN"],
        &["CROSS", "JOIN"],
        &["NATURAL", "JOIN"],
        &["JOIN"],
    ]);
    if let Some(e) = join {
        return Some((Tt::Keyword, e));
    }
    let rules: &[(Tt, &[&[&str]])] = &[
        (
            Tt::Keyword,
            &[
                &["END", "IF"],
                &["END", "LOOP"],
                &["END", "WHILE"],
                &["END", "FOR"],
                &["END", "CASE"],
                &["END"],
            ],
        ),
        (Tt::Keyword, &[&["IF", "NOT", "EXISTS"], &["IF", "EXISTS"]]),
        (Tt::Keyword, &[&["NOT", "NULL"]]),
        (
            Tt::Order,
            &[
                &["ASC", "NULLS", "FIRST"],
                &["ASC", "NULLS", "LAST"],
                &["DESC", "NULLS", "FIRST"],
                &["DESC", "NULLS", "LAST"],
                &["ASC"],
                &["DESC"],
                &["NULLS", "FIRST"],
                &["NULLS", "LAST"],
            ],
        ),
        (Tt::Keyword, &[&["UNION", "ALL"]]),
        (
            Tt::KeywordOther,
            &[&["CREATE", "OR", "REPLACE"], &["CREATE"]],
        ),
        (Tt::Builtin, &[&["DOUBLE", "PRECISION"]]),
        (
            Tt::Keyword,
            &[
                &["GROUP", "BY"],
                &["ORDER", "BY"],
                &["PRIMARY", "KEY"],
                &["HANDLER", "FOR"],
            ],
        ),
        (
            Tt::Comparison,
            &[
                &["NOT", "LIKE"],
                &["NOT", "ILIKE"],
                &["NOT", "RLIKE"],
                &["LIKE"],
                &["ILIKE"],
                &["RLIKE"],
            ],
        ),
        (
            Tt::Comparison,
            &[
                &["NOT", "REGEXP", "BINARY"],
                &["NOT", "REGEXP"],
                &["REGEXP", "BINARY"],
                &["REGEXP"],
            ],
        ),
    ];
    rules
        .iter()
        .find_map(|(tt, alts)| first(alts).map(|e| (*tt, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Vec<(Tt, &str)> {
        let toks = tokenize(s);
        let mut out = Vec::new();
        let mut i = 0;
        for t in toks {
            out.push((t.tt, &s[i..i + t.text.len()]));
            i += t.text.len();
        }
        out.retain(|(tt, _)| *tt != Tt::Whitespace);
        out
    }

    #[test]
    fn tokens_match_sqlparse() {
        use Tt::*;
        assert_eq!(
            lex("metrics.acc >= -1.5e3"),
            vec![
                (Name, "metrics"),
                (Punctuation, "."),
                (Name, "acc"),
                (Comparison, ">="),
                (Float, "-1.5e3")
            ]
        );
        assert_eq!(
            lex("tags.`a b` NOT  LIKE 'it''s'"),
            vec![
                (Name, "tags"),
                (Punctuation, "."),
                (Name, "`a b`"),
                (Comparison, "NOT  LIKE"),
                (Single, "'it''s'")
            ]
        );
        assert_eq!(
            lex("x IS NOT NULL and run_id in (\"a\")"),
            vec![
                (Name, "x"),
                (Keyword, "IS"),
                (Keyword, "NOT NULL"),
                (Keyword, "and"),
                (Name, "run_id"),
                (Keyword, "in"),
                (Punctuation, "("),
                (Symbol, "\"a\""),
                (Punctuation, ")")
            ]
        );
        assert_eq!(
            lex("timestamp DESC"),
            vec![(Builtin, "timestamp"), (Order, "DESC")]
        );
        assert_eq!(lex("0x1F 5. .5 123abc"), {
            vec![
                (Hexadecimal, "0x1F"),
                (Float, "5."),
                (Float, ".5"),
                (Integer, "12"),
                (Name, "3abc"),
            ]
        });
        assert_eq!(
            lex("1e+3"),
            vec![(Name, "1e"), (Operator, "+"), (Integer, "3")]
        );
        assert_eq!(lex("'a\\'"), vec![(Single, "'a\\'")]);
        assert_eq!(lex("'abc"), vec![(Error, "'"), (Name, "abc")]);
        assert_eq!(
            lex("a -- c\nb"),
            vec![(Name, "a"), (Comment, "-- c\n"), (Name, "b")]
        );
    }
}
