//! Master keys (KEKs) from configuration: `id:base64(32 bytes)` entries; the last one encrypts, all
//! decrypt. Key bytes live in `Zeroizing` buffers and never appear in `Debug` or errors.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::SecretString;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::VaultError;

pub(crate) type KeyBytes = Zeroizing<[u8; 32]>;

#[derive(Clone)]
pub struct MasterKeys {
    keys: Arc<Vec<(String, KeyBytes)>>,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys").field("ids", &self.ids()).field("active", &self.active_id()).finish()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

impl MasterKeys {
    /// Parse `id:base64,id2:base64` (commas and/or whitespace between entries).
    pub fn parse(spec: &str) -> Result<Self, VaultError> {
        let bad = |msg: String| VaultError::BadMasterKeys(msg);
        let mut keys: Vec<(String, KeyBytes)> = Vec::new();
        for (n, entry) in spec.split(|c: char| c == ',' || c.is_whitespace()).filter(|e| !e.is_empty()).enumerate() {
            let (id, encoded) =
                entry.split_once(':').ok_or_else(|| bad(format!("entry {} is not id:base64", n + 1)))?;
            if !valid_id(id) {
                return Err(bad(format!("entry {}: key id must be 1-64 of A-Z a-z 0-9 . _ -", n + 1)));
            }
            if keys.iter().any(|(existing, _)| existing == id) {
                return Err(bad(format!("key id {id:?} is listed twice")));
            }
            let decoded =
                Zeroizing::new(STANDARD.decode(encoded).map_err(|_| bad(format!("key {id:?} is not valid base64")))?);
            if decoded.len() != 32 {
                return Err(bad(format!("key {id:?} must be 32 bytes, got {}", decoded.len())));
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&decoded);
            keys.push((id.to_owned(), key));
        }
        if keys.is_empty() {
            return Err(bad("no master key given".into()));
        }
        Ok(Self { keys: Arc::new(keys) })
    }

    /// One fresh random key.
    pub fn generate(id: &str) -> Self {
        Self { keys: Arc::new(vec![(id.to_owned(), random_key())]) }
    }

    /// Rotation: a new random key appended and made active.
    pub fn with_generated(&self, id: &str) -> Result<Self, VaultError> {
        if !valid_id(id) {
            return Err(VaultError::BadMasterKeys("key id must be 1-64 of A-Z a-z 0-9 . _ -".into()));
        }
        if self.keys.iter().any(|(existing, _)| existing == id) {
            return Err(VaultError::BadMasterKeys(format!("key id {id:?} already exists")));
        }
        let mut keys: Vec<(String, KeyBytes)> = self.keys.iter().cloned().collect();
        keys.push((id.to_owned(), random_key()));
        Ok(Self { keys: Arc::new(keys) })
    }

    /// Drop an old key (after every data key was rewrapped).
    pub fn without(&self, id: &str) -> Result<Self, VaultError> {
        let keys: Vec<(String, KeyBytes)> = self.keys.iter().filter(|(k, _)| k != id).cloned().collect();
        if keys.len() == self.keys.len() {
            return Err(VaultError::BadMasterKeys(format!("no key {id:?}")));
        }
        if keys.is_empty() {
            return Err(VaultError::BadMasterKeys("cannot remove the only master key".into()));
        }
        Ok(Self { keys: Arc::new(keys) })
    }

    pub fn to_config_string(&self) -> SecretString {
        let text: Vec<String> =
            self.keys.iter().map(|(id, key)| format!("{id}:{}", STANDARD.encode(key.as_ref()))).collect();
        SecretString::from(text.join(","))
    }

    pub fn active_id(&self) -> &str {
        self.keys.last().map(|(id, _)| id.as_str()).unwrap_or_default()
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|(id, _)| id.clone()).collect()
    }

    /// A 32-byte subkey for another purpose: HMAC-SHA256(active key, label).
    pub fn derive_key(&self, label: &[u8]) -> [u8; 32] {
        let (_, key) = self.active();
        derive(key, label)
    }

    /// The same derivation from the named key (e.g. to verify what an older key signed).
    pub fn derive_key_for(&self, id: &str, label: &[u8]) -> Option<[u8; 32]> {
        self.get(id).map(|key| derive(key, label))
    }

    /// Seal a secret that belongs to no merchant (e.g. a partner's webhook signing secret) directly
    /// with the active master key. Returns the key id to store beside the blob; `owner` and `purpose`
    /// are bound as associated data.
    pub fn seal(&self, owner: uuid::Uuid, purpose: &str, plaintext: &[u8]) -> Result<(String, Vec<u8>), VaultError> {
        let (id, key) = self.active();
        Ok((id.to_owned(), crate::cipher::seal_owned(key, id, owner, purpose, plaintext)?))
    }

    /// Open what `seal` returned; `VaultError::UnknownKek` when that master key is no longer configured.
    pub fn open(
        &self,
        kek_id: &str,
        owner: uuid::Uuid,
        purpose: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let key = self.get(kek_id).ok_or_else(|| VaultError::UnknownKek { kek_id: kek_id.to_owned() })?;
        crate::cipher::open_owned(key, kek_id, owner, purpose, blob)
    }

    pub(crate) fn active(&self) -> (&str, &KeyBytes) {
        let (id, key) = self.keys.last().unwrap_or_else(|| unreachable!("MasterKeys is never empty"));
        (id, key)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&KeyBytes> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }
}

fn derive(key: &KeyBytes, label: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(label);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn b64(n: usize) -> String {
        STANDARD.encode(vec![7u8; n])
    }

    #[test]
    fn parse_table() {
        let good = [
            (format!("k1:{}", b64(32)), vec!["k1"], "k1"),
            (format!("k1:{},k2:{}", b64(32), b64(32)), vec!["k1", "k2"], "k2"),
            (format!("old:{}\n new.2024_x-1:{}\n", b64(32), b64(32)), vec!["old", "new.2024_x-1"], "new.2024_x-1"),
        ];
        for (spec, ids, active) in good {
            let keys = MasterKeys::parse(&spec).expect(&spec);
            assert_eq!(keys.ids(), ids);
            assert_eq!(keys.active_id(), active);
        }
        let secret_text = b64(31);
        let bad = [
            String::new(),
            "   ".into(),
            format!("k1{}", b64(32)),
            "k1:not base64!!".into(),
            format!("k1:{}", b64(16)),
            format!("k1:{secret_text}"),
            format!("k1:{}", b64(33)),
            format!("k1:{},k1:{}", b64(32), b64(32)),
            format!("bad id:{}", b64(32)),
            format!("k/1:{}", b64(32)),
            format!(":{}", b64(32)),
        ];
        for spec in bad {
            let err = MasterKeys::parse(&spec).expect_err(&spec);
            assert!(matches!(err, VaultError::BadMasterKeys(_)));
            assert!(!err.to_string().contains(&b64(32)) && !err.to_string().contains(&secret_text), "{err}");
        }
    }

    #[test]
    fn round_trip_debug_rotation_and_derivation() {
        let keys = MasterKeys::generate("a");
        let again = MasterKeys::parse(keys.to_config_string().expose_secret()).expect("round trip");
        assert_eq!(again.derive_key(b"x"), keys.derive_key(b"x"));
        assert_ne!(keys.derive_key(b"x"), keys.derive_key(b"y"));
        let secret = keys.to_config_string().expose_secret().split(':').nth(1).expect("key").to_owned();
        assert!(!format!("{keys:?}").contains(&secret));
        let rotated = keys.with_generated("b").expect("rotate");
        assert_eq!(rotated.active_id(), "b");
        assert_ne!(rotated.derive_key(b"x"), keys.derive_key(b"x"));
        assert_eq!(rotated.derive_key_for("a", b"x"), Some(keys.derive_key(b"x")));
        assert_eq!(rotated.derive_key_for("zz", b"x"), None);
        assert!(rotated.with_generated("a").is_err());
        assert_eq!(rotated.without("a").expect("drop").ids(), vec!["b"]);
        assert!(keys.without("a").is_err(), "the only key stays");
    }
}
