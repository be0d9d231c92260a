//! The simulated store's data: root items of each integration object in their nested form (a
//! navigation property holds the referenced item; a back-reference holds the parent's unique
//! attributes), seeded from a fixed seed, in creation order (SAP's default order, by PK).

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::schema::{self, Edm, IntegrationObject, Item};

pub const PRODUCT: &str = "StorelinkProduct";
pub const STOCK: &str = "StorelinkStock";
pub const DELIVERY: &str = "StorelinkDeliveryMode";
pub const ORDER: &str = "StorelinkOrder";
pub const CATALOG: &str = "storelinkProductCatalog";
pub const VERSION: &str = "Online";
pub const WAREHOUSE: &str = "warehouse_s";

/// What happened to an item, as a webhook names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "Created",
            Change::Updated => "Updated",
            Change::Deleted => "Deleted",
        }
    }
}

#[derive(Default)]
pub struct Store {
    pub products: Vec<Value>,
    pub stock: Vec<Value>,
    pub delivery_modes: Vec<Value>,
    pub orders: Vec<Value>,
}

fn catalog_version() -> Value {
    json!({"version": VERSION, "catalog": {"id": CATALOG}})
}

fn price(amount: f64) -> Value {
    json!({"currency": {"isocode": "USD"}, "minqtd": 1, "price": amount, "net": false})
}

fn category(n: usize) -> Value {
    json!({"catalogVersion": catalog_version(), "code": format!("C{n:02}"), "name": format!("Category {n}")})
}

const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

pub fn product(n: usize, variants: usize, amount: f64, now: i64) -> Value {
    let code = format!("P{n:05}");
    let variants: Vec<Value> = (0..variants)
        .map(|v| {
            json!({
                "catalogVersion": catalog_version(),
                "code": format!("{code}-{}", SIZES[v % SIZES.len()]),
                "name": format!("Product {n} size {}", SIZES[v % SIZES.len()]),
                "ean": format!("40{n:08}{v:02}"),
                "modifiedtime": now,
                "europe1Prices": [price(amount)],
                "supercategories": [{"catalogVersion": catalog_version(), "code": format!("size-{}", SIZES[v % SIZES.len()]), "name": SIZES[v % SIZES.len()]}],
            })
        })
        .collect();
    let media = |kind: &str| {
        json!({"catalogVersion": catalog_version(), "code": format!("{code}-{kind}"),
               "URL": format!("/medias/{code}-{kind}.jpg?context=bWFzdGVy"), "mime": "image/jpeg", "altText": format!("Product {n}")})
    };
    json!({
        "catalogVersion": catalog_version(),
        "code": code,
        "name": format!("Product {n}"),
        "description": format!("<p>Description of product {n}</p>"),
        "ean": format!("40{n:08}00"),
        "approvalStatus": "approved",
        "creationtime": now,
        "modifiedtime": now,
        "europe1Prices": [price(amount)],
        "picture": media("picture"),
        "normal": [media("normal-1"), media("normal-2")],
        "supercategories": [category(n % 5 + 1)],
        "variants": variants,
    })
}

pub fn stock_level(product_code: &str, available: i64, now: i64) -> Value {
    json!({
        "productCode": product_code,
        "warehouse": {"code": WAREHOUSE},
        "available": available,
        "reserved": 0,
        "inStockStatus": {"code": "notSpecified"},
        "modifiedtime": now,
    })
}

fn delivery_mode(code: &str, name: &str, value: f64, now: i64) -> Value {
    json!({
        "code": code, "name": name, "description": format!("{name} delivery"), "active": true, "net": false,
        "modifiedtime": now,
        "values": [{"zone": {"code": "usa"}, "currency": {"isocode": "USD"}, "minimum": 0.0, "value": value}],
    })
}

fn address(order: &str, n: usize) -> Value {
    json!({
        "owner": {"code": order}, "line1": format!("{n} Main Street"), "postalcode": "10001",
        "firstname": "Ada", "lastname": format!("Buyer{n}"), "company": null, "line2": null, "town": "New York",
        "country": {"isocode": "US"}, "phone1": "+1 555 0100", "email": format!("buyer{n}@example.com"),
    })
}

pub fn order(n: usize, products: &[Value], now: i64) -> Value {
    let code = format!("{:08}", 1000 + n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
    let lines = 1 + n % 3;
    let mut subtotal = 0.0;
    let entries: Vec<Value> = (0..lines.min(products.len().max(1)))
        .filter_map(|e| {
            let product = products.get((n + e) % products.len().max(1))?;
            let variant = product["variants"].get(0).unwrap_or(product);
            let unit = variant["europe1Prices"][0]["price"].as_f64().unwrap_or(10.0);
            let quantity: i64 = rng.gen_range(1..4);
            subtotal += unit * quantity as f64;
            Some(json!({
                "order": {"code": code}, "entryNumber": e as i64,
                "product": {"catalogVersion": catalog_version(), "code": variant["code"]},
                "quantity": quantity, "basePrice": unit, "totalPrice": round(unit * quantity as f64),
            }))
        })
        .collect();
    let subtotal = round(subtotal);
    json!({
        "code": code, "date": now, "creationtime": now, "modifiedtime": now,
        "status": {"code": "CREATED"}, "paymentStatus": {"code": "PAID"}, "deliveryStatus": {"code": "NOTSHIPPED"},
        "currency": {"isocode": "USD"}, "user": {"uid": format!("buyer{n}@example.com"), "name": format!("Ada Buyer{n}")},
        "store": {"uid": "storelink-store"}, "deliveryMode": {"code": "standard-gross"},
        "deliveryAddress": address(&code, n), "paymentAddress": address(&code, n),
        "entries": entries, "subtotal": subtotal, "deliveryCost": 9.99, "totalDiscounts": 0.0,
        "totalTax": round(subtotal * 0.08), "totalPrice": round(subtotal + 9.99), "net": false, "description": null,
    })
}

pub fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl Store {
    pub fn seed(products: usize, variants: usize, delivery_modes: usize, orders: usize, seed: u64, now: i64) -> Self {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let products: Vec<Value> =
            (1..=products).map(|n| product(n, variants, round(rng.gen_range(5.0..200.0)), now)).collect();
        let stock = products
            .iter()
            .flat_map(|p| {
                let variants = p["variants"].as_array().cloned().unwrap_or_default();
                if variants.is_empty() { vec![p.clone()] } else { variants }
            })
            .map(|v| stock_level(v["code"].as_str().unwrap_or_default(), rng.gen_range(0..100), now))
            .collect();
        let modes =
            [("standard-gross", "Standard", 9.99), ("premium-gross", "Premium", 19.99), ("pickup", "Pickup", 0.0)];
        let delivery_modes = modes
            .iter()
            .cycle()
            .take(delivery_modes)
            .enumerate()
            .map(|(i, (code, name, value))| {
                let code = if i < modes.len() { (*code).to_owned() } else { format!("{code}-{i}") };
                delivery_mode(&code, name, *value, now)
            })
            .collect();
        let orders = (0..orders).map(|n| order(n, &products, now)).collect();
        Self { products, stock, delivery_modes, orders }
    }

    pub fn roots(&self, object: &str) -> &[Value] {
        match object {
            PRODUCT => &self.products,
            STOCK => &self.stock,
            DELIVERY => &self.delivery_modes,
            ORDER => &self.orders,
            _ => &[],
        }
    }

    pub fn roots_mut(&mut self, object: &str) -> Option<&mut Vec<Value>> {
        match object {
            PRODUCT => Some(&mut self.products),
            STOCK => Some(&mut self.stock),
            DELIVERY => Some(&mut self.delivery_modes),
            ORDER => Some(&mut self.orders),
            _ => None,
        }
    }

    /// Whether a product or variant with this code exists (an order line must name one).
    pub fn has_product(&self, code: &str) -> bool {
        self.products
            .iter()
            .any(|p| p["code"] == code || p["variants"].as_array().is_some_and(|v| v.iter().any(|v| v["code"] == code)))
    }
}

/// Converts a POSTed OData JSON item (deep insert) into the nested form: `{"results": [...]}` and
/// arrays become arrays, `/Date(ms)/` and numeric strings become numbers; an unknown property is refused.
pub fn from_odata(object: &IntegrationObject, item: &Item, body: &Value) -> Result<Value, String> {
    let Some(fields) = body.as_object() else {
        return Err(format!("Expected an object for {}", item.code));
    };
    let mut out = serde_json::Map::new();
    for (name, value) in fields {
        if name == "__metadata" || name == "integrationKey" {
            continue;
        }
        let Some(attribute) = item.attribute(name) else {
            return Err(format!("Property '{name}' is not defined on {}", item.code));
        };
        let converted = match attribute.returns.as_deref().and_then(|t| object.item(t)) {
            None => primitive(attribute.edm, value).ok_or_else(|| format!("Invalid value for property '{name}'"))?,
            Some(target) if attribute.collection => {
                let list = value.get("results").unwrap_or(value);
                let list = list.as_array().ok_or_else(|| format!("Expected a collection for '{name}'"))?;
                Value::from(list.iter().map(|v| from_odata(object, target, v)).collect::<Result<Vec<_>, _>>()?)
            }
            Some(_) if value.is_null() => Value::Null,
            Some(target) => from_odata(object, target, value)?,
        };
        out.insert(name.clone(), converted);
    }
    Ok(Value::Object(out))
}

fn primitive(edm: Edm, value: &Value) -> Option<Value> {
    Some(match (edm, value) {
        (_, Value::Null) => Value::Null,
        (Edm::DateTime, Value::String(s)) => {
            let ms = s.strip_prefix("/Date(")?.strip_suffix(")/")?;
            let ms = ms.split(['+', '-']).next().filter(|m| !m.is_empty()).unwrap_or(ms);
            Value::from(ms.parse::<i64>().ok()?)
        }
        (Edm::Double, Value::String(s)) => Value::from(s.parse::<f64>().ok()?),
        (Edm::Int64 | Edm::Int32, Value::String(s)) => Value::from(s.parse::<i64>().ok()?),
        (Edm::Double | Edm::Int64 | Edm::Int32, Value::Number(_)) => value.clone(),
        (Edm::Boolean, Value::Bool(_)) | (Edm::String, Value::String(_)) => value.clone(),
        _ => return None,
    })
}

/// The root item's key in the store's nested form.
pub fn key_of(object: &IntegrationObject, entity: &Value) -> String {
    object.root().map(|root| schema::integration_key(object, root, entity)).unwrap_or_default()
}
