//! Why a connection attempt failed, in words for the merchant. Every variant names what to fix;
//! none carries the key, a token or a secret.

use storelink_connector::ConnectorError;
use storelink_netguard::UrlError;

/// Which form field a message belongs to, so the page can put it beside that field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    StoreUrl,
    AppKey,
    Form,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    BadStoreUrl(#[from] UrlError),
    #[error("Paste your OCC Application Key. You find it in the OCC admin under Settings > Integrations.")]
    MissingKey,
    #[error(
        "That does not look like an OCC Application Key: it is too long. Copy the key again from Settings > Integrations."
    )]
    KeyTooLong,
    #[error(
        "Your store rejected this Application Key. Check that you copied the whole key from Settings > \
         Integrations and that the integration is still registered, then try again."
    )]
    KeyRejected,
    #[error(
        "{host} answers, but it is not an OCC admin address: it has no OCC login. Enter the address you \
         sign in to the OCC admin at, such as https://yourstore-admin.occa.ocs.oraclecloud.com (not your \
         shop's address or a custom domain)."
    )]
    NotAdminHost { host: String },
    #[error(
        "We could not reach a store at {host}. Check the Store URL; if it is right, your store may be down, so try again in a few minutes."
    )]
    StoreUnreachable { host: String },
    #[error(
        "Your store at {host} answered with an error ({detail}). Check the Store URL, or try again in a few minutes."
    )]
    StoreError { host: String, detail: String },
    #[error(
        "The server at {host} sent a far larger answer than an OCC store sends, so we stopped reading it. \
         Check that the Store URL is your OCC store's address."
    )]
    StoreReplyTooLarge { host: String },
    /// The store lacks what Storelink needs; the connector's words say what to fix.
    #[error("{message}")]
    StoreNotSetUp { message: String },
    #[error("This kind of store cannot be connected here. Go back to the partner's site and start again.")]
    UnknownPlatform,
    #[error("Something went wrong on our side and nothing was changed. Please try again.")]
    /// The cause is for the logs, never for the page.
    Internal(String),
}

impl ConnectError {
    pub fn field(&self) -> Field {
        match self {
            ConnectError::BadStoreUrl(_)
            | ConnectError::StoreUnreachable { .. }
            | ConnectError::NotAdminHost { .. }
            | ConnectError::StoreError { .. }
            | ConnectError::StoreReplyTooLarge { .. } => Field::StoreUrl,
            ConnectError::MissingKey | ConnectError::KeyTooLong | ConnectError::KeyRejected => Field::AppKey,
            ConnectError::StoreNotSetUp { .. } | ConnectError::UnknownPlatform | ConnectError::Internal(_) => {
                Field::Form
            }
        }
    }

    /// Stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::BadStoreUrl(_) => "bad_store_url",
            ConnectError::MissingKey => "missing_key",
            ConnectError::KeyTooLong => "key_too_long",
            ConnectError::KeyRejected => "key_rejected",
            ConnectError::StoreUnreachable { .. } => "store_unreachable",
            ConnectError::NotAdminHost { .. } => "not_admin_host",
            ConnectError::StoreError { .. } => "store_error",
            ConnectError::StoreReplyTooLarge { .. } => "store_reply_too_large",
            ConnectError::StoreNotSetUp { .. } => "store_not_set_up",
            ConnectError::UnknownPlatform => "unknown_platform",
            ConnectError::Internal(_) => "internal",
        }
    }

    /// The store refused the login or did not answer it properly: what the per-store backoff counts.
    pub fn is_failed_login(&self) -> bool {
        matches!(
            self,
            ConnectError::KeyRejected
                | ConnectError::StoreUnreachable { .. }
                | ConnectError::NotAdminHost { .. }
                | ConnectError::StoreError { .. }
        )
    }

    /// Maps the test login's failure: a refused key (the store's own error answer), an address
    /// without the store's login (404, HTML, redirect), a store that is down (5xx, timeout, refused
    /// connection).
    pub(crate) fn from_login(host: &str, error: ConnectorError) -> Self {
        match error {
            ConnectorError::CredentialsRefused { .. } => ConnectError::KeyRejected,
            ConnectorError::NoLoginEndpoint { .. } => ConnectError::NotAdminHost { host: host.to_owned() },
            ConnectorError::NotSetUp { message } => ConnectError::StoreNotSetUp { message },
            ConnectorError::Blocked(_) => ConnectError::BadStoreUrl(UrlError::private_network()),
            ConnectorError::Transient { .. } => ConnectError::StoreUnreachable { host: host.to_owned() },
            ConnectorError::ReplyTooLarge { .. } => ConnectError::StoreReplyTooLarge { host: host.to_owned() },
            other => ConnectError::StoreError { host: host.to_owned(), detail: other.kind_code().replace('_', " ") },
        }
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        ConnectError::Internal(error.to_string())
    }
}
