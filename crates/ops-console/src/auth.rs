//! Who is calling: the session cookie, the CSRF token bound to it, and the login rate limit.

use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) const COOKIE: &str = "sl_ops";

#[derive(Clone)]
pub(crate) struct Guard {
    csrf_key: [u8; 32],
    pub secure: bool,
    logins: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Guard {
    pub fn new(csrf_key: [u8; 32], secure: bool, logins_per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(logins_per_minute.max(1)).unwrap_or(nonzero_ext::nonzero!(1u32)));
        Self { csrf_key, secure, logins: Arc::new(RateLimiter::keyed(quota)) }
    }

    pub fn session_token(req: &HttpRequest) -> Option<String> {
        req.cookie(COOKIE).map(|c| c.value().to_owned())
    }

    pub fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(COOKIE, value)
            .path("/ops")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .max_age(actix_web::cookie::time::Duration::hours(crate::users::SESSION_HOURS))
            .finish()
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.csrf_key).unwrap_or_else(|_| unreachable!("any key length"))
    }

    /// The CSRF token of a session: HMAC of the session token, so it cannot be guessed or reused
    /// across sessions.
    pub fn csrf_token(&self, session: &str) -> String {
        let mut mac = self.mac();
        mac.update(session.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn csrf_ok(&self, session: &str, token: Option<&str>) -> bool {
        let Some(Ok(bytes)) = token.map(|t| URL_SAFE_NO_PAD.decode(t)) else { return false };
        let mut mac = self.mac();
        mac.update(session.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    }

    /// Login attempts per client address and user name.
    pub fn login_allowed(&self, client: &str, username: &str) -> bool {
        self.logins.check_key(&format!("{client}|{username}")).is_ok()
            && self.logins.check_key(&client.to_owned()).is_ok()
    }
}

pub(crate) fn client_address(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}
