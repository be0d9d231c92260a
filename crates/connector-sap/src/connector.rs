//! `Connector` for SAP Commerce Cloud: each method hands over to the module that owns it (`session`:
//! logging in; `validate`: the connect checks of the integration objects; `sync`: lists and point
//! reads; `events`: webhook registration and inbound deliveries; `orders`: placing orders).

use futures::future::BoxFuture;
use secrecy::SecretString;
use serde_json::Value;
use storelink_connector::{
    Capabilities, Check, Connector, ConnectorError, Delivery, FormField, Headers, Login, ManualSetup, NewOrder, Page,
    PageRequest, Records, Session, SiteScope, Subscription, VerifyError,
};
use storelink_core::{Slot, SyncKind};
use storelink_model::records::{Hashed, OrderRow};
use storelink_netguard::Policy;
use url::Url;

use crate::client::{SapClient, SapConfig};
use crate::{events, orders, session, sync, validate};

/// `merchants.platform` of SAP merchants, and the inbound path's `{platform}`.
pub const PLATFORM: &str = "sap";
/// Vault purpose under which a merchant's SAP credentials (`SapCredentials`) are sealed.
pub const CREDENTIALS_PURPOSE: &str = "sap-credentials";

#[derive(Clone)]
pub struct SapConnector {
    pub(crate) client: SapClient,
}

impl SapConnector {
    pub fn new(client: SapClient) -> Self {
        Self { client }
    }

    /// A connector over a client built from `config` under `policy`: what tests and benches use.
    pub fn with_config(config: SapConfig, policy: Policy) -> Result<Self, ConnectorError> {
        Ok(Self::new(SapClient::new(config, policy)?))
    }

    pub fn client(&self) -> &SapClient {
        &self.client
    }
}

impl Connector for SapConnector {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn display_name(&self) -> &'static str {
        "SAP Commerce Cloud"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { create_orders: true, webhooks: true, incremental: true }
    }

    fn form(&self) -> &'static [FormField] {
        session::FORM
    }

    fn credentials(
        &self,
        values: storelink_connector::FieldValues<'_>,
    ) -> Result<SecretString, storelink_connector::CredentialsError> {
        session::credentials(values)
    }

    fn setup_files(&self) -> &'static [storelink_connector::SetupFile] {
        session::SETUP
    }

    fn credentials_purpose(&self) -> &'static str {
        CREDENTIALS_PURPOSE
    }

    fn login<'a>(
        &'a self,
        store: &'a Url,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<Login, ConnectorError>> {
        Box::pin(session::login(&self.client, store, credentials))
    }

    fn validate<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(validate::validate(&self.client, session, credentials))
    }

    fn check<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Vec<Check>> {
        Box::pin(validate::check(&self.client, session))
    }

    fn list<'a>(&'a self, session: &'a Session, page: PageRequest<'a>) -> BoxFuture<'a, Result<Page, ConnectorError>> {
        Box::pin(sync::list(&self.client, session, page))
    }

    fn read<'a>(
        &'a self,
        session: &'a Session,
        kind: SyncKind,
        product_id: &'a str,
        site: Option<SiteScope<'a>>,
    ) -> BoxFuture<'a, Result<Records, ConnectorError>> {
        Box::pin(sync::read(&self.client, session, kind, product_id, site))
    }

    fn create_order<'a>(
        &'a self,
        session: &'a Session,
        credentials: &'a SecretString,
        order: &'a NewOrder<'a>,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        Box::pin(orders::create(&self.client, session, credentials, order))
    }

    fn find_order<'a>(
        &'a self,
        session: &'a Session,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Option<Hashed<OrderRow>>, ConnectorError>> {
        Box::pin(orders::find(&self.client, session, reference))
    }

    fn cancel_order<'a>(
        &'a self,
        session: &'a Session,
        order_id: &'a str,
    ) -> BoxFuture<'a, Result<Hashed<OrderRow>, ConnectorError>> {
        Box::pin(orders::cancel(&self.client, session, order_id))
    }

    fn subscription_id(&self, slot: Slot) -> String {
        events::subscription_id(slot)
    }

    fn read_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        with_secrets: bool,
    ) -> BoxFuture<'a, Result<Subscription, ConnectorError>> {
        Box::pin(events::read_subscription(&self.client, session, slot, with_secrets))
    }

    fn write_back<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        read: &'a Subscription,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(events::write_back(&self.client, session, slot, read, urls))
    }

    fn manual_setup(&self, session: &Session, slot: Slot, url: &str, secrets: &[u8]) -> Option<ManualSetup> {
        events::manual_setup(session, slot, url, secrets)
    }

    fn delivery_id(&self, headers: Headers<'_>) -> Option<String> {
        events::delivery_id(headers)
    }

    fn write_subscription<'a>(
        &'a self,
        session: &'a Session,
        slot: Slot,
        urls: &'a [String],
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(events::write_subscription(&self.client, session, slot, urls))
    }

    fn verify_delivery(&self, secrets: &[u8], headers: Headers<'_>, body: &[u8]) -> Result<(), VerifyError> {
        events::verify_delivery(secrets, headers, body)
    }

    fn delivery_records(&self, slot: &str, body: &Value) -> Result<Delivery, String> {
        events::delivery_records(slot, body)
    }
}
