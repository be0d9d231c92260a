//! Bulk writes of one page into a normalized table, in one statement: UNNEST the page, compare
//! content hashes with what is stored, upsert only new or changed rows, mark unchanged rows as seen by
//! this generation, and record created/updated change events (the first run of a kind is the
//! baseline and records none). Orders and shipments are written monotonically in the store's
//! modified time: an older version never replaces a newer one. Sweeps delete what a full run did
//! not see and a point read confirmed gone.
//! Each table is declared once below (its keys, and each column with its parameter type and how a
//! row binds it); its statements are built from that on first use and then reused.

use std::collections::HashSet;
use std::sync::LazyLock;

use sqlx::error::BoxDynError;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgConnection};
use storelink_core::MerchantId;

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

/// How a column's values are sent: one array parameter per column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    Text,
    Bool,
    Int8,
    Jsonb,
    Timestamptz,
    /// Decimal text, cast to numeric[] (cheaper for Postgres than float8 -> numeric).
    Numeric,
    /// A text[] column, sent as one chr(31)-joined text per row and split in the statement.
    TextList,
    /// The content hash, every table's last data column.
    Bytea,
}

impl Param {
    fn array_type(self) -> &'static str {
        match self {
            Param::Text | Param::TextList => "text[]",
            Param::Bool => "bool[]",
            Param::Int8 => "int8[]",
            Param::Jsonb => "jsonb[]",
            Param::Timestamptz => "timestamptz[]",
            Param::Numeric => "numeric[]",
            Param::Bytea => "bytea[]",
        }
    }
}

/// A data column: its name, how it is sent, and how the page's rows bind it (one array).
struct Column<R: 'static> {
    name: &'static str,
    param: Param,
    bind: fn(&[&Hashed<R>], &mut PgArguments) -> Result<(), BoxDynError>,
}

/// A key column (text, not null): its name and the row's value.
struct Key<R: 'static> {
    name: &'static str,
    value: fn(&R) -> &str,
}

/// `column!(name, Param, |row| value)`: a column named after the record's field, bound as the array
/// of `value` over the page's rows.
macro_rules! column {
    ($name:ident, $param:ident, |$r:ident| $value:expr) => {
        Column {
            name: stringify!($name),
            param: Param::$param,
            bind: |rows, args| {
                args.add(
                    rows.iter()
                        .map(|h| {
                            let $r = &h.row;
                            $value
                        })
                        .collect::<Vec<_>>(),
                )
            },
        }
    };
}

macro_rules! key {
    ($name:ident) => {
        Key { name: stringify!($name), value: |r| r.$name.as_str() }
    };
}

/// A normalized table: keys and data columns (every table also has `content_hash`, bound from the
/// row's hash, and `seen_generation`), and its statements, built once from them.
pub(crate) struct Table<R: 'static> {
    name: &'static str,
    /// The `entity` of its change events.
    entity: &'static str,
    keys: &'static [Key<R>],
    cols: &'static [Column<R>],
    /// The site its change events name (an SQL expression over the row): the `site_id` key of rows
    /// synced per site, an order's own site, `''` for rows without one.
    site: &'static str,
    /// Written monotonically in `source_modified_at` (docs/DATA-MODEL.md, "Newer wins"): orders and
    /// shipments arrive by webhook and by sync, in any order. Products have a single writer (the
    /// sync, whose reads are ordered in time), so a store restored from a backup still syncs.
    monotonic: bool,
    sql: LazyLock<Statements>,
}

/// A table's statements. The two restricted to products apply to tables with a `product_id`.
pub(crate) struct Statements {
    pub name: &'static str,
    insert: String,
    upsert: String,
    upsert_with_events: String,
    sweep: String,
    sweep_of_products: String,
    mark_seen: String,
    sweep_other_sites: String,
}

pub(crate) static PRODUCTS: Table<ProductRow> = Table {
    name: "products",
    entity: "product",
    keys: &[key!(product_id), key!(site_id)],
    site: "site_id",
    cols: &[
        column!(display_name, Text, |r| r.display_name.as_deref()),
        column!(description, Text, |r| r.description.as_deref()),
        column!(brand, Text, |r| r.brand.as_deref()),
        column!(active, Bool, |r| r.active),
        column!(list_price, Numeric, |r| decimal(r.list_price)),
        column!(sale_price, Numeric, |r| decimal(r.sale_price)),
        column!(image_url, Text, |r| r.image_url.as_deref()),
        column!(route, Text, |r| r.route.as_deref()),
        column!(category_ids, TextList, |r| r.category_ids.join("\u{1f}")),
        column!(source_modified_at, Timestamptz, |r| r.source_modified_at),
    ],
    monotonic: false,
    sql: LazyLock::new(|| PRODUCTS.statements()),
};

pub(crate) static SKUS: Table<SkuRow> = Table {
    name: "skus",
    entity: "sku",
    keys: &[key!(sku_id), key!(site_id)],
    site: "site_id",
    cols: &[
        column!(product_id, Text, |r| r.product_id.as_str()),
        column!(display_name, Text, |r| r.display_name.as_deref()),
        column!(active, Bool, |r| r.active),
        column!(list_price, Numeric, |r| decimal(r.list_price)),
        column!(sale_price, Numeric, |r| decimal(r.sale_price)),
        column!(attributes, Jsonb, |r| &r.attributes),
    ],
    monotonic: false,
    sql: LazyLock::new(|| SKUS.statements()),
};

pub(crate) static INVENTORY: Table<InventoryRow> = Table {
    name: "inventory",
    entity: "inventory",
    keys: &[key!(sku_id), key!(location_id), key!(site_id)],
    site: "site_id",
    cols: &[
        column!(product_id, Text, |r| r.product_id.as_str()),
        column!(stock_level, Int8, |r| r.stock_level),
        column!(availability, Text, |r| r.availability.as_deref()),
    ],
    monotonic: false,
    sql: LazyLock::new(|| INVENTORY.statements()),
};

pub(crate) static SHIPPING_METHODS: Table<ShippingRow> = Table {
    name: "shipping_methods",
    entity: "shipping_method",
    keys: &[key!(method_id), key!(site_id)],
    site: "site_id",
    cols: &[
        column!(display_name, Text, |r| r.display_name.as_deref()),
        column!(enabled, Bool, |r| r.enabled),
        column!(calculator, Text, |r| r.calculator.as_deref()),
        column!(rates, Jsonb, |r| json(&r.rates)),
    ],
    monotonic: false,
    sql: LazyLock::new(|| SHIPPING_METHODS.statements()),
};

pub(crate) static ORDERS: Table<OrderRow> = Table {
    name: "orders",
    entity: "order",
    keys: &[key!(order_id)],
    site: "COALESCE(site_id, '')",
    cols: &[
        column!(state, Text, |r| r.state.as_deref()),
        column!(status, Text, |r| r.status.as_str()),
        column!(payment_status, Text, |r| r.payment_status.as_str()),
        column!(site_id, Text, |r| r.site_id.as_deref()),
        column!(currency, Text, |r| r.currency.as_deref()),
        column!(total, Numeric, |r| decimal(r.total)),
        column!(submitted_at, Timestamptz, |r| r.submitted_at),
        column!(source_modified_at, Timestamptz, |r| r.source_modified_at),
        column!(lines, Jsonb, |r| json(&r.lines)),
        column!(billing_address, Jsonb, |r| r.billing_address.as_ref().map(json)),
        column!(shipping_address, Jsonb, |r| r.shipping_address.as_ref().map(json)),
        column!(totals, Jsonb, |r| json(&r.totals)),
    ],
    monotonic: true,
    sql: LazyLock::new(|| ORDERS.statements()),
};

pub(crate) static SHIPMENTS: Table<ShipmentRow> = Table {
    name: "shipments",
    entity: "shipment",
    keys: &[key!(shipment_id)],
    site: "''",
    cols: &[
        column!(order_id, Text, |r| r.order_id.as_str()),
        column!(state, Text, |r| r.state.as_deref()),
        column!(status, Text, |r| r.status.as_str()),
        column!(shipping_method, Text, |r| r.shipping_method.as_deref()),
        column!(tracking_number, Text, |r| r.tracking_number.as_deref()),
        column!(carrier, Text, |r| r.carrier.as_deref()),
        column!(ship_date, Timestamptz, |r| r.ship_date),
        column!(address, Jsonb, |r| r.address.as_ref().map(json)),
        column!(lines, Jsonb, |r| json(&r.lines)),
        column!(source_modified_at, Timestamptz, |r| r.source_modified_at),
    ],
    monotonic: true,
    sql: LazyLock::new(|| SHIPMENTS.statements()),
};

pub(crate) static RETURNS: Table<ReturnRow> = Table {
    name: "returns",
    entity: "return",
    keys: &[key!(return_id)],
    site: "''",
    cols: &[
        column!(order_id, Text, |r| r.order_id.as_deref()),
        column!(state, Text, |r| r.state.as_deref()),
        column!(status, Text, |r| r.status.as_str()),
        column!(reason, Text, |r| r.reason.as_deref()),
        column!(authorization_number, Text, |r| r.authorization_number.as_deref()),
        column!(tracking_number, Text, |r| r.tracking_number.as_deref()),
        column!(return_label, Text, |r| r.return_label.as_deref()),
        column!(refund_total, Numeric, |r| decimal(r.refund_total)),
        column!(currency, Text, |r| r.currency.as_deref()),
        column!(lines, Jsonb, |r| json(&r.lines)),
    ],
    monotonic: false,
    sql: LazyLock::new(|| RETURNS.statements()),
};

/// A model value (lines, an address, totals, rates) as stored in its jsonb column.
fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Shortest exact decimal form of a price (`19.99`), or NULL.
fn decimal(value: Option<f64>) -> Option<String> {
    value.filter(|v| v.is_finite()).map(|v| v.to_string())
}

/// What an upsert's RETURNING tells: a row inserted (`xmax = 0`), or one whose content changed
/// (`updated_at` moves only then), as opposed to one only marked seen.
const RETURNING_CHANGES: &str = "RETURNING (xmax = 0) AS created, (updated_at = now()) AS changed";

/// An upsert's answer: how many rows it created and how many it changed.
const COUNT_CHANGES: &str =
    "SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE changed AND NOT created) FROM up";

/// Rows a write created and updated (unchanged rows count in neither).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub created: i64,
    pub updated: i64,
}

impl Written {
    /// Whether any row was created or changed.
    pub fn any(self) -> bool {
        self.created + self.updated > 0
    }
}

impl<R> Table<R> {
    pub fn sql(&self) -> &Statements {
        &self.sql
    }

    /// The data columns as sent: the declared ones, then the content hash.
    fn data(&self) -> impl Iterator<Item = (&'static str, Param)> {
        self.cols.iter().map(|c| (c.name, c.param)).chain([("content_hash", Param::Bytea)])
    }

    /// The parameters of a write: $1 merchant, then one array per key and data column, then the
    /// generation.
    fn arguments(
        &self,
        merchant: MerchantId,
        generation: i64,
        rows: &[&Hashed<R>],
    ) -> Result<PgArguments, BoxDynError> {
        let mut args = PgArguments::default();
        args.add(merchant)?;
        for key in self.keys {
            args.add(rows.iter().map(|h| (key.value)(&h.row)).collect::<Vec<_>>())?;
        }
        for column in self.cols {
            (column.bind)(rows, &mut args)?;
        }
        args.add(rows.iter().map(|h| h.hash.as_slice()).collect::<Vec<_>>())?;
        args.add(generation)?;
        Ok(args)
    }

    fn statements(&self) -> Statements {
        let insert = self.insert_sql();
        let upsert = self.upsert_sql(&insert);
        Statements {
            name: self.name,
            upsert_with_events: self.with_events(&upsert),
            upsert: format!("WITH up AS ({upsert}\n {RETURNING_CHANGES}) {COUNT_CHANGES}"),
            insert,
            sweep: self.sweep_sql("seen_generation < $2"),
            sweep_of_products: self.sweep_sql("seen_generation < $2 AND product_id = ANY($3::text[]) AND site_id = $4"),
            mark_seen: format!(
                "UPDATE {} SET seen_generation = $2 WHERE merchant_id = $1 AND seen_generation < $2
                     AND product_id = ANY($3::text[]) AND site_id = $4",
                self.name
            ),
            sweep_other_sites: self.sweep_sql("NOT (site_id = ANY($2::text[]))"),
        }
    }

    /// Plain insert of the page (baseline runs: the merchant's rows for this kind do not exist yet).
    fn insert_sql(&self) -> String {
        let keys = self.keys.iter().map(|k| (k.name, Param::Text));
        let params: Vec<String> = keys
            .clone()
            .chain(self.data())
            .enumerate()
            .map(|(i, (_, p))| format!("${}::{}", i + 2, p.array_type()))
            .collect();
        let names: Vec<&str> = keys.map(|(k, _)| k).chain(self.data().map(|(c, _)| c)).collect();
        let exprs: Vec<String> = self
            .data()
            .map(
                |(c, p)| {
                    if p == Param::TextList { format!("string_to_array(t.{c}, chr(31))") } else { format!("t.{c}") }
                },
            )
            .collect();
        format!(
            "INSERT INTO {table} AS x (merchant_id, {keys}, {cols}, seen_generation)
             SELECT $1, {t_keys}, {exprs}, ${generation} FROM UNNEST({params}) AS t({names})",
            table = self.name,
            keys = self.key_list(),
            cols = self.data().map(|(c, _)| c).collect::<Vec<_>>().join(", "),
            t_keys = self.keys.iter().map(|k| format!("t.{}", k.name)).collect::<Vec<_>>().join(", "),
            exprs = exprs.join(", "),
            generation = names.len() + 2,
            params = params.join(", "),
            names = names.join(", "),
        )
    }

    /// The page upsert, one statement. A row whose content hash is unchanged is only marked as seen
    /// (and not even that when already seen by this generation); `updated_at` moves only when the
    /// content changed, which is also how the RETURNING clause of `with_events` tells changed rows
    /// (and `xmax = 0`, inserted ones) apart.
    /// On a monotonic table a row is not touched at all when the stored version is newer, or when
    /// the stored version has a time and the incoming one has none (it cannot be shown newer); at an
    /// equal time the content hash decides, as everywhere. A newer time with the same content moves
    /// only the time (a shipment's time is its order's), without an event.
    fn upsert_sql(&self, insert: &str) -> String {
        let sets: Vec<String> = self.data().map(|(c, _)| format!("{c} = EXCLUDED.{c}")).collect();
        let (later, newer) = match self.monotonic {
            true => (
                " OR EXCLUDED.source_modified_at > x.source_modified_at",
                " AND (x.source_modified_at IS NULL OR EXCLUDED.source_modified_at >= x.source_modified_at)",
            ),
            false => ("", ""),
        };
        format!(
            "{insert}
             ON CONFLICT (merchant_id, {keys}) DO UPDATE SET {sets}, seen_generation = EXCLUDED.seen_generation,
                 updated_at = CASE WHEN x.content_hash IS DISTINCT FROM EXCLUDED.content_hash THEN now() ELSE x.updated_at END
             WHERE (x.content_hash IS DISTINCT FROM EXCLUDED.content_hash OR x.seen_generation <> EXCLUDED.seen_generation{later}){newer}",
            keys = self.key_list(),
            sets = sets.join(", "),
        )
    }

    /// The upsert, recording a created/updated change event per new or changed row.
    fn with_events(&self, upsert: &str) -> String {
        format!(
            "WITH up AS ({upsert}
                 {RETURNING_CHANGES}, {keys}, {site} AS event_site),
             events AS (INSERT INTO change_events (merchant_id, entity, entity_id, change, site_id)
                 SELECT $1, '{entity}', {entity_id}, CASE WHEN created THEN 'created' ELSE 'updated' END, event_site
                 FROM up WHERE changed)
             {COUNT_CHANGES}",
            keys = self.key_list(),
            site = self.site,
            entity = self.entity,
            entity_id = self.entity_id(),
        )
    }

    /// Delete the merchant's rows matching `which` (rows a full run of `$2` did not see, narrowed or
    /// not; rows of sites no longer read), recording `deleted` change events.
    fn sweep_sql(&self, which: &str) -> String {
        format!(
            "WITH gone AS (DELETE FROM {table} WHERE merchant_id = $1 AND {which} RETURNING {keys}, {site} AS event_site)
             INSERT INTO change_events (merchant_id, entity, entity_id, change, site_id)
             SELECT $1, '{entity}', {entity_id}, 'deleted', event_site FROM gone",
            table = self.name,
            keys = self.key_list(),
            site = self.site,
            entity = self.entity,
            entity_id = self.entity_id(),
        )
    }

    fn key_list(&self) -> String {
        self.keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
    }

    /// The event's entity id: the key, or `sku_id@location_id` for composite keys (default location:
    /// `sku_id`). The site is not part of it: the event names it apart (`change_events.site_id`).
    fn entity_id(&self) -> String {
        let keys: Vec<&Key<R>> = self.keys.iter().filter(|k| k.name != "site_id").collect();
        match keys.as_slice() {
            [one] => one.name.to_string(),
            [first, rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|k| format!("NULLIF({}, '')", k.name)).collect();
                format!("concat_ws('@', {}, {})", first.name, rest.join(", "))
            }
            [] => unreachable!("a table has a key"),
        }
    }

    /// Keep the last occurrence of each key: a statement may not touch a row twice.
    fn dedupe<'a>(&self, rows: &'a [Hashed<R>]) -> Vec<&'a Hashed<R>> {
        let mut seen = HashSet::new();
        let mut out: Vec<&Hashed<R>> = rows
            .iter()
            .rev()
            .filter(|h| seen.insert(self.keys.iter().map(|k| (k.value)(&h.row)).collect::<Vec<_>>()))
            .collect();
        out.reverse();
        out
    }
}

impl Statements {
    fn write(&self, mode: WriteMode) -> &str {
        match mode {
            WriteMode::Insert => &self.insert,
            WriteMode::Upsert => &self.upsert,
            WriteMode::UpsertWithEvents => &self.upsert_with_events,
        }
    }
}

/// Write one page into `table`. Returns how many rows it created and updated.
pub(crate) async fn write<R>(
    conn: &mut PgConnection,
    table: &Table<R>,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &[Hashed<R>],
) -> Result<Written, sqlx::Error> {
    write_unique(conn, table, merchant, generation, mode, &table.dedupe(rows)).await
}

async fn write_unique<R>(
    conn: &mut PgConnection,
    table: &Table<R>,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &[&Hashed<R>],
) -> Result<Written, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Written::default());
    }
    let args = table.arguments(merchant, generation, rows).map_err(sqlx::Error::Encode)?;
    let sql = table.sql().write(mode);
    if mode == WriteMode::Insert {
        let done = sqlx::query_with(sql, args).execute(conn).await?;
        return Ok(Written { created: i64::try_from(done.rows_affected()).unwrap_or(i64::MAX), updated: 0 });
    }
    let (created, updated): (i64, i64) = sqlx::query_as_with(sql, args).fetch_one(conn).await?;
    Ok(Written { created, updated })
}

/// Orders, and the shipments that come with them (never swept, like orders; an unchanged one is
/// not rewritten). Returns how many orders it created and updated.
pub(crate) async fn write_orders(
    conn: &mut PgConnection,
    merchant: MerchantId,
    generation: i64,
    mode: WriteMode,
    rows: &[Hashed<OrderRow>],
) -> Result<Written, sqlx::Error> {
    let rows = ORDERS.dedupe(rows);
    let written = write_unique(conn, &ORDERS, merchant, generation, mode, &rows).await?;
    let shipments: Vec<Hashed<ShipmentRow>> = rows.iter().flat_map(|r| r.row.shipments.iter().cloned()).collect();
    let mode = if mode == WriteMode::Insert { WriteMode::Upsert } else { mode };
    write(conn, &SHIPMENTS, merchant, 0, mode, &shipments).await?;
    Ok(written)
}

pub(crate) async fn sweep(
    conn: &mut PgConnection,
    table: &Statements,
    merchant: MerchantId,
    generation: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&table.sweep).bind(merchant).bind(generation).execute(conn).await?;
    Ok(done.rows_affected())
}

/// The sweep of `table` restricted to the rows of `products` on `site` (confirmed gone, or re-read).
pub(crate) async fn sweep_products(
    conn: &mut PgConnection,
    table: &Statements,
    merchant: MerchantId,
    generation: i64,
    products: &[String],
    site: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&table.sweep_of_products)
        .bind(merchant)
        .bind(generation)
        .bind(products)
        .bind(site)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Mark the rows of `products` on `site` as seen by `generation` (a point read found them; nothing
/// to rewrite).
pub(crate) async fn mark_seen(
    conn: &mut PgConnection,
    table: &Statements,
    merchant: MerchantId,
    generation: i64,
    products: &[String],
    site: &str,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query(&table.mark_seen).bind(merchant).bind(generation).bind(products).bind(site).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Delete (and announce) the rows of sites a full run no longer reads: the merchant deselected the
/// site, or the store went from several sites to one (`sites` = `['']`). Only for tables keyed by site.
pub(crate) async fn sweep_other_sites(
    conn: &mut PgConnection,
    table: &Statements,
    merchant: MerchantId,
    sites: &[String],
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&table.sweep_other_sites).bind(merchant).bind(sites).execute(conn).await?;
    Ok(done.rows_affected())
}
