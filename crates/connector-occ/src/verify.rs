//! OCC webhook signatures (occ-admin-api.md section 4): base64 HMAC over the raw body, keyed by the
//! base64-decoded secret. `X-Oracle-CC-WebHook-Signature-SHA512` carries HMAC-SHA512 with
//! `secretKeySHA512`; the older `X-Oracle-CC-WebHook-Signature` carries HMAC-SHA1 with `secretKey`
//! (current documents say it may carry SHA-512 too, so both are tried). Comparison is constant-time.
//! A secret that is empty or shorter than `MIN_WEBHOOK_SECRET_BYTES` is never used as a key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use storelink_connector::VerifyError;
use storelink_core::webhook_secret_key;

/// The slot's secrets as sealed at registration (base64 strings as OCC returns them).
#[derive(Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Secrets {
    pub sha1: Option<String>,
    pub sha512: Option<String>,
}

impl Secrets {
    /// A webhook's secrets as the registrar seals them.
    pub fn of(webhook: &storelink_occ::Webhook) -> Self {
        let plain = |s: &Option<secrecy::SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
        Self { sha1: plain(&webhook.secret_key), sha512: plain(&webhook.secret_key_sha512) }
    }
}

fn check<M: Mac + hmac::digest::KeyInit>(secret_b64: Option<&str>, body: &[u8], signature: &[u8]) -> bool {
    let Some(key) = secret_b64.and_then(webhook_secret_key) else { return false };
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(&key) else { return false };
    mac.update(body);
    mac.verify_slice(signature).is_ok()
}

/// Verify a delivery. `sha512_header` / `legacy_header` are the two header values, if present.
pub fn verify(
    secrets: &Secrets,
    sha512_header: Option<&str>,
    legacy_header: Option<&str>,
    body: &[u8],
) -> Result<(), VerifyError> {
    let usable = |s: &Option<String>| s.as_deref().and_then(webhook_secret_key).is_some();
    if !usable(&secrets.sha1) && !usable(&secrets.sha512) {
        return Err(VerifyError::NoSecret);
    }
    let decode = |h: &str| {
        let h = h.trim();
        if h.is_empty() { Err(VerifyError::Missing) } else { STANDARD.decode(h).map_err(|_| VerifyError::Malformed) }
    };
    if let Some(header) = sha512_header {
        let signature = decode(header)?;
        return match check::<Hmac<sha2::Sha512>>(secrets.sha512.as_deref(), body, &signature) {
            true => Ok(()),
            false => Err(VerifyError::Mismatch),
        };
    }
    let signature = decode(legacy_header.ok_or(VerifyError::Missing)?)?;
    let ok = check::<Hmac<sha1::Sha1>>(secrets.sha1.as_deref(), body, &signature)
        || check::<Hmac<sha2::Sha512>>(secrets.sha512.as_deref(), body, &signature);
    if ok { Ok(()) } else { Err(VerifyError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign<M: Mac + hmac::digest::KeyInit>(secret: &str, body: &[u8]) -> String {
        let mut mac =
            <M as hmac::digest::KeyInit>::new_from_slice(&STANDARD.decode(secret.trim()).expect("b64")).expect("key");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signature_table() {
        let secrets = Secrets { sha1: Some(STANDARD.encode([1u8; 32])), sha512: Some(STANDARD.encode([2u8; 64])) };
        let body = br#"{"order":{"id":"o1"}}"#;
        let s512 = sign::<Hmac<sha2::Sha512>>(secrets.sha512.as_deref().expect("s"), body);
        let s1 = sign::<Hmac<sha1::Sha1>>(secrets.sha1.as_deref().expect("s"), body);
        let other = sign::<Hmac<sha2::Sha512>>(secrets.sha512.as_deref().expect("s"), b"{}");
        let truncated = &s512[..s512.len() - 8];
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<(), VerifyError>);
        let cases: Vec<Case> = vec![
            (Some(&s512), None, Ok(())),
            (None, Some(&s1), Ok(())),
            (None, Some(&s512), Ok(())),
            (None, None, Err(VerifyError::Missing)),
            (Some(""), None, Err(VerifyError::Missing)),
            (None, Some("  "), Err(VerifyError::Missing)),
            (Some("not base64!"), None, Err(VerifyError::Malformed)),
            (Some(truncated), None, Err(VerifyError::Mismatch)),
            (Some("AAAA"), None, Err(VerifyError::Mismatch)),
            (Some(&other), None, Err(VerifyError::Mismatch)),
            (Some(&s1), None, Err(VerifyError::Mismatch)),
            (None, Some(&other), Err(VerifyError::Mismatch)),
        ];
        for (i, (h512, legacy, expected)) in cases.into_iter().enumerate() {
            assert_eq!(verify(&secrets, h512, legacy, body), expected, "case {i}");
        }
        assert_eq!(verify(&Secrets::default(), Some(&s512), None, body), Err(VerifyError::NoSecret));
    }

    /// An empty or short secret signs nothing: a signature made with it (which anyone can make) is
    /// refused, whichever header carries it, and a slot with no other secret has none at all.
    #[test]
    fn empty_or_short_secrets_are_never_keys() {
        let body = br#"{"order":{"id":"o1"}}"#;
        let short = STANDARD.encode([7u8; storelink_core::MIN_WEBHOOK_SECRET_BYTES - 1]);
        for weak in ["", "   ", short.as_str()] {
            let forged512 = sign::<Hmac<sha2::Sha512>>(weak, body);
            let forged1 = sign::<Hmac<sha1::Sha1>>(weak, body);
            let only_weak = Secrets { sha1: Some(weak.into()), sha512: Some(weak.into()) };
            assert_eq!(verify(&only_weak, Some(&forged512), None, body), Err(VerifyError::NoSecret), "{weak:?}");
            assert_eq!(verify(&only_weak, None, Some(&forged1), body), Err(VerifyError::NoSecret), "{weak:?}");
            // The other secret is good: it still verifies, and the weak one still signs nothing.
            let good = STANDARD.encode([2u8; 64]);
            let mixed = Secrets { sha1: Some(weak.into()), sha512: Some(good.clone()) };
            assert_eq!(verify(&mixed, None, Some(&forged1), body), Err(VerifyError::Mismatch), "{weak:?}");
            assert_eq!(verify(&mixed, Some(&forged512), None, body), Err(VerifyError::Mismatch), "{weak:?}");
            assert_eq!(verify(&mixed, Some(&sign::<Hmac<sha2::Sha512>>(&good, body)), None, body), Ok(()));
        }
        let minimal = STANDARD.encode([7u8; storelink_core::MIN_WEBHOOK_SECRET_BYTES]);
        let secrets = Secrets { sha1: None, sha512: Some(minimal.clone()) };
        assert_eq!(verify(&secrets, Some(&sign::<Hmac<sha2::Sha512>>(&minimal, body)), None, body), Ok(()));
    }
}
