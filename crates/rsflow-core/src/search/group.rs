//! Statement splitting and token grouping as sqlparse's `StatementSplitter` and `grouping.py` do
//! them, limited to the top level of a statement (the inside of a parenthesis only ever reaches
//! the reference's code as raw text), followed by MLflow's `_join_in_comparison_tokens`.

use super::lex::{Tok, Tt, tokenize};
use super::{MAX_DEPTH, MAX_TOKENS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Parenthesis,
    Function,
    Identifier,
    Operation,
    Comparison,
    IdentifierList,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Tok(Tok),
    /// A group, its children and its height (1 for a group of plain tokens).
    Group(Kind, Vec<Node>, usize),
}

/// Groups nested deeper than sqlparse's `MAX_GROUPING_DEPTH` make it give up; refusing to build
/// them also keeps every tree shallow enough for recursive walks.
fn group(kind: Kind, children: Vec<Node>) -> Result<Node, TooComplex> {
    let height = 1 + children.iter().map(Node::height).max().unwrap_or(0);
    if height > MAX_DEPTH {
        return Err(TooComplex::Depth);
    }
    Ok(Node::Group(kind, children, height))
}

impl Node {
    fn height(&self) -> usize {
        match self {
            Node::Tok(_) => 0,
            Node::Group(_, _, h) => *h,
        }
    }
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.push_text(&mut s);
        s
    }
    fn push_text(&self, out: &mut String) {
        match self {
            Node::Tok(t) => out.push_str(&t.text),
            Node::Group(_, children, _) => children.iter().for_each(|c| c.push_text(out)),
        }
    }
    pub fn tt(&self) -> Option<Tt> {
        match self {
            Node::Tok(t) => Some(t.tt),
            Node::Group(..) => None,
        }
    }
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Node::Group(k, _, _) => Some(*k),
            Node::Tok(_) => None,
        }
    }
    pub fn is(&self, kind: Kind) -> bool {
        self.kind() == Some(kind)
    }
    pub fn is_whitespace(&self) -> bool {
        matches!(self, Node::Tok(t) if t.is_whitespace())
    }
    pub fn is_kw(&self, upper: &str) -> bool {
        matches!(self, Node::Tok(t) if t.is_kw(upper))
    }
    fn is_tt(&self, tts: &[Tt]) -> bool {
        self.tt().is_some_and(|t| tts.contains(&t))
    }
    /// `ttype in T.Number` (hierarchical).
    fn is_number(&self) -> bool {
        self.is_tt(&[Tt::Integer, Tt::Float, Tt::Hexadecimal])
    }
    pub fn children(&self) -> &[Node] {
        match self {
            Node::Group(_, c, _) => c,
            Node::Tok(_) => &[],
        }
    }
}

/// Why sqlparse gave up on the input (its `SQLParseError`).
#[derive(Debug)]
pub(crate) enum TooComplex {
    Tokens,
    Depth,
}

/// Splits `s` into statements (dropping whitespace-only ones) and groups each.
pub(crate) fn parse_statements(s: &str) -> Result<Vec<Vec<Node>>, TooComplex> {
    let mut statements = Vec::new();
    let mut current: Vec<Tok> = Vec::new();
    let mut level: i64 = 0;
    let mut consume_ws = false;
    for tok in tokenize(s) {
        if consume_ws && !matches!(tok.tt, Tt::Whitespace | Tt::Comment) {
            statements.push(std::mem::take(&mut current));
            level = 0;
            consume_ws = false;
        }
        if tok.tt == Tt::Punctuation {
            match tok.text.as_str() {
                "(" => level += 1,
                ")" => level -= 1,
                _ => {}
            }
        } else if tok.is_keyword() && tok.text.eq_ignore_ascii_case("END") {
            level -= 1;
        }
        let is_semicolon = tok.tt == Tt::Punctuation && tok.text == ";";
        current.push(tok);
        if is_semicolon && level <= 0 {
            consume_ws = true;
        }
    }
    if current.iter().any(|t| !t.is_whitespace()) {
        statements.push(current);
    }
    statements.into_iter().map(group_statement).collect()
}

fn group_statement(toks: Vec<Tok>) -> Result<Vec<Node>, TooComplex> {
    if toks.len() > MAX_TOKENS {
        return Err(TooComplex::Tokens);
    }
    let mut list = group_parenthesis(toks)?;
    group_level(&mut list)?;
    Ok(list)
}

/// Runs the grouping passes on one level, inside parentheses first.
fn group_level(list: &mut Vec<Node>) -> Result<(), TooComplex> {
    for node in list.iter_mut() {
        if let Node::Group(Kind::Parenthesis, children, _) = node {
            let n = children.len();
            let mut inner: Vec<Node> = children.drain(1..n - 1).collect();
            group_level(&mut inner)?;
            children.splice(1..1, inner);
            *node = group(Kind::Parenthesis, std::mem::take(children))?;
        }
    }
    group_functions(list)?;
    group_period(list)?;
    group_identifier(list)?;
    group_order(list)?;
    group_binary(list, Kind::Operation, false, Post::Plain, |n| {
        n.is_tt(&[Tt::Operator, Tt::Wildcard])
    })?;
    group_binary(list, Kind::Comparison, false, Post::Plain, |n| {
        n.tt() == Some(Tt::Comparison)
    })?;
    group_aliased(list)?;
    group_binary(list, Kind::IdentifierList, true, Post::Plain, |n| {
        n.tt() == Some(Tt::Punctuation) && n.text() == ","
    })
}

/// Matching parentheses become one group; unbalanced ones stay punctuation.
fn group_parenthesis(toks: Vec<Tok>) -> Result<Vec<Node>, TooComplex> {
    let mut out: Vec<Node> = Vec::with_capacity(toks.len());
    let mut opens: Vec<usize> = Vec::new();
    for tok in toks {
        let is_p = tok.tt == Tt::Punctuation;
        if is_p && tok.text == "(" {
            opens.push(out.len());
            out.push(Node::Tok(tok));
        } else if is_p && tok.text == ")" {
            match opens.pop() {
                Some(start) => {
                    let mut children: Vec<Node> = out.drain(start..).collect();
                    children.push(Node::Tok(tok));
                    out.push(group(Kind::Parenthesis, children)?);
                }
                None => out.push(Node::Tok(tok)),
            }
        } else {
            out.push(Node::Tok(tok));
        }
    }
    Ok(out)
}

fn next_non_ws(list: &[Node], idx: usize) -> Option<usize> {
    (idx + 1..list.len()).find(|&i| !list[i].is_whitespace())
}

fn prev_non_ws(list: &[Node], idx: usize) -> Option<usize> {
    (0..idx).rev().find(|&i| !list[i].is_whitespace())
}

/// `TokenList.group_tokens`.
fn group_tokens(
    list: &mut Vec<Node>,
    kind: Kind,
    from: usize,
    to: usize,
    extend: bool,
) -> Result<(), TooComplex> {
    let mut taken: Vec<Node> = list.drain(from..=to).collect();
    let node = match taken.first_mut() {
        Some(Node::Group(k, children, _)) if extend && *k == kind => {
            let mut children = std::mem::take(children);
            children.extend(taken.drain(1..));
            group(kind, children)?
        }
        _ => group(kind, taken)?,
    };
    list.insert(from, node);
    Ok(())
}

/// A name followed by a parenthesis is a function call.
fn group_functions(list: &mut Vec<Node>) -> Result<(), TooComplex> {
    let mut i = 0;
    while i < list.len() {
        if list[i].is_tt(&[Tt::Name, Tt::Placeholder, Tt::Builtin])
            && let Some(n) = next_non_ws(list, i).filter(|&n| list[n].is(Kind::Parenthesis))
        {
            group_tokens(list, Kind::Function, i, n, false)?;
        }
        i += 1;
    }
    Ok(())
}

fn group_identifier(list: &mut [Node]) -> Result<(), TooComplex> {
    for node in list.iter_mut() {
        if node.is_tt(&[Tt::Name, Tt::Symbol]) {
            *node = group(Kind::Identifier, vec![node.clone()])?;
        }
    }
    Ok(())
}

/// `x ASC` / `1 DESC` become one identifier.
fn group_order(list: &mut Vec<Node>) -> Result<(), TooComplex> {
    let mut i = 0;
    while i < list.len() {
        if list[i].tt() == Some(Tt::Order)
            && let Some(p) = prev_non_ws(list, i)
            && (list[p].is(Kind::Identifier) || list[p].is_number())
        {
            group_tokens(list, Kind::Identifier, p, i, false)?;
            i = p;
        }
        i += 1;
    }
    Ok(())
}

/// `x y` (an alias) becomes one identifier.
fn group_aliased(list: &mut Vec<Node>) -> Result<(), TooComplex> {
    let mut i = 0;
    while i < list.len() {
        let n = &list[i];
        let aliasable = matches!(
            n.kind(),
            Some(
                Kind::Parenthesis
                    | Kind::Function
                    | Kind::Identifier
                    | Kind::Operation
                    | Kind::Comparison
            )
        ) || n.is_number();
        if aliasable
            && let Some(nx) = next_non_ws(list, i).filter(|&nx| list[nx].is(Kind::Identifier))
        {
            group_tokens(list, Kind::Identifier, i, nx, true)?;
        }
        i += 1;
    }
    Ok(())
}

/// Operands sqlparse accepts around an operator or comparison.
fn valid_operand(n: &Node, kind: Kind) -> bool {
    let tts = [
        Tt::Integer,
        Tt::Float,
        Tt::Single,
        Tt::Symbol,
        Tt::Name,
        Tt::Placeholder,
    ];
    match kind {
        Kind::Comparison => {
            matches!(
                n.kind(),
                Some(Kind::Parenthesis | Kind::Function | Kind::Identifier | Kind::Operation)
            ) || n.is_tt(&tts)
                || matches!(n, Node::Tok(t) if t.is_keyword() && t.text.to_uppercase() == "NULL")
        }
        Kind::Operation => {
            matches!(
                n.kind(),
                Some(Kind::Parenthesis | Kind::Function | Kind::Identifier | Kind::Operation)
            ) || n.is_tt(&tts)
                || ["CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"]
                    .iter()
                    .any(|k| n.is_kw(k))
        }
        Kind::IdentifierList => {
            matches!(
                n.kind(),
                Some(
                    Kind::Function
                        | Kind::Identifier
                        | Kind::Comparison
                        | Kind::IdentifierList
                        | Kind::Operation
                )
            ) || n.is_tt(&tts)
                || n.is_tt(&[Tt::Keyword, Tt::Comment, Tt::Wildcard])
        }
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Post {
    Plain,
    Period,
}

/// sqlparse's `_group`: joins `prev <match> next` into one group. sqlparse walks a snapshot of
/// the list while grouping in place, so after a group the consumed right operand (not the new
/// group) is what the next match checks as its left operand, while the group is what gets
/// joined; that decides how `a = 1 = 2` groups. This single pass reproduces it without the
/// quadratic in-place splicing.
fn group_binary(
    list: &mut Vec<Node>,
    kind: Kind,
    extend: bool,
    post: Post,
    is_match: impl Fn(&Node) -> bool,
) -> Result<(), TooComplex> {
    let input = std::mem::take(list);
    let out = list;
    // Where the left operand sits in `out`, and the token its validity is judged by.
    let mut prev: Option<(usize, Judge)> = None;
    let mut i = 0;
    while i < input.len() {
        let token = &input[i];
        if token.is_whitespace() {
            out.push(token.clone());
            i += 1;
            continue;
        }
        if is_match(token) {
            let nidx = next_non_ws(&input, i);
            let next_ok = match post {
                Post::Period => true,
                Post::Plain => nidx.is_some_and(|n| valid_operand(&input[n], kind)),
            };
            let prev_ok = prev.as_ref().is_some_and(|(pidx, judge)| {
                let p = match judge {
                    Judge::Input(j) => &input[*j],
                    Judge::Out => &out[*pidx],
                };
                match post {
                    Post::Period => p.is(Kind::Identifier) || p.is_tt(&[Tt::Name, Tt::Symbol]),
                    Post::Plain => valid_operand(p, kind),
                }
            });
            if let (true, true, Some((pidx, _))) = (prev_ok, next_ok, prev.as_ref()) {
                let pidx = *pidx;
                let to = match post {
                    Post::Plain => nidx.unwrap_or(i),
                    Post::Period => match nidx {
                        Some(n)
                            if input[n].is(Kind::Function)
                                || input[n].is_tt(&[
                                    Tt::Name,
                                    Tt::Symbol,
                                    Tt::Wildcard,
                                    Tt::Single,
                                ]) =>
                        {
                            n
                        }
                        _ => i,
                    },
                };
                let mut taken: Vec<Node> = out.drain(pidx..).collect();
                let added = input[i..=to].iter().cloned();
                let node = match taken.first_mut() {
                    Some(Node::Group(k, children, h)) if extend && *k == kind => {
                        let old_height = *h;
                        let mut children = std::mem::take(children);
                        let more: Vec<Node> = taken.drain(1..).chain(added).collect();
                        let height = more
                            .iter()
                            .map(|n| n.height() + 1)
                            .fold(old_height, usize::max);
                        if height > MAX_DEPTH {
                            return Err(TooComplex::Depth);
                        }
                        children.extend(more);
                        Node::Group(kind, children, height)
                    }
                    _ => group(kind, taken.into_iter().chain(added).collect())?,
                };
                out.push(node);
                prev = Some((
                    pidx,
                    if to == i {
                        Judge::Out
                    } else {
                        Judge::Input(to)
                    },
                ));
                i = to + 1;
                continue;
            }
        }
        out.push(token.clone());
        prev = Some((out.len() - 1, Judge::Out));
        i += 1;
    }
    Ok(())
}

/// Which token stands for the left operand when the next match is checked.
enum Judge {
    /// The node now in the output list.
    Out,
    /// A consumed input token (the right operand of the last group).
    Input(usize),
}

fn group_period(list: &mut Vec<Node>) -> Result<(), TooComplex> {
    group_binary(list, Kind::Identifier, true, Post::Period, |n| {
        matches!(n, Node::Tok(t) if (t.tt == Tt::Punctuation && t.text == ".")
            || (t.tt == Tt::Operator && (t.text == "->" || t.text == "->>")))
    })
}

/// A comparison built after grouping: only ever inspected, so its height does not matter.
fn comparison(children: Vec<Node>) -> Node {
    Node::Group(Kind::Comparison, children, 0)
}

fn synthetic_kw(text: &str) -> Node {
    Node::Tok(Tok {
        tt: Tt::Keyword,
        text: text.to_string(),
    })
}

/// MLflow's `_join_in_comparison_tokens`: `x IN (..)`, `x NOT IN (..)`, `x IS NULL` and
/// `x IS NOT NULL` become comparisons. Whitespace is dropped. Its iterator consumes up to four
/// tokens after an identifier even when they match nothing, which is mirrored exactly.
/// Trace search's extra join (`_join_in_comparison_tokens(search_traces=True)`): a bare
/// `timestamp` / `timestamp_ms` (a builtin name), a numeric comparator and an integer form one
/// comparison. Runs on the output of [`join_in_comparisons`] (no whitespace left).
pub(crate) fn join_timestamp_comparisons(tokens: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(tokens.len());
    let mut rest: std::collections::VecDeque<Node> = tokens.into();
    while let Some(first) = rest.pop_front() {
        let is_ts = first.tt() == Some(Tt::Builtin)
            && matches!(first.text().as_str(), "timestamp" | "timestamp_ms");
        if is_ts
            && rest.len() >= 2
            && rest[0].tt() == Some(Tt::Comparison)
            && matches!(
                rest[0].text().as_str(),
                ">" | ">=" | "!=" | "=" | "<" | "<="
            )
            && rest[1].tt() == Some(Tt::Integer)
        {
            let (Some(op), Some(num)) = (rest.pop_front(), rest.pop_front()) else {
                break;
            };
            out.push(comparison(vec![first, op, num]));
            continue;
        }
        out.push(first);
    }
    out
}

pub(crate) fn join_in_comparisons(tokens: Vec<Node>) -> Vec<Node> {
    let mut rest: std::collections::VecDeque<Node> =
        tokens.into_iter().filter(|t| !t.is_whitespace()).collect();
    let mut out = Vec::with_capacity(rest.len());
    while let Some(first) = rest.pop_front() {
        if rest.len() < 2 || !first.is(Kind::Identifier) {
            out.push(first);
            continue;
        }
        let (Some(second), Some(third)) = (rest.pop_front(), rest.pop_front()) else {
            break;
        };
        if second.is_kw("IN") && third.is(Kind::Parenthesis) {
            out.push(comparison(vec![first, second, third]));
            continue;
        }
        if second.is_kw("IS") && third.is_kw("NULL") {
            out.push(comparison(vec![first, synthetic_kw("IS NULL")]));
            continue;
        }
        if second.is_kw("IS")
            && third.tt() == Some(Tt::Keyword)
            && third.text().to_uppercase() == "NOT NULL"
        {
            out.push(comparison(vec![first, synthetic_kw("IS NOT NULL")]));
            continue;
        }
        let Some(fourth) = rest.pop_front() else {
            out.extend([first, second, third]);
            break;
        };
        if second.is_kw("NOT") && third.is_kw("IN") && fourth.is(Kind::Parenthesis) {
            out.push(comparison(vec![first, synthetic_kw("NOT IN"), fourth]));
            continue;
        }
        out.extend([first, second, third, fourth]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(s: &str) -> Vec<Vec<(Option<Kind>, String)>> {
        parse_statements(s)
            .unwrap()
            .into_iter()
            .map(|st| {
                join_in_comparisons(st)
                    .into_iter()
                    .map(|n| (n.kind(), n.text()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn groups_like_sqlparse() {
        use Kind::*;
        let c = |s: &str| (Some(Comparison), s.to_string());
        let t = |s: &str| (None, s.to_string());
        assert_eq!(
            shape("metrics.a > 1 and tags.`x y` = 'b'"),
            vec![vec![c("metrics.a > 1"), t("and"), c("tags.`x y` = 'b'")]]
        );
        assert_eq!(shape("x tags.a IS NULL"), vec![vec![c("x tags.aIS NULL")]]);
        assert_eq!(
            shape("metrics.a > 1, metrics.b > 2"),
            vec![vec![(
                Some(IdentifierList),
                "metrics.a > 1, metrics.b > 2".into()
            )]]
        );
        assert_eq!(
            shape("metrics.a = 1 = 2"),
            vec![vec![c("metrics.a = 1 = 2")]]
        );
        assert_eq!(shape("a;b").len(), 2);
        assert_eq!(shape("a > 1;  \n  ").len(), 1);
        assert_eq!(shape("   ").len(), 0);
        assert_eq!(
            shape("run_id NOT IN ('a')"),
            vec![vec![c("run_idNOT IN('a')")]]
        );
        assert_eq!(shape("tags. = 'x'"), vec![vec![c("tags. = 'x'")]]);
        assert_eq!(
            shape("Run Name DESC"),
            vec![vec![(Some(Identifier), "Run Name DESC".into())]]
        );
    }

    #[test]
    fn nesting_and_size_limits() {
        // sqlparse counts every group level: 100 parentheses hold a number, not an identifier.
        let nest = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_statements(&nest(100, "1")).is_ok());
        assert!(parse_statements(&nest(101, "1")).is_err());
        assert!(parse_statements(&nest(99, "x")).is_ok());
        assert!(parse_statements(&nest(100, "x")).is_err());
        assert!(parse_statements(&nest(99, "a = 1")).is_err());
        assert!(parse_statements(&nest(5000, "1")).is_err());
        assert!(parse_statements(&"1+".repeat(3000)).is_err());
        assert!(parse_statements(&"[".repeat(10_000)).is_ok());
        assert!(parse_statements(&"[".repeat(10_001)).is_err());
    }
}
