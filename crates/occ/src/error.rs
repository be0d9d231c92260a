//! OCC failures in the terms callers act on. Messages name the path, never a key or token.

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum OccError {
    #[error("the store refused the application key (HTTP {status})")]
    KeyRejected { status: u16 },
    /// The address answers, but not as an OCC login endpoint: a 404 or 405, an answer that is not
    /// OCC's JSON error body (an HTML page), a redirect, or a 200 without a token. Typically a
    /// storefront host or a custom domain given where the admin host belongs.
    #[error("no OCC login endpoint at this address (HTTP {status})")]
    NoLoginEndpoint { status: u16 },
    #[error("the access token was refused (expired or invalid)")]
    Unauthorized,
    #[error("permission denied for {path}: {message}")]
    Forbidden { path: String, message: String },
    #[error("the request was too large or slow for OCC (error 60012); use a smaller page")]
    TooLarge,
    #[error("rate limited by OCC{}", .retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("not found: {path}")]
    NotFound { path: String },
    #[error("OCC is unavailable: {detail}")]
    Transient { detail: String },
    #[error("OCC refused the request (HTTP {status}{}): {message}", .code.as_ref().map(|c| format!(", error {c}")).unwrap_or_default())]
    Permanent { status: u16, code: Option<String>, message: String },
    #[error("unexpected response from {path}: {detail}")]
    Decode { path: String, detail: String },
    #[error("refused to connect: {0}")]
    Blocked(String),
    /// The store's answer ran past the size cap of its kind of call (`request::limits`); reading
    /// stopped there. Real OCC answers are far smaller, so this is a broken or hostile store.
    #[error("the store's answer to {path} was larger than {limit} bytes; reading stopped there")]
    ResponseTooLarge { path: String, limit: usize },
}

impl OccError {
    /// Worth trying again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, OccError::Transient { .. } | OccError::RateLimited { .. })
    }

    /// A stable snake_case code for logs, metrics and stored errors.
    pub fn kind_code(&self) -> &'static str {
        match self {
            OccError::KeyRejected { .. } => "key_rejected",
            OccError::NoLoginEndpoint { .. } => "no_login_endpoint",
            OccError::Unauthorized => "unauthorized",
            OccError::Forbidden { .. } => "forbidden",
            OccError::TooLarge => "too_large",
            OccError::RateLimited { .. } => "rate_limited",
            OccError::NotFound { .. } => "not_found",
            OccError::Transient { .. } => "transient",
            OccError::Permanent { .. } => "permanent",
            OccError::Decode { .. } => "decode",
            OccError::Blocked(_) => "blocked",
            OccError::ResponseTooLarge { .. } => "response_too_large",
        }
    }
}

/// Classify a non-2xx answer. `login` marks calls authenticated by the application key itself.
pub(crate) fn classify(status: u16, body: &[u8], path: &str, login: bool, retry_after: Option<Duration>) -> OccError {
    let model: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = match &model["errorCode"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let message: String = model["message"].as_str().unwrap_or("").chars().take(300).collect();
    match status {
        429 => OccError::RateLimited { retry_after },
        // A login refusal comes as OCC's error body (errorModel); anything else at the login path
        // (404, an HTML page, a redirect) is some other server, not a refused key.
        400 | 401 | 403 if login && is_error_model(&model) => OccError::KeyRejected { status },
        300..=499 if login => OccError::NoLoginEndpoint { status },
        401 => OccError::Unauthorized,
        403 if code.as_deref() == Some("60012") => OccError::TooLarge,
        403 => OccError::Forbidden { path: path.to_owned(), message },
        404 => OccError::NotFound { path: path.to_owned() },
        408 | 500..=599 => OccError::Transient { detail: format!("HTTP {status} from {path}") },
        _ => OccError::Permanent { status, code, message },
    }
}

/// OCC's errorModel: a JSON object with at least one of its fields (`errorCode`, `message`,
/// `status`; some clients also see `error`).
fn is_error_model(model: &Value) -> bool {
    model.as_object().is_some_and(|o| ["errorCode", "message", "status", "error"].iter().any(|k| o.contains_key(*k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_actionable_errors() {
        let p = "/ccadmin/v1/products";
        let refused = br#"{"errorCode":"20060","message":"The application key is not valid","status":"401"}"#;
        assert!(matches!(
            classify(401, refused, "/ccadmin/v1/login", true, None),
            OccError::KeyRejected { status: 401 }
        ));
        assert!(matches!(
            classify(400, refused, "/ccadmin/v1/login", true, None),
            OccError::KeyRejected { status: 400 }
        ));
        // Not an OCC login: a 404 (even with an error body), an HTML page, a redirect, an empty 401.
        for (status, body) in
            [(404, &refused[..]), (404, b"<html>Not found</html>"), (401, b""), (302, b""), (405, b"")]
        {
            let e = classify(status, body, "/ccadmin/v1/login", true, None);
            assert!(matches!(e, OccError::NoLoginEndpoint { .. }), "{status}: {e:?}");
        }
        assert!(classify(503, b"<html>", "/ccadmin/v1/login", true, None).is_retryable(), "a store that is down");
        assert!(matches!(classify(401, b"{}", p, false, None), OccError::Unauthorized));
        let too_large =
            br#"{"errorCode":"60012","message":"request denied due to performance constraints","status":"403"}"#;
        assert!(matches!(classify(403, too_large, p, false, None), OccError::TooLarge));
        let denied = classify(403, br#"{"errorCode":"40300","message":"no access to products"}"#, p, false, None);
        assert!(matches!(&denied, OccError::Forbidden { message, .. } if message == "no access to products"));
        assert!(matches!(classify(404, b"", p, false, None), OccError::NotFound { .. }));
        let limited = classify(429, b"", p, false, Some(Duration::from_secs(3)));
        assert!(matches!(limited, OccError::RateLimited { retry_after: Some(d) } if d.as_secs() == 3));
        assert!(classify(503, b"<html>", p, false, None).is_retryable());
        let permanent = classify(400, br#"{"errorCode":123,"message":"bad q"}"#, p, false, None);
        assert!(matches!(&permanent, OccError::Permanent { status: 400, code: Some(c), .. } if c == "123"));
        assert_eq!(permanent.kind_code(), "permanent");
        assert!(!permanent.is_retryable());
        let huge = OccError::ResponseTooLarge { path: p.to_owned(), limit: 65_536 };
        assert_eq!(huge.kind_code(), "response_too_large");
        assert!(!huge.is_retryable(), "a store that sends too much would send it again");
        assert_eq!(
            huge.to_string(),
            "the store's answer to /ccadmin/v1/products was larger than 65536 bytes; reading stopped there"
        );
    }
}
