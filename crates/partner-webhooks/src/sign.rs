//! Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature` is a
//! space-separated list of `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one per
//! secret in use (two during a rotation overlap). Secrets are shown to partners as `whsec_<base64>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::SecretString;
use zeroize::Zeroizing;

const SECRET_BYTES: usize = 32;
const PREFIX: &str = "whsec_";

/// A signing secret's raw bytes, wiped on drop.
pub struct SigningSecret(Zeroizing<Vec<u8>>);

impl SigningSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The form partners configure their verifier with.
    pub fn to_whsec(&self) -> SecretString {
        SecretString::from(format!("{PREFIX}{}", STANDARD.encode(self.0.as_slice())))
    }
}

/// The `webhook-signature` header value for one message, signed with every secret given.
pub fn signature_header(secrets: &[SigningSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let signed = [msg_id.as_bytes(), b".", timestamp.to_string().as_bytes(), b".", body].concat();
    secrets
        .iter()
        .map(|secret| {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(&signed);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test suite.
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("b64");
        let header = signature_header(
            &[SigningSecret::from_bytes(Zeroizing::new(secret))],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn one_signature_per_secret_and_whsec_form() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        assert!(a.to_whsec().expose_secret().starts_with("whsec_"));
        let header = signature_header(&[a, b], "evt_1", 1, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
    }
}
