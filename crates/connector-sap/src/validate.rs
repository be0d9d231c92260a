//! The connect form's validation of the merchant's integration objects (docs/sap.md, "Validation"):
//! for each object, concurrently, its `$metadata` EDMX must have every attribute the connector maps,
//! then one `$top=1` read must pass. Failures name what the merchant fixes. The order object is
//! optional: without it the connect goes on and the `order_object` check warns.

use futures::future::join_all;
use secrecy::SecretString;
use storelink_connector::{Check, ConnectorError, Session};

use crate::client::{Call, PAGE_LIMIT, SapClient};
use crate::credentials::{Objects, SapCredentials};
use crate::sync::{Object, service_url};

/// The name of the check telling whether orders can be placed (what `create_orders` derives from).
pub const ORDER_CHECK: &str = storelink_connector::ORDERS_CHECK;

/// The items of each object and the attributes Storelink maps from them (properties or navigation
/// properties of the item's `EntityType`): docs/sap.md's table of the objects Storelink needs.
pub(crate) fn mapped(object: Object) -> &'static [(&'static str, &'static [&'static str])] {
    match object {
        Object::Product => &[
            (
                "Product",
                &[
                    "code",
                    "catalogVersion",
                    "name",
                    "description",
                    "ean",
                    "approvalStatus",
                    "creationtime",
                    "modifiedtime",
                    "europe1Prices",
                    "picture",
                    "normal",
                    "supercategories",
                    "variants",
                ],
            ),
            ("CatalogVersion", &["version", "catalog"]),
            ("Catalog", &["id"]),
            ("PriceRow", &["price", "currency", "minqtd", "net"]),
            ("Currency", &["isocode"]),
            ("Media", &["code", "URL", "mime", "altText"]),
            ("Category", &["code", "name"]),
            ("VariantProduct", &["code", "name", "ean", "modifiedtime", "europe1Prices", "supercategories"]),
        ],
        Object::Stock => &[
            ("StockLevel", &["productCode", "warehouse", "available", "reserved", "inStockStatus", "modifiedtime"]),
            ("Warehouse", &["code"]),
            ("InStockStatus", &["code"]),
        ],
        Object::DeliveryMode => &[
            ("ZoneDeliveryMode", &["code", "name", "description", "active", "net", "modifiedtime", "values"]),
            ("ZoneDeliveryModeValue", &["zone", "currency", "minimum", "value"]),
            ("Zone", &["code"]),
            ("Currency", &["isocode"]),
        ],
        Object::Order => &[
            (
                "Order",
                &[
                    "code",
                    "date",
                    "creationtime",
                    "modifiedtime",
                    "status",
                    "paymentStatus",
                    "deliveryStatus",
                    "currency",
                    "user",
                    "store",
                    "deliveryMode",
                    "deliveryAddress",
                    "paymentAddress",
                    "entries",
                    "subtotal",
                    "deliveryCost",
                    "totalDiscounts",
                    "totalTax",
                    "totalPrice",
                    "net",
                    "description",
                ],
            ),
            ("OrderEntry", &["entryNumber", "product", "quantity", "basePrice", "totalPrice"]),
            ("Product", &["code", "catalogVersion"]),
            ("CatalogVersion", &["version", "catalog"]),
            ("Catalog", &["id"]),
            (
                "Address",
                &[
                    "line1",
                    "line2",
                    "postalcode",
                    "firstname",
                    "lastname",
                    "company",
                    "town",
                    "country",
                    "phone1",
                    "email",
                ],
            ),
            ("Country", &["isocode"]),
            ("Currency", &["isocode"]),
            ("User", &["uid", "name"]),
            ("DeliveryMode", &["code"]),
            ("BaseStore", &["uid"]),
            ("OrderStatus", &["code"]),
            ("PaymentStatus", &["code"]),
            ("DeliveryStatus", &["code"]),
        ],
    }
}

pub async fn validate(client: &SapClient, session: &Session, credentials: &SecretString) -> Result<(), ConnectorError> {
    let objects = SapCredentials::parse(credentials)?.objects;
    let results = join_all(Object::ALL.map(|object| probe(client, session, &objects, object))).await;
    let results: Vec<(Object, Result<(), ConnectorError>)> = Object::ALL.into_iter().zip(results).collect();
    // Refused credentials say it all; then every object that is not set up, in one message.
    if let Some((_, Err(refused @ ConnectorError::CredentialsRefused { .. }))) =
        results.iter().find(|(_, r)| matches!(r, Err(ConnectorError::CredentialsRefused { .. })))
    {
        return Err(refused.clone());
    }
    let mut not_set_up = Vec::new();
    for (object, result) in results {
        match result {
            Ok(()) | Err(_) if object == Object::Order => {}
            Ok(()) => {}
            Err(ConnectorError::NotSetUp { message }) => not_set_up.push(message),
            Err(other) => return Err(other),
        }
    }
    if not_set_up.is_empty() {
        Ok(())
    } else {
        not_set_up.dedup();
        Err(ConnectorError::NotSetUp { message: not_set_up.join("; ") })
    }
}

/// The connect checks: whether orders can be placed (the order object exists and validates), under
/// the merchant's name for it (the session's).
pub async fn check(client: &SapClient, session: &Session) -> Vec<Check> {
    let objects = crate::bound::open(session).objects;
    match probe(client, session, &objects, Object::Order).await {
        Ok(()) => vec![Check::ok(ORDER_CHECK)],
        Err(e) => {
            let why = match e {
                ConnectorError::NotSetUp { message } => message,
                other => other.to_string(),
            };
            vec![Check::warning(
                ORDER_CHECK,
                format!(
                    "orders cannot be placed through Storelink: import {} from the Storelink ImpEx \
                     (storelink-integration-objects.impex) to take partner orders ({why})",
                    objects.order
                ),
            )]
        }
    }
}

/// One object: `$metadata` has every mapped attribute and a `$top=1` read passes (sent together).
async fn probe(client: &SapClient, session: &Session, objects: &Objects, object: Object) -> Result<(), ConnectorError> {
    let code = object.code(objects);
    let authorization = crate::bound::open(session).authorization;
    // Both are reads, so they go out together (one round trip); the EDMX's verdict comes first.
    let metadata = service_url(&session.store, code, "$metadata", &[])?;
    let first = service_url(&session.store, code, object.root_set(), &[("$top", "1")])?;
    let (edmx, read) = futures::join!(
        client.send(Call::get(metadata, &authorization, PAGE_LIMIT)),
        client.send(Call::get(first, &authorization, PAGE_LIMIT)),
    );
    let edmx = edmx.map_err(|e| setup_error(e, code))?;
    let missing = missing_attributes(&String::from_utf8_lossy(&edmx.body), code, object)?;
    if !missing.is_empty() {
        return Err(ConnectorError::NotSetUp {
            message: format!(
                "the integration object {code} lacks {}: add them (the Storelink ImpEx has them) and import it again",
                missing.join(", ")
            ),
        });
    }
    read.map_err(|e| setup_error(e, code))?;
    Ok(())
}

/// A refusal in the merchant's words of what to fix.
fn setup_error(error: ConnectorError, code: &str) -> ConnectorError {
    match error {
        // Right after the login a refused token is a refused client: the inbound channel of the
        // object may take another authentication type (Basic vs OAuth) than the form's.
        ConnectorError::SessionExpired | ConnectorError::CredentialsRefused { .. } => {
            ConnectorError::CredentialsRefused { status: 401 }
        }
        ConnectorError::PermissionMissing { .. } => ConnectorError::NotSetUp {
            message: format!(
                "the user lacks the storelinkgroup group, which may read {code}: add the user Storelink \
                 connects as to storelinkgroup in Backoffice (the Storelink ImpEx creates both)"
            ),
        },
        ConnectorError::NotFound { .. } => ConnectorError::NotSetUp {
            message: format!(
                "the integration object {code} is missing: import the Storelink ImpEx \
                 (storelink-integration-objects.impex) in Backoffice > System > Tools > Import"
            ),
        },
        other => other,
    }
}

/// Every mapped attribute the EDMX lacks, as `Object:Item:attribute` (`Object:Item` when the whole
/// item is missing).
fn missing_attributes(edmx: &str, code: &str, object: Object) -> Result<Vec<String>, ConnectorError> {
    let doc = roxmltree::Document::parse(edmx).map_err(|e| ConnectorError::BadReply {
        what: format!("{code}/$metadata"),
        detail: format!("not EDMX: {e}"),
    })?;
    let entity_type =
        |name: &str| doc.descendants().find(|n| n.has_tag_name("EntityType") && n.attribute("Name") == Some(name));
    let mut missing = Vec::new();
    for (item, attributes) in mapped(object) {
        let Some(node) = entity_type(item) else {
            missing.push(format!("{code}:{item}"));
            continue;
        };
        let has = |attribute: &str| {
            node.children().any(|c| {
                (c.has_tag_name("Property") || c.has_tag_name("NavigationProperty"))
                    && c.attribute("Name") == Some(attribute)
            })
        };
        missing.extend(attributes.iter().filter(|a| !has(a)).map(|a| format!("{code}:{item}:{a}")));
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapped_attributes_are_the_ones_the_shipped_impex_creates() {
        let objects = Objects::default();
        for object in Object::ALL {
            let code = object.code(&objects);
            let schema = storelink_sap_sim::schema::object(code).expect("object in the ImpEx");
            for (item, attributes) in mapped(object) {
                let item_schema = schema.item(item).unwrap_or_else(|| panic!("{code}:{item}"));
                for attribute in *attributes {
                    assert!(item_schema.attribute(attribute).is_some(), "{code}:{item}:{attribute}");
                }
            }
        }
    }

    #[test]
    fn missing_attributes_and_items_are_named() {
        let edmx = r#"<edmx:Edmx xmlns:edmx="x"><edmx:DataServices><Schema xmlns="y">
            <EntityType Name="StockLevel"><Property Name="productCode"/><NavigationProperty Name="warehouse"/>
            <Property Name="available"/><Property Name="reserved"/><Property Name="modifiedtime"/></EntityType>
            <EntityType Name="Warehouse"><Property Name="code"/></EntityType></Schema></edmx:DataServices></edmx:Edmx>"#;
        let missing = missing_attributes(edmx, "StorelinkStock", Object::Stock).expect("parse");
        assert_eq!(missing, ["StorelinkStock:StockLevel:inStockStatus", "StorelinkStock:InStockStatus"]);
        assert!(missing_attributes("<html", "X", Object::Stock).is_err());
    }
}
