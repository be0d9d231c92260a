//! A SAP merchant's credentials as the connect form gives them and the vault seals them (one JSON
//! document): the inbound authentication (OAuth2 client credentials or Basic) and the names of the
//! integration objects Storelink reads. Never printed: `Debug` redacts the secrets.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use storelink_connector::ConnectorError;
use url::Url;

/// The token endpoint's path on the API host, when the form does not override it (docs/sap.md).
pub const TOKEN_PATH: &str = "/authorizationserver/oauth/token";

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SapCredentials {
    pub auth: Auth,
    #[serde(default)]
    pub objects: Objects,
}

#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Auth {
    /// OAuth2 client credentials; `token_url` overrides `{api}/authorizationserver/oauth/token`.
    #[serde(rename = "oauth")]
    OAuth {
        client_id: String,
        client_secret: String,
        token_url: Option<String>,
    },
    Basic {
        user: String,
        password: String,
    },
}

/// The integration object names (`IntegrationObject.code`) Storelink reads; defaults are the ones the
/// shipped ImpEx creates.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Objects {
    pub product: String,
    pub stock: String,
    pub delivery_mode: String,
    /// Optional: a store without it cannot take orders through Storelink.
    pub order: String,
}

impl Default for Objects {
    fn default() -> Self {
        Self {
            product: "StorelinkProduct".to_owned(),
            stock: "StorelinkStock".to_owned(),
            delivery_mode: "StorelinkDeliveryMode".to_owned(),
            order: "StorelinkOrder".to_owned(),
        }
    }
}

impl std::fmt::Debug for SapCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::OAuth { client_id, token_url, .. } => format!("oauth({client_id}, {token_url:?}, [redacted])"),
            Auth::Basic { user, .. } => format!("basic({user}, [redacted])"),
        };
        f.debug_struct("SapCredentials").field("auth", &auth).field("objects", &self.objects).finish()
    }
}

impl SapCredentials {
    /// An OAuth client on the default token endpoint, reading the objects under their default names.
    pub fn oauth(client_id: &str, client_secret: &str) -> Self {
        let auth =
            Auth::OAuth { client_id: client_id.to_owned(), client_secret: client_secret.to_owned(), token_url: None };
        Self { auth, objects: Objects::default() }
    }

    /// Read the sealed document; its content is never part of the error.
    pub fn parse(secret: &SecretString) -> Result<Self, ConnectorError> {
        serde_json::from_str(secret.expose_secret())
            .map_err(|_| ConnectorError::Refused { message: "the stored SAP credentials are not readable".into() })
    }

    /// The document to seal.
    pub fn to_secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).unwrap_or_default())
    }

    /// Where an OAuth client asks for tokens: the override, else the API host's default endpoint.
    pub fn token_url(&self, api: &Url) -> Option<Url> {
        match &self.auth {
            Auth::OAuth { token_url: Some(url), .. } if !url.trim().is_empty() => Url::parse(url.trim()).ok(),
            Auth::OAuth { .. } => api.join(TOKEN_PATH).ok(),
            Auth::Basic { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_and_never_print_secrets() {
        let creds = SapCredentials {
            auth: Auth::OAuth { client_id: "storelink-client".into(), client_secret: "s3cret".into(), token_url: None },
            objects: Objects::default(),
        };
        let parsed = SapCredentials::parse(&creds.to_secret()).expect("parse");
        assert!(parsed == creds);
        assert!(!format!("{parsed:?}").contains("s3cret"));
        let api = Url::parse("https://api.example.com/").expect("url");
        assert_eq!(
            parsed.token_url(&api).map(|u| u.to_string()).as_deref(),
            Some("https://api.example.com/authorizationserver/oauth/token")
        );
        let basic: SapCredentials =
            serde_json::from_str(r#"{"auth":{"type":"basic","user":"storelink","password":"pw"}}"#).expect("basic");
        assert_eq!(basic.objects.order, "StorelinkOrder");
        assert!(!format!("{basic:?}").contains("pw"));
        assert!(SapCredentials::parse(&SecretString::from("not json")).is_err());
    }
}
