//! The subset of SCIM filters (`q=`) the simulator understands: `attr op value` terms joined by `and`;
//! ops eq ne gt ge lt le co sw (and `pr`). Values are quoted strings, numbers or booleans. Attributes
//! ending in `Date` compare as timestamps.

use chrono::{DateTime, Utc};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Term {
    pub attr: String,
    pub op: String,
    pub value: Value,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Filter {
    pub terms: Vec<Term>,
}

pub(crate) fn parse(q: &str) -> Result<Filter, String> {
    let mut terms = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        let (attr, after) =
            rest.split_once(char::is_whitespace).ok_or_else(|| format!("incomplete filter term in {q:?}"))?;
        let after = after.trim_start();
        let (op, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
        let op = op.to_ascii_lowercase();
        if !matches!(op.as_str(), "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "co" | "sw" | "pr") {
            return Err(format!("unsupported filter operator {op:?}"));
        }
        let after = after.trim_start();
        let (value, after) = if op == "pr" {
            (Value::Null, after)
        } else if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or("unterminated string in filter")?;
            (Value::String(quoted[..end].to_owned()), &quoted[end + 1..])
        } else {
            let (word, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            let value = match word {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                number => serde_json::from_str::<serde_json::Number>(number)
                    .map(Value::Number)
                    .map_err(|_| format!("bad filter value {number:?}"))?,
            };
            (value, after)
        };
        if !attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(format!("bad filter attribute {attr:?}"));
        }
        terms.push(Term { attr: attr.to_owned(), op, value });
        let after = after.trim_start();
        rest = match after.split_once(char::is_whitespace) {
            Some((and, more)) if and.eq_ignore_ascii_case("and") => more.trim_start(),
            _ if after.is_empty() => "",
            _ => return Err(format!("only 'and' joins filter terms; got {after:?}")),
        };
    }
    Ok(Filter { terms })
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

impl Term {
    pub(crate) fn matches(&self, item: &Value) -> bool {
        let actual = self.attr.split('.').try_fold(item, |v, key| v.get(key));
        let Some(actual) = actual.filter(|v| !v.is_null()) else { return false };
        if self.op == "pr" {
            return true;
        }
        let ordering = if self.attr.ends_with("Date") {
            match (time(actual), time(&self.value)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => None,
            }
        } else {
            match (actual, &self.value) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                _ => None,
            }
        };
        let text = |v: &Value| v.as_str().map(str::to_lowercase);
        match self.op.as_str() {
            "co" => text(actual).zip(text(&self.value)).is_some_and(|(a, b)| a.contains(&b)),
            "sw" => text(actual).zip(text(&self.value)).is_some_and(|(a, b)| a.starts_with(&b)),
            op => ordering.is_some_and(|o| match op {
                "eq" => o.is_eq(),
                "ne" => o.is_ne(),
                "gt" => o.is_gt(),
                "ge" => o.is_ge(),
                "lt" => o.is_lt(),
                _ => o.is_le(),
            }),
        }
    }
}

impl Filter {
    pub fn matches(&self, item: &Value) -> bool {
        self.terms.iter().all(|t| t.matches(item))
    }

    /// The lower bound the filter puts on `attr` (gt/ge), if any, to narrow a scan.
    pub fn lower_bound(&self, attr: &str) -> Option<DateTime<Utc>> {
        self.terms
            .iter()
            .filter(|t| t.attr == attr && (t.op == "gt" || t.op == "ge"))
            .filter_map(|t| time(&t.value))
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_matches() {
        let f = parse(r#"lastModifiedDate gt "2026-01-01T00:00:00.000Z" and displayName co "mug""#).expect("parse");
        assert_eq!(f.terms.len(), 2);
        assert!(f.matches(&json!({"lastModifiedDate": "2026-02-01T00:00:00.000Z", "displayName": "Big Mug"})));
        assert!(!f.matches(&json!({"lastModifiedDate": "2026-01-01T00:00:00.000Z", "displayName": "Big Mug"})));
        assert!(parse("active eq true").expect("bool").matches(&json!({"active": true})));
        assert!(parse("listPrice ge 10").expect("num").matches(&json!({"listPrice": 12.5})));
        assert!(parse("id xx \"a\"").is_err());
        assert!(parse("id eq \"a\" or id eq \"b\"").is_err());
        assert!(parse("id eq \"a").is_err());
    }
}
