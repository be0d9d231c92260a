//! Bulk writes of one page into a normalized table, in one statement: UNNEST the page, compare
//! content hashes with what is stored, upsert only new or changed rows, mark unchanged rows as seen by
//! this generation, and record created/updated change events (the first run of a kind is the
//! baseline and records none). Orders and shipments are written monotonically in the store's
//! modified time: an older version never replaces a newer one. Sweeps delete what a full run did
//! not see and a point read confirmed gone.

use sqlx::PgConnection;
use storelink_core::MerchantId;

use storelink_connector_occ::normalize;
use storelink_model::records::{
    Hashed, InventoryRow, OrderRow, ProductRow, ReturnRow, ShipmentRow, ShippingRow, SkuRow,
};

/// How a page is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Baseline fast path; fails on a duplicate key (the caller then retries the page as `Upsert`).
    Insert,
    /// Baseline: upsert without change events.
    Upsert,
    /// Later runs: upsert, recording created/updated events.
    UpsertWithEvents,
}

/// How a normalized table is laid out: key columns (text) and data columns with their array types.
pub(crate) struct Table {
    pub name: &'static str,
    pub entity: &'static str,
    pub keys: &'static [&'static str],
    /// (column, parameter array type). `text_split` is a text[] of chr(31)-joined lists, stored as text[];
    /// `numeric_text` is sent as decimal text (cheaper for Postgres than float8 -> numeric).
    pub cols: &'static [(&'static str, &'static str)],
    /// Written monotonically in `source_modified_at` (docs/DATA-MODEL.md, "Newer wins"): orders and
    /// shipments arrive by webhook and by sync, in any order. Products have a single writer (the
    /// sync, whose reads are ordered in time), so a store restored from a backup still syncs.
    pub monotonic: bool,
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
        ("list_price", "numeric_text"),
        ("sale_price", "numeric_text"),
        ("image_url", "text[]"),
        ("route", "text[]"),
        ("category_ids", "text_split"),
        ("source_modified_at", "timestamptz[]"),
        ("content_hash", "bytea[]"),
    ],
    monotonic: false,
};

pub(crate) const SKUS: Table = Table {
    name: "skus",
    entity: "sku",
    keys: &["sku_id"],
    cols: &[
        ("product_id", "text[]"),
        ("display_name", "text[]"),
        ("active", "bool[]"),
        ("list_price", "numeric_text"),
        ("sale_price", "numeric_text"),
        ("attributes", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
    monotonic: false,
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
    monotonic: false,
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
    monotonic: false,
};

pub(crate) const ORDERS: Table = Table {
    name: "orders",
    entity: "order",
    keys: &["order_id"],
    cols: &[
        ("state", "text[]"),
        ("site_id", "text[]"),
        ("currency", "text[]"),
        ("total", "numeric_text"),
        ("submitted_at", "timestamptz[]"),
        ("source_modified_at", "timestamptz[]"),
        ("items", "jsonb[]"),
        ("shipping_groups", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
    monotonic: true,
};

pub(crate) const SHIPMENTS: Table = Table {
    name: "shipments",
    entity: "shipment",
    keys: &["shipment_id"],
    cols: &[
        ("order_id", "text[]"),
        ("state", "text[]"),
        ("shipping_method", "text[]"),
        ("tracking_number", "text[]"),
        ("carrier", "text[]"),
        ("ship_date", "timestamptz[]"),
        ("address", "jsonb[]"),
        ("items", "jsonb[]"),
        ("source_modified_at", "timestamptz[]"),
        ("content_hash", "bytea[]"),
    ],
    monotonic: true,
};

pub(crate) const RETURNS: Table = Table {
    name: "returns",
    entity: "return",
    keys: &["return_id"],
    cols: &[
        ("order_id", "text[]"),
        ("state", "text[]"),
        ("authorization_number", "text[]"),
        ("tracking_number", "text[]"),
        ("return_label", "text[]"),
        ("refund_total", "numeric_text"),
        ("items", "jsonb[]"),
        ("content_hash", "bytea[]"),
    ],
    monotonic: false,
};

impl Table {
    pub fn sql(&self, mode: WriteMode) -> String {
        match mode {
            WriteMode::Insert => self.insert_sql(),
            WriteMode::Upsert => self.upsert_sql(false),
            WriteMode::UpsertWithEvents => self.upsert_sql(true),
        }
    }

    /// Plain insert of the page (baseline runs: the merchant's rows for this kind do not exist yet).
    fn insert_sql(&self) -> String {
        let keys = self.keys.join(", ");
        let names: Vec<&str> = self.keys.iter().copied().chain(self.cols.iter().map(|(c, _)| *c)).collect();
        let params: Vec<String> = self
            .keys
            .iter()
            .map(|_| "text[]")
            .chain(self.cols.iter().map(|(_, t)| match *t {
                "text_split" => "text[]",
                "numeric_text" => "numeric[]",
                other => other,
            }))
            .enumerate()
            .map(|(i, t)| format!("${}::{t}", i + 2))
            .collect();
        let generation = format!("${}", names.len() + 2);
        let exprs: Vec<String> = self
            .cols
            .iter()
            .map(
                |(c, t)| if *t == "text_split" { format!("string_to_array(t.{c}, chr(31))") } else { format!("t.{c}") },
            )
            .collect();
        let cols: Vec<&str> = self.cols.iter().map(|(c, _)| *c).collect();
        format!(
            "INSERT INTO {table} AS x (merchant_id, {keys}, {cols}, seen_generation)
             SELECT $1, {t_keys}, {exprs}, {generation} FROM UNNEST({params}) AS t({names})",
            table = self.name,
            cols = cols.join(", "),
            t_keys = self.keys.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", "),
            exprs = exprs.join(", "),
            params = params.join(", "),
            names = names.join(", "),
        )
    }

    /// The page upsert, one statement. Parameters: $1 merchant, then one array per key and column, then
    /// the generation. A row whose content hash is unchanged is only marked as seen (and not even that
    /// when already seen by this generation); `updated_at` moves only when the content changed, which
    /// is also how the RETURNING clause tells changed rows (and `xmax = 0`, inserted ones) apart.
    /// On a monotonic table a row is not touched at all when the stored version is newer, or when
    /// the stored version has a time and the incoming one has none (it cannot be shown newer); at an
    /// equal time the content hash decides, as everywhere. A newer time with the same content moves
    /// only the time (a shipment's time is its order's), without an event.
    fn upsert_sql(&self, events: bool) -> String {
        let keys = self.keys.join(", ");
        let sets: Vec<String> = self.cols.iter().map(|(c, _)| format!("{c} = EXCLUDED.{c}")).collect();
        let (later, newer) = match self.monotonic {
            true => (
                " OR EXCLUDED.source_modified_at > x.source_modified_at",
                " AND (x.source_modified_at IS NULL OR EXCLUDED.source_modified_at >= x.source_modified_at)",
            ),
            false => ("", ""),
        };
        let upsert = format!(
            "{insert}
             ON CONFLICT (merchant_id, {keys}) DO UPDATE SET {sets}, seen_generation = EXCLUDED.seen_generation,
                 updated_at = CASE WHEN x.content_hash IS DISTINCT FROM EXCLUDED.content_hash THEN now() ELSE x.updated_at END
             WHERE (x.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR x.seen_generation <> EXCLUDED.seen_generation{later}){newer}",
            insert = self.insert_sql(),
            sets = sets.join(", "),
        );
        if !events {
            return upsert;
        }
        format!(
            "WITH up AS ({upsert}
                 RETURNING {keys}, (xmax = 0) AS created, (updated_at = now()) AS changed)
             INSERT INTO change_events (merchant_id, entity, entity_id, change)
             SELECT $1, '{entity}', {entity_id}, CASE WHEN created THEN 'created' ELSE 'updated' END FROM up WHERE changed",
            entity = self.entity,
            entity_id = self.entity_id(),
        )
    }

    /// The event's entity id: the key, or `sku_id@location_id` for composite keys (default location: `sku_id`).
    fn entity_id(&self) -> String {
        match self.keys {
            [one] => one.to_string(),
            [first, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|k| format!("NULLIF({k}, '')")).collect();
                format!("concat_ws('@', {first}, {})", rest.join(", "))
            }
            [] => unreachable!("a table has a key"),
        }
    }

    /// Delete rows a full run of `generation` did not see, recording `deleted` change events. With
    /// `of_products`, only the rows of the products in `$3` (text[]), whose absence a point read
    /// confirmed.
    pub fn sweep_sql(&self, of_products: bool) -> String {
        let only = if of_products { " AND product_id = ANY($3::text[])" } else { "" };
        format!(
            "WITH gone AS (DELETE FROM {table} WHERE merchant_id = $1 AND seen_generation < $2{only} RETURNING {keys})
             INSERT INTO change_events (merchant_id, entity, entity_id, change)
             SELECT $1, '{entity}', {entity_id}, 'deleted' FROM gone",
            table = self.name,
            keys = self.keys.join(", "),
            entity = self.entity,
            entity_id = self.entity_id(),
        )
    }
}

/// Keep the last occurrence of each key: a statement may not touch a row twice.
fn dedupe<T>(rows: &[Hashed<T>], key: impl Fn(&T) -> String) -> Vec<&Hashed<T>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<&Hashed<T>> = rows.iter().rev().filter(|r| seen.insert(key(&r.row))).collect();
    out.reverse();
    out
}

fn col<T, U>(rows: &[&Hashed<T>], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(|r| f(&r.row)).collect()
}

/// Shortest exact decimal form of a price (`19.99`), or NULL.
fn decimal(value: Option<f64>) -> Option<String> {
    value.filter(|v| v.is_finite()).map(|v| v.to_string())
}

fn hashes<T>(rows: &[&Hashed<T>]) -> Vec<Vec<u8>> {
    rows.iter().map(|r| r.hash.clone()).collect()
}

/// Returns how many rows were new or changed.
pub(crate) async fn write_products(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &[Hashed<ProductRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &ProductRow| r.product_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&PRODUCTS.sql(mode))
        .bind(merchant)
        .bind(col(&rows, |r| r.product_id.clone()))
        .bind(col(&rows, |r| r.display_name.clone()))
        .bind(col(&rows, |r| r.description.clone()))
        .bind(col(&rows, |r| r.brand.clone()))
        .bind(col(&rows, |r| r.active))
        .bind(col(&rows, |r| decimal(r.list_price)))
        .bind(col(&rows, |r| decimal(r.sale_price)))
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
    mode: WriteMode,
    rows: &[Hashed<SkuRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &SkuRow| r.sku_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&SKUS.sql(mode))
        .bind(merchant)
        .bind(col(&rows, |r| r.sku_id.clone()))
        .bind(col(&rows, |r| r.product_id.clone()))
        .bind(col(&rows, |r| r.display_name.clone()))
        .bind(col(&rows, |r| r.active))
        .bind(col(&rows, |r| decimal(r.list_price)))
        .bind(col(&rows, |r| decimal(r.sale_price)))
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
    mode: WriteMode,
    rows: &[Hashed<InventoryRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &InventoryRow| format!("{}\u{1f}{}", r.sku_id, r.location_id));
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&INVENTORY.sql(mode))
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
    mode: WriteMode,
    rows: &[Hashed<ShippingRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &ShippingRow| r.method_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&SHIPPING_METHODS.sql(mode))
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
    mode: WriteMode,
    rows: &[Hashed<OrderRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &OrderRow| r.order_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(&ORDERS.sql(mode))
        .bind(merchant)
        .bind(col(&rows, |r| r.order_id.clone()))
        .bind(col(&rows, |r| r.state.clone()))
        .bind(col(&rows, |r| r.site_id.clone()))
        .bind(col(&rows, |r| r.currency.clone()))
        .bind(col(&rows, |r| decimal(r.total)))
        .bind(col(&rows, |r| r.submitted_at))
        .bind(col(&rows, |r| r.source_modified_at))
        .bind(col(&rows, |r| r.items.clone()))
        .bind(col(&rows, |r| r.shipping_groups.clone()))
        .bind(hashes(&rows))
        .bind(generation)
        .execute(&mut *conn)
        .await?;
    let shipments: Vec<Hashed<ShipmentRow>> = rows.iter().flat_map(|r| normalize::shipments(&r.row)).collect();
    write_shipments(conn, merchant, mode, &shipments).await?;
    Ok(done.rows_affected())
}

/// Shipments come with their orders (never swept, like orders); an unchanged one is not rewritten.
async fn write_shipments(
    conn: &mut PgConnection,
    merchant: MerchantId,
    mode: WriteMode,
    rows: &[Hashed<ShipmentRow>],
) -> Result<u64, sqlx::Error> {
    let rows = dedupe(rows, |r: &ShipmentRow| r.shipment_id.clone());
    if rows.is_empty() {
        return Ok(0);
    }
    let mode = if matches!(mode, WriteMode::Insert) { WriteMode::Upsert } else { mode };
    let done = sqlx::query(&SHIPMENTS.sql(mode))
        .bind(merchant)
        .bind(col(&rows, |r| r.shipment_id.clone()))
        .bind(col(&rows, |r| r.order_id.clone()))
        .bind(col(&rows, |r| r.state.clone()))
        .bind(col(&rows, |r| r.shipping_method.clone()))
        .bind(col(&rows, |r| r.tracking_number.clone()))
        .bind(col(&rows, |r| r.carrier.clone()))
        .bind(col(&rows, |r| r.ship_date))
        .bind(col(&rows, |r| r.address.clone()))
        .bind(col(&rows, |r| r.items.clone()))
        .bind(col(&rows, |r| r.source_modified_at))
        .bind(hashes(&rows))
        .bind(0_i64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Return requests arrive only by webhook, so they always record change events.
pub(crate) async fn write_return(
    conn: &mut PgConnection,
    merchant: MerchantId,
    row: &Hashed<ReturnRow>,
) -> Result<u64, sqlx::Error> {
    let r = &row.row;
    let done = sqlx::query(&RETURNS.sql(WriteMode::UpsertWithEvents))
        .bind(merchant)
        .bind(vec![r.return_id.clone()])
        .bind(vec![r.order_id.clone()])
        .bind(vec![r.state.clone()])
        .bind(vec![r.authorization_number.clone()])
        .bind(vec![r.tracking_number.clone()])
        .bind(vec![r.return_label.clone()])
        .bind(vec![decimal(r.refund_total)])
        .bind(vec![r.items.clone()])
        .bind(vec![row.hash.clone()])
        .bind(0_i64)
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
    let done = sqlx::query(&table.sweep_sql(false)).bind(merchant).bind(generation).execute(conn).await?;
    Ok(done.rows_affected())
}

/// The sweep of `table` restricted to the rows of `products` (confirmed gone, or re-read).
pub(crate) async fn sweep_products(
    conn: &mut PgConnection,
    table: &Table,
    merchant: MerchantId,
    generation: i64,
    products: &[String],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&table.sweep_sql(true)).bind(merchant).bind(generation).bind(products).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Mark the rows of `products` as seen by `generation` (a point read found them; nothing to rewrite).
pub(crate) async fn mark_seen(
    conn: &mut PgConnection,
    table: &Table,
    merchant: MerchantId,
    generation: i64,
    products: &[String],
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET seen_generation = $2 WHERE merchant_id = $1 AND seen_generation < $2 AND product_id = ANY($3::text[])",
        table.name
    );
    let done = sqlx::query(&sql).bind(merchant).bind(generation).bind(products).execute(conn).await?;
    Ok(done.rows_affected())
}
