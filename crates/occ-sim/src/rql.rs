//! The RQL subset the simulator reads in an orders `q` when `queryFormat=SCIM` is not sent (getOrders:
//! `q` "defaults to RQL"): comparisons `= != < <= > >=` between an attribute and a double-quoted
//! string, a number or a boolean, joined by `AND`, `OR`, `NOT` and parentheses. Anything else
//! (a SCIM operator such as `eq`, RQL's `CONTAINS`, `ORDER BY`, parameters) is refused, as a store
//! refuses what it cannot parse.

use serde_json::Value;

use crate::scim::Term;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Cmp(Term),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Expr::Cmp(term) => term.matches(item),
            Expr::And(a, b) => a.matches(item) && b.matches(item),
            Expr::Or(a, b) => a.matches(item) || b.matches(item),
            Expr::Not(a) => !a.matches(item),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Op(&'static str),
    Value(Value),
    Open,
    Close,
}

pub(crate) fn parse(q: &str) -> Result<Expr, String> {
    let tokens = tokenize(q)?;
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some(extra) => Err(format!("unexpected {} after a complete expression", describe(extra))),
    }
}

fn tokenize(q: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = q.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let eq = chars.next_if(|&(_, n)| n == '=').is_some();
                let op = match (c, eq) {
                    ('=', false) => "eq",
                    ('!', true) => "ne",
                    ('<', false) => "lt",
                    ('<', true) => "le",
                    ('>', false) => "gt",
                    ('>', true) => "ge",
                    _ => return Err(format!("unknown operator at {start}")),
                };
                tokens.push(Token::Op(op));
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated string".into()),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, e @ ('"' | '\\'))) => text.push(e),
                            _ => return Err("bad escape in string".into()),
                        },
                        Some((_, ch)) => text.push(ch),
                    }
                }
                tokens.push(Token::Value(Value::String(text)));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let mut word = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| ch.is_ascii_alphanumeric() || "_-.".contains(ch)) {
                    word.push(ch);
                }
                tokens.push(word_token(word)?);
            }
            other => return Err(format!("unexpected character {other:?} at {start}")),
        }
    }
    Ok(tokens)
}

fn word_token(word: String) -> Result<Token, String> {
    if word == "true" || word == "false" {
        return Ok(Token::Value(Value::Bool(word == "true")));
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        let number = serde_json::from_str::<serde_json::Number>(&word).map_err(|_| format!("bad number {word:?}"))?;
        return Ok(Token::Value(Value::Number(number)));
    }
    if !word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') || word.contains('-') {
        return Err(format!("bad attribute {word:?}"));
    }
    Ok(Token::Ident(word))
}

fn describe(token: &Token) -> String {
    match token {
        Token::Ident(word) => format!("{word:?}"),
        Token::Op(op) => format!("operator {op}"),
        Token::Value(v) => format!("value {v}"),
        Token::Open => "(".into(),
        Token::Close => ")".into(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Ident(w)) if w.eq_ignore_ascii_case(keyword));
        self.at += usize::from(found);
        found
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.at) == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.tokens.get(self.at) != Some(&Token::Close) {
                return Err("missing )".into());
            }
            self.at += 1;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let next = |p: &mut Self| {
            p.at += 1;
            p.tokens.get(p.at - 1).cloned()
        };
        let attr = match next(self) {
            Some(Token::Ident(attr)) if !["AND", "OR", "NOT"].iter().any(|k| attr.eq_ignore_ascii_case(k)) => attr,
            Some(other) => return Err(format!("expected an attribute, got {}", describe(&other))),
            None => return Err("expected a comparison, got the end of the query".into()),
        };
        let op = match next(self) {
            Some(Token::Op(op)) => op,
            Some(other) => return Err(format!("expected = != < <= > >= after {attr}, got {}", describe(&other))),
            None => return Err(format!("expected an operator after {attr}")),
        };
        match next(self) {
            Some(Token::Value(value)) => Ok(Expr::Cmp(Term { attr, op: op.to_owned(), value })),
            Some(other) => Err(format!("expected a quoted string, number or boolean, got {}", describe(&other))),
            None => Err(format!("expected a value after {attr} {op}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_and_logic() {
        let order = json!({"state": "SUBMITTED", "submittedDate": "2026-02-01T00:00:00.000Z", "total": 12.5});
        let accepts = |q: &str| parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).matches(&order);
        assert!(accepts(r#"state = "SUBMITTED""#));
        assert!(!accepts(r#"state != "SUBMITTED""#));
        assert!(accepts(r#"submittedDate > "2026-01-01T00:00:00.000Z" AND state = "SUBMITTED""#));
        assert!(accepts(r#"state = "REMOVED" or total >= 12.5"#));
        assert!(accepts(r#"NOT (state = "REMOVED" OR total < 10)"#));
        assert!(!accepts(r#"NOT state = "SUBMITTED""#));
        assert!(accepts(r#"total <= 12.5 AND total > -1"#));
        assert!(accepts(r#"missing = "x" OR state = "SUBMITTED""#));
    }

    #[test]
    fn strings_take_escapes() {
        let expr = parse(r#"externalOrderReference = "po \"7\" \\ x""#).expect("parse");
        assert!(expr.matches(&json!({"externalOrderReference": r#"po "7" \ x"#})));
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        for q in [
            r#"externalOrderReference eq "r1""#,
            r#"state = "SUBMITTED" and submittedDate gt "2026-01-01""#,
            r#"state = 'SUBMITTED'"#,
            r#"state = "SUBMITTED"#,
            r#"(state = "SUBMITTED""#,
            r#"state = "SUBMITTED" ORDER BY id"#,
            r#"state CONTAINS "SUB""#,
            "state = ?0",
            "state =",
            "",
            "= \"x\"",
        ] {
            assert!(parse(q).is_err(), "{q} parsed");
        }
    }
}
