//! Bulk writes of one page into a normalized table, in one statement: UNNEST the page, compare
//! content hashes with what is stored, upsert only new or changed rows, mark unchanged rows as seen by
//! this generation, and record created/updated change events. Sweeps delete what a full run did not see.

use sqlx::PgConnection;
use storelink_core::MerchantId;

use crate::normalize::{Hashed, InventoryRow, OrderRow, ProductRow, ShippingRow, SkuRow};

/// How a normalized table is laid out: key columns (text) and data columns with their array types.
pub(crate) struct Table {
    pub name: &'static str,
    pub entity: &'static str,
    pub keys: &'static [&'static str],
    /// (column, parameter array type). `text_split` is a text[] of chr(31)-joined lists, stored as text[].
    pub cols: &'static [(&'static str, &'static str)],
}

pub(crate) const PRODUCTS: Table = Table {
    name: "products",
    entity: "product",
    keys: &["product_id"],
    cols: &[
        ("display_name", "text[]"),
        ("description", "text[]"),
        ("brand", "text[]"),
        ("active", "bool[]"),
        ("list_price", "float8[]"),
        ("sale_price", "float8[]"),
        ("image_url", "text[]"),
        ("route", "text[]"),
        ("category_ids", "text_split"),
        ("source_modified_at", "timestamptz[]"),
        ("content_hash", "bytea[]"),
    ],
};

pub(crate) const SKUS: Table = Table {
    name: "skus",
    entity: "sku",
    keys: &["sku_id"],
    cols: &[
        ("product_id", "text[]"),
        ("display_name", "text[]"),
        ("active", "bool[]"),
        ("list_price", "float8[]"),
        ("sale_price", "float8[]"),
        ("attributes", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
};

pub(crate) const INVENTORY: Table = Table {
    name: "inventory",
    entity: "inventory",
    keys: &["sku_id", "location_id"],
    cols: &[
        ("product_id", "text[]"),
        ("stock_level", "int8[]"),
        ("availability", "text[]"),
        ("content_hash", "bytea[]"),
    ],
};

pub(crate) const SHIPPING_METHODS: Table = Table {
    name: "shipping_methods",
    entity: "shipping_method",
    keys: &["method_id"],
    cols: &[
        ("display_name", "text[]"),
        ("enabled", "bool[]"),
        ("calculator", "text[]"),
        ("ranges", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
};

pub(crate) const ORDERS: Table = Table {
    name: "orders",
    entity: "order",
    keys: &["order_id"],
    cols: &[
        ("state", "text[]"),
        ("site_id", "text[]"),
        ("currency", "text[]"),
        ("total", "float8[]"),
        ("submitted_at", "timestamptz[]"),
        ("source_modified_at", "timestamptz[]"),
        ("items", "jsonb[]"),
        ("shipping_groups", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
};

impl Table {
    /// The page upsert. Parameters: $1 merchant, then one array per key and column, then the generation.
    pub fn upsert_sql(&self) -> String {
        let keys = self.keys.join(", ");
        let names: Vec<&str> = self.keys.iter().copied().chain(self.cols.iter().map(|(c, _)| *c)).collect();
        let params: Vec<String> = self
            .keys
            .iter()
            .map(|_| "text[]")
            .chain(self.cols.iter().map(|(_, t)| if *t == "text_split" { "text[]" } else { t }))
            .enumerate()
            .map(|(i, t)| format!("${}::{t}", i + 2))
            .collect();
        let generation = format!("${}", names.len() + 2);
        let exprs: Vec<String> = self
            .cols
            .iter()
            .map(
                |(c, t)| if *t == "text_split" { format!("string_to_array(c.{c}, chr(31))") } else { format!("c.{c}") },
            )
            .collect();
        let cols: Vec<&str> = self.cols.iter().map(|(c, _)| *c).collect();
        let sets: Vec<String> = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let key_match: Vec<String> = self.keys.iter().map(|k| format!("x.{k} = o.{k}")).collect();
        let entity_id = match self.keys {
            [one] => format!("c.{one}"),
            [first, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|k| format!("NULLIF(c.{k}, '')")).collect();
                format!("concat_ws('@', c.{first}, {})", rest.join(", "))
            }
            [] => unreachable!("a table has a key"),
        };
        format!(
            "WITH t AS (SELECT * FROM UNNEST({params}) AS t({names})),
             old AS (SELECT {keys}, x.content_hash FROM {table} x JOIN t USING ({keys}) WHERE x.merchant_id = $1),
             changed AS (SELECT t.* FROM t LEFT JOIN old o USING ({keys})
                         WHERE o.content_hash IS DISTINCT FROM t.content_hash),
             up AS (INSERT INTO {table} (merchant_id, {keys}, {cols}, seen_generation)
                    SELECT $1, {c_keys}, {exprs}, {generation} FROM changed c
                    ON CONFLICT (merchant_id, {keys}) DO UPDATE SET {sets},
                        seen_generation = EXCLUDED.seen_generation, updated_at = now()),
             touched AS (UPDATE {table} x SET seen_generation = {generation}
                         FROM old o JOIN t USING ({keys})
                         WHERE x.merchant_id = $1 AND {key_match} AND o.content_hash = t.content_hash
                           AND x.seen_generation <> {generation})
             INSERT INTO change_events (merchant_id, entity, entity_id, change)
             SELECT $1, '{entity}', {entity_id}, CASE WHEN o.content_hash IS NULL THEN 'created' ELSE 'updated' END
             FROM changed c LEFT JOIN old o USING ({keys})",
            params = params.join(", "),
            names = names.join(", "),
            table = self.name,
            cols = cols.join(", "),
            c_keys = self.keys.iter().map(|k| format!("c.{k}")).collect::<Vec<_>>().join(", "),
            exprs = exprs.join(", "),
            sets = sets.join(", "),
            key_match = key_match.join(" AND "),
            entity = self.entity,
        )
    }

    /// Delete rows a full run of `generation` did not see, recording `deleted` change events.
    pub fn sweep_sql(&self) -> String {
        let entity_id = match self.keys {
            [one] => one.to_string(),
            [first, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|k| format!("NULLIF({k}, '')")).collect();
                format!("concat_ws('@', {first}, {})", rest.join(", "))
            }
            [] => unreachable!("a table has a key"),
        };
        format!(
            "WITH gone AS (DELETE FROM {table} WHERE merchant_id = $1 AND seen_generation < $2 RETURNING {keys})
             INSERT INTO change_events (merchant_id, entity, entity_id, change)
             SELECT $1, '{entity}', {entity_id}, 'deleted' FROM gone",
            table = self.name,
            keys = self.keys.join(", "),
            entity = self.entity,
        )
    }
}

/// Keep the last occurrence of each key: a statement may not touch a row twice.
fn dedupe<T>(rows: Vec<Hashed<T>>, key: impl Fn(&T) -> String) -> Vec<Hashed<T>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Hashed<T>> = rows.into_iter().rev().filter(|r| seen.insert(key(&r.row))).collect();
    out.reverse();
    out
}

fn col<T, U>(rows: &[Hashed<T>], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(|r| f(&r.row)).collect()
}

fn hashes<T>(rows: &[Hashed<T>]) -> Vec<Vec<u8>> {
    rows.iter().map(|r| r.hash.clone()).collect()
}

/// Returns how many rows were new or changed.
pub(crate) async fn write_products(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    rows: Vec<Hashed<ProductRow>>,
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r| r.product_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&PRODUCTS.upsert_sql())
        .bind(merchant)
        .bind(col(&rows, |r| r.product_id.clone()))
        .bind(col(&rows, |r| r.display_name.clone()))
        .bind(col(&rows, |r| r.description.clone()))
        .bind(col(&rows, |r| r.brand.clone()))
        .bind(col(&rows, |r| r.active))
        .bind(col(&rows, |r| r.list_price))
        .bind(col(&rows, |r| r.sale_price))
        .bind(col(&rows, |r| r.image_url.clone()))
        .bind(col(&rows, |r| r.route.clone()))
        .bind(col(&rows, |r| r.category_ids.join("\u{1f}")))
        .bind(col(&rows, |r| r.source_modified_at))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn write_skus(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    rows: Vec<Hashed<SkuRow>>,
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r| r.sku_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&SKUS.upsert_sql())
        .bind(merchant)
        .bind(col(&rows, |r| r.sku_id.clone()))
        .bind(col(&rows, |r| r.product_id.clone()))
        .bind(col(&rows, |r| r.display_name.clone()))
        .bind(col(&rows, |r| r.active))
        .bind(col(&rows, |r| r.list_price))
        .bind(col(&rows, |r| r.sale_price))
        .bind(col(&rows, |r| r.attributes.clone()))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn write_inventory(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    rows: Vec<Hashed<InventoryRow>>,
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r| format!("{}\u{1f}{}", r.sku_id, r.location_id));
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&INVENTORY.upsert_sql())
        .bind(merchant)
        .bind(col(&rows, |r| r.sku_id.clone()))
        .bind(col(&rows, |r| r.location_id.clone()))
        .bind(col(&rows, |r| r.product_id.clone()))
        .bind(col(&rows, |r| r.stock_level))
        .bind(col(&rows, |r| r.availability.clone()))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn write_shipping(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    rows: Vec<Hashed<ShippingRow>>,
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r| r.method_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&SHIPPING_METHODS.upsert_sql())
        .bind(merchant)
        .bind(col(&rows, |r| r.method_id.clone()))
        .bind(col(&rows, |r| r.display_name.clone()))
        .bind(col(&rows, |r| r.enabled))
        .bind(col(&rows, |r| r.calculator.clone()))
        .bind(col(&rows, |r| r.ranges.clone()))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn write_orders(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    rows: Vec<Hashed<OrderRow>>,
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r| r.order_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&ORDERS.upsert_sql())
        .bind(merchant)
        .bind(col(&rows, |r| r.order_id.clone()))
        .bind(col(&rows, |r| r.state.clone()))
        .bind(col(&rows, |r| r.site_id.clone()))
        .bind(col(&rows, |r| r.currency.clone()))
        .bind(col(&rows, |r| r.total))
        .bind(col(&rows, |r| r.submitted_at))
        .bind(col(&rows, |r| r.source_modified_at))
        .bind(col(&rows, |r| r.items.clone()))
        .bind(col(&rows, |r| r.shipping_groups.clone()))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn sweep(
    conn: &mut PgConnection,
    table: &Table,
    merchant: MerchantId,
    generation: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&table.sweep_sql()).bind(merchant).bind(generation).execute(conn).await?;
    Ok(done.rows_affected())
}
