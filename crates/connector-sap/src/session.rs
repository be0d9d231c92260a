//! Logging in to a SAP store: an OAuth2 client-credentials token from the token endpoint, or, for
//! Basic, the credential itself (SAP has no session; nothing is sent until the first call, and the
//! connect form's `validate` confirms it). The session's secret is the `Authorization` value.

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use storelink_connector::{ConnectorError, FormField, Login};
use url::Url;

use crate::client::{Body, Call, SapClient, TOKEN_LIMIT};
use crate::credentials::{Auth, SapCredentials};

/// How long a Basic "session" is kept before the token cache builds it again from the vault (a
/// rotated password takes effect within this).
const BASIC_SESSION: Duration = Duration::from_secs(3600);

/// The connect form's fields besides the API URL (the store URL field).
pub const FORM: &[FormField] = &[
    FormField {
        name: "sap_auth",
        label: "Authentication",
        help: "How your inbound channel configuration authenticates Storelink: oauth (client credentials) or basic.",
        secret: false,
    },
    FormField {
        name: "sap_client_id",
        label: "OAuth client id",
        help: "The OAuth client the Storelink ImpEx creates (storelink-client), or your own.",
        secret: false,
    },
    FormField { name: "sap_client_secret", label: "OAuth client secret", help: "", secret: true },
    FormField {
        name: "sap_token_url",
        label: "Token endpoint (optional)",
        help: "Leave empty for <API URL>/authorizationserver/oauth/token.",
        secret: false,
    },
    FormField {
        name: "sap_user",
        label: "User (Basic)",
        help: "The employee the ImpEx creates (storelink).",
        secret: false,
    },
    FormField { name: "sap_password", label: "Password (Basic)", help: "", secret: true },
];

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub async fn login(client: &SapClient, api: &Url, credentials: &SecretString) -> Result<Login, ConnectorError> {
    let credentials = SapCredentials::parse(credentials)?;
    let (client_id, client_secret) = match &credentials.auth {
        Auth::Basic { user, password } => {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let token = crate::bound::token(format!("Basic {pair}"), &credentials.objects);
            return Ok(Login { token, expires_in: BASIC_SESSION });
        }
        Auth::OAuth { client_id, client_secret, .. } => (client_id, client_secret),
    };
    let url = credentials
        .token_url(api)
        .ok_or_else(|| ConnectorError::Refused { message: "the token endpoint is not a valid URL".into() })?;
    let form = serde_urlencoded_pairs(&[
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ]);
    let call = Call {
        method: Method::POST,
        url,
        authorization: None,
        body: Body::Form(form),
        idempotent: true,
        limit: TOKEN_LIMIT,
    };
    let reply = match client.send(call).await {
        Ok(reply) => reply,
        Err(e) => return Err(login_error(e)),
    };
    let answer: TokenAnswer =
        serde_json::from_slice(&reply.body).map_err(|_| ConnectorError::NoLoginEndpoint { status: reply.status })?;
    let expires_in = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
    let token = crate::bound::token(format!("Bearer {}", answer.access_token), &credentials.objects);
    Ok(Login { token, expires_in })
}

/// The token endpoint's refusals: `invalid_client` (400 or 401) is refused credentials; a 404 or a
/// redirect means the address has no token endpoint.
fn login_error(error: ConnectorError) -> ConnectorError {
    match error {
        ConnectorError::SessionExpired | ConnectorError::CredentialsRefused { .. } => {
            ConnectorError::CredentialsRefused { status: 401 }
        }
        ConnectorError::Refused { message }
            if message.starts_with("invalid_client") || message.starts_with("unauthorized_client") =>
        {
            ConnectorError::CredentialsRefused { status: 400 }
        }
        ConnectorError::NotFound { .. } | ConnectorError::PermissionMissing { .. } => {
            ConnectorError::NoLoginEndpoint { status: 404 }
        }
        other => other,
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}
