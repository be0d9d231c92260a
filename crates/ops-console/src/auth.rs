//! Who is calling: the session cookie, the CSRF token bound to it, and the login rate limit.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpMessage, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use storelink_core::KeyedLimiter;
use storelink_netguard::ClientIp;

pub(crate) const COOKIE: &str = "sl_ops";

/// Longer than any user name `ops-users add` accepts (64); a longer one is refused before it is
/// used as a limiter key or looked up.
pub(crate) const MAX_USERNAME: usize = 128;

#[derive(Clone)]
pub(crate) struct Guard {
    csrf_key: [u8; 32],
    pub secure: bool,
    /// Sign-in attempts per client address, and per (client address, user name).
    clients: KeyedLimiter,
    pairs: KeyedLimiter,
}

impl Guard {
    pub fn new(csrf_key: [u8; 32], secure: bool, logins_per_minute: u32) -> Self {
        Self {
            csrf_key,
            secure,
            clients: KeyedLimiter::per_minute(logins_per_minute),
            pairs: KeyedLimiter::per_minute(logins_per_minute),
        }
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

    /// Login attempts per client address. Checked before the user name is looked at, so a client
    /// over its limit adds no key anywhere.
    pub fn client_allowed(&self, client: &str) -> bool {
        self.clients.check(client).is_ok()
    }

    /// Login attempts per client address and user name (at most `MAX_USERNAME` bytes, checked by the
    /// caller): keys per client are bounded by its own limit, and expired ones are pruned.
    pub fn pair_allowed(&self, client: &str, username: &str) -> bool {
        username.len() <= MAX_USERNAME && self.pairs.check(&format!("{client}|{username}")).is_ok()
    }
}

/// The client address the web server resolved (`STORELINK_TRUSTED_PROXIES`), else the TCP peer.
pub(crate) fn client_address(req: &HttpRequest) -> String {
    ClientIp::describe(req.extensions().get::<ClientIp>(), req.peer_addr())
}
