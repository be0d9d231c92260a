//! The two sealed formats (version 1), both AES-256-GCM with a random 96-bit nonce:
//! - sealed DEK:  `0x01 | nonce(12) | ciphertext+tag`, AD = "storelink/dek/v1" | kek_id | merchant(16) | dek_id(16).
//!   The KEK id is stored beside it (`vault_data_keys.kek_id`) and bound by the AD.
//! - secret:      `0x01 | dek_id(16) | nonce(12) | ciphertext+tag`,
//!   AD = "storelink/secret/v1" | merchant(16) | dek_id(16) | purpose length (u16 BE) | purpose.
//!
//! Moving a ciphertext to another merchant, purpose or data key, or changing one byte, fails to open.

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::VaultError;
use crate::keys::KeyBytes;

const VERSION: u8 = 1;
const NONCE: usize = 12;

fn dek_ad(kek_id: &str, merchant: Uuid, dek_id: Uuid) -> Vec<u8> {
    [b"storelink/dek/v1".as_slice(), kek_id.as_bytes(), merchant.as_bytes(), dek_id.as_bytes()].concat()
}

fn secret_ad(merchant: Uuid, dek_id: Uuid, purpose: &str) -> Vec<u8> {
    let len = u16::try_from(purpose.len()).unwrap_or(u16::MAX).to_be_bytes();
    [b"storelink/secret/v1".as_slice(), merchant.as_bytes(), dek_id.as_bytes(), &len, purpose.as_bytes()].concat()
}

fn encrypt(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), VaultError> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .map_err(|_| VaultError::Malformed("encryption failed"))?;
    Ok((nonce.to_vec(), sealed))
}

fn decrypt(key: &[u8; 32], aad: &[u8], nonce: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Tampered)
}

fn owned_ad(kek_id: &str, owner: Uuid, purpose: &str) -> Vec<u8> {
    let len = u16::try_from(kek_id.len()).unwrap_or(u16::MAX).to_be_bytes();
    [b"storelink/owned/v1".as_slice(), &len, kek_id.as_bytes(), owner.as_bytes(), purpose.as_bytes()].concat()
}

/// A secret sealed directly by a master key: `0x01 | nonce(12) | ciphertext+tag`,
/// AD = "storelink/owned/v1" | kek id length (u16 BE) | kek id | owner(16) | purpose.
pub(crate) fn seal_owned(
    kek: &KeyBytes,
    kek_id: &str,
    owner: Uuid,
    purpose: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let (nonce, sealed) = encrypt(kek, &owned_ad(kek_id, owner, purpose), plaintext)?;
    Ok([&[VERSION][..], &nonce, &sealed].concat())
}

pub(crate) fn open_owned(
    kek: &KeyBytes,
    kek_id: &str,
    owner: Uuid,
    purpose: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let (&version, rest) = blob.split_first().ok_or(VaultError::Malformed("empty secret"))?;
    if version != VERSION {
        return Err(VaultError::UnsupportedVersion(version));
    }
    if rest.len() < NONCE + 16 {
        return Err(VaultError::Malformed("secret too short"));
    }
    decrypt(kek, &owned_ad(kek_id, owner, purpose), &rest[..NONCE], &rest[NONCE..])
}

pub(crate) fn new_dek() -> KeyBytes {
    let key = Aes256Gcm::generate_key(&mut OsRng);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key);
    out
}

pub(crate) fn seal_dek(
    kek: &KeyBytes,
    kek_id: &str,
    merchant: Uuid,
    dek_id: Uuid,
    dek: &KeyBytes,
) -> Result<Vec<u8>, VaultError> {
    let (nonce, sealed) = encrypt(kek, &dek_ad(kek_id, merchant, dek_id), dek.as_ref())?;
    Ok([&[VERSION][..], &nonce, &sealed].concat())
}

pub(crate) fn open_dek(
    kek: &KeyBytes,
    kek_id: &str,
    merchant: Uuid,
    dek_id: Uuid,
    blob: &[u8],
) -> Result<KeyBytes, VaultError> {
    let (&version, rest) = blob.split_first().ok_or(VaultError::Malformed("empty data key"))?;
    if version != VERSION {
        return Err(VaultError::UnsupportedVersion(version));
    }
    if rest.len() < NONCE + 16 {
        return Err(VaultError::Malformed("data key too short"));
    }
    let plain = decrypt(kek, &dek_ad(kek_id, merchant, dek_id), &rest[..NONCE], &rest[NONCE..])?;
    if plain.len() != 32 {
        return Err(VaultError::Malformed("data key has the wrong length"));
    }
    let mut dek = Zeroizing::new([0u8; 32]);
    dek.copy_from_slice(&plain);
    Ok(dek)
}

pub(crate) fn seal_secret(
    dek: &KeyBytes,
    merchant: Uuid,
    dek_id: Uuid,
    purpose: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let (nonce, sealed) = encrypt(dek, &secret_ad(merchant, dek_id, purpose), plaintext)?;
    Ok([&[VERSION][..], dek_id.as_bytes(), &nonce, &sealed].concat())
}

/// The data key id a secret was sealed with (to fetch that key), checking the version.
pub(crate) fn secret_dek_id(blob: &[u8]) -> Result<Uuid, VaultError> {
    let (&version, rest) = blob.split_first().ok_or(VaultError::Malformed("empty secret"))?;
    if version != VERSION {
        return Err(VaultError::UnsupportedVersion(version));
    }
    if rest.len() < 16 + NONCE + 16 {
        return Err(VaultError::Malformed("secret too short"));
    }
    Uuid::from_slice(&rest[..16]).map_err(|_| VaultError::Malformed("bad data key id"))
}

pub(crate) fn open_secret(
    dek: &KeyBytes,
    merchant: Uuid,
    dek_id: Uuid,
    purpose: &str,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if secret_dek_id(blob)? != dek_id {
        return Err(VaultError::Tampered);
    }
    let body = &blob[17..];
    decrypt(dek, &secret_ad(merchant, dek_id, purpose), &body[..NONCE], &body[NONCE..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_secrets_bind_key_owner_and_purpose() {
        let kek = new_dek();
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let blob = seal_owned(&kek, "k1", owner, "p", b"secret").expect("seal");
        assert_eq!(open_owned(&kek, "k1", owner, "p", &blob).expect("open").as_slice(), b"secret");
        assert!(matches!(open_owned(&kek, "k2", owner, "p", &blob), Err(VaultError::Tampered)));
        assert!(matches!(open_owned(&kek, "k1", other, "p", &blob), Err(VaultError::Tampered)));
        assert!(matches!(open_owned(&kek, "k1", owner, "q", &blob), Err(VaultError::Tampered)));
        let mut flipped = blob.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(open_owned(&kek, "k1", owner, "p", &flipped), Err(VaultError::Tampered)));
    }

    #[test]
    fn every_bound_field_matters() {
        let (m, other, dek_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let dek = new_dek();
        let blob = seal_secret(&dek, m, dek_id, "occ-app-key", b"s3cret").expect("seal");
        assert_eq!(open_secret(&dek, m, dek_id, "occ-app-key", &blob).expect("open").as_slice(), b"s3cret");
        assert!(matches!(open_secret(&dek, other, dek_id, "occ-app-key", &blob), Err(VaultError::Tampered)));
        assert!(matches!(open_secret(&dek, m, dek_id, "other", &blob), Err(VaultError::Tampered)));
        assert!(matches!(open_secret(&new_dek(), m, dek_id, "occ-app-key", &blob), Err(VaultError::Tampered)));
        for i in 17..blob.len() {
            let mut flipped = blob.clone();
            flipped[i] ^= 1;
            assert!(open_secret(&dek, m, dek_id, "occ-app-key", &flipped).is_err(), "byte {i}");
        }
        let mut v2 = blob.clone();
        v2[0] = 2;
        assert!(matches!(open_secret(&dek, m, dek_id, "occ-app-key", &v2), Err(VaultError::UnsupportedVersion(2))));
        let kek = new_dek();
        let sealed = seal_dek(&kek, "k1", m, dek_id, &dek).expect("seal dek");
        assert_eq!(open_dek(&kek, "k1", m, dek_id, &sealed).expect("open").as_ref(), dek.as_ref());
        assert!(matches!(open_dek(&kek, "k2", m, dek_id, &sealed), Err(VaultError::Tampered)), "kek id is bound");
        assert!(matches!(open_dek(&kek, "k1", other, dek_id, &sealed), Err(VaultError::Tampered)));
    }
}
