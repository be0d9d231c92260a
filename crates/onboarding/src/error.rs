//! Why a connection attempt failed, in words for the merchant of that platform. Every variant names
//! what to fix; none carries a key, password, token or secret.

use storelink_connector::{ConnectorError, CredentialsError};
use storelink_netguard::UrlError;

/// Which form field a message belongs to, so the page can put it beside that field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    StoreUrl,
    /// The credential field of that name.
    Credential(&'static str),
    /// The secret field the merchant filled in (the credentials as a whole were refused).
    Secret,
    Form,
}

/// How the merchant's pages name a platform's store address and credentials (`merchants.platform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Occ,
    Sap,
    /// A platform without words of its own here: neutral ones.
    Other,
}

impl Platform {
    pub fn of(platform: &str) -> Self {
        match platform {
            "occ" => Platform::Occ,
            "sap" => Platform::Sap,
            _ => Platform::Other,
        }
    }

    /// The store URL field's label and hint.
    pub fn store_url_label(self) -> &'static str {
        match self {
            Platform::Sap => "API base URL",
            Platform::Occ | Platform::Other => "Store URL",
        }
    }

    pub fn store_url_hint(self) -> &'static str {
        match self {
            Platform::Sap => {
                "The host that serves your Integration API (/odata2webservices), for example \
                 https://api.c1abc2defg-yourcompa1-p1-public.model-t.cc.commerce.ondemand.com."
            }
            Platform::Occ | Platform::Other => {
                "The address of your store, for example https://mystore.example.com. Trailing slashes and capital \
                 letters are fine."
            }
        }
    }

    fn your_store(self) -> &'static str {
        match self {
            Platform::Occ => "Your Oracle Commerce Cloud store",
            Platform::Sap => "Your SAP Commerce Cloud store",
            Platform::Other => "Your store",
        }
    }

    /// The store's answer was far larger than this platform's login or API sends.
    fn reply_too_large(self, host: &str) -> String {
        let (what, address) = match self {
            Platform::Occ => ("an OCC store", "your OCC store's address"),
            Platform::Sap => ("a SAP Commerce Cloud API", "your SAP Commerce Cloud API base URL"),
            Platform::Other => ("a store", "your store's address"),
        };
        format!(
            "The server at {host} sent a far larger answer than {what} sends, so we stopped reading it. Check that \
             the {} is {address}.",
            self.store_url_label()
        )
    }

    fn credentials_refused(self) -> &'static str {
        match self {
            Platform::Occ => {
                "Your store rejected this Application Key. Check that you copied the whole key from Settings > \
                 Integrations and that the integration is still registered, then try again."
            }
            Platform::Sap => {
                "Your SAP Commerce Cloud store refused these credentials. Check the OAuth client id and secret (or the \
                 user and password) you set in the Storelink ImpEx, and that the authentication you chose is the \
                 one its inbound channel configuration uses ($authType), then try again."
            }
            Platform::Other => "Your store refused these credentials. Check them and try again.",
        }
    }

    fn no_login_endpoint(self, host: &str) -> String {
        match self {
            Platform::Occ => format!(
                "{host} answers, but it is not an OCC admin address: it has no OCC login. Enter the address you sign \
                 in to the OCC admin at, such as https://yourstore-admin.occa.ocs.oraclecloud.com (not your shop's \
                 address or a custom domain)."
            ),
            Platform::Sap => format!(
                "{host} answers, but it serves neither the Integration API nor an OAuth token endpoint. Enter your API \
                 base URL, the host that serves /odata2webservices (not the storefront or Backoffice address), or \
                 give the token endpoint if your OAuth server is elsewhere."
            ),
            Platform::Other => format!("{host} answers, but it has no login of this platform. Check the Store URL."),
        }
    }

    fn credential_missing(self, field: &str) -> String {
        match self {
            Platform::Occ => {
                "Paste your OCC Application Key. You find it in the OCC admin under Settings > Integrations.".to_owned()
            }
            Platform::Sap | Platform::Other => format!("Fill in {}.", field.replace('_', " ")),
        }
    }

    fn credential_too_long(self) -> &'static str {
        match self {
            Platform::Occ => {
                "That does not look like an OCC Application Key: it is too long. Copy the key again from Settings > \
                 Integrations."
            }
            Platform::Sap | Platform::Other => "This is far longer than such a value can be. Copy it again.",
        }
    }
}

#[derive(Debug)]
pub enum ConnectError {
    BadStoreUrl(UrlError),
    /// A credential field is missing or unusable: the connector's reason, or the platform's words.
    BadCredential {
        field: &'static str,
        code: &'static str,
        message: String,
    },
    KeyRejected {
        platform: Platform,
    },
    NotAdminHost {
        platform: Platform,
        host: String,
    },
    StoreUnreachable {
        platform: Platform,
        host: String,
    },
    StoreError {
        platform: Platform,
        host: String,
        detail: String,
    },
    StoreReplyTooLarge {
        platform: Platform,
        host: String,
    },
    /// The store lacks what Storelink needs; the connector's words say what to fix.
    StoreNotSetUp {
        platform: Platform,
        message: String,
    },
    UnknownPlatform,
    /// The cause is for the logs, never for the page.
    Internal(String),
}

impl From<UrlError> for ConnectError {
    fn from(e: UrlError) -> Self {
        ConnectError::BadStoreUrl(e)
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::BadStoreUrl(e) => write!(f, "{e}"),
            ConnectError::BadCredential { message, .. } => f.write_str(message),
            ConnectError::StoreNotSetUp { platform, message } => {
                let stop = if message.ends_with('.') { "" } else { "." };
                write!(f, "{} is not set up for Storelink yet: {message}{stop}", platform.your_store())
            }
            ConnectError::KeyRejected { platform } => f.write_str(platform.credentials_refused()),
            ConnectError::NotAdminHost { platform, host } => f.write_str(&platform.no_login_endpoint(host)),
            ConnectError::StoreUnreachable { platform, host } => write!(
                f,
                "We could not reach a store at {host}. Check the {}; if it is right, your store may be down, so try \
                 again in a few minutes.",
                platform.store_url_label()
            ),
            ConnectError::StoreError { platform, host, detail } => write!(
                f,
                "Your store at {host} answered with an error ({detail}). Check the {}, or try again in a few minutes.",
                platform.store_url_label()
            ),
            ConnectError::StoreReplyTooLarge { platform, host } => f.write_str(&platform.reply_too_large(host)),
            ConnectError::UnknownPlatform => f.write_str(
                "This kind of store cannot be connected here. Go back to the partner's site and start again.",
            ),
            ConnectError::Internal(_) => {
                f.write_str("Something went wrong on our side and nothing was changed. Please try again.")
            }
        }
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    pub fn field(&self) -> Field {
        match self {
            ConnectError::BadStoreUrl(_)
            | ConnectError::StoreUnreachable { .. }
            | ConnectError::NotAdminHost { .. }
            | ConnectError::StoreError { .. }
            | ConnectError::StoreReplyTooLarge { .. } => Field::StoreUrl,
            ConnectError::BadCredential { field, .. } => Field::Credential(field),
            ConnectError::KeyRejected { .. } => Field::Secret,
            ConnectError::StoreNotSetUp { .. } | ConnectError::UnknownPlatform | ConnectError::Internal(_) => {
                Field::Form
            }
        }
    }

    /// Stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::BadStoreUrl(_) => "bad_store_url",
            ConnectError::BadCredential { code, .. } => code,
            ConnectError::KeyRejected { .. } => "key_rejected",
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
            ConnectError::KeyRejected { .. }
                | ConnectError::StoreUnreachable { .. }
                | ConnectError::NotAdminHost { .. }
                | ConnectError::StoreError { .. }
        )
    }

    /// The form's fields did not make credentials (`Connector::credentials`).
    pub(crate) fn from_credentials(platform: Platform, error: CredentialsError) -> Self {
        let (field, code, message) = match error {
            CredentialsError::Missing { field } => (field, "missing_key", platform.credential_missing(field)),
            CredentialsError::TooLong { field } => (field, "key_too_long", platform.credential_too_long().to_owned()),
            CredentialsError::Invalid { field, message } => (field, "invalid_credentials", message),
        };
        ConnectError::BadCredential { field, code, message }
    }

    /// Maps the test login's (and validation's) failure: refused credentials (the store's own error
    /// answer), an address without the store's login (404, HTML, redirect), a store that is down (5xx,
    /// timeout, refused connection), a store not set up for Storelink.
    pub(crate) fn from_login(platform: Platform, host: &str, error: ConnectorError) -> Self {
        let host = host.to_owned();
        match error {
            ConnectorError::CredentialsRefused { .. } => ConnectError::KeyRejected { platform },
            ConnectorError::NoLoginEndpoint { .. } => ConnectError::NotAdminHost { platform, host },
            ConnectorError::NotSetUp { message } => ConnectError::StoreNotSetUp { platform, message },
            ConnectorError::Blocked(_) => ConnectError::BadStoreUrl(UrlError::private_network()),
            ConnectorError::Transient { .. } => ConnectError::StoreUnreachable { platform, host },
            ConnectorError::ReplyTooLarge { .. } => ConnectError::StoreReplyTooLarge { platform, host },
            other => ConnectError::StoreError { platform, host, detail: other.kind_code().replace('_', " ") },
        }
    }

    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        ConnectError::Internal(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_platform_and_its_credential() {
        let refused = |p| ConnectError::from_login(p, "h.example", ConnectorError::CredentialsRefused { status: 401 });
        assert!(refused(Platform::Occ).to_string().contains("Application Key"));
        let sap = refused(Platform::Sap).to_string();
        assert!(sap.contains("SAP Commerce Cloud") && sap.contains("OAuth client") && !sap.contains("OCC"), "{sap}");
        let no_login = |p| ConnectError::from_login(p, "h.example", ConnectorError::NoLoginEndpoint { status: 404 });
        assert!(no_login(Platform::Occ).to_string().contains("not an OCC admin address"));
        let sap = no_login(Platform::Sap).to_string();
        assert!(sap.contains("/odata2webservices") && !sap.contains("OCC"), "{sap}");
        let too_large =
            ConnectError::from_login(Platform::Sap, "h", ConnectorError::ReplyTooLarge { what: "/".into(), limit: 1 });
        assert!(too_large.to_string().contains("API base URL"));
        let missing = ConnectError::from_credentials(Platform::Occ, CredentialsError::Missing { field: "app_key" });
        assert_eq!(missing.field(), Field::Credential("app_key"));
        assert!(missing.to_string().starts_with("Paste your OCC Application Key"));
        let not_set_up =
            ConnectError::from_login(Platform::Sap, "h", ConnectorError::NotSetUp { message: "Import it.".into() });
        let expected = "Your SAP Commerce Cloud store is not set up for Storelink yet: Import it.";
        assert_eq!((not_set_up.to_string().as_str(), not_set_up.field()), (expected, Field::Form));
    }
}
