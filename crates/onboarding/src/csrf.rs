//! CSRF protection for the onboarding form: a random value the server mints into a cookie, and in
//! the form its HMAC under a server key. A forged cross-site POST lacks the token. The server never
//! adopts a cookie value the browser sends, and under https the cookie is `__Host-` prefixed so a
//! sibling subdomain cannot plant one; a POST the browser marks as coming from another site or a
//! sibling subdomain (`Sec-Fetch-Site`) is refused outright.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "sl_csrf";
/// The cookie's name under https.
pub const SECURE_COOKIE: &str = "__Host-sl_csrf";

#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
    pub secure_cookie: bool,
}

impl Csrf {
    /// `key` must be shared by every web process (derive it from the master keys).
    pub fn new(key: [u8; 32], secure_cookie: bool) -> Self {
        Self { key, secure_cookie }
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookie { SECURE_COOKIE } else { COOKIE }
    }

    pub fn new_cookie_value() -> String {
        let mut buf = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut buf);
        URL_SAFE_NO_PAD.encode(buf)
    }

    pub fn token_for(&self, cookie_value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(cookie_value))
    }

    fn mac(&self, cookie_value: &str) -> [u8; 32] {
        // HMAC accepts keys of any length; this cannot fail for a 32-byte key.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"storelink/csrf/v1|");
        mac.update(cookie_value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The summary page's site-selection token: bound to the form cookie and to the merchant the
    /// browser just connected, so a valid session of one's own cannot change another merchant's sites.
    pub fn sites_token_for(&self, cookie_value: &str, merchant_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.sites_mac(cookie_value, merchant_id))
    }

    fn sites_mac(&self, cookie_value: &str, merchant_id: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"storelink/csrf/sites/v1|");
        mac.update(merchant_id.as_bytes());
        mac.update(b"|");
        mac.update(cookie_value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn verify_sites(&self, cookie_value: Option<&str>, merchant_id: &str, token: Option<&str>) -> bool {
        let (Some(cookie), Some(token)) = (cookie_value, token) else {
            return false;
        };
        let Ok(given) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        cookie.len() >= 32 && bool::from(given.ct_eq(&self.sites_mac(cookie, merchant_id)))
    }

    pub fn verify(&self, cookie_value: Option<&str>, token: Option<&str>) -> bool {
        let (Some(cookie), Some(token)) = (cookie_value, token) else {
            return false;
        };
        if cookie.len() < 32 {
            return false;
        }
        let Ok(given) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        given.ct_eq(&self.mac(cookie)).into()
    }
}

/// False when the browser says the POST came from another site or a sibling subdomain
/// (`Sec-Fetch-Site: cross-site` / `same-site`). Browsers that send no such header are left to the
/// token.
pub fn same_origin_or_unknown(sec_fetch_site: Option<&str>) -> bool {
    !matches!(sec_fetch_site.map(str::trim), Some(site) if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_its_cookie_and_key() {
        let csrf = Csrf::new([7; 32], false);
        let cookie = Csrf::new_cookie_value();
        let token = csrf.token_for(&cookie);
        assert!(csrf.verify(Some(&cookie), Some(&token)));
        assert!(!csrf.verify(Some(&cookie), None));
        assert!(!csrf.verify(None, Some(&token)));
        assert!(!csrf.verify(Some(&cookie), Some("")));
        assert!(!csrf.verify(Some(&Csrf::new_cookie_value()), Some(&token)));
        assert!(!Csrf::new([8; 32], false).verify(Some(&cookie), Some(&token)));
        assert!(!csrf.verify(Some(&cookie), Some(&token[..token.len() - 2])));
    }

    #[test]
    fn sites_token_is_bound_to_cookie_and_merchant() {
        let csrf = Csrf::new([7; 32], false);
        let cookie = Csrf::new_cookie_value();
        let token = csrf.sites_token_for(&cookie, "m1");
        assert!(csrf.verify_sites(Some(&cookie), "m1", Some(&token)));
        assert!(!csrf.verify_sites(Some(&cookie), "m2", Some(&token)));
        assert!(!csrf.verify_sites(Some(&Csrf::new_cookie_value()), "m1", Some(&token)));
        assert!(!csrf.verify_sites(None, "m1", Some(&token)));
        assert!(!csrf.verify(Some(&cookie), Some(&token)), "not a connect-form token");
    }

    #[test]
    fn only_same_origin_or_unlabelled_posts_pass_the_fetch_site_check() {
        for (site, ok) in [(None, true), (Some("same-origin"), true), (Some("none"), true)] {
            assert_eq!(same_origin_or_unknown(site), ok, "{site:?}");
        }
        for site in ["cross-site", "same-site", "Cross-Site"] {
            assert!(!same_origin_or_unknown(Some(site)), "{site}");
        }
        assert_eq!(Csrf::new([1; 32], true).cookie_name(), "__Host-sl_csrf");
        assert_eq!(Csrf::new([1; 32], false).cookie_name(), "sl_csrf");
    }
}
