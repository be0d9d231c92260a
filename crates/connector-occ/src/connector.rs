//! `Connector` for OCC: the admin API for lists, reads, cancels and webhooks; the agent API (its own
//! login with the same application key) for placing orders.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::{Value, json};
use storelink_connector::{
    CallbackOutcome, Capabilities, Check, Connector, ConnectorError, Delivery, FailedDelivery, FormField, Headers,
    Login, NewOrder, NewReturn, OrderRefusal, Page, PageRequest, Records, ReturnCheck, ReturnUpdate, ReturnVerdict,
    Session, ShipmentUpdate, Shopper, Site, SiteScope, Storefront, Subscription, VerifyError,
};
use storelink_core::{Slot, SyncKind, webhook_secret_key};
use storelink_model::records::{Hashed, OrderRow, ReturnRow};
use storelink_model::status::OrderStatus;
use storelink_model::views::Address;
use storelink_netguard::Policy;
use storelink_occ::{ListParams, OccClient, OccConfig, OccError, OrderQuery, Resource};
use url::Url;

use crate::hosts::agent_url;
use crate::normalize::{self, Store};
use crate::slots::{Found, SERVER_TYPE, SlotMap};
use crate::verify::{Secrets, verify};
use crate::{checks, fulfilment};

/// `merchants.platform` of OCC merchants, and the inbound path's `{platform}`.
pub const PLATFORM: &str = "occ";
/// Vault purpose under which a merchant's OCC application key is sealed.
pub const APP_KEY_PURPOSE: &str = "occ-app-key";

/// Offset paging in a stable order: without `sort` a store may list in any order, and an item that
/// moves (an update) between two page reads is skipped or read twice (docs/occ.md).
const SORT: &str = "id:asc";

/// The pay-later payment type orders are placed with (createOrder's `{"type": "invoice", "PONumber"}`).
const PAYMENT_TYPE: &str = "invoice";

/// Orders read when looking a partner reference up: one is expected, a few tell a duplicate.
const FIND_LIMIT: u32 = 10;

/// The state a cancel sets (the documented partial update `PUT /ccadmin/v1/orders/{id}`).
const CANCELLED_STATE: &str = "REMOVED";

const FORM: &[FormField] = &[FormField {
    name: "app_key",
    label: "Application key",
    help: "Create an application (integration) in the OCC admin under Settings > Web APIs > Registered Applications and paste its key.",
    secret: true,
    choices: &[],
    when: None,
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

    /// A connector over a client built from `config` under `policy`, discovering each store's
    /// webhooks: what tests and benches use.
    pub fn with_config(config: OccConfig, policy: Policy) -> Result<Self, OccError> {
        Ok(Self::new(OccClient::new(config, policy)?, SlotMap::default()))
    }

    /// The OCC client underneath (diagnostics, the binary's wiring).
    pub fn client(&self) -> &OccClient {
        &self.client
    }

    async fn list_page(&self, session: &Session, page: PageRequest<'_>) -> Result<Page, ConnectorError> {
        let Session { store, token, .. } = session;
        // A multi-site store is read per site: `x-ccsite` scopes the list to the site's catalog,
        // stock and shipping methods, and its price list group picks the prices (docs/occ.md).
        let site = page.site.map(|s| s.id);
        if page.kind == SyncKind::Shipping {
            let methods = self.client.shipping_methods(store, token, false, site).await.map_err(error)?;
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
        // Orders take their filter from the one builder of order queries (SCIM, `queryFormat=SCIM`).
        let q = page.since.map(|since| match resource {
            Resource::Orders => OrderQuery::modified_since(since).scim(),
            _ => format!("lastModifiedDate gt \"{}\"", since.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
        });
        let filtered = q.is_some();
        let params = ListParams {
            offset: page.offset,
            limit: page.limit,
            q,
            sort: Some(SORT.to_owned()),
            site: site.filter(|_| resource != Resource::Orders).map(str::to_owned),
            ..ListParams::default()
        };
        let body = match self.client.list_body(store, token, resource, &params).await {
            Ok(body) => body,
            // OCC answers 400 to a filter it cannot apply (e.g. an older store's SCIM support).
            Err(OccError::Permanent { status: 400, message, .. }) if filtered => {
                return Err(ConnectorError::FilterRefused { message });
            }
            Err(e) => return Err(error(e)),
        };
        let (kind, offset, base_url) = (page.kind, page.offset, store.as_str().to_owned());
        let price_group = page.site.and_then(|s| s.price_list_group).map(str::to_owned);
        Page::read_off_thread(resource.path(), move || {
            let listed = storelink_occ::decode_page::<Value>(&body, resource).map_err(error)?;
            let last = listed.is_last(offset);
            let items = listed.items.len() as u64;
            let records = match kind {
                SyncKind::Catalog => {
                    let base = Store { base_url: &base_url, price_group: price_group.as_deref() };
                    let (products, skus): (Vec<_>, Vec<_>) =
                        listed.items.iter().filter_map(|p| normalize::product(p, base)).unzip();
                    Records::Catalog(products, skus.into_iter().flatten().collect())
                }
                SyncKind::Inventory => Records::Inventory(listed.items.iter().flat_map(normalize::inventory).collect()),
                _ => Records::Orders(listed.items.iter().filter_map(normalize::order).collect()),
            };
            Ok(Page { records, items, total: listed.total_results, last })
        })
        .await
    }

    async fn point_read(
        &self,
        session: &Session,
        kind: SyncKind,
        id: &str,
        site: Option<SiteScope<'_>>,
    ) -> Result<Records, ConnectorError> {
        let Session { store, token, .. } = session;
        let site_id = site.map(|s| s.id);
        if kind == SyncKind::Catalog {
            let doc = self.client.get_product(store, token, id, site_id).await.map_err(error)?;
            let base = Store { base_url: store.as_str(), price_group: site.and_then(|s| s.price_list_group) };
            let (products, skus): (Vec<_>, Vec<_>) = normalize::product(&doc, base).into_iter().unzip();
            return Ok(Records::Catalog(products, skus.into_iter().flatten().collect()));
        }
        let doc = self.client.get_inventory(store, token, id, site_id).await.map_err(error)?;
        Ok(Records::Inventory(normalize::inventory(&doc)))
    }

    async fn place(
        &self,
        session: &Session,
        key: &SecretString,
        order: &NewOrder<'_>,
    ) -> Result<Hashed<OrderRow>, ConnectorError> {
        let profile = match order.shopper {
            Shopper::Email(email) => self.profile_for(session, email, order.shipping_address).await?,
            _ => None,
        };
        let login = agent_url(session, AGENT_LOGIN);
        let agent = self.client.agent_login(&login, key).await.map_err(agent_error)?;
        let body = create_order_body(order, profile.as_deref());
        let url = agent_url(session, AGENT_ORDERS);
        let created = self.client.create_order_agent(&url, &agent.token, order.site, &body).await;
        order_record(&created.map_err(agent_error)?)
    }

    /// The shopper profile holding `email`: the store's own (an active profile whose email matches,
    /// whatever its case), else one created for the buyer, named from the shipping address. A key
    /// the store does not allow to manage profiles (403) places a guest order with the email
    /// instead: `None`. Sources and the create body in docs/occ.md, "Shopper profiles".
    async fn profile_for(
        &self,
        session: &Session,
        email: &str,
        address: &Address,
    ) -> Result<Option<String>, ConnectorError> {
        let Session { store, token, .. } = session;
        let find = || async {
            let found = self.client.find_profiles(store, token, email, PROFILE_LOOKUP_LIMIT).await;
            Ok::<_, OccError>(found?.iter().find_map(|p| matching_profile(p, email)))
        };
        match find().await {
            Ok(Some(id)) => return Ok(Some(id)),
            Ok(None) => {}
            Err(OccError::Forbidden { .. }) => {
                tracing::warn!("the key may not read shopper profiles; placing a guest order with the email");
                return Ok(None);
            }
            Err(e) => return Err(error(e)),
        }
        match self.client.create_profile(store, token, &new_profile(email, address)).await {
            Ok(id) => Ok(Some(id)),
            Err(OccError::Forbidden { .. }) => {
                tracing::warn!("the key may not create shopper profiles; placing a guest order with the email");
                Ok(None)
            }
            // Refused: unless it was created meanwhile (a concurrent order of the same buyer), the
            // store's reason refuses the order.
            Err(OccError::Permanent { message, .. }) => match find().await {
                Ok(Some(id)) => Ok(Some(id)),
                _ => Err(ConnectorError::OrderRefused {
                    reason: OrderRefusal::Other,
                    message: format!("the store refused a shopper profile for the buyer's email: {message}"),
                }),
            },
            Err(e) => Err(error(e)),
        }
    }

    async fn find(&self, session: &Session, reference: &str) -> Result<Option<Hashed<OrderRow>>, ConnectorError> {
        let query = OrderQuery::external_reference(reference);
        let params = ListParams::orders(0, FIND_LIMIT, Some(&query));
        let found = self.client.list::<Value>(&session.store, &session.token, Resource::Orders, &params).await;
        let found = found.map_err(error)?;
        // Only an exact match counts (a store that ignored the filter would list other orders); more
        // than one match leaves the outcome unknown rather than guessing.
        let mut matching =
            found.items.iter().filter(|o| o.get("externalOrderReference").and_then(Value::as_str) == Some(reference));
        match (matching.next(), matching.next()) {
            (Some(created), None) => order_record(created).map(Some),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(ConnectorError::BadReply {
                what: Resource::Orders.path().to_owned(),
                detail: "more than one order holds this reference".into(),
            }),
        }
    }

    async fn cancel(&self, session: &Session, id: &str) -> Result<Hashed<OrderRow>, ConnectorError> {
        let patch = json!({"state": CANCELLED_STATE});
        let updated = self.client.update_order(&session.store, &session.token, id, &patch).await;
        order_record(&updated.map_err(order_error)?)
    }

    /// Fulfilment writes: a fresh read of the order, then the PUT `patch` builds from it, if any.
    async fn fulfil(
        &self,
        session: &Session,
        id: &str,
        patch: impl FnOnce(&Value) -> Result<Option<Value>, ConnectorError>,
    ) -> Result<Hashed<OrderRow>, ConnectorError> {
        let current = self.client.get_order(&session.store, &session.token, id).await.map_err(error)?;
        match patch(&current)? {
            None => order_record(&current),
            Some(patch) => {
                let updated = self.client.update_order(&session.store, &session.token, id, &patch).await;
                order_record(&updated.map_err(error)?)
            }
        }
    }

    /// Discovery: the store's production webhooks in one call, each slot mapped through the table
    /// (`slots::ROUTES`) or the override; an overridden slot is read by its id.
    async fn discover(
        &self,
        session: &Session,
        with_secrets: bool,
    ) -> Vec<(Slot, Result<Subscription, ConnectorError>)> {
        let Session { store, token, .. } = session;
        let all_overridden = Slot::ALL.iter().all(|s| self.slots.overridden(*s).is_some());
        let listed = if all_overridden {
            Ok(Vec::new())
        } else {
            self.client.list_webhooks(store, token, SERVER_TYPE, with_secrets).await.map_err(error)
        };
        let mut out = Vec::new();
        for slot in Slot::ALL {
            let result = match (&listed, self.slots.overridden(slot)) {
                (_, Some(id)) => self.read_webhook(session, id, with_secrets).await,
                (Err(e), None) => Err(e.clone()),
                (Ok(webhooks), None) => {
                    // A store that ignored `serverType` must not get our URL on its preview webhooks.
                    let names: Vec<(String, String)> = webhooks
                        .iter()
                        .filter(|w| w.server_type.as_deref().is_none_or(|t| t == SERVER_TYPE))
                        .map(|w| (w.id.clone(), w.name.clone().unwrap_or_else(|| name_of(&w.id))))
                        .collect();
                    match self.slots.pick(slot, &names) {
                        Found::None(why) => Err(ConnectorError::Unsupported(why)),
                        Found::Webhook(id) => match webhooks.iter().find(|w| w.id == id) {
                            Some(w) => Ok(subscription(w.clone())),
                            None => Err(ConnectorError::NotFound { what: format!("webhook {id}") }),
                        },
                    }
                }
            };
            out.push((slot, result));
        }
        out
    }

    async fn read_webhook(
        &self,
        session: &Session,
        id: &str,
        with_secrets: bool,
    ) -> Result<Subscription, ConnectorError> {
        let webhook = self.client.get_webhook(&session.store, &session.token, id, with_secrets).await.map_err(error)?;
        Ok(subscription(webhook))
    }

    /// Writes the whole webhook back: every field read (headers, basicAuthentication, resend settings,
    /// ...) with the new URL list, since a PUT may reset what it leaves out. Secrets are never sent
    /// (sending one may reset it for every webhook of that name).
    async fn write_whole(&self, session: &Session, read: &Subscription, urls: &[String]) -> Result<(), ConnectorError> {
        let mut doc = match &read.rest {
            Value::Object(rest) => rest.clone(),
            _ => serde_json::Map::new(),
        };
        doc.remove("secretKey");
        doc.remove("secretKeySHA512");
        doc.insert("id".into(), json!(read.id));
        doc.insert("urls".into(), json!(urls));
        let doc = Value::Object(doc);
        self.client.put_webhook(&session.store, &session.token, &read.id, &doc).await.map(drop).map_err(error)
    }

    async fn failed(&self, session: &Session) -> Result<Vec<FailedDelivery>, ConnectorError> {
        let items = self.client.failed_webhook_messages(&session.store, &session.token).await.map_err(error)?;
        Ok(items
            .iter()
            .filter_map(|m| {
                let id = m.get("id").and_then(Value::as_str)?.to_owned();
                let urls = m
                    .get("remainingTargetUrls")
                    .and_then(Value::as_array)
                    .map(|u| u.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect::<Vec<_>>());
                Some(FailedDelivery { id, urls: urls.unwrap_or_default() })
            })
            .collect())
    }
}

/// A webhook as the connector hands it over: its id, URLs, usable secrets and every other field.
fn subscription(webhook: storelink_occ::Webhook) -> Subscription {
    let secrets = Secrets::of(&webhook);
    let usable = |s: &Option<String>| s.as_deref().and_then(webhook_secret_key).is_some();
    let secrets =
        (usable(&secrets.sha1) || usable(&secrets.sha512)).then(|| serde_json::to_vec(&secrets)).and_then(Result::ok);
    let mut rest = webhook.settings.0;
    for (key, value) in [("name", webhook.name.clone()), ("serverType", webhook.server_type.clone())] {
        if let Some(value) = value {
            rest.insert(key.into(), json!(value));
        }
    }
    Subscription { id: webhook.id, urls: webhook.urls, secrets, rest: Value::Object(rest) }
}

/// `production-submitOrder` -> `submitOrder`, for a listing without `name`.
fn name_of(id: &str) -> String {
    id.split_once('-').map_or(id, |(_, name)| name).to_owned()
}

const AGENT_LOGIN: &str = crate::hosts::AGENT_LOGIN_PATH;
const AGENT_ORDERS: &str = "/ccappagent/v1/orders";

/// The agent API's createOrder body: the shopper (`profileId`, or `isAnonymousCheckout` with the
/// buyer's email on the address), the cart, shipping, and an invoice payment carrying the partner's
/// reference as its PO number (pay later: no card data passes through Storelink). Sources in
/// docs/occ.md, "Orders created by partners".
fn create_order_body(order: &NewOrder<'_>, profile: Option<&str>) -> Value {
    let items: Vec<Value> = order
        .lines
        .iter()
        .map(|l| json!({"productId": l.product_id, "catRefId": l.sku_id, "quantity": l.quantity}))
        .collect();
    let mut address = normalize::occ_address(order.shipping_address);
    let mut body = json!({
        "op": "createOrder",
        "shoppingCart": {"items": items},
        "shippingMethod": {"value": order.shipping_method},
        "payments": [{"type": PAYMENT_TYPE, "PONumber": order.reference}],
        "externalOrderReference": order.reference,
    });
    // A buyer named by email is placed for the profile found for it, else as a guest with the email.
    let profile_id = match (order.shopper, profile) {
        (Shopper::Profile(id), _) | (Shopper::Email(_), Some(id)) => Some(id),
        _ => None,
    };
    let guest_email = match order.shopper {
        Shopper::Guest { email } => email,
        Shopper::Email(email) => Some(email),
        Shopper::Profile(_) => None,
    };
    if let Some(id) = profile_id {
        body["profileId"] = json!(id);
    } else {
        body["isAnonymousCheckout"] = json!(true);
        if let Some(email) = guest_email.filter(|_| address["email"].is_null()) {
            address["email"] = json!(email);
        }
    }
    body["shippingAddress"] = address;
    body
}

/// How many profiles a lookup by email reads: more than one holding an address is unusual; the
/// first active exact match is taken.
const PROFILE_LOOKUP_LIMIT: u32 = 5;

/// The profile's id when it is active and holds exactly this email (a store may match loosely).
fn matching_profile(profile: &Value, email: &str) -> Option<String> {
    let same = profile.get("email").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case(email));
    let active = profile.get("active").and_then(Value::as_bool) != Some(false);
    (same && active).then(|| profile.get("id").and_then(Value::as_str).map(str::to_owned)).flatten()
}

/// createProfile's body for a buyer: the required email, names and `receiveEmail: "no"` (no
/// marketing consent was given through Storelink), and a random password nobody keeps, which the
/// stricter reading of the reference requires; the shopper sets their own with "forgot password".
fn new_profile(email: &str, address: &Address) -> Value {
    let password: String = {
        use rand::Rng;
        rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(32).map(char::from).collect()
    };
    json!({
        "email": email,
        "firstName": address.first_name.as_deref().unwrap_or(email),
        "lastName": address.last_name.as_deref().unwrap_or("-"),
        "receiveEmail": "no",
        "password": password,
    })
}

fn order_record(doc: &Value) -> Result<Hashed<OrderRow>, ConnectorError> {
    normalize::order(doc).ok_or_else(|| ConnectorError::BadReply {
        what: "/ccadmin/v1/orders".into(),
        detail: "the order has no id".into(),
    })
}

fn return_record(doc: &Value, order_id: Option<&str>) -> Result<Hashed<ReturnRow>, ConnectorError> {
    normalize::return_request(doc, order_id).ok_or_else(|| ConnectorError::BadReply {
        what: "/ccadmin/v1/returnRequests".into(),
        detail: "the return request has no id".into(),
    })
}

/// OCC's failures in the connector's terms.
fn error(e: OccError) -> ConnectorError {
    match e {
        OccError::KeyRejected { status } => ConnectorError::CredentialsRefused { status },
        OccError::NoLoginEndpoint { status } => ConnectorError::NoLoginEndpoint { status },
        OccError::Unauthorized => ConnectorError::SessionExpired,
        OccError::Forbidden { path, message } => ConnectorError::PermissionMissing { what: path, message },
        OccError::RateLimited { retry_after } => ConnectorError::RateLimited { retry_after },
        OccError::NotFound { path } => ConnectorError::NotFound { what: path },
        OccError::Transient { detail } => ConnectorError::Transient { detail },
        OccError::TooLarge => ConnectorError::PageTooLarge,
        e @ OccError::Permanent { .. } => ConnectorError::Refused { message: e.to_string() },
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
/// other refusal (or a missing order) refuses the order with the store's message. The three codes
/// are the simulator's [A in docs/occ.md: Oracle documents none for these]; a store answering other
/// codes gets the generic refusal, so nothing depends on them being right.
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

    fn admin_host(&self, entered: &Url) -> Url {
        crate::hosts::admin_for(entered)
    }

    fn storefront<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        sites: &'a [Site],
    ) -> BoxFuture<'a, Storefront> {
        crate::hosts::locate(&self.client, session, credentials, sites).boxed()
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

    fn list<'a>(&'a self, session: &'a Session, page: PageRequest<'a>) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        self.list_page(session, page).boxed()
    }

    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
        site: Option<SiteScope<'a>>,
    ) -> BoxFuture<'a, Result<Records, ConnectorError>> {
        self.point_read(session, kind, product_id, site).boxed()
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

    fn set_order_status<'a>(
        &'a self,
        session: &'a Session,
        order_id: &'a str,
        status: OrderStatus,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        async move {
            let state =
                fulfilment::state_for(status).ok_or(ConnectorError::Unsupported("setting this order status"))?;
            self.fulfil(session, order_id, |order| Ok(fulfilment::status_patch(order, state))).await
        }
        .boxed()
    }

    fn record_shipment<'a>(
        &'a self,
        session: &'a Session,
        order_id: &'a str,
        shipment: ShipmentUpdate<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        self.fulfil(session, order_id, move |order| fulfilment::shipment_patch(order, &shipment)).boxed()
    }

    /// `GET /ccadmin/v1/sites`: every site, enabled or not (the merchant sees why one cannot be chosen).
    fn sites<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Vec<Site>, ConnectorError>> {
        async move {
            let sites = self.client.sites(&session.store, &session.token).await.map_err(error)?;
            Ok(sites
                .into_iter()
                .map(|site| Site {
                    price_list_group: site.price_list_group_id(),
                    currency: site.currency(),
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
        self.slots.webhook_id(slot)
    }

    fn read_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        with_secrets: bool,
    ) -> BoxFuture<'a, Result<Subscription, ConnectorError>> {
        async move {
            let found = self.discover(session, with_secrets).await.into_iter().find(|(s, _)| *s == slot);
            found.map_or(Err(ConnectorError::Unsupported("this slot")), |(_, result)| result)
        }
        .boxed()
    }

    /// Reads the webhook again and writes it whole (callers that read first use `write_back`).
    fn write_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move {
            let read = self.read_subscription(session, slot, false).await?;
            self.write_whole(session, &read, urls).await
        }
        .boxed()
    }

    fn subscriptions<'a>(
        &'a self,
        session: &'a Session,
        with_secrets: bool,
    ) -> BoxFuture<'a, Vec<(Slot, Result<Subscription, ConnectorError>)>> {
        self.discover(session, with_secrets).boxed()
    }

    fn write_back<'a>(
        &'a self,
        session: &'a Session,
        _slot: Slot,
        read: &'a Subscription,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        self.write_whole(session, read, urls).boxed()
    }

    fn failed_deliveries<'a>(
        &'a self,
        session: &'a Session,
    ) -> BoxFuture<'a, Result<Vec<FailedDelivery>, ConnectorError>> {
        self.failed(session).boxed()
    }

    fn resend_delivery<'a>(&'a self, session: &'a Session, id: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
        async move { self.client.resend_webhook_message(&session.store, &session.token, id).await.map_err(error) }
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

    fn read_return_check(&self, body: &Value) -> Result<ReturnCheck, String> {
        crate::returns::read_check(body)
    }

    fn answer_return_check(&self, body: &Value, check: &ReturnCheck, verdicts: &[ReturnVerdict]) -> Value {
        crate::returns::answer(body, check, verdicts)
    }

    fn register_callback<'a>(
        &'a self,
        session: &'a Session,
        name: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<CallbackOutcome, ConnectorError>> {
        async move {
            let id = crate::returns::function_webhook_id(name).ok_or(ConnectorError::Unsupported("this callback"))?;
            let doc = self.client.get_function_webhook(&session.store, &session.token, id).await.map_err(error)?;
            crate::returns::register_function_webhook(doc, url, |body| async move {
                self.client
                    .put_function_webhook(&session.store, &session.token, id, &body)
                    .await
                    .map(drop)
                    .map_err(error)
            })
            .await
        }
        .boxed()
    }

    fn create_return<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        request: &'a NewReturn<'a>,
    ) -> BoxFuture<'a, Result<Hashed<ReturnRow>, ConnectorError>> {
        async move {
            // The agent API is on the storefront host, like order creation.
            let login = agent_url(session, AGENT_LOGIN);
            let agent = self.client.agent_login(&login, credentials).await.map_err(agent_error)?;
            let body = crate::returns::create_body(request);
            let created = self.client.create_return_agent(&session.storefront, &agent.token, &body).await;
            return_record(&created.map_err(agent_error)?, Some(request.order_id))
        }
        .boxed()
    }

    fn update_return<'a>(
        &'a self,
        session: &'a Session,
        return_id: &'a str,
        update: &'a ReturnUpdate<'a>,
    ) -> BoxFuture<'a, Result<Hashed<ReturnRow>, ConnectorError>> {
        async move {
            let current =
                self.client.get_return_request(&session.store, &session.token, return_id).await.map_err(error)?;
            let unknown = crate::returns::unknown_lines(&current, update);
            if !unknown.is_empty() {
                return Err(ConnectorError::Refused {
                    message: format!("the return request holds no line {}", unknown.join(", ")),
                });
            }
            let body = crate::returns::update_body(&current, update);
            let updated = self.client.update_return_request(&session.store, &session.token, return_id, &body).await;
            return_record(&updated.map_err(error)?, None)
        }
        .boxed()
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

    #[test]
    fn create_order_names_the_shopper_and_pays_by_invoice() {
        let address = storelink_model::views::Address { city: Some("Austin".into()), ..Default::default() };
        let lines = vec![storelink_connector::OrderLine { sku_id: "s1", product_id: "p1", quantity: 2 }];
        let order = NewOrder {
            reference: "PO-1",
            lines,
            shipping_method: "ground",
            shipping_address: &address,
            shopper: Shopper::Guest { email: Some("a@example.com") },
            site: None,
        };
        let body = create_order_body(&order, None);
        assert_eq!(body["isAnonymousCheckout"], true);
        assert!(body.get("profileId").is_none());
        assert_eq!(body["shippingAddress"]["email"], "a@example.com");
        assert_eq!(body["payments"], json!([{"type": "invoice", "PONumber": "PO-1"}]));
        assert_eq!(body["shoppingCart"]["items"][0]["catRefId"], "s1");
        let named = NewOrder { shopper: Shopper::Profile("sp1"), ..order };
        let body = create_order_body(&named, None);
        assert_eq!((body["profileId"].as_str(), body.get("isAnonymousCheckout")), (Some("sp1"), None));
        assert!(body["shippingAddress"]["email"].is_null());
        // By email: the profile found or created, else (a key without profile access) a guest order.
        let by_email = NewOrder { shopper: Shopper::Email("b@example.com"), ..named };
        let body = create_order_body(&by_email, Some("sp7"));
        assert_eq!((body["profileId"].as_str(), body.get("isAnonymousCheckout")), (Some("sp7"), None));
        let body = create_order_body(&by_email, None);
        assert_eq!((body["isAnonymousCheckout"].as_bool(), body.get("profileId")), (Some(true), None));
        assert_eq!(body["shippingAddress"]["email"], "b@example.com");
    }

    #[test]
    fn a_profile_matches_by_exact_email_when_active() {
        let profile = |email: &str, active: Value| json!({"id": "sp9", "email": email, "active": active});
        assert_eq!(
            matching_profile(&profile("Ann@Example.com", json!(true)), "ann@example.com").as_deref(),
            Some("sp9")
        );
        assert_eq!(
            matching_profile(&profile("ann@example.com", Value::Null), "ann@example.com").as_deref(),
            Some("sp9")
        );
        assert_eq!(matching_profile(&profile("ann@example.com", json!(false)), "ann@example.com"), None);
        assert_eq!(matching_profile(&profile("annie@example.com", json!(true)), "ann@example.com"), None);
        let address = Address { first_name: Some("Ann".into()), last_name: Some("Lee".into()), ..Default::default() };
        let body = new_profile("ann@example.com", &address);
        assert_eq!((body["firstName"].as_str(), body["lastName"].as_str()), (Some("Ann"), Some("Lee")));
        assert_eq!((body["email"].as_str(), body["receiveEmail"].as_str()), (Some("ann@example.com"), Some("no")));
        assert!(
            body["password"].as_str().is_some_and(|p| p.len() == 32)
                && body["password"] != new_profile("x@y", &address)["password"]
        );
    }

    #[test]
    fn agent_urls_share_one_builder() {
        let store = Arc::new(Url::parse("https://store.example.com/").expect("url"));
        let storefront = Arc::new(Url::parse("https://shop.example.com/").expect("url"));
        let session = Session { store, storefront, token: SecretString::from("t".to_owned()) };
        assert_eq!(agent_url(&session, AGENT_ORDERS).as_str(), "https://shop.example.com/ccappagent/v1/orders");
    }
}
