//! A parser for GraphQL executable documents (operations and fragments; no type-system
//! definitions), enough for what Apollo Client sends: variables, aliases, arguments,
//! directives, fragment spreads and inline fragments, block strings.

use std::collections::HashMap;

use serde_json::{Map, Number, Value as Json};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Variable(String),
    Const(Json),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value with variables substituted (an unknown variable is null, as GraphQL's
    /// coercion of an omitted nullable variable).
    pub fn resolve(&self, vars: &Map<String, Json>) -> Json {
        match self {
            Value::Variable(name) => vars.get(name).cloned().unwrap_or(Json::Null),
            Value::Const(v) => v.clone(),
            Value::List(items) => Json::Array(items.iter().map(|v| v.resolve(vars)).collect()),
            Value::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.resolve(vars)))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<(String, Value)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub args: Vec<(String, Value)>,
    pub directives: Vec<Directive>,
    pub selection: Vec<Selection>,
}

impl Field {
    /// The key of this field in the response.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Field(Field),
    Spread {
        name: String,
        directives: Vec<Directive>,
    },
    Inline {
        type_condition: Option<String>,
        directives: Vec<Directive>,
        selection: Vec<Selection>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: OperationKind,
    pub name: Option<String>,
    /// Declared variables and their default values.
    pub variables: Vec<(String, Option<Value>)>,
    pub selection: Vec<Selection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    pub type_condition: String,
    pub selection: Vec<Selection>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub operations: Vec<Operation>,
    pub fragments: HashMap<String, Fragment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Spread,
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
}

/// Nesting deeper than this is refused while parsing (the executor's own depth limit is
/// lower); it keeps the recursive descent off the end of the stack.
const MAX_NESTING: usize = 64;

pub fn parse(source: &str) -> Result<Document, String> {
    let tokens = lex(source)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        nesting: 0,
    };
    let mut doc = Document::default();
    while p.peek().is_some() {
        match p.peek() {
            Some(Token::Punct('{')) => {
                let selection = p.selection_set()?;
                doc.operations.push(Operation {
                    kind: OperationKind::Query,
                    name: None,
                    variables: Vec::new(),
                    selection,
                });
            }
            Some(Token::Name(n)) if n == "fragment" => {
                p.pos += 1;
                let name = p.name()?;
                p.keyword("on")?;
                let type_condition = p.name()?;
                p.directives()?;
                let selection = p.selection_set()?;
                doc.fragments.insert(
                    name,
                    Fragment {
                        type_condition,
                        selection,
                    },
                );
            }
            Some(Token::Name(n)) => {
                let kind = match n.as_str() {
                    "query" => OperationKind::Query,
                    "mutation" => OperationKind::Mutation,
                    "subscription" => OperationKind::Subscription,
                    other => return Err(format!("Syntax Error: Unexpected Name '{other}'.")),
                };
                p.pos += 1;
                let name = match p.peek() {
                    Some(Token::Name(_)) => Some(p.name()?),
                    _ => None,
                };
                let variables = p.variable_definitions()?;
                p.directives()?;
                let selection = p.selection_set()?;
                doc.operations.push(Operation {
                    kind,
                    name,
                    variables,
                    selection,
                });
            }
            Some(t) => return Err(format!("Syntax Error: Unexpected {}.", describe(t))),
            None => unreachable!("loop condition"),
        }
    }
    if doc.operations.is_empty() && doc.fragments.is_empty() {
        return Err("Syntax Error: Unexpected <EOF>.".into());
    }
    Ok(doc)
}

fn describe(t: &Token) -> String {
    match t {
        Token::Punct(c) => format!("\"{c}\""),
        Token::Spread => "\"...\"".into(),
        Token::Name(n) => format!("Name '{n}'"),
        Token::Int(i) => format!("Int \"{i}\""),
        Token::Float(f) => format!("Float \"{f}\""),
        Token::Str(s) => format!("String \"{s}\""),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Result<Token, String> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| "Syntax Error: Unexpected <EOF>.".to_owned())?;
        self.pos += 1;
        Ok(t)
    }

    fn at(&self, c: char) -> bool {
        self.peek() == Some(&Token::Punct(c))
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next()? {
            Token::Punct(got) if got == c => Ok(()),
            other => Err(format!(
                "Syntax Error: Expected \"{c}\", found {}.",
                describe(&other)
            )),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Name(n) => Ok(n),
            other => Err(format!(
                "Syntax Error: Expected Name, found {}.",
                describe(&other)
            )),
        }
    }

    fn keyword(&mut self, kw: &str) -> Result<(), String> {
        match self.next()? {
            Token::Name(n) if n == kw => Ok(()),
            other => Err(format!(
                "Syntax Error: Expected \"{kw}\", found {}.",
                describe(&other)
            )),
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err("Syntax Error: the document is nested too deeply.".into());
        }
        Ok(())
    }

    fn variable_definitions(&mut self) -> Result<Vec<(String, Option<Value>)>, String> {
        let mut vars = Vec::new();
        if !self.at('(') {
            return Ok(vars);
        }
        self.pos += 1;
        while !self.at(')') {
            self.expect('$')?;
            let name = self.name()?;
            self.expect(':')?;
            self.type_ref()?;
            let default = if self.at('=') {
                self.pos += 1;
                Some(self.value(true)?)
            } else {
                None
            };
            self.directives()?;
            vars.push((name, default));
        }
        self.pos += 1;
        Ok(vars)
    }

    /// A type reference (`T`, `[T]`, `T!`): checked for syntax, not used (inputs are coerced
    /// by the handlers that receive them).
    fn type_ref(&mut self) -> Result<(), String> {
        if self.at('[') {
            self.pos += 1;
            self.enter()?;
            self.type_ref()?;
            self.nesting -= 1;
            self.expect(']')?;
        } else {
            self.name()?;
        }
        if self.at('!') {
            self.pos += 1;
        }
        Ok(())
    }

    fn directives(&mut self) -> Result<Vec<Directive>, String> {
        let mut out = Vec::new();
        while self.at('@') {
            self.pos += 1;
            let name = self.name()?;
            let args = self.arguments()?;
            out.push(Directive { name, args });
        }
        Ok(out)
    }

    fn arguments(&mut self) -> Result<Vec<(String, Value)>, String> {
        let mut args = Vec::new();
        if !self.at('(') {
            return Ok(args);
        }
        self.pos += 1;
        while !self.at(')') {
            let name = self.name()?;
            self.expect(':')?;
            args.push((name, self.value(false)?));
        }
        self.pos += 1;
        Ok(args)
    }

    fn value(&mut self, constant: bool) -> Result<Value, String> {
        self.enter()?;
        let v = match self.next()? {
            Token::Punct('$') if !constant => Value::Variable(self.name()?),
            Token::Int(i) => Value::Const(Json::from(i)),
            Token::Float(f) => Value::Const(Number::from_f64(f).map_or(Json::Null, Json::Number)),
            Token::Str(s) => Value::Const(Json::String(s)),
            Token::Name(n) => Value::Const(match n.as_str() {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                "null" => Json::Null,
                // Enum values travel as their names, as the REST handlers take them.
                _ => Json::String(n),
            }),
            Token::Punct('[') => {
                let mut items = Vec::new();
                while !self.at(']') {
                    items.push(self.value(constant)?);
                }
                self.pos += 1;
                Value::List(items)
            }
            Token::Punct('{') => {
                let mut fields = Vec::new();
                while !self.at('}') {
                    let name = self.name()?;
                    self.expect(':')?;
                    fields.push((name, self.value(constant)?));
                }
                self.pos += 1;
                Value::Object(fields)
            }
            other => {
                return Err(format!("Syntax Error: Unexpected {}.", describe(&other)));
            }
        };
        self.nesting -= 1;
        Ok(v)
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, String> {
        self.expect('{')?;
        self.enter()?;
        let mut out = Vec::new();
        while !self.at('}') {
            if self.peek() == Some(&Token::Spread) {
                self.pos += 1;
                match self.peek() {
                    Some(Token::Name(n)) if n != "on" => {
                        let name = self.name()?;
                        let directives = self.directives()?;
                        out.push(Selection::Spread { name, directives });
                    }
                    _ => {
                        let type_condition = if matches!(self.peek(), Some(Token::Name(_))) {
                            self.keyword("on")?;
                            Some(self.name()?)
                        } else {
                            None
                        };
                        let directives = self.directives()?;
                        let selection = self.selection_set()?;
                        out.push(Selection::Inline {
                            type_condition,
                            directives,
                            selection,
                        });
                    }
                }
                continue;
            }
            let first = self.name()?;
            let (alias, name) = if self.at(':') {
                self.pos += 1;
                (Some(first), self.name()?)
            } else {
                (None, first)
            };
            let args = self.arguments()?;
            let directives = self.directives()?;
            let selection = if self.at('{') {
                self.selection_set()?
            } else {
                Vec::new()
            };
            out.push(Selection::Field(Field {
                alias,
                name,
                args,
                directives,
                selection,
            }));
        }
        self.pos += 1;
        self.nesting -= 1;
        if out.is_empty() {
            return Err("Syntax Error: Expected Name, found \"}\".".into());
        }
        Ok(out)
    }
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                    i += 1;
                }
            }
            '!' | '$' | '&' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '|' | '}' => {
                out.push(Token::Punct(c));
                i += 1;
            }
            '.' => {
                if chars.get(i..i + 3) == Some(&['.', '.', '.']) {
                    out.push(Token::Spread);
                    i += 3;
                } else {
                    return Err("Syntax Error: Unexpected character: \".\".".into());
                }
            }
            '"' => {
                let (s, next) = if chars.get(i..i + 3) == Some(&['"', '"', '"']) {
                    block_string(&chars, i + 3)?
                } else {
                    string(&chars, i + 1)?
                };
                out.push(Token::Str(s));
                i = next;
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Token::Name(chars[start..i].iter().collect()));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                let mut float = false;
                while i < chars.len() {
                    match chars[i] {
                        '0'..='9' => {}
                        '.' | 'e' | 'E' => float = true,
                        '+' | '-' if matches!(chars[i - 1], 'e' | 'E') => {}
                        _ => break,
                    }
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let bad = || format!("Syntax Error: Invalid number \"{text}\".");
                out.push(if float {
                    Token::Float(text.parse().map_err(|_| bad())?)
                } else {
                    Token::Int(text.parse().map_err(|_| bad())?)
                });
            }
            other => return Err(format!("Syntax Error: Unexpected character: {other:?}.")),
        }
    }
    Ok(out)
}

fn string(chars: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut s = String::new();
    loop {
        let c = *chars
            .get(i)
            .ok_or_else(|| "Syntax Error: Unterminated string.".to_owned())?;
        i += 1;
        match c {
            '"' => return Ok((s, i)),
            '\n' | '\r' => return Err("Syntax Error: Unterminated string.".into()),
            '\\' => {
                let e = *chars
                    .get(i)
                    .ok_or_else(|| "Syntax Error: Unterminated string.".to_owned())?;
                i += 1;
                s.push(match e {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                        i += 4;
                        u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| {
                                format!("Syntax Error: Invalid Unicode escape \"\\u{hex}\".")
                            })?
                    }
                    other => {
                        return Err(format!(
                            "Syntax Error: Invalid character escape sequence: \"\\{other}\"."
                        ));
                    }
                });
            }
            c => s.push(c),
        }
    }
}

/// A `"""` block string, with the common indentation and blank first/last lines removed.
fn block_string(chars: &[char], mut i: usize) -> Result<(String, usize), String> {
    let mut raw = String::new();
    loop {
        if chars.get(i..i + 3) == Some(&['"', '"', '"']) {
            i += 3;
            break;
        }
        if chars.get(i..i + 4) == Some(&['\\', '"', '"', '"']) {
            raw.push_str("\"\"\"");
            i += 4;
            continue;
        }
        let c = *chars
            .get(i)
            .ok_or_else(|| "Syntax Error: Unterminated string.".to_owned())?;
        raw.push(c);
        i += 1;
    }
    let lines: Vec<&str> = raw.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            if n == 0 {
                l
            } else {
                l.get(indent..).unwrap_or("")
            }
        })
        .collect();
    while out.first().is_some_and(|l| l.trim().is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    Ok((out.join("\n"), i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_apollo_sends() {
        let doc = parse(
            r#"
            # a comment
            query GetRun($data: MlflowGetRunInput!, $n: [Int!] = [1, 2]) @component(name: "x") {
              mlflowGetRun(input: $data) {
                apiError { code __typename }
                r: run { info { runUuid } ...F ... on MlflowRun @include(if: true) { data { params { key } } } }
              }
            }
            fragment F on MlflowRunExtension { experiment { name } }
            "#,
        )
        .unwrap();
        let op = &doc.operations[0];
        assert_eq!(op.kind, OperationKind::Query);
        assert_eq!(op.name.as_deref(), Some("GetRun"));
        assert_eq!(op.variables.len(), 2);
        let Selection::Field(root) = &op.selection[0] else {
            panic!()
        };
        assert_eq!(root.name, "mlflowGetRun");
        assert_eq!(
            root.args,
            vec![("input".into(), Value::Variable("data".into()))]
        );
        let Selection::Field(run) = &root.selection[1] else {
            panic!()
        };
        assert_eq!((run.key(), run.name.as_str()), ("r", "run"));
        assert!(matches!(&run.selection[1], Selection::Spread { name, .. } if name == "F"));
        assert!(
            matches!(&run.selection[2], Selection::Inline { type_condition: Some(t), .. } if t == "MlflowRun")
        );
        assert_eq!(doc.fragments["F"].type_condition, "MlflowRunExtension");
    }

    #[test]
    fn values_and_strings() {
        let doc = parse(
            r#"{ f(a: -1, b: 2.5e1, c: "x\"\u00e9", d: ALL, e: {k: [null, true]}, g: """
              two
                lines
            """) }"#,
        )
        .unwrap();
        let Selection::Field(f) = &doc.operations[0].selection[0] else {
            panic!()
        };
        let vars = Map::new();
        let got: Vec<Json> = f.args.iter().map(|(_, v)| v.resolve(&vars)).collect();
        assert_eq!(
            got,
            vec![
                Json::from(-1),
                Json::from(25.0),
                Json::from("x\"é"),
                Json::from("ALL"),
                serde_json::json!({"k": [null, true]}),
                Json::from("two\n  lines"),
            ]
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        for bad in [
            "",
            "{",
            "{ }",
            "query Q { a(b: ) }",
            "{ a \"x }",
            "{ a } }",
            "bogus { a }",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "{ a ".repeat(100), "}".repeat(100));
        assert!(parse(&deep).is_err());
    }
}
