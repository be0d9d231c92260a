//! What goes in and comes out of OCC calls.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::OrderQuery;

/// An OCC access token and its lifetime (300 s for application keys).
pub struct AccessToken {
    pub token: SecretString,
    pub expires_in: Duration,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("token", &"[redacted]").field("expires_in", &self.expires_in).finish()
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginResponse {
    pub access_token: String,
    pub expires_in: Option<u64>,
}

/// Paged admin resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Products,
    Skus,
    Inventories,
    Orders,
}

impl Resource {
    pub fn path(self) -> &'static str {
        match self {
            Resource::Products => "/ccadmin/v1/products",
            Resource::Skus => "/ccadmin/v1/skus",
            Resource::Inventories => "/ccadmin/v1/inventories",
            Resource::Orders => "/ccadmin/v1/orders",
        }
    }
}

/// Paging and filtering; `limit` 0 leaves OCC's default (250).
#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub offset: u64,
    pub limit: u32,
    /// SCIM filter. Orders are filtered with `OrderQuery` (`ListParams::orders`), and every orders
    /// list call says `queryFormat=SCIM`: there `q` is RQL by default.
    pub q: Option<String>,
    pub sort: Option<String>,
    pub fields: Option<String>,
    pub extra: Vec<(String, String)>,
    /// The site to read (`x-ccsite`); `None`: the instance as a whole.
    pub site: Option<String>,
}

impl ListParams {
    /// An orders page, filtered by `filter` when given.
    pub fn orders(offset: u64, limit: u32, filter: Option<&OrderQuery>) -> Self {
        Self { offset, limit, q: filter.map(OrderQuery::scim), ..Self::default() }
    }

    pub(crate) fn query(&self, resource: Resource) -> Vec<(String, String)> {
        let mut query = vec![("offset".to_owned(), self.offset.to_string())];
        if self.limit > 0 {
            query.push(("limit".into(), self.limit.to_string()));
        }
        if let Some(q) = &self.q {
            query.push(("q".into(), q.clone()));
        }
        // Always, filtered or not: an orders `q` is read as RQL without it (docs/occ.md).
        if resource == Resource::Orders {
            query.push(("queryFormat".into(), "SCIM".into()));
        }
        if let Some(sort) = &self.sort {
            query.push(("sort".into(), sort.clone()));
        }
        if let Some(fields) = &self.fields {
            query.push(("fields".into(), fields.clone()));
        }
        query.extend(self.extra.iter().cloned());
        query
    }
}

/// One page of a list. There is no `hasMore`: a page is the last when it is empty or reaches
/// `totalResults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawPage<T>")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `totalResults`, or `total` where an endpoint sends only that.
    pub total_results: Option<u64>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    total_results: Option<u64>,
    total: Option<u64>,
    offset: Option<u64>,
    limit: Option<u64>,
}

impl<T> From<RawPage<T>> for Page<T> {
    fn from(raw: RawPage<T>) -> Self {
        Page { items: raw.items, total_results: raw.total_results.or(raw.total), offset: raw.offset, limit: raw.limit }
    }
}

impl<T> Page<T> {
    pub fn is_last(&self, requested_offset: u64) -> bool {
        self.items.is_empty()
            || self.total_results.is_some_and(|total| requested_offset + self.items.len() as u64 >= total)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingMethod {
    pub repository_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An OCC event webhook. Secrets are present only when asked for (`includeSecretKeys=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub server_type: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub secret_key: Option<SecretString>,
    #[serde(default, rename = "secretKeySHA512")]
    pub secret_key_sha512: Option<SecretString>,
    /// Every other field as read (headers, basicAuthentication, resend settings, ...), written back
    /// unchanged with a new URL list. Values never appear in `Debug`: they can hold another
    /// integration's credentials.
    #[serde(flatten)]
    pub settings: WebhookSettings,
}

/// A webhook's other fields; `Debug` shows their names only.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct WebhookSettings(pub Map<String, Value>);

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Shipping methods come as a bare array in older releases and as `{"items": [...]}` in newer ones.
pub(crate) fn shipping_items(value: Value) -> Result<Vec<ShippingMethod>, serde_json::Error> {
    let items = match value {
        Value::Object(mut map) => map.remove("items").unwrap_or(Value::Array(Vec::new())),
        other => other,
    };
    serde_json::from_value(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shipping_methods_in_both_shapes() {
        let method = json!({"repositoryId": "ground", "displayName": "Ground", "enabled": true, "ranges": []});
        assert_eq!(shipping_items(json!([method.clone()])).expect("array").len(), 1);
        let parsed = shipping_items(json!({"items": [method]})).expect("items");
        assert_eq!(parsed[0].repository_id, "ground");
        assert!(parsed[0].extra.contains_key("ranges"));
    }

    #[test]
    fn last_page_detection() {
        let page: Page<Value> = serde_json::from_value(json!({"items": [1, 2], "total": 4})).expect("page");
        assert!(!page.is_last(0));
        assert!(page.is_last(2));
        let both: Page<Value> =
            serde_json::from_value(json!({"items": [1], "total": 9, "totalResults": 9})).expect("both");
        assert_eq!(both.total_results, Some(9));
        let empty: Page<Value> = serde_json::from_value(json!({"items": []})).expect("page");
        assert!(empty.is_last(0));
    }

    #[test]
    fn orders_queries_say_scim() {
        let params = ListParams { q: Some("state eq \"SUBMITTED\"".into()), ..ListParams::default() };
        assert!(params.query(Resource::Orders).contains(&("queryFormat".into(), "SCIM".into())));
        assert!(!params.query(Resource::Products).iter().any(|(k, _)| k == "queryFormat"));
        let unfiltered = ListParams::orders(0, 10, None).query(Resource::Orders);
        assert!(unfiltered.contains(&("queryFormat".into(), "SCIM".into())));
        let by_reference = ListParams::orders(0, 10, Some(&OrderQuery::external_reference("r1")));
        assert_eq!(by_reference.q.as_deref(), Some(r#"externalOrderReference eq "r1""#));
    }

    #[test]
    fn webhook_secrets_are_optional_and_redacted() {
        let w: Webhook =
            serde_json::from_value(json!({"id": "x", "urls": ["u"], "secretKey": "c2VjcmV0", "secretKeySHA512": null}))
                .expect("webhook");
        assert!(w.secret_key.is_some() && w.secret_key_sha512.is_none());
        assert!(!format!("{w:?}").contains("c2VjcmV0"));
        let w: Webhook =
            serde_json::from_value(json!({"id": "x", "basicAuthentication": {"u": "hunter2"}})).expect("webhook");
        assert_eq!(w.settings.0["basicAuthentication"]["u"], "hunter2");
        assert!(!format!("{w:?}").contains("hunter2"));
    }
}

/// One item of `GET /ccadmin/v1/sites` (occ-admin-api.md section 6). Fields Storelink does not use are
/// ignored; a missing `enabled` counts as enabled.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SiteInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub default_site: bool,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The storefront's host, "without the schema".
    #[serde(default, rename = "productionURL")]
    pub production_url: Option<String>,
    /// The default price list group: an object with at least `id` (a bare id is accepted too).
    #[serde(default)]
    pub default_price_list_group: Option<Value>,
}

fn enabled_by_default() -> bool {
    true
}

impl SiteInfo {
    /// The default price list group's currency (`currency.currencyCode`), when sent as an object.
    pub fn currency(&self) -> Option<String> {
        let group = self.default_price_list_group.as_ref()?;
        group
            .get("currency")?
            .get("currencyCode")?
            .as_str()
            .map(str::to_owned)
            .filter(|c| !c.is_empty() && c.len() <= 16)
    }

    /// The default price list group's id, whether sent as an object or a bare id.
    pub fn price_list_group_id(&self) -> Option<String> {
        match self.default_price_list_group.as_ref()? {
            Value::String(id) => Some(id.clone()),
            Value::Object(map) => map.get("id").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    }
}
