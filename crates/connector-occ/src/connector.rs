//! `Connector` for OCC: the admin API for lists, reads, cancels and webhooks; the agent API (its own
//! login with the same application key) for placing orders.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::{Value, json};
use storelink_connector::{
    Capabilities, Check, Connector, ConnectorError, Delivery, FormField, Headers, Login, NewOrder, OrderRefusal, Page,
    PageRequest, Records, Session, Site, Subscription, VerifyError,
};
use storelink_core::{Slot, SyncKind, webhook_secret_key};
use storelink_model::records::{Hashed, OrderRow};
use storelink_netguard::Policy;
use storelink_occ::{ListParams, OccClient, OccConfig, OccError, Resource};
use url::Url;

use crate::checks;
use crate::normalize::{self, Store};
use crate::slots::SlotMap;
use crate::verify::{Secrets, verify};

/// `merchants.platform` of OCC merchants, and the inbound path's `{platform}`.
pub const PLATFORM: &str = "occ";
/// Vault purpose under which a merchant's OCC application key is sealed.
pub const APP_KEY_PURPOSE: &str = "occ-app-key";

/// Offset paging in a stable order: without `sort` a store may list in any order, and an item that
/// moves (an update) between two page reads is skipped or read twice (docs/occ.md).
const SORT: &str = "id:asc";

/// The state a cancel sets (the documented partial update `PUT /ccadmin/v1/orders/{id}`).
const CANCELLED_STATE: &str = "REMOVED";

const FORM: &[FormField] = &[FormField {
    name: "app_key",
    label: "Application key",
    help: "Create an application (integration) in the OCC admin under Settings > Web APIs > Registered Applications and paste its key.",
    secret: true,
}];

#[derive(Clone)]
pub struct OccConnector {
    client: OccClient,
    slots: Arc<SlotMap>,
}

impl OccConnector {
    pub fn new(client: OccClient, slots: SlotMap) -> Self {
        Self { client, slots: Arc::new(slots) }
    }

    /// A connector over a client built from `config` under `policy`, with identity slot ids (the
    /// simulator's): what tests and benches use.
    pub fn with_config(config: OccConfig, policy: Policy) -> Result<Self, OccError> {
        Ok(Self::new(OccClient::new(config, policy)?, SlotMap::identity()))
    }

    /// The OCC client underneath (diagnostics, the binary's wiring).
    pub fn client(&self) -> &OccClient {
        &self.client
    }

    async fn list_page(&self, session: &Session, page: PageRequest) -> Result<Page, ConnectorError> {
        let Session { store, token } = session;
        if page.kind == SyncKind::Shipping {
            let methods = self.client.shipping_methods(store, token, false).await.map_err(error)?;
            let items = methods.len() as u64;
            let rows = methods
                .iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .filter_map(|v| normalize::shipping_method(&v))
                .collect();
            return Ok(Page { records: Records::Shipping(rows), items, total: Some(items), last: true });
        }
        let resource = match page.kind {
            SyncKind::Catalog => Resource::Products,
            SyncKind::Inventory => Resource::Inventories,
            _ => Resource::Orders,
        };
        let q = page.since.map(|since| format!("lastModifiedDate gt \"{}\"", since.format("%Y-%m-%dT%H:%M:%S%.3fZ")));
        let filtered = q.is_some();
        let params = ListParams {
            offset: page.offset,
            limit: page.limit,
            q,
            sort: Some(SORT.to_owned()),
            ..ListParams::default()
        };
        let listed = match self.client.list::<Value>(store, token, resource, &params).await {
            Ok(listed) => listed,
            // OCC answers 400 to a filter it cannot apply (e.g. an older store's SCIM support).
            Err(OccError::Permanent { status: 400, message, .. }) if filtered => {
                return Err(ConnectorError::FilterRefused { message });
            }
            Err(e) => return Err(error(e)),
        };
        let last = listed.is_last(page.offset);
        let items = listed.items.len() as u64;
        let records = match page.kind {
            SyncKind::Catalog => {
                let base = Store { base_url: store.as_str() };
                let (products, skus): (Vec<_>, Vec<_>) =
                    listed.items.iter().filter_map(|p| normalize::product(p, base)).unzip();
                Records::Catalog(products, skus.into_iter().flatten().collect())
            }
            SyncKind::Inventory => Records::Inventory(listed.items.iter().flat_map(normalize::inventory).collect()),
            _ => Records::Orders(listed.items.iter().filter_map(normalize::order).collect()),
        };
        Ok(Page { records, items, total: listed.total_results, last })
    }

    async fn point_read(&self, session: &Session, kind: SyncKind, id: &str) -> Result<Records, ConnectorError> {
        let Session { store, token } = session;
        if kind == SyncKind::Catalog {
            let doc = self.client.get_product(store, token, id).await.map_err(error)?;
            let (products, skus): (Vec<_>, Vec<_>) =
                normalize::product(&doc, Store { base_url: store.as_str() }).into_iter().unzip();
            return Ok(Records::Catalog(products, skus.into_iter().flatten().collect()));
        }
        let doc = self.client.get_inventory(store, token, id).await.map_err(error)?;
        Ok(Records::Inventory(normalize::inventory(&doc)))
    }

    async fn place(
        &self,
        session: &Session,
        key: &SecretString,
        order: &NewOrder<'_>,
    ) -> Result<Hashed<OrderRow>, ConnectorError> {
        let agent = self.client.agent_login(&session.store, key).await.map_err(agent_error)?;
        let items: Vec<Value> = order
            .lines
            .iter()
            .map(|l| json!({"productId": l.product_id, "catRefId": l.sku_id, "quantity": l.quantity}))
            .collect();
        let body = json!({
            "op": "createOrder",
            "shoppingCart": {"items": items},
            "shippingMethod": {"value": order.shipping_method},
            "shippingAddress": normalize::occ_address(order.shipping_address),
            "externalOrderReference": order.reference,
        });
        let created = self.client.create_order_agent(&session.store, &agent.token, None, &body).await;
        order_record(&created.map_err(agent_error)?)
    }

    async fn find(&self, session: &Session, reference: &str) -> Result<Option<Hashed<OrderRow>>, ConnectorError> {
        let escaped = reference.replace('\\', "\\\\").replace('"', "\\\"");
        let filter = format!("externalOrderReference eq \"{escaped}\"");
        let path = "/ccadmin/v1/orders";
        let found = self.client.get_json(&session.store, &session.token, path, &[("q", &filter)]).await;
        let found = found.map_err(error)?;
        // Only an exact match counts (a store that ignored the filter would list other orders); more
        // than one match leaves the outcome unknown rather than guessing.
        let items = found.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut matching =
            items.iter().filter(|o| o.get("externalOrderReference").and_then(Value::as_str) == Some(reference));
        match (matching.next(), matching.next()) {
            (Some(created), None) => order_record(created).map(Some),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(ConnectorError::BadReply {
                what: path.to_owned(),
                detail: "more than one order holds this reference".into(),
            }),
        }
    }

    async fn cancel(&self, session: &Session, id: &str) -> Result<Hashed<OrderRow>, ConnectorError> {
        let patch = json!({"state": CANCELLED_STATE});
        let updated = self.client.update_order(&session.store, &session.token, id, &patch).await;
        order_record(&updated.map_err(order_error)?)
    }

    async fn subscription(
        &self,
        session: &Session,
        slot: Slot,
        with_secrets: bool,
    ) -> Result<Subscription, ConnectorError> {
        let id = self.slots.webhook_id(slot);
        let webhook = self.client.get_webhook(&session.store, &session.token, id, with_secrets).await.map_err(error)?;
        let secrets = Secrets::of(&webhook);
        let usable = |s: &Option<String>| s.as_deref().and_then(webhook_secret_key).is_some();
        let secrets = (usable(&secrets.sha1) || usable(&secrets.sha512))
            .then(|| serde_json::to_vec(&secrets))
            .and_then(Result::ok);
        Ok(Subscription { urls: webhook.urls, secrets })
    }
}

fn order_record(doc: &Value) -> Result<Hashed<OrderRow>, ConnectorError> {
    normalize::order(doc).ok_or_else(|| ConnectorError::BadReply {
        what: "/ccadmin/v1/orders".into(),
        detail: "the order has no id".into(),
    })
}

/// OCC's failures in the connector's terms.
fn error(e: OccError) -> ConnectorError {
    match e {
        OccError::KeyRejected { status } => ConnectorError::CredentialsRefused { status },
        OccError::Unauthorized => ConnectorError::SessionExpired,
        OccError::Forbidden { path, message } => ConnectorError::PermissionMissing { what: path, message },
        OccError::RateLimited { retry_after } => ConnectorError::RateLimited { retry_after },
        OccError::NotFound { path } => ConnectorError::NotFound { what: path },
        OccError::Transient { detail } => ConnectorError::Transient { detail },
        e @ (OccError::TooLarge | OccError::Permanent { .. }) => ConnectorError::Refused { message: e.to_string() },
        OccError::Decode { path, detail } => ConnectorError::BadReply { what: path, detail },
        OccError::Blocked(detail) => ConnectorError::Blocked(detail),
        OccError::ResponseTooLarge { path, limit } => ConnectorError::ReplyTooLarge { what: path, limit },
    }
}

/// An Agent API call's failure: as an order call's, but a refused agent token (just issued for the
/// key) is refused credentials, never an expired session, which the token cache would answer by
/// sending the create again.
fn agent_error(e: OccError) -> ConnectorError {
    match e {
        OccError::Unauthorized => ConnectorError::CredentialsRefused { status: 401 },
        e => order_error(e),
    }
}

/// An order call's failure: OCC's own 400s for SKUs, stock and shipping name the reason, and any
/// other refusal (or a missing order) refuses the order.
fn order_error(e: OccError) -> ConnectorError {
    match e {
        OccError::Permanent { status: 400, code: Some(code), message } => {
            let reason = match code.as_str() {
                "28111" => OrderRefusal::UnknownSku,
                "28112" => OrderRefusal::OutOfStock,
                "28130" => OrderRefusal::InvalidShippingMethod,
                _ => OrderRefusal::Other,
            };
            ConnectorError::OrderRefused { reason, message }
        }
        e @ (OccError::Permanent { .. } | OccError::NotFound { .. }) => {
            ConnectorError::OrderRefused { reason: OrderRefusal::Other, message: e.to_string() }
        }
        e => error(e),
    }
}

impl Connector for OccConnector {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn display_name(&self) -> &'static str {
        "Oracle Commerce Cloud"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { create_orders: true, webhooks: true, incremental: true }
    }

    fn form(&self) -> &'static [FormField] {
        FORM
    }

    fn credentials_purpose(&self) -> &'static str {
        APP_KEY_PURPOSE
    }

    fn login<'a>(
        &'a self,
        store: &'a Url,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<Login, ConnectorError>> {
        async move {
            let token = self.client.login(store, credentials).await.map_err(error)?;
            Ok(Login { token: token.token, expires_in: token.expires_in })
        }
        .boxed()
    }

    fn check<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Vec<Check>> {
        checks::run(&self.client, &session.store, &session.token).boxed()
    }

    fn list<'a>(&'a self, session: &'a Session, page: PageRequest) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        self.list_page(session, page).boxed()
    }

    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
    ) -> BoxFuture<'a, Result<Records, ConnectorError>> {
        self.point_read(session, kind, product_id).boxed()
    }

    fn create_order<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        order: &'a NewOrder<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        self.place(session, credentials, order).boxed()
    }

    fn find_order<'a>(
        &'a self,
        session: &'a Session,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<Hashed<OrderRow>>, ConnectorError>> {
        self.find(session, reference).boxed()
    }

    fn cancel_order<'a>(
        &'a self,
        session: &'a Session,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        self.cancel(session, order_id).boxed()
    }

    /// `GET /ccadmin/v1/sites`: every site, enabled or not (the merchant sees why one cannot be chosen).
    fn sites<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Vec<Site>, ConnectorError>> {
        async move {
            let sites = self.client.sites(&session.store, &session.token).await.map_err(error)?;
            Ok(sites
                .into_iter()
                .map(|site| Site {
                    price_list_group: site.price_list_group_id(),
                    name: site.name.unwrap_or_else(|| site.id.clone()),
                    id: site.id,
                    default: site.default_site,
                    enabled: site.enabled,
                    production_url: site.production_url,
                })
                .collect())
        }
        .boxed()
    }

    fn subscription_id(&self, slot: Slot) -> String {
        self.slots.webhook_id(slot).to_owned()
    }

    fn read_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        with_secrets: bool,
    ) -> BoxFuture<'a, Result<Subscription, ConnectorError>> {
        self.subscription(session, slot, with_secrets).boxed()
    }

    fn write_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            let id = self.slots.webhook_id(slot);
            self.client.put_webhook_urls(&session.store, &session.token, id, urls).await.map(drop).map_err(error)
        }
        .boxed()
    }

    fn verify_delivery(&self, secrets: &[u8], headers: Headers<'_>, body: &[u8]) -> Result<(), VerifyError> {
        let secrets: Secrets = serde_json::from_slice(secrets).unwrap_or_default();
        verify(
            &secrets,
            headers("X-Oracle-CC-WebHook-Signature-SHA512"),
            headers("X-Oracle-CC-WebHook-Signature"),
            body,
        )
    }

    /// Order events carry `{"order": {...}}` (shipments are the order's shipped shipping groups); a
    /// Return Request Update carries the order and the return request, and for an exchange the new
    /// order. A document without an id is skipped.
    fn delivery_records(&self, slot: &str, body: &Value) -> Result<Delivery, String> {
        let order = body.get("order").or_else(|| body.get("id").map(|_| body)).filter(|o| o.get("id").is_some());
        let request = body.get("returnRequest").or_else(|| body.get("requestId").map(|_| body));
        if order.is_none() && request.is_none() {
            return Err(format!("neither an order nor a return request in the {slot} payload"));
        }
        let exchange = body.get("exchangeOrder").filter(|o| o.get("id").is_some());
        let orders = order.into_iter().chain(exchange).filter_map(normalize::order).collect();
        let order_id = order.and_then(|o| o.get("id")).and_then(Value::as_str);
        let returns = request.and_then(|r| normalize::return_request(r, order_id)).into_iter().collect();
        Ok(Delivery { orders, returns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occ_errors_map_to_neutral_ones() {
        assert!(matches!(
            error(OccError::KeyRejected { status: 401 }),
            ConnectorError::CredentialsRefused { status: 401 }
        ));
        assert!(matches!(error(OccError::Unauthorized), ConnectorError::SessionExpired));
        assert!(matches!(error(OccError::NotFound { path: "/p".into() }), ConnectorError::NotFound { .. }));
        assert!(error(OccError::Transient { detail: "503".into() }).is_retryable());
        let stock = OccError::Permanent { status: 400, code: Some("28112".into()), message: "short".into() };
        assert!(matches!(order_error(stock), ConnectorError::OrderRefused { reason: OrderRefusal::OutOfStock, .. }));
        let other = OccError::Permanent { status: 400, code: Some("1".into()), message: "no".into() };
        assert!(matches!(order_error(other), ConnectorError::OrderRefused { reason: OrderRefusal::Other, .. }));
        assert!(matches!(agent_error(OccError::Unauthorized), ConnectorError::CredentialsRefused { .. }));
        assert!(matches!(order_error(OccError::Unauthorized), ConnectorError::SessionExpired));
        assert!(order_error(OccError::Decode { path: "/o".into(), detail: "x".into() }).outcome_unknown());
    }
}
