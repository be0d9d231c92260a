//! A platform's failures in the terms platform-neutral callers act on. Every connector maps its own
//! errors into these; messages name the call or the store's own words, never a credential or token.

use std::time::Duration;

/// Why the store refused an order, so partners get one set of codes whatever the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRefusal {
    UnknownSku,
    OutOfStock,
    InvalidShippingMethod,
    Other,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The merchant's credentials (the login secret) were refused.
    #[error("the store refused the credentials (HTTP {status})")]
    CredentialsRefused { status: u16 },
    /// The address answers, but has no login endpoint of this platform (a 404, an HTML page, a
    /// redirect): the merchant gave another address than the store's API host. Never "credentials
    /// refused": the credentials were not looked at.
    #[error("no login endpoint of the store's API at this address (HTTP {status})")]
    NoLoginEndpoint { status: u16 },
    /// The session was refused (expired or revoked); a new login may work.
    #[error("the session was refused (expired or invalid)")]
    SessionExpired,
    /// The credentials work but lack a permission this call needs.
    #[error("permission denied for {what}: {message}")]
    PermissionMissing { what: String, message: String },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("rate limited by the store{}", .retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("the store is unavailable: {detail}")]
    Transient { detail: String },
    /// The store refused the page as too expensive to serve (too many items or properties); a smaller
    /// page may pass.
    #[error("the store refused the page as too large; a smaller page may pass")]
    PageTooLarge,
    /// The store refused a filter it does not support (e.g. an incremental `since` filter).
    #[error("the store refused the request's filter: {message}")]
    FilterRefused { message: String },
    /// The store refused an order.
    #[error("the store refused the order: {message}")]
    OrderRefused { reason: OrderRefusal, message: String },
    /// Any other refusal the caller cannot fix by retrying.
    #[error("the store refused the request: {message}")]
    Refused { message: String },
    #[error("unexpected reply from {what}: {detail}")]
    BadReply { what: String, detail: String },
    /// The reply ran past its size cap; reading stopped there.
    #[error("the store's answer to {what} was larger than {limit} bytes; reading stopped there")]
    ReplyTooLarge { what: String, limit: usize },
    /// The network policy refused the store's address.
    #[error("refused to connect: {0}")]
    Blocked(String),
    /// The store is reachable and the credentials work, but it lacks what Storelink needs (e.g. an
    /// integration object or one of its attributes); `message` tells the merchant what to fix.
    #[error("the store is not set up for Storelink: {message}")]
    NotSetUp { message: String },
    /// The connector cannot do this (see `Capabilities`).
    #[error("this platform does not support {0}")]
    Unsupported(&'static str),
}

impl ConnectorError {
    /// Worth trying again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectorError::Transient { .. } | ConnectorError::RateLimited { .. })
    }

    /// A write was sent but its outcome is unknown (no answer, or an answer that could not be read).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ConnectorError::Transient { .. } | ConnectorError::BadReply { .. } | ConnectorError::ReplyTooLarge { .. }
        )
    }

    /// A stable snake_case code for logs, metrics and stored errors.
    pub fn kind_code(&self) -> &'static str {
        match self {
            ConnectorError::CredentialsRefused { .. } => "key_rejected",
            ConnectorError::NoLoginEndpoint { .. } => "no_login_endpoint",
            ConnectorError::SessionExpired => "unauthorized",
            ConnectorError::PermissionMissing { .. } => "forbidden",
            ConnectorError::NotFound { .. } => "not_found",
            ConnectorError::RateLimited { .. } => "rate_limited",
            ConnectorError::Transient { .. } => "transient",
            ConnectorError::FilterRefused { .. } => "filter_refused",
            ConnectorError::PageTooLarge => "too_large",
            ConnectorError::OrderRefused { .. } => "order_refused",
            ConnectorError::Refused { .. } => "permanent",
            ConnectorError::BadReply { .. } => "decode",
            ConnectorError::ReplyTooLarge { .. } => "response_too_large",
            ConnectorError::Blocked(_) => "blocked",
            ConnectorError::NotSetUp { .. } => "not_set_up",
            ConnectorError::Unsupported(_) => "unsupported",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_unknown_outcomes_are_told_apart() {
        let transient = ConnectorError::Transient { detail: "HTTP 503".into() };
        assert!(transient.is_retryable() && transient.outcome_unknown());
        let limited = ConnectorError::RateLimited { retry_after: Some(Duration::from_secs(3)) };
        assert!(limited.is_retryable() && !limited.outcome_unknown());
        assert_eq!(limited.to_string(), "rate limited by the store (retry after 3 s)");
        let refused = ConnectorError::OrderRefused { reason: OrderRefusal::OutOfStock, message: "no".into() };
        assert!(!refused.is_retryable() && !refused.outcome_unknown());
        assert_eq!(ConnectorError::CredentialsRefused { status: 401 }.kind_code(), "key_rejected");
    }
}
