//! The connect form's validation of the merchant's integration objects (`$metadata` and a `$top=1`
//! read per object) and the connect checks. (Filled in by the validation work of issue 17.)

use secrecy::SecretString;
use storelink_connector::{Check, ConnectorError, Session};

use crate::client::SapClient;

pub async fn validate(
    _client: &SapClient,
    _session: &Session,
    _credentials: &SecretString,
) -> Result<(), ConnectorError> {
    Ok(())
}

pub async fn check(_client: &SapClient, _session: &Session) -> Vec<Check> {
    Vec::new()
}
