//! Placing orders through the merchant's order integration object (`POST .../Orders`, an upsert by
//! `code`), finding them by the partner reference, cancelling. (Filled in by the orders work of
//! issue 17.)

use secrecy::SecretString;
use storelink_connector::{ConnectorError, NewOrder, Session};
use storelink_model::records::{Hashed, OrderRow};

use crate::client::SapClient;

pub async fn create(
    _client: &SapClient,
    _session: &Session,
    _credentials: &SecretString,
    _order: &NewOrder<'_>,
) -> Result<Hashed<OrderRow>, ConnectorError> {
    Err(ConnectorError::Unsupported("creating orders (not built yet)"))
}

pub async fn find(
    _client: &SapClient,
    _session: &Session,
    _reference: &str,
) -> Result<Option<Hashed<OrderRow>>, ConnectorError> {
    Err(ConnectorError::Unsupported("finding orders (not built yet)"))
}

pub async fn cancel(
    _client: &SapClient,
    _session: &Session,
    _order_id: &str,
) -> Result<Hashed<OrderRow>, ConnectorError> {
    Err(ConnectorError::Unsupported("cancelling orders (not built yet)"))
}
