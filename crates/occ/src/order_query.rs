//! Filters on `GET /ccadmin/v1/orders`. On that list `q` is RQL unless `queryFormat=SCIM` is sent
//! (getOrders: "defaults to RQL"), so every order filter is built here as SCIM, with its strings
//! escaped, and `ListParams::query` sends `queryFormat=SCIM` with every orders list call.

use chrono::{DateTime, Utc};

/// A SCIM filter on orders (`attr op "value"` terms joined by `and`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderQuery {
    terms: Vec<String>,
}

impl OrderQuery {
    /// Orders modified after `since` (the orders sync's incremental filter).
    pub fn modified_since(since: DateTime<Utc>) -> Self {
        let at = since.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        Self { terms: vec![term("lastModifiedDate", "gt", &at)] }
    }

    /// Orders carrying this `externalOrderReference` (the lookup of an unconfirmed create).
    pub fn external_reference(reference: &str) -> Self {
        Self { terms: vec![term("externalOrderReference", "eq", reference)] }
    }

    /// Narrow further: both filters must hold.
    pub fn and(mut self, other: OrderQuery) -> Self {
        self.terms.extend(other.terms);
        self
    }

    /// The SCIM text for `q`.
    pub fn scim(&self) -> String {
        self.terms.join(" and ")
    }
}

/// The shopper-profile filter: profiles whose `email` is `email` (`GET /ccadmin/v1/profiles`, whose
/// `q` is SCIM).
pub fn profile_email_query(email: &str) -> String {
    term("email", "eq", email)
}

/// SCIM string values are JSON strings: backslashes and quotes are escaped.
fn term(attr: &str, op: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{attr} {op} \"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn filters_are_scim_with_escaped_strings() {
        let since = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("time");
        assert_eq!(OrderQuery::modified_since(since).scim(), r#"lastModifiedDate gt "2026-01-02T03:04:05.000Z""#);
        let tricky = OrderQuery::external_reference(r#"po "7" \ x"#);
        assert_eq!(tricky.scim(), r#"externalOrderReference eq "po \"7\" \\ x""#);
        let both = OrderQuery::external_reference("a").and(OrderQuery::modified_since(since));
        assert!(both.scim().contains("\" and lastModifiedDate gt "));
    }
}
