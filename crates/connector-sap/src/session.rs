//! Logging in to a SAP store: an OAuth2 client-credentials token from the token endpoint, or, for
//! Basic, the credential itself (SAP has no session; nothing is sent until the first call, and the
//! connect form's `validate` confirms it). The session's secret is the `Authorization` value. Owns
//! the connect form's fields, reading them into `SapCredentials`, and the ImpEx the form links.

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use secrecy::SecretString;
use serde::Deserialize;
use storelink_connector::{ConnectorError, CredentialsError, FieldValues, FormField, Login, SetupFile};
use url::Url;

use crate::client::{Body, Call, SapClient, TOKEN_LIMIT};
use crate::credentials::{Auth, Objects, SapCredentials};

/// How long a Basic "session" is kept before the token cache builds it again from the vault (a
/// rotated password takes effect within this).
const BASIC_SESSION: Duration = Duration::from_secs(3600);

/// The connect form's fields besides the API URL (the store URL field). Secrets are never echoed.
pub const FORM: &[FormField] = &[
    FormField {
        name: "sap_auth",
        label: "Authentication",
        help: "The authentication type of the inbound channel configuration ($authType in the ImpEx).",
        secret: false,
        choices: &[("oauth", "OAuth2 client credentials"), ("basic", "Basic (user and password)")],
        when: None,
    },
    FormField {
        name: "sap_client_id",
        label: "OAuth client id",
        help: "The OAuth client the Storelink ImpEx creates (storelink-client), or your own.",
        secret: false,
        choices: &[],
        when: Some(("sap_auth", "oauth")),
    },
    FormField {
        name: "sap_client_secret",
        label: "OAuth client secret",
        help: "The secret you set for that client in the ImpEx.",
        secret: true,
        choices: &[],
        when: Some(("sap_auth", "oauth")),
    },
    FormField {
        name: "sap_token_url",
        label: "Token endpoint (optional)",
        help: "Leave empty for <API base URL>/authorizationserver/oauth/token.",
        secret: false,
        choices: &[],
        when: Some(("sap_auth", "oauth")),
    },
    FormField {
        name: "sap_user",
        label: "User",
        help: "The employee the Storelink ImpEx creates (storelink), or your own.",
        secret: false,
        choices: &[],
        when: Some(("sap_auth", "basic")),
    },
    FormField {
        name: "sap_password",
        label: "Password",
        help: "The password you set for that user in the ImpEx.",
        secret: true,
        choices: &[],
        when: Some(("sap_auth", "basic")),
    },
    object_field("sap_object_product", "Product integration object (optional)", "Leave empty for StorelinkProduct."),
    object_field("sap_object_stock", "Stock integration object (optional)", "Leave empty for StorelinkStock."),
    object_field(
        "sap_object_delivery_mode",
        "Delivery mode integration object (optional)",
        "Leave empty for StorelinkDeliveryMode.",
    ),
    object_field(
        "sap_object_order",
        "Order integration object (optional)",
        "Leave empty for StorelinkOrder. Without it, orders cannot be placed through Storelink.",
    ),
];

const fn object_field(name: &'static str, label: &'static str, help: &'static str) -> FormField {
    FormField { name, label, help, secret: false, choices: &[], when: None }
}

/// The ImpEx the merchant imports once; the simulator's schema is read from the same file.
pub const SETUP: &[SetupFile] = &[SetupFile {
    name: "storelink-integration-objects.impex",
    content_type: "text/plain; charset=utf-8",
    body: include_str!("../../sap-sim/impex/storelink-integration-objects.impex"),
    how: "Import this ImpEx once: set $authType (OAUTH or BASIC), the password of the \
          storelink user and the secret of the storelink-client OAuth client at its top, then import it in \
          Backoffice (System > Tools > Import) or in HAC (Console > ImpEx Import). It creates the integration \
          objects Storelink reads, their inbound channel configuration, the storelinkgroup user group, the \
          storelink user and the OAuth client. To let Storelink register its webhooks itself, also add the \
          storelink user to integrationadmingroup.",
}];

/// Identifiers and URLs are far shorter; a longer value is a paste mistake.
const MAX_FIELD: usize = 2048;

/// `SapCredentials` from the connect form's fields: each missing or unusable field is named with the
/// merchant's words. Secrets keep their spaces (a password may hold one); identifiers are trimmed.
pub fn credentials(values: FieldValues<'_>) -> Result<SecretString, CredentialsError> {
    let text = |field: &'static str| -> Result<String, CredentialsError> {
        let value = values(field).unwrap_or_default();
        let secret = FORM.iter().any(|f| f.name == field && f.secret);
        let value = if secret { value.trim_matches(['\r', '\n']) } else { value.trim() };
        if value.len() > MAX_FIELD {
            return Err(CredentialsError::TooLong { field });
        }
        Ok(value.to_owned())
    };
    let required = |field: &'static str, message: &str| -> Result<String, CredentialsError> {
        let value = text(field)?;
        if value.is_empty() {
            return Err(CredentialsError::Invalid { field, message: message.to_owned() });
        }
        Ok(value)
    };
    let auth = match values("sap_auth")
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .as_deref()
        .unwrap_or("oauth")
    {
        "oauth" => {
            let client_id = required(
                "sap_client_id",
                "Enter the OAuth client id (storelink-client if you kept the ImpEx as it is).",
            )?;
            let client_secret =
                required("sap_client_secret", "Enter the secret of the OAuth client, as you set it in the ImpEx.")?;
            let token_url = text("sap_token_url")?;
            if !token_url.is_empty() && !Url::parse(&token_url).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) {
                return Err(CredentialsError::Invalid {
                    field: "sap_token_url",
                    message: "The token endpoint must be a full https:// address, or leave it empty.".to_owned(),
                });
            }
            Auth::OAuth { client_id, client_secret, token_url: Some(token_url).filter(|u| !u.is_empty()) }
        }
        "basic" => Auth::Basic {
            user: required("sap_user", "Enter the user (storelink if you kept the ImpEx as it is).")?,
            password: required("sap_password", "Enter the password of the user, as you set it in the ImpEx.")?,
        },
        _ => {
            return Err(CredentialsError::Invalid {
                field: "sap_auth",
                message: "Choose OAuth2 client credentials or Basic.".to_owned(),
            });
        }
    };
    let defaults = Objects::default();
    let object = |field: &'static str, default: String| -> Result<String, CredentialsError> {
        let name = text(field)?;
        if name.is_empty() {
            return Ok(default);
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CredentialsError::Invalid {
                field,
                message: format!("{name} is not an integration object code: use letters, digits and _ only."),
            });
        }
        Ok(name)
    };
    let objects = Objects {
        product: object("sap_object_product", defaults.product)?,
        stock: object("sap_object_stock", defaults.stock)?,
        delivery_mode: object("sap_object_delivery_mode", defaults.delivery_mode)?,
        order: object("sap_object_order", defaults.order)?,
    };
    Ok(SapCredentials { auth, objects }.to_secret())
}

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
