//! OData v2 over the simulator's items: the system query options it honours (`$top`, `$skip`,
//! `$inlinecount`, `$expand`, `$filter`, `$orderby`, `$format`), and items rendered as OData v2 JSON
//! (`__metadata`, `__deferred` links, EDM value forms) or as a webhook payload.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value, json};

use crate::edmx::NAMESPACE;
use crate::schema::{Edm, IntegrationObject, Item, integration_key, plural};

/// `odata2services.page.size.default` and `odata2services.page.size.max` (docs/sap.md, "Paging").
pub const DEFAULT_PAGE: usize = 10;
pub const MAX_PAGE: usize = 1000;

#[derive(Debug)]
pub struct Query {
    pub top: usize,
    pub skip: usize,
    pub inline_count: bool,
    pub expand: Vec<Vec<String>>,
    pub filter: Vec<Clause>,
    pub order_by: Vec<(Vec<String>, bool)>,
    pub json: bool,
    /// Every option but `$skip`/`$top`, in order, to build the next link.
    pub passthrough: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Clause {
    pub path: Vec<String>,
    pub op: Op,
    pub value: Literal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone)]
pub enum Literal {
    Str(String),
    Number(f64),
    Bool(bool),
    /// `datetime'...'`, in milliseconds since the epoch (UTC).
    DateTime(i64),
    Null,
}

/// A refused query option: the message SAP's error body carries.
#[derive(Debug)]
pub struct Refused(pub String);

pub fn parse(query: &str, item: &Item, object: &IntegrationObject) -> Result<Query, Refused> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query).map_err(|_| Refused("The query string is not valid".into()))?;
    let mut q = Query {
        top: DEFAULT_PAGE,
        skip: 0,
        inline_count: false,
        expand: Vec::new(),
        filter: Vec::new(),
        order_by: Vec::new(),
        json: false,
        passthrough: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "$top" => {
                let top: usize = value.parse().map_err(|_| Refused(format!("Invalid value '{value}' for $top")))?;
                q.top = top.min(MAX_PAGE);
            }
            "$skip" => q.skip = value.parse().map_err(|_| Refused(format!("Invalid value '{value}' for $skip")))?,
            "$inlinecount" => match value.as_str() {
                "allpages" => q.inline_count = true,
                "none" => q.inline_count = false,
                _ => return Err(Refused(format!("Invalid value '{value}' for $inlinecount"))),
            },
            "$expand" => {
                for path in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let path: Vec<String> = path.split('/').map(str::to_owned).collect();
                    check_nav_path(&path, item, object)?;
                    q.expand.push(path);
                }
            }
            "$filter" => q.filter = parse_filter(&value, item, object)?,
            "$orderby" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let mut words = part.split_whitespace();
                    let name = words.next().unwrap_or_default();
                    let descending = match words.next() {
                        None | Some("asc") => false,
                        Some("desc") => true,
                        Some(other) => return Err(Refused(format!("Invalid sort order '{other}'"))),
                    };
                    if name == "integrationKey" {
                        // SAP's OrderByIntegrationKeyNotSupportedException (docs/sap.md, "Ordering").
                        return Err(Refused("$orderby is not supported for integrationKey".into()));
                    }
                    let Some(attribute) = item.attribute(name).filter(|a| a.returns.is_none()) else {
                        return Err(Refused(format!("Property '{name}' not found on {}", item.code)));
                    };
                    q.order_by.push((vec![attribute.name.clone()], descending));
                }
            }
            "$format" => match value.as_str() {
                "json" => q.json = true,
                _ => return Err(Refused(format!("Format '{value}' is not served by the simulator"))),
            },
            _ => {}
        }
        if key != "$top" && key != "$skip" {
            q.passthrough.push((key.clone(), value.clone()));
        }
    }
    Ok(q)
}

fn check_nav_path(path: &[String], item: &Item, object: &IntegrationObject) -> Result<(), Refused> {
    let mut current = item;
    for name in path {
        let target = current
            .attribute(name)
            .and_then(|a| a.returns.as_deref())
            .and_then(|t| object.item(t))
            .ok_or_else(|| Refused(format!("Navigation property '{name}' not found on {}", current.code)))?;
        current = target;
    }
    Ok(())
}

fn parse_filter(filter: &str, item: &Item, object: &IntegrationObject) -> Result<Vec<Clause>, Refused> {
    let mut clauses = Vec::new();
    for part in filter.split(" and ") {
        let part = part.trim().trim_start_matches('(').trim_end_matches(')').trim();
        let mut words = part.splitn(3, ' ');
        let (Some(path), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(Refused(format!("Invalid filter expression '{part}'")));
        };
        let op = match op {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(Refused(format!("Operator '{other}' is not supported in $filter"))),
        };
        let path: Vec<String> = path.split('/').map(str::to_owned).collect();
        let edm = resolve_primitive(&path, item, object)
            .ok_or_else(|| Refused(format!("Property '{}' not found on {}", path.join("/"), item.code)))?;
        let value = parse_literal(value.trim())?;
        let fits = matches!(
            (edm, &value),
            (_, Literal::Null)
                | (Edm::String, Literal::Str(_))
                | (Edm::DateTime, Literal::DateTime(_))
                | (Edm::Boolean, Literal::Bool(_))
                | (Edm::Int32 | Edm::Int64 | Edm::Double, Literal::Number(_))
        );
        if !fits {
            return Err(Refused(format!("The literal in '{part}' does not fit the type {}", edm.name())));
        }
        clauses.push(Clause { path, op, value });
    }
    Ok(clauses)
}

/// The EDM type at `path` (`integrationKey`, a primitive, or a navigation path ending in one).
fn resolve_primitive(path: &[String], item: &Item, object: &IntegrationObject) -> Option<Edm> {
    let (last, navs) = path.split_last()?;
    let mut current = item;
    for name in navs {
        current = object.item(current.attribute(name)?.returns.as_deref()?)?;
    }
    if last == "integrationKey" {
        return Some(Edm::String);
    }
    let attribute = current.attribute(last)?;
    attribute.returns.is_none().then_some(attribute.edm)
}

fn parse_literal(value: &str) -> Result<Literal, Refused> {
    if value == "null" {
        return Ok(Literal::Null);
    }
    if value == "true" || value == "false" {
        return Ok(Literal::Bool(value == "true"));
    }
    if let Some(inner) = value.strip_prefix("datetime'").and_then(|v| v.strip_suffix('\'')) {
        let parsed = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(inner, f).ok())
            .ok_or_else(|| Refused(format!("Invalid datetime literal '{inner}'")))?;
        return Ok(Literal::DateTime(parsed.and_utc().timestamp_millis()));
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Ok(Literal::Str(inner.replace("''", "'")));
    }
    let number = value.trim_end_matches(['L', 'l', 'd', 'D', 'm', 'M', 'f', 'F']);
    number.parse().map(Literal::Number).map_err(|_| Refused(format!("Invalid literal '{value}'")))
}

/// Whether `entity` (nested form) passes every clause.
pub fn matches(entity: &Value, key: &str, clauses: &[Clause]) -> bool {
    clauses.iter().all(|c| {
        let key_value;
        let value = if c.path.len() == 1 && c.path[0] == "integrationKey" {
            key_value = Value::from(key);
            &key_value
        } else {
            c.path.iter().fold(entity, |v, name| &v[name.as_str()])
        };
        let ordering = match (value, &c.value) {
            (Value::Null, Literal::Null) => Some(std::cmp::Ordering::Equal),
            (_, Literal::Null) | (Value::Null, _) => None,
            (Value::String(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
            (Value::Number(a), Literal::DateTime(b)) => a.as_i64().map(|a| a.cmp(b)),
            (Value::Number(a), Literal::Number(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
            (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        };
        use std::cmp::Ordering::*;
        match (c.op, ordering) {
            (Op::Eq, Some(Equal)) => true,
            (Op::Ne, o) => o != Some(Equal),
            (Op::Gt, Some(Greater)) => true,
            (Op::Ge, Some(Greater | Equal)) => true,
            (Op::Lt, Some(Less)) => true,
            (Op::Le, Some(Less | Equal)) => true,
            _ => false,
        }
    })
}

/// `Products('Online%7Cstore%7CP1')`: the key in an entity URI, percent-encoded, quotes doubled.
fn push_key_segment(out: &mut String, set: &str, key: &str) {
    out.push_str(set);
    out.push_str("('");
    // Percent-encoding leaves no quote or space as such: a quote is `%27` (doubled), a space `+`.
    for chunk in url::form_urlencoded::byte_serialize(key.as_bytes()) {
        match chunk {
            "%27" => out.push_str("%27%27"),
            "+" => out.push_str("%20"),
            _ => out.push_str(chunk),
        }
    }
    out.push_str("')");
}

/// One item as OData v2 JSON, written straight into `out` (no intermediate `Value`: a list page of
/// 1,000 products is about 3 MB): `__metadata`, primitives in their EDM forms, navigation properties
/// expanded along `expand` (paths relative to this item) and `__deferred` otherwise, `integrationKey`.
/// It writes in pieces rather than through `format!`: a page renders about 17,000 entities, and the
/// small strings those left behind made each page's large buffers cost malloc a consolidation pass.
pub fn render(
    out: &mut Vec<u8>,
    object: &IntegrationObject,
    item: &Item,
    entity: &Value,
    service: &str,
    expand: &[&[String]],
) {
    let key = integration_key(object, item, entity);
    let mut uri = String::with_capacity(service.len() + key.len() + 32);
    uri.push_str(service);
    uri.push('/');
    push_key_segment(&mut uri, &plural(&item.code), &key);
    out.extend_from_slice(b"{\"__metadata\":{\"id\":");
    write_str(out, &uri);
    out.extend_from_slice(b",\"uri\":");
    write_str(out, &uri);
    out.extend_from_slice(b",\"type\":");
    write_parts(out, &[NAMESPACE, ".", &item.code]);
    out.push(b'}');
    for a in &item.attributes {
        out.push(b',');
        write_str(out, &a.name);
        out.push(b':');
        let value = &entity[a.name.as_str()];
        let Some(target) = a.returns.as_deref().and_then(|t| object.item(t)) else {
            write_edm(out, a.edm, value);
            continue;
        };
        if !expand.iter().any(|p| p.first() == Some(&a.name)) {
            out.extend_from_slice(b"{\"__deferred\":{\"uri\":");
            write_parts(out, &[&uri, "/", &a.name]);
            out.extend_from_slice(b"}}");
            continue;
        }
        let sub: Vec<&[String]> = expand.iter().filter(|p| p.first() == Some(&a.name)).map(|p| &p[1..]).collect();
        if a.collection {
            out.extend_from_slice(b"{\"results\":[");
            for (n, e) in value.as_array().into_iter().flatten().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                render(out, object, target, e, service, &sub);
            }
            out.extend_from_slice(b"]}");
        } else if value.is_object() {
            render(out, object, target, value, service, &sub);
        } else {
            out.extend_from_slice(b"null");
        }
    }
    out.extend_from_slice(b",\"integrationKey\":");
    write_str(out, &key);
    out.push(b'}');
}

/// `{"d": <item>}`: one item as a point read or a create answers it.
pub fn render_single(
    object: &IntegrationObject,
    item: &Item,
    entity: &Value,
    service: &str,
    expand: &[Vec<String>],
) -> Vec<u8> {
    let expand: Vec<&[String]> = expand.iter().map(Vec::as_slice).collect();
    let mut out = b"{\"d\":".to_vec();
    render(&mut out, object, item, entity, service, &expand);
    out.push(b'}');
    out
}

/// A JSON string, escaped.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    write_parts(out, &[s]);
}

/// One JSON string of `parts` joined, escaped. Most text needs no escape and is copied as it is.
fn write_parts(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for part in parts {
        // A fold without an early exit, so the compiler checks many bytes at once.
        let plain = !part.bytes().fold(false, |escape, b| escape | (b < 0x20) | (b == b'"') | (b == b'\\'));
        if plain {
            out.extend_from_slice(part.as_bytes());
        } else {
            // Writing a &str into a Vec cannot fail; the quotes serde_json adds around it are dropped.
            let at = out.len();
            let _ = serde_json::to_writer(&mut *out, part);
            out.pop();
            out.remove(at);
        }
    }
    out.push(b'"');
}

/// The OData v2 JSON form of a stored primitive: `DateTime` as `/Date(ms)/`, `Int64` and `Double` as
/// strings, `Int32` and `Boolean` as JSON numbers and booleans.
fn write_edm(out: &mut Vec<u8>, edm: Edm, value: &Value) {
    use std::io::Write;
    match (edm, value) {
        (_, Value::Null) => out.extend_from_slice(b"null"),
        (Edm::DateTime, v) => match v.as_i64() {
            Some(ms) => {
                let _ = write!(out, "\"/Date({ms})/\"");
            }
            None => out.extend_from_slice(b"null"),
        },
        (Edm::Double | Edm::Int64, Value::Number(n)) => {
            let _ = write!(out, "\"{n}\"");
        }
        (_, v) => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
    }
}

/// One item as a webhook delivers it: every attribute, nested items inline (collections as arrays),
/// each with its `integrationKey`, date-times as ISO 8601, no OData envelope (docs/sap.md, "Deliveries").
pub fn payload(object: &IntegrationObject, item: &Item, entity: &Value) -> Value {
    let mut out = Map::new();
    for a in &item.attributes {
        let value = &entity[a.name.as_str()];
        let rendered = match a.returns.as_deref().and_then(|t| object.item(t)) {
            None => match (a.edm, value) {
                (Edm::DateTime, v) => v
                    .as_i64()
                    .and_then(DateTime::from_timestamp_millis)
                    .map_or(Value::Null, |d| Value::from(d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())),
                (_, v) => v.clone(),
            },
            Some(target) if a.collection => {
                Value::from(value.as_array().map(|v| v.iter().map(|e| payload(object, target, e)).collect::<Vec<_>>()))
            }
            // A back-reference to the item that holds this one carries its key only.
            Some(target) if target.root && !item.root => {
                if value.is_object() {
                    json!({"integrationKey": integration_key(object, target, value)})
                } else {
                    Value::Null
                }
            }
            Some(target) if value.is_object() => payload(object, target, value),
            Some(_) => Value::Null,
        };
        out.insert(a.name.clone(), rendered);
    }
    out.insert("integrationKey".into(), Value::from(integration_key(object, item, entity)));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_keys_are_escaped_as_json_and_url_text() {
        let mut out = Vec::new();
        write_parts(&mut out, &["plain", " \"quoted\"\\", "\ttab"]);
        let read: String = serde_json::from_slice(&out).expect("a JSON string");
        assert_eq!(read, "plain \"quoted\"\\\ttab");
        let mut segment = String::new();
        push_key_segment(&mut segment, "Products", "Online|c|it's a P");
        assert_eq!(segment, "Products('Online%7Cc%7Cit%27%27s%20a%20P')");
    }
}
