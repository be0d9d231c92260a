//! Placing orders through the merchant's order integration object: `POST .../Orders` with the
//! partner reference as the order's `code` (docs/sap.md, "Order creation"), finding them again by
//! that reference (`Orders('<code>')`), and why cancelling is not offered. SAP's POST is an upsert
//! by `code`, so `create` first makes sure no order holds the code (a partner reference must never
//! overwrite an order of the merchant's own), and never retries the POST itself.

use std::collections::HashMap;

use chrono::Utc;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use storelink_connector::{ConnectorError, NewOrder, OrderLine, OrderRefusal, Session, Shopper};
use storelink_model::records::{Hashed, OrderRow};
use storelink_model::views::Address;

use crate::client::{Body, Call, DOCUMENT_LIMIT, SapClient};
use crate::credentials::Objects;
use crate::order_map::{self, amount, collection, nested, number, product_key, text};
use crate::sync::{Object, entity, service_url};

/// What pricing a line reads of its product: the catalog version and the price rows of the product
/// and its variants.
const PRICE_EXPAND: &str = "catalogVersion/catalog,europe1Prices/currency,variants/europe1Prices/currency";

pub async fn create(
    client: &SapClient,
    session: &Session,
    _credentials: &SecretString,
    order: &NewOrder<'_>,
) -> Result<Hashed<OrderRow>, ConnectorError> {
    // The merchant's object names, as every other call reads them (the session carries them).
    let objects = crate::bound::open(session).objects;
    if find_in(client, session, &objects.order, order.reference).await?.is_some() {
        return Err(ConnectorError::OrderRefused {
            reason: OrderRefusal::Other,
            message: format!("the store already has an order with the code {:?}", order.reference),
        });
    }
    let lines = price_lines(client, session, &objects, &order.lines).await?;
    let body = order_body(order, &lines, Utc::now().timestamp_millis());
    let call = Call {
        method: Method::POST,
        url: service_url(&session.store, &objects.order, Object::Order.root_set(), &[])?,
        authorization: Some(&crate::bound::open(session).authorization),
        body: Body::Json(body),
        // An upsert, but a second POST would write over what the store did to the order meanwhile.
        idempotent: false,
        limit: DOCUMENT_LIMIT,
    };
    let reply = client.send(call).await.map_err(refusal)?;
    // The POST answers the order with its lines only; the point read has everything the model maps.
    match find_in(client, session, &objects.order, order.reference).await {
        Ok(Some(created)) => Ok(created),
        _ => order_map::order(&reply.json("the created order")?)
            .map_err(|detail| ConnectorError::BadReply { what: "the created order".into(), detail }),
    }
}

/// The order placed under this partner reference, in the merchant's order object (the session's).
pub async fn find(
    client: &SapClient,
    session: &Session,
    reference: &str,
) -> Result<Option<Hashed<OrderRow>>, ConnectorError> {
    find_in(client, session, &crate::bound::open(session).objects.order, reference).await
}

/// SAP's Integration API persists items: setting `status` to `CANCELLED` through the order object
/// would skip the store's cancellation process (stock, payment, consignments). Not offered; the
/// merchant cancels in Backoffice and the change reaches partners through sync and webhooks.
pub async fn cancel(
    _client: &SapClient,
    _session: &Session,
    _order_id: &str,
) -> Result<Hashed<OrderRow>, ConnectorError> {
    Err(ConnectorError::Unsupported(
        "cancelling orders through Storelink (SAP's Integration API cannot run the store's cancellation process; the merchant cancels in Backoffice)",
    ))
}

async fn find_in(
    client: &SapClient,
    session: &Session,
    object: &str,
    code: &str,
) -> Result<Option<Hashed<OrderRow>>, ConnectorError> {
    let resource = entity(Object::Order.root_set(), code);
    let url = service_url(&session.store, object, &resource, &[("$expand", Object::Order.expand())])?;
    match client.send(Call::get(url, &crate::bound::open(session).authorization, DOCUMENT_LIMIT)).await {
        Ok(reply) => order_map::order(&reply.json("an order")?)
            .map(Some)
            .map_err(|detail| ConnectorError::BadReply { what: "an order".into(), detail }),
        Err(ConnectorError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An order line as SAP's entry needs it: the ordered product's code and catalog version, and its
/// price from the catalog (what the order object carries; SAP does not price an inbound order).
#[derive(Debug)]
struct Priced {
    code: String,
    version: Option<String>,
    catalog: Option<String>,
    quantity: i64,
    price: Option<f64>,
}

/// Each line's product and price, from one read per product of the product object (concurrent).
/// The order's currency is the first priced line's; a product or SKU the store does not have refuses
/// the order as an unknown SKU.
async fn price_lines(
    client: &SapClient,
    session: &Session,
    objects: &Objects,
    lines: &[OrderLine<'_>],
) -> Result<(Vec<Priced>, Option<String>), ConnectorError> {
    let mut ids: Vec<&str> = lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let reads = ids.iter().map(|id| async move {
        let url = service_url(
            &session.store,
            &objects.product,
            &entity(Object::Product.root_set(), id),
            &[("$expand", PRICE_EXPAND)],
        )?;
        match client.send(Call::get(url, &crate::bound::open(session).authorization, DOCUMENT_LIMIT)).await {
            Ok(reply) => Ok((*id, reply.json("a product")?)),
            Err(ConnectorError::NotFound { .. }) => Err(unknown_sku(id)),
            Err(e) => Err(e),
        }
    });
    let products: HashMap<&str, Value> = futures::future::try_join_all(reads).await?.into_iter().collect();
    let mut currency = None;
    let mut priced = Vec::with_capacity(lines.len());
    for line in lines {
        let product = products.get(line.product_id).map(|p| p.get("d").unwrap_or(p)).unwrap_or(&Value::Null);
        priced.push(price_line(product, line, &mut currency).ok_or_else(|| unknown_sku(line.sku_id))?);
    }
    Ok((priced, currency))
}

/// The SKU among the product's variants (or the product itself), by integrationKey or code. A
/// variant without its own price rows sells at its base product's [A].
fn price_line(product: &Value, line: &OrderLine<'_>, currency: &mut Option<String>) -> Option<Priced> {
    let is_sku = |item: &Value| {
        product_key(item).as_deref() == Some(line.sku_id) || text(item, "code").as_deref() == Some(line.sku_id)
    };
    let item =
        collection(product, "variants").iter().find(|v| is_sku(v)).or_else(|| is_sku(product).then_some(product))?;
    let version = nested(product, "catalogVersion");
    // The SKU's integrationKey is `<version>|<catalog>|<code>` when the answer leaves them out.
    let key: Vec<&str> = line.sku_id.split('|').collect();
    let (key_version, key_catalog) = match key.as_slice() {
        [version, catalog, _] => (Some(*version), Some(*catalog)),
        _ => (None, None),
    };
    let own = price(item, currency);
    Some(Priced {
        code: text(item, "code")?,
        version: version.and_then(|v| text(v, "version")).or(key_version.map(str::to_owned)),
        catalog: version
            .and_then(|v| nested(v, "catalog"))
            .and_then(|c| text(c, "id"))
            .or(key_catalog.map(str::to_owned)),
        quantity: line.quantity,
        price: own.or_else(|| price(product, currency)),
    })
}

/// The item's price for one piece (`minqtd` 1, or no minimum) in the order's currency; the first
/// such row fixes the currency when none is chosen yet.
fn price(item: &Value, currency: &mut Option<String>) -> Option<f64> {
    let mut rows = collection(item, "europe1Prices").iter().filter(|r| number(r, "minqtd").is_none_or(|m| m <= 1.0));
    let row_currency = |r: &Value| nested(r, "currency").and_then(|c| text(c, "isocode"));
    let row = match currency {
        Some(chosen) => rows.find(|r| row_currency(r).as_deref() == Some(chosen.as_str()))?,
        None => {
            let row = rows.find(|r| number(r, "price").is_some())?;
            *currency = row_currency(row);
            row
        }
    };
    number(row, "price")
}

/// The POST body (docs/sap.md, "Order creation"): amounts and `Edm.Int64` as text, the date as
/// `/Date(ms)/`; the same address for delivery and payment.
fn order_body(order: &NewOrder<'_>, (lines, currency): &(Vec<Priced>, Option<String>), now_ms: i64) -> Value {
    let a = order.shipping_address;
    let names = [a.first_name.as_deref(), a.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let email = match order.shopper {
        Shopper::Email(email) | Shopper::Guest { email: Some(email) } => Some(email),
        _ => None,
    };
    let user = match order.shopper {
        Shopper::Profile(uid) => json!({"uid": uid}),
        Shopper::Email(email) => json!({"uid": email, "name": names}),
        // SAP's guest customers have the uid `<id>|<email>` [A]; the reference keeps it per order.
        Shopper::Guest { email } => {
            json!({"uid": format!("{}|{}", order.reference, email.unwrap_or("guest")), "name": names})
        }
    };
    let address = address_body(a, email);
    let mut subtotal = 0.0;
    let entries: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let total = line.price.map(|p| p * line.quantity as f64);
            subtotal += total.unwrap_or(0.0);
            json!({
                "entryNumber": n,
                "quantity": line.quantity.to_string(),
                "product": {"code": line.code, "catalogVersion": {"version": line.version, "catalog": {"id": line.catalog}}},
                "basePrice": line.price.map(amount),
                "totalPrice": total.map(amount),
            })
        })
        .collect();
    let mut body = json!({
        "code": order.reference,
        "date": format!("/Date({now_ms})/"),
        "user": user,
        "deliveryMode": {"code": order.shipping_method},
        "deliveryAddress": address,
        "paymentAddress": address,
        "entries": entries,
        "subtotal": amount(subtotal),
        "totalPrice": amount(subtotal),
    });
    if let Some(currency) = currency {
        body["currency"] = json!({"isocode": currency});
    }
    if let Some(site) = order.site {
        body["store"] = json!({"uid": site});
    }
    body
}

/// The model's address as SAP's `Address` attributes (the inverse of `order_map`'s reading).
fn address_body(a: &Address, email: Option<&str>) -> Value {
    json!({
        "firstname": a.first_name, "lastname": a.last_name, "company": a.company,
        "line1": a.line1, "line2": a.line2, "town": a.city, "postalcode": a.postal_code,
        "country": a.country.as_ref().map(|c| json!({"isocode": c})),
        "phone1": a.phone, "email": a.email.as_deref().or(email),
    })
}

fn unknown_sku(id: &str) -> ConnectorError {
    ConnectorError::OrderRefused {
        reason: OrderRefusal::UnknownSku,
        message: format!("the store has no product {id:?}"),
    }
}

/// The store's refusal of the POST in the seam's terms. `missing_nav_property` is a reference the
/// store could not resolve: the delivery mode, a required item, else a product.
fn refusal(error: ConnectorError) -> ConnectorError {
    match error {
        ConnectorError::Refused { message } => {
            let reason = if !message.starts_with("missing_nav_property") {
                OrderRefusal::Other
            } else if message.to_ascii_lowercase().contains("deliverymode") {
                OrderRefusal::InvalidShippingMethod
            } else if message.contains("is required") {
                OrderRefusal::Other
            } else {
                OrderRefusal::UnknownSku
            };
            ConnectorError::OrderRefused { reason, message }
        }
        ConnectorError::NotFound { .. } => {
            ConnectorError::Unsupported("orders on this store (it has no order integration object)")
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_references_are_told_apart() {
        let refused = |m: &str| refusal(ConnectorError::Refused { message: m.into() });
        let reason = |e: ConnectorError| match e {
            ConnectorError::OrderRefused { reason, .. } => Some(reason),
            _ => None,
        };
        let product = "missing_nav_property: Product [X] was not found and cannot be created";
        assert_eq!(reason(refused(product)), Some(OrderRefusal::UnknownSku));
        let mode = "missing_nav_property: DeliveryMode [x] was not found";
        assert_eq!(reason(refused(mode)), Some(OrderRefusal::InvalidShippingMethod));
        let currency = "missing_nav_property: Property 'currency' is required for Order";
        assert_eq!(reason(refused(currency)), Some(OrderRefusal::Other));
        assert_eq!(reason(refused("invalid_property: Property 'x' is not defined")), Some(OrderRefusal::Other));
        assert!(matches!(refusal(ConnectorError::NotFound { what: "/x".into() }), ConnectorError::Unsupported(_)));
    }
}
