//! The integration objects the simulator serves, read from the ImpEx file Storelink ships (so the EDMX
//! cannot drift from what a merchant imports), plus SAP's own `WebhookService` object. Also the few
//! facts of SAP's type system an ImpEx does not carry: each attribute's EDM type and whether it is a
//! collection.

use std::sync::OnceLock;

/// The ImpEx a merchant imports once (docs/sap.md, "Integration objects Storelink needs").
pub const STORELINK_IMPEX: &str = include_str!("../impex/storelink-integration-objects.impex");

/// SAP's `WebhookService` integration object as the simulator models it (its real definition ships
/// with the `webhookservices` extension; the attributes here are the ones docs/sap.md lists).
const WEBHOOK_SERVICE_IMPEX: &str = "\
INSERT_UPDATE IntegrationObject; code[unique = true]; integrationType(code)
; WebhookService ; INBOUND
INSERT_UPDATE IntegrationObjectItem; integrationObject(code)[unique = true]; code[unique = true]; type(code); root[default = false]
; WebhookService ; WebhookConfiguration    ; WebhookConfiguration    ; true
; WebhookService ; ConsumedDestination     ; ConsumedDestination     ; true
; WebhookService ; DestinationTarget       ; DestinationTarget       ;
; WebhookService ; Endpoint                ; Endpoint                ;
; WebhookService ; BasicCredential         ; BasicCredential         ;
; WebhookService ; ConsumedOAuthCredential ; ConsumedOAuthCredential ;
; WebhookService ; IntegrationObject       ; IntegrationObject       ;
INSERT_UPDATE IntegrationObjectItemAttribute; integrationObjectItem(integrationObject(code), code)[unique = true]; attributeName[unique = true]; attributeDescriptor(enclosingType(code), qualifier); returnIntegrationObjectItem(integrationObject(code), code); unique[default = false]; autoCreate[default = false]
; WebhookService:WebhookConfiguration    ; eventType               ; WebhookConfiguration:eventType         ;                                        ; true ;
; WebhookService:WebhookConfiguration    ; destination             ; WebhookConfiguration:destination       ; WebhookService:ConsumedDestination     ; true ;
; WebhookService:WebhookConfiguration    ; integrationObject       ; WebhookConfiguration:integrationObject ; WebhookService:IntegrationObject       ; true ;
; WebhookService:WebhookConfiguration    ; filterLocation          ; WebhookConfiguration:filterLocation    ;                                        ;      ;
; WebhookService:ConsumedDestination     ; id                      ; ConsumedDestination:id                 ;                                        ; true ;
; WebhookService:ConsumedDestination     ; destinationTarget       ; ConsumedDestination:destinationTarget  ; WebhookService:DestinationTarget       ; true ;
; WebhookService:ConsumedDestination     ; url                     ; ConsumedDestination:url                ;                                        ;      ;
; WebhookService:ConsumedDestination     ; active                  ; ConsumedDestination:active             ;                                        ;      ;
; WebhookService:ConsumedDestination     ; endpoint                ; ConsumedDestination:endpoint           ; WebhookService:Endpoint                ;      ; true
; WebhookService:ConsumedDestination     ; credentialBasic         ; ConsumedDestination:credentialBasic    ; WebhookService:BasicCredential         ;      ; true
; WebhookService:ConsumedDestination     ; credentialConsumedOAuth ; ConsumedDestination:credentialConsumedOAuth ; WebhookService:ConsumedOAuthCredential ; ; true
; WebhookService:DestinationTarget       ; id                      ; DestinationTarget:id                   ;                                        ; true ;
; WebhookService:Endpoint                ; id                      ; Endpoint:id                            ;                                        ; true ;
; WebhookService:Endpoint                ; version                 ; Endpoint:version                       ;                                        ; true ;
; WebhookService:Endpoint                ; name                    ; Endpoint:name                          ;                                        ;      ;
; WebhookService:Endpoint                ; specUrl                 ; Endpoint:specUrl                       ;                                        ;      ;
; WebhookService:BasicCredential         ; id                      ; BasicCredential:id                     ;                                        ; true ;
; WebhookService:BasicCredential         ; username                ; BasicCredential:username               ;                                        ;      ;
; WebhookService:BasicCredential         ; password                ; BasicCredential:password               ;                                        ;      ;
; WebhookService:ConsumedOAuthCredential ; id                      ; ConsumedOAuthCredential:id             ;                                        ; true ;
; WebhookService:ConsumedOAuthCredential ; clientId                ; ConsumedOAuthCredential:clientId       ;                                        ;      ;
; WebhookService:ConsumedOAuthCredential ; clientSecret            ; ConsumedOAuthCredential:clientSecret   ;                                        ;      ;
; WebhookService:ConsumedOAuthCredential ; oAuthUrl                ; ConsumedOAuthCredential:oAuthUrl       ;                                        ;      ;
; WebhookService:IntegrationObject       ; code                    ; IntegrationObject:code                 ;                                        ; true ;
";

/// The EDM type of a primitive attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edm {
    String,
    Boolean,
    Int32,
    Int64,
    Double,
    DateTime,
}

impl Edm {
    pub fn name(self) -> &'static str {
        match self {
            Edm::String => "Edm.String",
            Edm::Boolean => "Edm.Boolean",
            Edm::Int32 => "Edm.Int32",
            Edm::Int64 => "Edm.Int64",
            Edm::Double => "Edm.Double",
            Edm::DateTime => "Edm.DateTime",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    /// The attribute descriptor: the composed type and qualifier (`Product:code`).
    pub enclosing_type: String,
    pub qualifier: String,
    /// The item a navigation property returns (same integration object); `None` for a primitive.
    pub returns: Option<String>,
    pub unique: bool,
    pub auto_create: bool,
    pub edm: Edm,
    pub collection: bool,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub code: String,
    pub type_code: String,
    pub root: bool,
    pub attributes: Vec<Attribute>,
}

impl Item {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The OData entity set: the item code in the plural.
    pub fn entity_set(&self) -> String {
        plural(&self.code)
    }
}

#[derive(Clone, Debug)]
pub struct IntegrationObject {
    pub code: String,
    pub items: Vec<Item>,
}

impl IntegrationObject {
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.code == code)
    }

    pub fn root(&self) -> Option<&Item> {
        self.items.iter().find(|i| i.root)
    }

    pub fn item_by_set(&self, set: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.entity_set() == set)
    }
}

/// English plurals as entity set names (`Product` -> `Products`, `Category` -> `Categories`,
/// `Address` -> `Addresses`, `Media` -> `Medias`).
pub fn plural(code: &str) -> String {
    let consonant_y = code.ends_with('y') && !code.ends_with("ay") && !code.ends_with("ey") && !code.ends_with("oy");
    if consonant_y {
        format!("{}ies", &code[..code.len() - 1])
    } else if code.ends_with('s') || code.ends_with('x') || code.ends_with("ch") || code.ends_with("sh") {
        format!("{code}es")
    } else {
        format!("{code}s")
    }
}

/// Every integration object the simulator serves: Storelink's four and `WebhookService`.
pub fn objects() -> &'static [IntegrationObject] {
    static OBJECTS: OnceLock<Vec<IntegrationObject>> = OnceLock::new();
    OBJECTS.get_or_init(|| {
        let mut objects = parse_impex(STORELINK_IMPEX);
        objects.extend(parse_impex(WEBHOOK_SERVICE_IMPEX));
        objects
    })
}

pub fn object(code: &str) -> Option<&'static IntegrationObject> {
    objects().iter().find(|o| o.code == code)
}

/// Reads the `IntegrationObject`, `IntegrationObjectItem` and `IntegrationObjectItemAttribute` blocks
/// of an ImpEx (header line, then `;`-separated value lines; `#` comments; other blocks ignored).
pub fn parse_impex(impex: &str) -> Vec<IntegrationObject> {
    let mut objects: Vec<IntegrationObject> = Vec::new();
    let mut block = "";
    for line in impex.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('$') {
            continue;
        }
        if let Some(header) = line.strip_prefix("INSERT_UPDATE ") {
            block = header.split(';').next().unwrap_or_default().trim();
            continue;
        }
        if !line.starts_with(';') {
            block = "";
            continue;
        }
        let cols: Vec<&str> = line.split(';').map(str::trim).collect();
        let col = |i: usize| cols.get(i).copied().unwrap_or_default();
        match block {
            "IntegrationObject" => objects.push(IntegrationObject { code: col(1).to_owned(), items: Vec::new() }),
            "IntegrationObjectItem" => {
                if let Some(object) = objects.iter_mut().find(|o| o.code == col(1)) {
                    object.items.push(Item {
                        code: col(2).to_owned(),
                        type_code: col(3).to_owned(),
                        root: col(4) == "true",
                        attributes: Vec::new(),
                    });
                }
            }
            "IntegrationObjectItemAttribute" => {
                let Some((object_code, item_code)) = col(1).split_once(':') else { continue };
                let Some((enclosing, qualifier)) = col(3).split_once(':') else { continue };
                let returns = col(4).split_once(':').map(|(_, item)| item.to_owned());
                let item = objects
                    .iter_mut()
                    .find(|o| o.code == object_code)
                    .and_then(|o| o.items.iter_mut().find(|i| i.code == item_code));
                if let Some(item) = item {
                    item.attributes.push(Attribute {
                        name: col(2).to_owned(),
                        enclosing_type: enclosing.to_owned(),
                        qualifier: qualifier.to_owned(),
                        collection: returns.is_some() && is_collection(enclosing, qualifier),
                        returns,
                        unique: col(5) == "true",
                        auto_create: col(6) == "true",
                        edm: edm_type(qualifier),
                    });
                }
            }
            _ => {}
        }
    }
    objects
}

/// The EDM type SAP's type system gives these qualifiers (docs/sap.md, "EDMX"); strings otherwise.
fn edm_type(qualifier: &str) -> Edm {
    match qualifier {
        "creationtime" | "modifiedtime" | "date" => Edm::DateTime,
        "price" | "subtotal" | "deliveryCost" | "totalDiscounts" | "totalTax" | "totalPrice" | "basePrice"
        | "value" | "minimum" => Edm::Double,
        "available" | "reserved" | "entryNumber" => Edm::Int32,
        "minqtd" | "quantity" => Edm::Int64,
        "net" | "active" => Edm::Boolean,
        _ => Edm::String,
    }
}

/// Collection-typed relations among the attributes the objects use.
fn is_collection(enclosing: &str, qualifier: &str) -> bool {
    matches!(qualifier, "europe1Prices" | "normal" | "supercategories" | "variants" | "values" | "entries")
        || (enclosing == "Product" && qualifier == "galleryImages")
}

/// The item's integrationKey: its unique attributes' values in declaration order, a navigation
/// property contributing the referenced item's key, joined with `|`. `entity` is the item in the
/// simulator's nested form (navigation properties hold the referenced item).
pub fn integration_key(object: &IntegrationObject, item: &Item, entity: &serde_json::Value) -> String {
    let mut key = String::new();
    push_integration_key(&mut key, object, item, entity);
    key
}

fn push_integration_key(key: &mut String, object: &IntegrationObject, item: &Item, entity: &serde_json::Value) {
    use std::fmt::Write;
    let mut first = true;
    for attribute in item.attributes.iter().filter(|a| a.unique) {
        let value = &entity[attribute.name.as_str()];
        let target = match (&attribute.returns, value) {
            (Some(target), serde_json::Value::Object(_)) => match object.item(target) {
                Some(target) => Some(target),
                None => continue,
            },
            _ => None,
        };
        if !first {
            key.push('|');
        }
        first = false;
        match (target, &attribute.returns, value) {
            (Some(target), _, _) => push_integration_key(key, object, target, value),
            (None, Some(_), _) => key.push_str(value.as_str().unwrap_or_default()),
            (None, None, serde_json::Value::String(s)) => key.push_str(s),
            (None, None, serde_json::Value::Null) => {}
            (None, None, other) => {
                let _ = write!(key, "{other}");
            }
        }
    }
}
