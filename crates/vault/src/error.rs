//! What can go wrong opening or sealing; no message ever carries key material or plaintext.

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("invalid master keys: {0}")]
    BadMasterKeys(String),
    #[error("the data key is sealed with master key {kek_id:?}, which is not configured")]
    UnknownKek { kek_id: String },
    #[error("ciphertext failed authentication (tampered, or bound to another merchant or purpose)")]
    Tampered,
    #[error("unsupported ciphertext format version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed vault data: {0}")]
    Malformed(&'static str),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
