//! Sending one call to a merchant's SAP Integration API: the SSRF guard, timeouts, a size cap on the
//! answer, SAP's error bodies read into `ConnectorError`, and retries with backoff for idempotent
//! calls. The session's secret is the whole `Authorization` value (`Bearer <token>` for OAuth
//! clients, `Basic <user:password>` otherwise) and is never logged; neither are bodies or queries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use storelink_connector::ConnectorError;
use storelink_netguard::Policy;
use storelink_netguard::reply::{
    Capped, RetryPolicy, Retryable, TransportFailure, check_literal_host, parse_retry_after, read_capped,
    transport_failure,
};
use url::Url;

/// Error answers are read only this far (SAP's `{"error": {"code", "message"}}` comes first).
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Token answers are about 200 bytes.
pub const TOKEN_LIMIT: usize = 64 * 1024;
/// One page of up to 1,000 expanded items; an EDMX document.
pub const PAGE_LIMIT: usize = 16 * 1024 * 1024;
/// One item or a write's answer.
pub const DOCUMENT_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct SapConfig {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for idempotent calls.
    pub max_retries: u32,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// A longer Retry-After is returned as `RateLimited` instead of being waited out.
    pub max_retry_after: Duration,
}

impl SapConfig {
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base: self.retry_base,
            cap: self.retry_cap,
            max_retry_after: self.max_retry_after,
        }
    }
}

impl Default for SapConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
pub struct SapClient {
    http: reqwest::Client,
    config: Arc<SapConfig>,
    policy: Policy,
}

/// A request body.
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded` (the token request).
    Form(String),
    Json(Value),
}

/// One call: where, how authenticated, and how much of the answer may be read.
pub struct Call<'a> {
    pub method: Method,
    pub url: Url,
    /// The `Authorization` value (`None`: the token request, which sends its client in the form).
    pub authorization: Option<&'a SecretString>,
    pub body: Body,
    /// Safe to send twice (GET, DELETE, the upserting POSTs of SAP's Integration API).
    pub idempotent: bool,
    pub limit: usize,
}

impl<'a> Call<'a> {
    pub fn get(url: Url, authorization: &'a SecretString, limit: usize) -> Self {
        Self {
            method: Method::GET,
            url,
            authorization: Some(authorization),
            body: Body::Empty,
            idempotent: true,
            limit,
        }
    }
}

/// A 2xx answer.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self, what: &str) -> Result<Value, ConnectorError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ConnectorError::BadReply { what: what.to_owned(), detail: format!("not JSON: {e}") })
    }
}

impl SapClient {
    pub fn new(config: SapConfig, policy: Policy) -> Result<Self, ConnectorError> {
        let http = storelink_netguard::http_client_builder(&policy)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(format!("storelink/{}", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectorError::Transient { detail: format!("building the HTTP client: {e}") })?;
        Ok(Self { http, config: Arc::new(config), policy })
    }

    /// The development switch is on (`http://` addresses allowed).
    pub fn allows_insecure(&self) -> bool {
        self.policy.allow_insecure
    }

    /// Send with retries (idempotent calls only); the 2xx answer, or the failure in neutral terms. The
    /// call is a client span of the current trace; it records the method and path only.
    pub async fn send(&self, call: Call<'_>) -> Result<Reply, ConnectorError> {
        let path = call.url.path().to_owned();
        let span = tracing::info_span!("sap_call", method = %call.method, endpoint = %path, otel.kind = "client");
        tracing::Instrument::instrument(self.send_retrying(&call, &path), span).await
    }

    async fn send_retrying(&self, call: &Call<'_>, path: &str) -> Result<Reply, ConnectorError> {
        check_literal_host(&call.url, &self.policy).map_err(|e| ConnectorError::Blocked(e.to_string()))?;
        // Metrics label: the service, without keys or queries.
        let endpoint = path.split('/').take(3).collect::<Vec<_>>().join("/");
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.attempt(call, path).await;
            let outcome = match &result {
                Ok(reply) => reply.status.to_string(),
                Err(e) => e.kind_code().to_owned(),
            };
            metrics::counter!("storelink_sap_calls_total", "endpoint" => endpoint.clone(), "outcome" => outcome)
                .increment(1);
            metrics::histogram!("storelink_sap_call_seconds", "endpoint" => endpoint.clone())
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            tracing::info!(method = %call.method, %path, attempt, error = error.kind_code(), "sap call failed");
            let failure = match &error {
                ConnectorError::RateLimited { retry_after } => Retryable::RateLimited(*retry_after),
                ConnectorError::Transient { .. } => Retryable::Transient,
                _ => Retryable::No,
            };
            let Some(wait) = self.config.retry_policy().wait(failure, attempt, call.idempotent) else {
                return Err(error);
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, call: &Call<'_>, path: &str) -> Result<Reply, ConnectorError> {
        let mut request = self.http.request(call.method.clone(), call.url.clone()).header("accept", "application/json");
        if let Some(authorization) = call.authorization {
            request = request.header("authorization", authorization.expose_secret());
        }
        request = match &call.body {
            Body::Empty => request,
            Body::Form(form) => request.header("content-type", "application/x-www-form-urlencoded").body(form.clone()),
            Body::Json(json) => request.json(json),
        };
        let response = request.send().await.map_err(|e| transport_error(&e, path))?;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        if (200..300).contains(&status) {
            return match read_capped(response, call.limit).await.map_err(|e| transport_error(&e, path))? {
                Capped::Whole(body) => Ok(Reply { status, body }),
                Capped::Over(read) => {
                    tracing::warn!(%path, limit = call.limit, read, "the store's answer passed its size cap; reading stopped");
                    Err(ConnectorError::ReplyTooLarge { what: path.to_owned(), limit: call.limit })
                }
            };
        }
        let body = match read_capped(response, ERROR_BODY_LIMIT).await {
            Ok(Capped::Whole(body)) => body,
            Ok(Capped::Over(_)) | Err(_) => Vec::new(),
        };
        let basic = call.authorization.is_some_and(|a| a.expose_secret().starts_with("Basic "));
        Err(classify(status, &body, path, basic, retry_after))
    }
}

/// SAP's error code and message (`{"error": {"code", "message": {"value"}}}`), or Spring Security's
/// `{"error": "invalid_token", "error_description"}`; the message cut to 300 characters.
pub fn error_of(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &value["error"];
    let (code, message) = match error {
        Value::String(code) => (code.clone(), value["error_description"].as_str().unwrap_or_default().to_owned()),
        _ => (
            error["code"].as_str().unwrap_or_default().to_owned(),
            error["message"]["value"].as_str().or_else(|| error["message"].as_str()).unwrap_or_default().to_owned(),
        ),
    };
    (code, message.chars().take(300).collect())
}

/// A non-2xx answer in neutral terms. A 401 under Basic is refused credentials (there is no session
/// to renew); under a bearer token the session expired and a new token may pass.
fn classify(status: u16, body: &[u8], path: &str, basic: bool, retry_after: Option<Duration>) -> ConnectorError {
    let (code, message) = error_of(body);
    let message = if message.is_empty() { format!("HTTP {status} {code}").trim().to_owned() } else { message };
    match status {
        401 if basic => ConnectorError::CredentialsRefused { status },
        401 => ConnectorError::SessionExpired,
        403 => ConnectorError::PermissionMissing { what: path.to_owned(), message },
        404 => ConnectorError::NotFound { what: path.to_owned() },
        429 => ConnectorError::RateLimited { retry_after },
        500..=599 => ConnectorError::Transient { detail: format!("HTTP {status} ({path})") },
        _ => ConnectorError::Refused { message: format!("{code}: {message}") },
    }
}

fn transport_error(error: &reqwest::Error, path: &str) -> ConnectorError {
    match transport_failure(error) {
        TransportFailure::Blocked(why) => ConnectorError::Blocked(why),
        TransportFailure::Failed(what) => ConnectorError::Transient { detail: format!("{what} ({path})") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sap_and_spring_error_bodies_are_read() {
        let sap = br#"{"error":{"code":"not_found","message":{"lang":"en","value":"no such item"}}}"#;
        assert_eq!(error_of(sap), ("not_found".to_owned(), "no such item".to_owned()));
        let spring = br#"{"error":"invalid_token","error_description":"expired"}"#;
        assert_eq!(error_of(spring), ("invalid_token".to_owned(), "expired".to_owned()));
        assert!(matches!(classify(401, spring, "/p", false, None), ConnectorError::SessionExpired));
        assert!(matches!(classify(401, b"", "/p", true, None), ConnectorError::CredentialsRefused { status: 401 }));
        assert!(matches!(classify(503, b"<html>", "/p", false, None), ConnectorError::Transient { .. }));
    }
}
