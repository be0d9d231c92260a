//! Partner access tokens: HS256 JWTs with a key id (`kid`), audience and issuer, valid 15 minutes.
//! Signing keys are derived from the master keys (`kid` = master key id), so rotating the master key
//! rotates them; tokens signed under an older, still configured key keep verifying until they expire.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use storelink_core::PartnerId;
use storelink_vault::MasterKeys;

use crate::ApiError;

pub const AUDIENCE: &str = "storelink-partner-api";
const LIFETIME_SECS: i64 = 900;
const LABEL: &[u8] = b"storelink/partner-jwt/v1";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Clone)]
pub struct TokenIssuer {
    keys: MasterKeys,
    issuer: String,
}

impl TokenIssuer {
    pub fn new(keys: MasterKeys, issuer: String) -> Self {
        Self { keys, issuer }
    }

    pub fn lifetime_secs(&self) -> i64 {
        LIFETIME_SECS
    }

    pub fn issue(&self, partner: PartnerId) -> Result<String, ApiError> {
        let kid = self.keys.active_id().to_owned();
        let secret = self.keys.derive_key(LABEL);
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: partner.to_string(),
            aud: AUDIENCE.to_owned(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + LIFETIME_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let header = Header { kid: Some(kid), ..Header::new(Algorithm::HS256) };
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).map_err(|_| ApiError::Unavailable)
    }

    /// The partner a token was issued to. Any defect (expiry, audience, issuer, algorithm, signature,
    /// unknown key id) is the same 401 to the caller; the reason goes to the log.
    pub fn verify(&self, token: &str) -> Result<PartnerId, ApiError> {
        let refuse = |why: &str| {
            tracing::info!(reason = why, "partner token refused");
            ApiError::Unauthorized
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| refuse("malformed"))?;
        if header.alg != Algorithm::HS256 {
            return Err(refuse("algorithm"));
        }
        let kid = header.kid.ok_or_else(|| refuse("no key id"))?;
        let secret = self.keys.derive_key_for(&kid, LABEL).ok_or_else(|| refuse("unknown key id"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation)
            .map_err(|e| refuse(&format!("{:?}", e.kind())))?;
        data.claims.sub.parse().map_err(|_| refuse("subject"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn forge(keys: &MasterKeys, kid: Option<&str>, alg: Algorithm, claims: &Claims) -> String {
        let secret = keys.derive_key(LABEL);
        let header = Header { kid: kid.map(str::to_owned), ..Header::new(alg) };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret)).expect("encode")
    }

    fn claims(aud: &str, iss: &str, exp_in: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: PartnerId::new().to_string(),
            aud: aud.into(),
            iss: iss.into(),
            iat: now,
            exp: now + exp_in,
            jti: "j".into(),
        }
    }

    #[test]
    fn token_defects_are_all_401() {
        let keys = MasterKeys::generate("k1");
        let issuer = TokenIssuer::new(keys.clone(), "https://storelink.example".into());
        let partner = PartnerId::new();
        assert_eq!(issuer.verify(&issuer.issue(partner).expect("issue")).expect("valid"), partner);

        let iss = "https://storelink.example";
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(AUDIENCE, iss, 60)).expect("json"));
        let good = issuer.issue(partner).expect("issue");
        let mut bad_sig = good.clone();
        bad_sig.pop();
        bad_sig.push(if good.ends_with('A') { 'B' } else { 'A' });
        let other_keys = MasterKeys::generate("k1");
        let cases = [
            ("expired", forge(&keys, Some("k1"), Algorithm::HS256, &claims(AUDIENCE, iss, -60))),
            ("wrong audience", forge(&keys, Some("k1"), Algorithm::HS256, &claims("other-api", iss, 60))),
            ("wrong issuer", forge(&keys, Some("k1"), Algorithm::HS256, &claims(AUDIENCE, "https://evil.example", 60))),
            ("alg none", format!("{none_header}.{body}.")),
            ("HS512", forge(&keys, Some("k1"), Algorithm::HS512, &claims(AUDIENCE, iss, 60))),
            ("bad signature", bad_sig),
            ("signed by another key", forge(&other_keys, Some("k1"), Algorithm::HS256, &claims(AUDIENCE, iss, 60))),
            ("unknown key id", forge(&keys, Some("k9"), Algorithm::HS256, &claims(AUDIENCE, iss, 60))),
            ("no key id", forge(&keys, None, Algorithm::HS256, &claims(AUDIENCE, iss, 60))),
            ("garbage", "not.a.jwt".to_owned()),
        ];
        for (what, token) in cases {
            assert!(matches!(issuer.verify(&token), Err(ApiError::Unauthorized)), "{what} must be refused");
        }
    }

    #[test]
    fn tokens_survive_master_key_rotation_until_the_old_key_is_removed() {
        let keys = MasterKeys::generate("k1");
        let old = TokenIssuer::new(keys.clone(), "iss".into());
        let token = old.issue(PartnerId::new()).expect("issue");
        let rotated = keys.with_generated("k2").expect("rotate");
        assert!(TokenIssuer::new(rotated.clone(), "iss".into()).verify(&token).is_ok());
        let new_token = TokenIssuer::new(rotated.clone(), "iss".into()).issue(PartnerId::new()).expect("issue");
        assert_eq!(jsonwebtoken::decode_header(&new_token).expect("header").kid.as_deref(), Some("k2"));
        let dropped = TokenIssuer::new(rotated.without("k1").expect("drop"), "iss".into());
        assert!(dropped.verify(&token).is_err());
    }
}
