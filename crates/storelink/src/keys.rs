//! Where the master keys come from: `STORELINK_MASTER_KEYS` or `STORELINK_MASTER_KEYS_FILE`.
//! Production refuses to start without one; only `demo` creates a key, in a 0600 file it names.

use crate::config::Config;
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use storelink_vault::MasterKeys;

pub fn load(config: &Config) -> anyhow::Result<MasterKeys> {
    if let Some(spec) = &config.raw.master_keys {
        return MasterKeys::parse(spec).context("STORELINK_MASTER_KEYS");
    }
    if let Some(path) = &config.raw.master_keys_file {
        return read_file(path);
    }
    bail!(
        "no master key configured: set STORELINK_MASTER_KEYS (id:base64 of 32 random bytes; `storelink keys generate` \
         prints one) or STORELINK_MASTER_KEYS_FILE. Storelink never stores merchant keys without encryption."
    )
}

fn read_file(path: &Path) -> anyhow::Result<MasterKeys> {
    let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(file = %path.display(), "master key file is readable by other users; chmod 600 it");
    }
    let spec =
        zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?);
    MasterKeys::parse(spec.trim()).with_context(|| format!("master keys in {}", path.display()))
}

/// The demo's key file under the data dir, created with mode 0600 on first use.
pub fn load_or_create_demo(config: &Config) -> anyhow::Result<(MasterKeys, Option<PathBuf>)> {
    if config.raw.master_keys.is_some() || config.raw.master_keys_file.is_some() {
        return Ok((load(config)?, None));
    }
    let path = config.raw.data_dir.join("master-keys");
    if path.exists() {
        return Ok((read_file(&path)?, None));
    }
    std::fs::create_dir_all(&config.raw.data_dir)?;
    let keys = MasterKeys::generate(&new_key_id());
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(keys.to_config_string().expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    Ok((keys, Some(path)))
}

/// Key ids name their creation time, so `keys rotate` output sorts naturally.
pub fn new_key_id() -> String {
    format!("k{}", chrono::Utc::now().format("%Y%m%d%H%M%S"))
}
