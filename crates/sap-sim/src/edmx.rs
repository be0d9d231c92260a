//! The `$metadata` document (EDMX, OData v2) of one integration object, generated from its schema:
//! an entity type per item keyed by `integrationKey`, a property per primitive attribute, a
//! navigation property and association per reference, one entity set per item.

use std::fmt::Write;

use crate::schema::IntegrationObject;

pub const NAMESPACE: &str = "HybrisCommerceOData";

pub fn render(object: &IntegrationObject) -> String {
    let mut x = String::new();
    let _ = write!(
        x,
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices m:DataServiceVersion="2.0" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><Schema Namespace="{NAMESPACE}" xmlns="http://schemas.microsoft.com/ado/2008/09/edm" xmlns:s="http://schemas.sap.com/commerce">"#
    );
    let mut associations = Vec::new();
    for item in &object.items {
        let _ = write!(x, r#"<EntityType Name="{}"><Key><PropertyRef Name="integrationKey"/></Key>"#, item.code);
        for a in item.attributes.iter().filter(|a| a.returns.is_none()) {
            let unique = if a.unique { r#" s:IsUnique="true""# } else { "" };
            let nullable = if a.unique { "false" } else { "true" };
            let localized = if matches!(a.qualifier.as_str(), "name" | "description" | "altText") {
                r#" s:IsLanguageDependent="true""#
            } else {
                ""
            };
            let _ = write!(
                x,
                r#"<Property Name="{}" Nullable="{nullable}" Type="{}"{unique}{localized}/>"#,
                a.name,
                a.edm.name()
            );
        }
        let _ = write!(x, r#"<Property Name="integrationKey" Nullable="false" Type="Edm.String"/>"#);
        for a in item.attributes.iter() {
            let Some(target) = &a.returns else { continue };
            let association = format!("FK_{}_{}", item.code, a.name);
            let to_role = if target == &item.code { format!("{target}1") } else { target.clone() };
            let unique = if a.unique { r#" s:IsUnique="true""# } else { "" };
            let auto = if a.auto_create { r#" s:IsAutoCreate="true""# } else { "" };
            let _ = write!(
                x,
                r#"<NavigationProperty Name="{}" FromRole="{}" ToRole="{to_role}" Relationship="{NAMESPACE}.{association}"{unique}{auto}/>"#,
                a.name, item.code
            );
            associations.push((association, item.code.clone(), target.clone(), to_role, a.collection));
        }
        x.push_str("</EntityType>");
    }
    for (name, from, to, to_role, many) in &associations {
        let multiplicity = if *many { "*" } else { "0..1" };
        let _ = write!(
            x,
            r#"<Association Name="{name}"><End Type="{NAMESPACE}.{from}" Multiplicity="*" Role="{from}"/><End Type="{NAMESPACE}.{to}" Multiplicity="{multiplicity}" Role="{to_role}"/></Association>"#
        );
    }
    x.push_str(r#"<EntityContainer Name="Container" m:IsDefaultEntityContainer="true">"#);
    for item in &object.items {
        let _ = write!(x, r#"<EntitySet EntityType="{NAMESPACE}.{}" Name="{}"/>"#, item.code, item.entity_set());
    }
    for (name, from, to, to_role, _) in &associations {
        let from_set = object.item(from).map(|i| i.entity_set()).unwrap_or_default();
        let to_set = object.item(to).map(|i| i.entity_set()).unwrap_or_default();
        let _ = write!(
            x,
            r#"<AssociationSet Association="{NAMESPACE}.{name}" Name="{name}"><End EntitySet="{from_set}" Role="{from}"/><End EntitySet="{to_set}" Role="{to_role}"/></AssociationSet>"#
        );
    }
    x.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    x
}
