//! The simulated store's data. Products and SKUs are generated from (seed, index) on demand, so a
//! 100,000-product store costs almost nothing; only changes (updates, deletions, additions, stock)
//! are kept. Base items share one `lastModifiedDate`; changed ones get a strictly increasing clock.
//! A multi-site store prices every product in each site's price list group (`listPrices` and
//! `salePrices` maps), and its sites other than the default one carry a subset of the catalog.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::scim::Filter;

const ADJECTIVES: [&str; 8] = ["Classic", "Modern", "Vintage", "Everyday", "Premium", "Compact", "Organic", "Rugged"];
const NOUNS: [&str; 8] = ["Mug", "Jacket", "Backpack", "Lamp", "Sneaker", "Notebook", "Scarf", "Bottle"];
const COLORS: [&str; 4] = ["red", "blue", "black", "green"];
const SIZES: [&str; 4] = ["S", "M", "L", "XL"];

pub(crate) fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // splitmix64 over the inputs: deterministic pseudo-random values per item.
    let mut z = seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug)]
struct Change {
    version: u32,
    modified: DateTime<Utc>,
}

pub(crate) struct Catalog {
    seed: u64,
    skus_per: usize,
    count: usize,
    deleted: BTreeSet<usize>,
    changes: HashMap<usize, Change>,
    /// (modified, index) of every changed product, for cheap "modified since" queries.
    by_modified: BTreeMap<(DateTime<Utc>, usize), ()>,
    stock: HashMap<String, i64>,
    /// The price list groups of the store's sites, the default site's first, and how their prices
    /// relate to the default group's.
    groups: Vec<(String, f64)>,
    /// Products taken off a site (`OccSim::remove_from_site`): (product index, site position).
    off_site: BTreeSet<(usize, usize)>,
}

/// Every tenth product of a multi-site store is sold on its default site only.
pub(crate) fn default_site_only(index: usize) -> bool {
    index % 10 == 9
}

impl Catalog {
    pub fn new(seed: u64, products: usize, skus_per: usize, groups: Vec<(String, f64)>) -> Self {
        Self {
            groups,
            off_site: BTreeSet::new(),
            seed,
            skus_per: skus_per.max(1),
            count: products,
            deleted: BTreeSet::new(),
            changes: HashMap::new(),
            by_modified: BTreeMap::new(),
            stock: HashMap::new(),
        }
    }

    pub fn product_id(index: usize) -> String {
        format!("prod{:06}", index + 1)
    }

    pub fn sku_id(index: usize, j: usize) -> String {
        format!("sku{:06}-{}", index + 1, j + 1)
    }

    pub fn index_of(id: &str) -> Option<usize> {
        id.strip_prefix("prod")?.parse::<usize>().ok()?.checked_sub(1)
    }

    pub fn sku_index(sku: &str) -> Option<(usize, usize)> {
        let (product, j) = sku.strip_prefix("sku")?.split_once('-')?;
        Some((product.parse::<usize>().ok()?.checked_sub(1)?, j.parse::<usize>().ok()?.checked_sub(1)?))
    }

    pub fn exists(&self, index: usize) -> bool {
        index < self.count && !self.deleted.contains(&index)
    }

    pub fn len(&self) -> usize {
        self.count - self.deleted.len()
    }

    /// Whether the product is on the site at `site` (its position in the store's sites; 0 is the
    /// default site, which has the whole catalog).
    pub fn on_site(&self, index: usize, site: usize) -> bool {
        site == 0 || (!default_site_only(index) && !self.off_site.contains(&(index, site)))
    }

    /// Take a product off one site (not the default one); the other sites keep it.
    pub fn remove_from_site(&mut self, id: &str, site: usize, now: DateTime<Utc>) -> bool {
        match Self::index_of(id).filter(|i| self.exists(*i) && site > 0) {
            Some(index) => {
                self.off_site.insert((index, site));
                self.touch(index, now);
                true
            }
            None => false,
        }
    }

    /// The selection restricted to the products of the site at `site`.
    pub fn on_site_only(&self, selection: Selection, site: usize) -> Selection {
        if site == 0 {
            return selection;
        }
        let indices = match selection {
            Selection::All => (0..self.count).filter(|i| self.exists(*i)).collect(),
            Selection::Indices(indices) => indices,
        };
        Selection::Indices(indices.into_iter().filter(|i| self.on_site(*i, site)).collect())
    }

    /// A price in every price list group: `{"defaultPriceGroup": 12.5, "euPriceGroup": 11.25}`.
    fn prices(&self, price: Option<f64>) -> Value {
        let map: serde_json::Map<String, Value> = self
            .groups
            .iter()
            .map(|(group, factor)| (group.clone(), json!(price.map(|p| (p * factor * 100.0).round() / 100.0))))
            .collect();
        Value::Object(map)
    }

    fn touch(&mut self, index: usize, now: DateTime<Utc>) {
        let change = self.changes.entry(index).or_insert(Change { version: 0, modified: base_time() });
        self.by_modified.remove(&(change.modified, index));
        change.version += 1;
        change.modified = now;
        self.by_modified.insert((now, index), ());
    }

    pub fn add(&mut self, now: DateTime<Utc>) -> String {
        let index = self.count;
        self.count += 1;
        self.touch(index, now);
        Self::product_id(index)
    }

    pub fn update(&mut self, id: &str, now: DateTime<Utc>) -> bool {
        match Self::index_of(id).filter(|i| self.exists(*i)) {
            Some(index) => {
                self.touch(index, now);
                true
            }
            None => false,
        }
    }

    pub fn delete(&mut self, id: &str) -> bool {
        match Self::index_of(id).filter(|i| self.exists(*i)) {
            Some(index) => {
                self.deleted.insert(index);
                if let Some(change) = self.changes.remove(&index) {
                    self.by_modified.remove(&(change.modified, index));
                }
                true
            }
            None => false,
        }
    }

    pub fn set_stock(&mut self, sku: &str, level: i64, now: DateTime<Utc>) -> bool {
        match Self::sku_index(sku).filter(|(i, j)| self.exists(*i) && *j < self.skus_per) {
            Some((index, _)) => {
                self.stock.insert(sku.to_owned(), level);
                self.touch(index, now);
                true
            }
            None => false,
        }
    }

    /// The `n`-th existing product index in listing order (skipping deletions).
    fn nth(&self, n: usize) -> Option<usize> {
        let mut index = n;
        let mut skipped = 0;
        loop {
            let below = self.deleted.range(..=index).count();
            if below == skipped {
                return (index < self.count).then_some(index);
            }
            index = n + below;
            skipped = below;
        }
    }

    /// Indices matching `filter` in listing order; `None` filter means every product.
    pub fn select(&self, filter: Option<&Filter>, sort_modified: bool) -> Selection {
        let Some(filter) = filter else {
            if sort_modified {
                return Selection::Indices(
                    self.sorted_by_modified((0..self.count).filter(|i| self.exists(*i)).collect()),
                );
            }
            return Selection::All;
        };
        let candidates: Vec<usize> = match filter.lower_bound("lastModifiedDate") {
            Some(bound) if bound >= base_time() => self.by_modified.range((bound, 0)..).map(|((_, i), _)| *i).collect(),
            _ => (0..self.count).filter(|i| self.exists(*i)).collect(),
        };
        let mut matched: Vec<usize> = candidates.into_iter().filter(|i| filter.matches(&self.product(*i))).collect();
        if sort_modified {
            matched = self.sorted_by_modified(matched);
        } else {
            matched.sort_unstable();
        }
        Selection::Indices(matched)
    }

    fn sorted_by_modified(&self, mut indices: Vec<usize>) -> Vec<usize> {
        indices.sort_by_key(|i| (self.changes.get(i).map_or(base_time(), |c| c.modified), *i));
        indices
    }

    /// The selection in the opposite order (`sort=id:desc`).
    pub fn reversed(&self, selection: Selection) -> Selection {
        let mut indices = match selection {
            Selection::All => (0..self.count).filter(|i| self.exists(*i)).collect(),
            Selection::Indices(indices) => indices,
        };
        indices.reverse();
        Selection::Indices(indices)
    }

    pub fn page(&self, selection: &Selection, offset: usize, limit: usize) -> (Vec<usize>, usize) {
        match selection {
            Selection::All => {
                let total = self.len();
                let items = (offset..total.min(offset.saturating_add(limit))).filter_map(|n| self.nth(n)).collect();
                (items, total)
            }
            Selection::Indices(indices) => (indices.iter().skip(offset).take(limit).copied().collect(), indices.len()),
        }
    }

    pub(crate) fn price(&self, index: usize, version: u32) -> f64 {
        let cents = 500 + mix(self.seed, index as u64, 1) % 20_000 + u64::from(version) * 100;
        cents as f64 / 100.0
    }

    pub fn product(&self, index: usize) -> Value {
        let change = self.changes.get(&index).copied().unwrap_or(Change { version: 0, modified: base_time() });
        let name = format!(
            "{} {} {}{}",
            ADJECTIVES[(mix(self.seed, index as u64, 2) % 8) as usize],
            NOUNS[(mix(self.seed, index as u64, 3) % 8) as usize],
            index + 1,
            if change.version > 0 { format!(" (rev {})", change.version) } else { String::new() }
        );
        let id = Self::product_id(index);
        let list_price = self.price(index, change.version);
        let on_sale = mix(self.seed, index as u64, 4).is_multiple_of(4);
        let sale_price = on_sale.then(|| (list_price * 0.8 * 100.0).round() / 100.0);
        let skus: Vec<Value> = (0..self.skus_per).map(|j| self.sku(index, j, &change)).collect();
        let brand = ["Acme", "Northwind", "Contoso"][(mix(self.seed, index as u64, 6) % 3) as usize];
        json!({
            "id": id,
            "repositoryId": id,
            "displayName": name,
            "description": format!("{name}, sold by the simulated store."),
            "longDescription": format!("<p>{name}</p>"),
            "active": !mix(self.seed, index as u64, 5).is_multiple_of(50),
            "type": "product",
            "listPrice": list_price,
            "salePrice": sale_price,
            "listPrices": self.prices(Some(list_price)),
            "salePrices": self.prices(sale_price),
            "primaryFullImageURL": format!("/ccstore/v1/images/?source=/file/products/{id}.jpg"),
            "primaryThumbImageURL": format!("/ccstore/v1/images/?source=/file/products/{id}.jpg&height=100&width=100"),
            "brand": brand,
            "parentCategories": [{"id": format!("cat{}", mix(self.seed, index as u64, 7) % 12 + 1)}],
            "route": format!("/product/{id}"),
            "lastModifiedDate": iso(change.modified),
            "childSKUs": skus,
        })
    }

    fn sku(&self, index: usize, j: usize, change: &Change) -> Value {
        let id = Self::sku_id(index, j);
        let list_price = self.price(index, change.version) + j as f64;
        json!({
            "repositoryId": id,
            "id": id,
            "productId": Self::product_id(index),
            "displayName": format!("{} / {}", COLORS[j % 4], SIZES[(j / 4) % 4]),
            "listPrice": list_price,
            "salePrice": null,
            "listPrices": self.prices(Some(list_price)),
            "salePrices": self.prices(None),
            "active": true,
            "color": COLORS[j % 4],
            "size": SIZES[(j / 4) % 4],
            "lastModifiedDate": iso(change.modified),
        })
    }

    pub fn skus_of(&self, index: usize) -> Vec<Value> {
        let change = self.changes.get(&index).copied().unwrap_or(Change { version: 0, modified: base_time() });
        (0..self.skus_per).map(|j| self.sku(index, j, &change)).collect()
    }

    pub fn skus_per(&self) -> usize {
        self.skus_per
    }

    /// Take `quantity` of a SKU out of stock (an order was placed).
    pub fn reserve(&mut self, index: usize, j: usize, quantity: i64, now: DateTime<Utc>) {
        let level = self.stock(index, j) - quantity;
        self.set_stock(&Self::sku_id(index, j), level, now);
    }

    pub fn stock(&self, index: usize, j: usize) -> i64 {
        let sku = Self::sku_id(index, j);
        self.stock.get(&sku).copied().unwrap_or_else(|| {
            let n = mix(self.seed, index as u64, 10 + j as u64) % 60;
            if n < 6 { 0 } else { n as i64 }
        })
    }

    /// A product's stock, at `location` (a site's inventory location; `None`: the default one).
    pub fn inventory(&self, index: usize, location: Option<&str>) -> Value {
        let product = self.product(index);
        let skus: Vec<Value> = (0..self.skus_per)
            .map(|j| {
                let level = self.stock(index, j);
                let status = if level > 0 { "inStock" } else { "outOfStock" };
                json!({"skuId": Self::sku_id(index, j), "skuNumber": Self::sku_id(index, j), "stockLevel": level,
                       "locationId": location, "availabilityStatus": if level > 0 { 1000 } else { 1001 },
                       "availabilityStatusMsg": status})
            })
            .collect();
        let total: i64 = (0..self.skus_per).map(|j| self.stock(index, j)).sum();
        json!({"id": product["id"], "displayName": product["displayName"],
               "stockStatus": if total > 0 { "inStock" } else { "outOfStock" }, "totalStockLevel": total,
               "lastModifiedDate": product["lastModifiedDate"], "childSKUs": skus})
    }
}

pub(crate) enum Selection {
    All,
    Indices(Vec<usize>),
}

pub(crate) fn shipping_methods(count: usize) -> Vec<Value> {
    let names = ["Ground", "Two Day", "Overnight", "Freight", "Pickup"];
    (0..count)
        .map(|i| {
            let id = format!("ship{}", i + 1);
            let amount = 4.75 + 5.0 * i as f64;
            json!({"repositoryId": id, "id": id, "displayName": names[i % names.len()], "enabled": i != 2,
                   "shippingCalculator": "priceRange", "displaySequence": i + 1, "taxCode": null,
                   "shipToLocations": [], "isExternallyPriced": false,
                   "ranges": [{"repositoryId": format!("{id}-r1"), "low": 0, "high": null, "amount": amount}]})
        })
        .collect()
}

/// Seeded orders in the shape of OCC's order documents (see the order-submit fixture).
pub(crate) fn seed_order(seed: u64, n: usize, catalog: &Catalog, products: usize, now: DateTime<Utc>) -> Value {
    let id = format!("o{}", 10_001 + n);
    let states = ["SUBMITTED", "PROCESSING", "NO_PENDING_ACTION"];
    let items: Vec<Value> = (0..(mix(seed, n as u64, 20) % 3 + 1) as usize)
        .map(|k| {
            let index = (mix(seed, n as u64, 21 + k as u64) as usize) % products.max(1);
            let qty = mix(seed, n as u64, 30 + k as u64) % 3 + 1;
            let price = catalog.price(index, 0);
            json!({"id": format!("ci{}{}", 10_001 + n, k), "productId": Catalog::product_id(index),
                   "catalogRefId": Catalog::sku_id(index, 0), "quantity": qty,
                   "priceInfo": {"amount": price * qty as f64, "listPrice": price, "currencyCode": "USD"}})
        })
        .collect();
    let subtotal: f64 = items.iter().filter_map(|i| i["priceInfo"]["amount"].as_f64()).sum();
    json!({
        "id": id, "state": states[n % 3], "siteId": "siteUS", "submittedDate": iso(base_time()),
        "lastModifiedDate": iso(now), "lastModifiedTime": now.timestamp_millis(),
        "priceInfo": {"amount": subtotal, "shipping": 6.5, "tax": 0.0, "total": subtotal + 6.5, "currencyCode": "USD"},
        "commerceItems": items,
        "shippingGroups": [{"shippingGroupId": format!("sg{}", 10_001 + n), "shippingMethod": {"value": "ship1"},
            "shippingAddress": {"firstName": "Jean", "lastName": "Smith", "address1": "101 TNT Dr", "city": "Birmingham",
                                "state": "AL", "postalCode": "35203", "country": "US"},
            "trackingNumber": null, "state": "INITIAL"}],
        "paymentGroups": []
    })
}
