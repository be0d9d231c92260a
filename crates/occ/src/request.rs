//! Sending one OCC request: the SSRF pre-flight, timeouts, a size cap on the answer, classification,
//! and retries with exponential backoff and jitter (idempotent calls only), honouring Retry-After.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use storelink_netguard::Policy;
use storelink_netguard::reply::{
    Capped, RetryPolicy, Retryable, TransportFailure, check_literal_host, parse_retry_after, read_capped,
    transport_failure,
};
use url::Url;

use crate::OccError;
use crate::error::classify;

/// How much of an answer is read for each kind of call. The store is merchant-controlled: a body is
/// read chunk by chunk and the call fails with `ResponseTooLarge` as soon as it passes its cap, so a
/// store that streams gigabytes costs one chunk of memory (a whole-body read of a 3 GB login answer
/// took a web process from 22 MB to 5.8 GB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyLimit {
    /// Login: `{"access_token", "token_type", "expires_in", "links"}`, about 2 KB.
    Login,
    /// One page of up to 250 items (a 250-product page of a rich catalog is about 2 MB).
    Page,
    /// One document: an order, a webhook, the shipping methods.
    Document,
}

impl ReplyLimit {
    pub const fn bytes(self) -> usize {
        match self {
            ReplyLimit::Login => 64 * 1024,
            ReplyLimit::Page => 8 * 1024 * 1024,
            ReplyLimit::Document => 2 * 1024 * 1024,
        }
    }
}

/// Error answers are read only this far: their `errorCode` and `message` come first, and a longer
/// body is classified by its status alone.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct OccConfig {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for idempotent calls.
    pub max_retries: u32,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    /// A longer Retry-After is returned as `RateLimited` instead of being waited out.
    pub max_retry_after: Duration,
    pub user_agent: String,
}

impl OccConfig {
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            base: self.retry_base,
            cap: self.retry_cap,
            max_retry_after: self.max_retry_after,
        }
    }
}

impl Default for OccConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            user_agent: format!("storelink/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Clone)]
pub struct OccClient {
    http: reqwest::Client,
    config: Arc<OccConfig>,
    policy: Policy,
}

pub(crate) enum Body {
    Empty,
    Form(&'static str),
    Json(Value),
}

/// One call to make.
pub(crate) struct Call<'a> {
    pub method: Method,
    pub store: &'a Url,
    pub segments: &'a [&'a str],
    pub query: Vec<(String, String)>,
    pub bearer: &'a SecretString,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
    /// Safe to send twice (GET, PUT, login).
    pub idempotent: bool,
    /// Authenticated by the application key: any 4xx means the key was refused.
    pub login: bool,
    pub limit: ReplyLimit,
}

impl OccClient {
    pub fn new(config: OccConfig, policy: Policy) -> Result<Self, OccError> {
        let http = storelink_netguard::http_client_builder(&policy)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| OccError::Transient { detail: format!("building the HTTP client: {e}") })?;
        Ok(Self { http, config: Arc::new(config), policy })
    }

    /// Send with retries; returns the body of a 2xx answer. The call is a client span of the current
    /// trace (a new one when there is none), and OCC is sent its `traceparent`. The span records the
    /// method and path segments only: never the bearer, the form body or the query.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, OccError> {
        let span = tracing::info_span!("occ_call", method = %call.method, endpoint = %call.segments.join("/"), otel.kind = "client", trace_id = tracing::field::Empty);
        if let Some(trace_id) = storelink_core::trace::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        let traceparent = storelink_core::trace::traceparent_of(&span);
        tracing::Instrument::instrument(self.send_traced(call, traceparent), span).await
    }

    async fn send_traced(&self, call: Call<'_>, traceparent: Option<String>) -> Result<Vec<u8>, OccError> {
        let url = build_url(call.store, call.segments, &call.query)?;
        check_literal_host(&url, &self.policy).map_err(|e| OccError::Blocked(e.to_string()))?;
        let path = url.path().to_owned();
        // Metrics label: the resource, without ids (`/ccadmin/v1/orders`, not `/ccadmin/v1/orders/o1`).
        let endpoint = format!("/{}", call.segments.iter().take(3).copied().collect::<Vec<_>>().join("/"));
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.attempt(&call, &url, &path, traceparent.as_deref()).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let outcome = match &result {
                Ok((status, _)) => status.to_string(),
                Err(e) => e.kind_code().to_owned(),
            };
            metrics::counter!("storelink_occ_calls_total", "endpoint" => endpoint.clone(), "outcome" => outcome)
                .increment(1);
            metrics::histogram!("storelink_occ_call_seconds", "endpoint" => endpoint.clone())
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok((status, body)) => {
                    tracing::debug!(method = %call.method, %path, status, attempt, elapsed_ms, "occ call");
                    return Ok(body);
                }
                Err(e) => e,
            };
            tracing::info!(method = %call.method, %path, attempt, elapsed_ms, error = error.kind_code(), "occ call failed");
            let failure = match &error {
                OccError::RateLimited { retry_after } => Retryable::RateLimited(*retry_after),
                OccError::Transient { .. } => Retryable::Transient,
                _ => Retryable::No,
            };
            let Some(wait) = self.config.retry_policy().wait(failure, attempt, call.idempotent) else {
                return Err(error);
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        url: &Url,
        path: &str,
        traceparent: Option<&str>,
    ) -> Result<(u16, Vec<u8>), OccError> {
        let mut request = self
            .http
            .request(call.method.clone(), url.clone())
            .header("authorization", format!("Bearer {}", call.bearer.expose_secret()));
        if let Some(traceparent) = traceparent {
            request = request.header(storelink_core::trace::TRACEPARENT, traceparent);
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        request = match &call.body {
            Body::Empty => request,
            Body::Form(form) => request.header("content-type", "application/x-www-form-urlencoded").body(*form),
            Body::Json(json) => request.json(json),
        };
        let response = request.send().await.map_err(|e| transport_error(&e, path))?;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        if (200..300).contains(&status) {
            let limit = call.limit.bytes();
            match read_capped(response, limit).await.map_err(|e| transport_error(&e, path))? {
                Capped::Whole(body) => Ok((status, body)),
                Capped::Over(read) => {
                    tracing::warn!(%path, limit, read, "the store's answer passed its size cap; reading stopped");
                    Err(OccError::ResponseTooLarge { path: path.to_owned(), limit })
                }
            }
        } else {
            let body = match read_capped(response, ERROR_BODY_LIMIT).await {
                Ok(Capped::Whole(body)) => body,
                Ok(Capped::Over(_)) | Err(_) => Vec::new(),
            };
            Err(classify(status, &body, path, call.login, retry_after))
        }
    }

    /// The development switch is on (`http://` store URLs allowed), e.g. for a site's `productionURL`.
    pub fn allows_insecure(&self) -> bool {
        self.policy.allow_insecure
    }
}

fn build_url(store: &Url, segments: &[&str], query: &[(String, String)]) -> Result<Url, OccError> {
    let mut url = store.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| OccError::Blocked("the store URL cannot have a path".into()))?
        .clear()
        .extend(segments);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

/// Transport failures: a refused address is `Blocked`; everything else is transient. The message
/// never includes the URL (it could carry a query with data) or headers.
fn transport_error(error: &reqwest::Error, path: &str) -> OccError {
    match transport_failure(error) {
        TransportFailure::Blocked(why) => OccError::Blocked(why),
        TransportFailure::Failed(what) => OccError::Transient { detail: format!("{what} ({path})") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_segments() {
        let store = Url::parse("https://shop.example.com").expect("url");
        let url = build_url(&store, &["ccadmin", "v1", "webhooks", "a/b c"], &[("q".into(), "x eq \"1\"".into())])
            .expect("url");
        assert_eq!(url.as_str(), "https://shop.example.com/ccadmin/v1/webhooks/a%2Fb%20c?q=x+eq+%221%22");
    }
}
