//! Ops users and sessions. Passwords are argon2id hashes; a session cookie is 32 random bytes of
//! which only the SHA-256 is stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub const SESSION_HOURS: i64 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user names are 2-64 characters of a-z, 0-9, '.', '_' and '-'")]
    BadName,
    #[error("passwords need at least 12 characters")]
    WeakPassword,
    #[error("a user with that name exists")]
    Exists,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// `storelink ops-users add`.
pub async fn add(pool: &PgPool, username: &str, password: &SecretString, role: Role) -> Result<Uuid, UserError> {
    let name_ok = (2..=64).contains(&username.len())
        && username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !name_ok {
        return Err(UserError::BadName);
    }
    if password.expose_secret().chars().count() < 12 {
        return Err(UserError::WeakPassword);
    }
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let hash = Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map_err(|_| UserError::WeakPassword)?
        .to_string();
    let id = Uuid::now_v7();
    let done = sqlx::query(
        "INSERT INTO ops_users (user_id, username, password_hash, role) VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
    )
    .bind(id)
    .bind(username)
    .bind(hash)
    .bind(role.as_str())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(UserError::Exists);
    }
    Ok(id)
}

/// The demo's first start: when there is no ops user at all, add `admin` with a random password and
/// return the password (to be shown once). `None` when users exist already.
pub async fn add_first_admin(pool: &PgPool) -> Result<Option<SecretString>, UserError> {
    let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ops_users)").fetch_one(pool).await?;
    if any {
        return Ok(None);
    }
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let password = SecretString::from(URL_SAFE_NO_PAD.encode(bytes));
    match add(pool, FIRST_ADMIN, &password, Role::Admin).await {
        Ok(_) => Ok(Some(password)),
        // Another demo process added it between the check and the insert.
        Err(UserError::Exists) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The user name `add_first_admin` creates.
pub const FIRST_ADMIN: &str = "admin";

/// The user, if the password matches. Unknown users cost the same argon2 work as known ones.
pub async fn verify(pool: &PgPool, username: &str, password: &SecretString) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(Uuid, String, String, String)> =
        sqlx::query_as("SELECT user_id, username, password_hash, role FROM ops_users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3ILyvl8uXx5Ryc29g+LsKtcxJzzZB8cTnwZnYQk6wxE";
    let hash = row.as_ref().map_or(DUMMY.to_owned(), |r| r.2.clone());
    let password = password.expose_secret().to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false);
    Ok(row
        .filter(|_| ok)
        .and_then(|(user_id, username, _, role)| Role::parse(&role).map(|role| User { user_id, username, role })))
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new session; returns the cookie value.
pub async fn open_session(pool: &PgPool, user: Uuid) -> Result<String, sqlx::Error> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    sqlx::query(
        "INSERT INTO ops_sessions (session_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(hours => $3))",
    )
    .bind(hash(&token))
    .bind(user)
    .bind(i32::try_from(SESSION_HOURS).unwrap_or(8))
    .execute(pool)
    .await?;
    Ok(token)
}

pub async fn session_user(pool: &PgPool, token: &str) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT u.user_id, u.username, u.role FROM ops_sessions s JOIN ops_users u USING (user_id)
         WHERE s.session_hash = $1 AND s.expires_at > now()",
    )
    .bind(hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(user_id, username, role)| Role::parse(&role).map(|role| User { user_id, username, role })))
}

pub async fn close_session(pool: &PgPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM ops_sessions WHERE session_hash = $1").bind(hash(token)).execute(pool).await?;
    Ok(())
}
