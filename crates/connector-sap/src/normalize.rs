//! SAP Integration API JSON (OData v2 verbose: `d.results`, expanded navigation properties as
//! `{"results": [...]}` or an object, `/Date(ms)/`, numbers as strings) -> Storelink's normalized rows,
//! each with a content hash of what is stored. The `integrationKey` is the platform id of products,
//! variants, stock levels' products, delivery modes and orders (docs/sap.md, "For the connector").
//! Lenient like OCC's: a missing optional attribute becomes NULL; only a missing key drops the item.

use serde_json::{Map, Value};
use storelink_model::records::{Hashed, InventoryRow, ProductRow, ShippingRow, SkuRow, hashed};
use storelink_model::views::{Price, ShippingRate};

// The value forms are read as the order mapping reads them (one reading of SAP's JSON).
pub(crate) use crate::order_map::{collection as many, decimal, nested as one, text, time};

/// An `Edm.Double`/`Int64` (sent as a string) or `Int32` (a JSON number) as a float.
pub(crate) fn number(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `code` of an expanded reference (enums, warehouses, zones), or `isocode` of a currency.
pub(crate) fn code_of(v: &Value, key: &str) -> Option<String> {
    one(v, key).and_then(|r| text(r, "code").or_else(|| text(r, "isocode")))
}

fn key(v: &Value) -> Option<String> {
    text(v, "integrationKey").filter(|k| !k.is_empty())
}

/// Where the store's media are served: `Media.URL` is relative to the API host (`/medias/...`) [A].
#[derive(Clone, Copy, Debug)]
pub struct Store<'a> {
    pub base_url: &'a str,
}

impl Store<'_> {
    fn absolute(&self, url: String) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            return url;
        }
        format!("{}/{}", self.base_url.trim_end_matches('/'), url.trim_start_matches('/'))
    }
}

/// The price of a product or variant: its `PriceRow` for one item (`minqtd` 1, or the smallest), as
/// docs/sap.md's "Prices" choice says.
fn price(v: &Value) -> Option<f64> {
    many(v, "europe1Prices")
        .iter()
        .min_by_key(|row| number(row, "minqtd").map_or(i64::MAX, |q| q as i64))
        .and_then(|row| number(row, "price"))
}

/// A product (the `Products` root) and its variants as SKUs. A product without variants is sold
/// as itself: one SKU with the product's key.
pub fn product(v: &Value, store: Store<'_>) -> Option<(Hashed<ProductRow>, Vec<Hashed<SkuRow>>)> {
    let product_id = key(v)?;
    // `approvalStatus` is an enum code (`approved`, `check`, `unapproved`); absent: sold [A].
    let status = text(v, "approvalStatus").or_else(|| code_of(v, "approvalStatus"));
    let active = status.is_none_or(|s| s.eq_ignore_ascii_case("approved"));
    let list_price = price(v);
    let variants = many(v, "variants");
    let skus = if variants.is_empty() {
        sku(v, &product_id, active, list_price).into_iter().collect()
    } else {
        variants.iter().filter_map(|s| sku(s, &product_id, active, list_price)).collect()
    };
    let image = one(v, "picture").or_else(|| many(v, "normal").first());
    let row = ProductRow {
        display_name: text(v, "name"),
        description: text(v, "description"),
        brand: None,
        active,
        list_price,
        sale_price: None,
        image_url: image.and_then(|m| text(m, "URL")).filter(|u| !u.is_empty()).map(|u| store.absolute(u)),
        route: None,
        category_ids: many(v, "supercategories").iter().filter_map(|c| text(c, "code")).collect(),
        source_modified_at: time(v, "modifiedtime"),
        product_id,
        site_id: String::new(),
    };
    Some((hashed(row), skus))
}

/// A variant: its option values are its variant value categories, named `<option>-<value>`
/// (`size-M`), the category's name the value [A: generic variants, docs/sap.md].
fn sku(v: &Value, product_id: &str, active: bool, product_price: Option<f64>) -> Option<Hashed<SkuRow>> {
    let attributes: Map<String, Value> = many(v, "supercategories")
        .iter()
        .filter_map(|c| {
            let code = text(c, "code")?;
            let (option, value) = code.split_once('-')?;
            Some((option.to_owned(), Value::from(text(c, "name").unwrap_or_else(|| value.to_owned()))))
        })
        .collect();
    Some(hashed(SkuRow {
        sku_id: key(v)?,
        product_id: product_id.to_owned(),
        display_name: text(v, "name"),
        active,
        list_price: price(v).or(product_price),
        sale_price: None,
        attributes: Value::Object(attributes),
        site_id: String::new(),
    }))
}

/// How the catalog version Storelink reads builds a product's integrationKey from its code, learnt
/// from one product's key and code (`Online|<catalog>|P1` and `P1`): SAP joins the unique attributes
/// with `|` in an order Storelink does not assume [A].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductKeys {
    before: String,
    after: String,
}

impl ProductKeys {
    pub fn learn(product: &Value) -> Option<Self> {
        let (key, code) = (key(product)?, text(product, "code")?);
        let at = key.rfind(&code)?;
        Some(Self { before: key[..at].to_owned(), after: key[at + code.len()..].to_owned() })
    }

    pub fn key(&self, code: &str) -> String {
        format!("{}{code}{}", self.before, self.after)
    }

    /// The code in a product key built this way.
    pub fn code<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.before.as_str())?.strip_suffix(self.after.as_str())
    }
}

/// A `StockLevel`: stock per product code and warehouse. Its SKU id is the stocked product's
/// integrationKey (a stock level names the product by code only, so `keys` builds it), and the
/// stocked product stands as its own product id (SAP's stock has no parent product). Sellable stock
/// is `available` less `reserved` [A].
pub fn stock_level(v: &Value, keys: Option<&ProductKeys>) -> Option<Hashed<InventoryRow>> {
    let code = text(v, "productCode")?;
    let sku_id = keys.map_or_else(|| code.clone(), |k| k.key(&code));
    let available = number(v, "available").unwrap_or(0.0) as i64;
    let reserved = number(v, "reserved").unwrap_or(0.0) as i64;
    Some(hashed(InventoryRow {
        product_id: sku_id.clone(),
        sku_id,
        location_id: code_of(v, "warehouse").unwrap_or_default(),
        stock_level: available - reserved,
        availability: code_of(v, "inStockStatus"),
        site_id: String::new(),
    }))
}

/// A `ZoneDeliveryMode` with its `ZoneDeliveryModeValue`s as rates: the value applies from the
/// order amount `minimum` in its currency (SAP's zone delivery mode values) [H4 contents] [A].
pub fn delivery_mode(v: &Value) -> Option<Hashed<ShippingRow>> {
    let mut rates: Vec<ShippingRate> = many(v, "values")
        .iter()
        .filter_map(|r| {
            Some(ShippingRate {
                min_order_amount: decimal(r, "minimum"),
                max_order_amount: None,
                price: Price { amount: decimal(r, "value")?, currency: code_of(r, "currency") },
            })
        })
        .collect();
    rates.sort_by(|a, b| {
        let order = |r: &ShippingRate| r.min_order_amount.as_deref().and_then(|m| m.parse::<f64>().ok()).unwrap_or(0.0);
        order(a).total_cmp(&order(b)).then_with(|| a.price.currency.cmp(&b.price.currency))
    });
    Some(hashed(ShippingRow {
        method_id: key(v)?,
        display_name: text(v, "name"),
        enabled: v.get("active").and_then(Value::as_bool).unwrap_or(true),
        calculator: None,
        rates,
        site_id: String::new(),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn odata_value_forms_are_read() {
        let v = json!({"a": "/Date(1764561600000)/", "b": "/Date(1764561600000+0060)/", "n": "19.90", "i": 3});
        assert_eq!(time(&v, "a").map(|t| t.timestamp_millis()), Some(1_764_561_600_000));
        assert_eq!(time(&v, "b").map(|t| t.timestamp_millis()), Some(1_764_561_600_000));
        assert_eq!(decimal(&v, "n").as_deref(), Some("19.9"));
        assert_eq!(number(&v, "i"), Some(3.0));
        assert!(many(&json!({"x": {"__deferred": {"uri": "u"}}}), "x").is_empty());
        assert!(one(&json!({"x": {"__deferred": {"uri": "u"}}}), "x").is_none());
    }

    #[test]
    fn a_product_without_variants_is_its_own_sku() {
        let p = json!({"integrationKey": "Online|cat|P1", "name": "P", "approvalStatus": "approved",
            "europe1Prices": {"results": [{"minqtd": "5", "price": "8.0"}, {"minqtd": "1", "price": "10.5"}]},
            "variants": {"results": []}, "picture": {"URL": "/medias/p.jpg"}});
        let (row, skus) = product(&p, Store { base_url: "https://api.example.com/" }).expect("product");
        assert_eq!(row.row.list_price, Some(10.5));
        assert_eq!(row.row.image_url.as_deref(), Some("https://api.example.com/medias/p.jpg"));
        assert_eq!(skus.len(), 1);
        assert_eq!(skus[0].row.sku_id, "Online|cat|P1");
    }
}
