//! OData v2 verbose JSON read straight into typed items (docs/sap.md, "For the connector > Sync"): a
//! list page's envelope (`d.results`, `__count`) with each item kept as its raw JSON text, and the value
//! forms the mapping reads: primitives as text whatever their JSON type (`Edm.Int64`/`Edm.Double` come
//! as strings), enum and currency references as their `code`/`isocode`, collections as
//! `{"results": [...]}` or an array, unexpanded `__deferred` links as absent. Everything else in an item
//! (`__metadata`, links, attributes not mapped) is skipped without being kept: a 1,000-product page is
//! about 3 MB, and building a `serde_json::Value` of it was most of a catalog sync's CPU.
//! Must not decide what a value means for the model; `normalize` does.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use storelink_connector::ConnectorError;

/// A list page: its items as raw JSON text (mapped one by one, so one malformed item is left out
/// rather than failing the page) and `__count` when `$inlinecount=allpages` asked for it.
pub(crate) struct Listing<'a> {
    pub items: Vec<&'a RawValue>,
    pub total: Option<u64>,
}

impl<'a> Listing<'a> {
    pub fn parse(body: &'a [u8], what: &str) -> Result<Self, ConnectorError> {
        #[derive(serde::Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            d: Option<Results<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Results<'a> {
            #[serde(borrow)]
            results: Option<Vec<&'a RawValue>>,
            #[serde(rename = "__count", borrow, default)]
            count: Text<'a>,
        }
        let bad = |detail: String| ConnectorError::BadReply { what: what.to_owned(), detail };
        let envelope: Envelope<'a> = serde_json::from_slice(body).map_err(|e| bad(format!("not a list page: {e}")))?;
        let page = envelope.d.ok_or_else(|| bad("no d.results".into()))?;
        let items = page.results.ok_or_else(|| bad("no d.results".into()))?;
        Ok(Self { items, total: page.count.number().map(|n| n as u64) })
    }
}

/// One item of a point read (`{"d": {...}}`) as raw JSON text.
pub(crate) fn single<'a>(body: &'a [u8], what: &str) -> Result<&'a RawValue, ConnectorError> {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        d: &'a RawValue,
    }
    let envelope: Envelope<'a> = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::BadReply { what: what.to_owned(), detail: format!("not an entry: {e}") })?;
    Ok(envelope.d)
}

/// Reads an item of a page as `T`; `None` when it does not have `T`'s shape.
pub(crate) fn item<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// A primitive read as text: a string (borrowed when it has no escapes) or a number's digits.
/// `null`, booleans, objects and arrays read as absent, as `order_map::text` reads them.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }

    /// The text when it is not empty.
    pub fn filled(&self) -> Option<String> {
        self.get().filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// A number sent as text or as a JSON number, when finite.
    pub fn number(&self) -> Option<f64> {
        self.get()?.trim().parse().ok().filter(|x: &f64| x.is_finite())
    }

    /// An amount as decimal text (`order_map::amount`).
    pub fn decimal(&self) -> Option<String> {
        self.number().map(crate::order_map::amount)
    }

    /// `Edm.DateTime` in any form `order_map::time` reads, or epoch milliseconds.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let text = self.get()?;
        match text.parse::<i64>() {
            Ok(ms) => DateTime::from_timestamp_millis(ms),
            Err(_) => crate::order_map::parse_time(text),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor { codes: false })? {
            Scalar::Text(text) | Scalar::Number(text) => Text(Some(text)),
            Scalar::Bool(_) | Scalar::Other => Text(None),
        })
    }
}

/// A JSON boolean; anything else reads as absent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Flag(pub Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor { codes: false })? {
            Scalar::Bool(flag) => Flag(Some(flag)),
            Scalar::Text(_) | Scalar::Number(_) | Scalar::Other => Flag(None),
        })
    }
}

/// An enum or currency reference: its `code` (or `isocode`) when it came inline, or the code itself
/// when sent as text (`order_map::code` and `normalize`'s reading of OData JSON).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Code<'a>(pub Text<'a>);

impl<'a> Code<'a> {
    pub fn owned(&self) -> Option<String> {
        self.0.owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Code<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match deserializer.deserialize_any(ScalarVisitor { codes: true })? {
            Scalar::Text(code) => Code(Text(Some(code))),
            Scalar::Number(_) | Scalar::Bool(_) | Scalar::Other => Code::default(),
        })
    }
}

/// Any JSON value as the primitive it is: strings and numbers as text; arrays, `null` and objects
/// skipped (read without being kept), except that with `codes` an object reads as its `code`
/// (else `isocode`).
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Number(Cow<'a, str>),
    Bool(bool),
    Other,
}

struct ScalarVisitor {
    codes: bool,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(Cow::Owned(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut code, mut isocode) = (Text(None), Text(None));
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "code" if self.codes => code = map.next_value()?,
                "isocode" if self.codes => isocode = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(code.0.or(isocode.0).map_or(Scalar::Other, Scalar::Text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// A collection: `{"results": [...]}` (OData v2), an array, or absent (`null`, a `__deferred` link).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Many<T>(pub Vec<T>);

impl<T> Default for Many<T> {
    fn default() -> Self {
        Many(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Many<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ManyVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ManyVisitor<T> {
            type Value = Many<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a collection")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Many::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Many(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut items = Many::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "results" {
                        items = map.next_value()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(items)
            }
        }
        deserializer.deserialize_any(ManyVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        t: Text<'a>,
        #[serde(borrow, default)]
        c: Code<'a>,
        #[serde(default)]
        f: Flag,
        #[serde(borrow, default)]
        m: Many<Text<'a>>,
    }

    fn probe(json: &str) -> Probe<'_> {
        serde_json::from_str(json).expect("reads")
    }

    #[test]
    fn value_forms_read_leniently() {
        let p = probe(
            r#"{"t": "19.90", "c": {"__metadata": {}, "code": "approved"}, "f": false, "m": {"results": ["a", 2]}}"#,
        );
        assert_eq!(
            (p.t.decimal().as_deref(), p.c.owned().as_deref(), p.f.0),
            (Some("19.9"), Some("approved"), Some(false))
        );
        assert_eq!(p.m.0.iter().map(|t| t.owned().unwrap_or_default()).collect::<Vec<_>>(), ["a", "2"]);
        let p = probe(r#"{"t": {"x": 1}, "c": "USD", "f": "true", "m": {"__deferred": {"uri": "u"}}}"#);
        assert_eq!((p.t.get(), p.c.owned().as_deref(), p.f.0, p.m.0.len()), (None, Some("USD"), None, 0));
        let p = probe(r#"{"t": null, "c": {"isocode": "EUR"}, "f": null, "m": ["x"], "other": [1, {"y": 2}]}"#);
        assert_eq!((p.t.get(), p.c.owned().as_deref(), p.f.0, p.m.0.len()), (None, Some("EUR"), None, 1));
        assert_eq!(
            probe(r#"{"t": "/Date(1764561600000+0060)/"}"#).t.time().map(|t| t.timestamp_millis()),
            Some(1_764_561_600_000)
        );
        assert_eq!(probe(r#"{"t": 1764561600000}"#).t.time().map(|t| t.timestamp_millis()), Some(1_764_561_600_000));
        assert_eq!(probe(r#"{"t": "a\"b"}"#).t.get(), Some("a\"b"));
        let p = probe(r#"{"t": 5, "c": 5, "f": 1, "m": null}"#);
        assert_eq!((p.t.get(), p.c.owned(), p.f.0, p.m.0.len()), (Some("5"), None, None, 0));
    }

    #[test]
    fn a_listing_names_what_is_wrong() {
        let page =
            Listing::parse(br#"{"d": {"results": [{"a": 1}, {"b": 2}], "__count": "7"}}"#, "Products").expect("page");
        assert_eq!((page.items.len(), page.total), (2, Some(7)));
        for body in [&br#"{"d": {}}"#[..], br#"{"x": 1}"#, br#"{"d": {"results": "no"}}"#, b"<html>"] {
            let error = Listing::parse(body, "Products").err().expect("refused");
            assert!(matches!(error, ConnectorError::BadReply { ref what, .. } if what == "Products"), "{error:?}");
        }
    }
}
