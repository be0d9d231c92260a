//! Where the master keys come from: `STORELINK_MASTER_KEYS` or `STORELINK_MASTER_KEYS_FILE`.
//! Production refuses to start without one; only `demo` creates a key, in a 0600 file it names, and
//! the one-shot commands find that file the way `demo` does, so they work beside a demo.

use crate::config::Config;
use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use storelink_vault::MasterKeys;

pub fn load(config: &Config) -> anyhow::Result<MasterKeys> {
    if let Some(spec) = &config.keys.master_keys {
        return MasterKeys::parse(spec.expose_secret()).context("STORELINK_MASTER_KEYS");
    }
    if let Some(path) = &config.keys.master_keys_file {
        return read_file(path);
    }
    bail!(
        "no master key configured: set STORELINK_MASTER_KEYS (id:base64 of 32 random bytes; `storelink keys generate` \
         prints one) or STORELINK_MASTER_KEYS_FILE. Storelink never stores merchant keys without encryption."
    )
}

/// For the one-shot commands: the configured keys, else the demo's key file under the data dir when
/// it exists. Returns the keys and where they came from, for the command to say on stderr.
pub fn load_for_cli(config: &Config) -> anyhow::Result<(MasterKeys, KeySource)> {
    if config.keys.master_keys.is_some() {
        return Ok((load(config)?, KeySource::Configured("STORELINK_MASTER_KEYS".to_owned())));
    }
    if let Some(path) = &config.keys.master_keys_file {
        return Ok((read_file(path)?, KeySource::Configured(path.display().to_string())));
    }
    let demo = demo_key_file(config);
    if demo.exists() {
        return Ok((read_file(&demo)?, KeySource::Demo(demo.display().to_string())));
    }
    bail!(
        "no master key configured: set STORELINK_MASTER_KEYS or STORELINK_MASTER_KEYS_FILE, or run this in the \
         folder where `storelink demo` ran (there is no {} here)",
        demo.display()
    )
}

/// Where a one-shot command's master keys came from.
pub enum KeySource {
    /// Set by the operator (`STORELINK_MASTER_KEYS` or the file it names).
    Configured(String),
    /// The key file `demo` wrote: the command works on the demo's data, whose stores are the
    /// loopback simulator, so it runs in the demo's development mode.
    Demo(String),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Configured(source) | KeySource::Demo(source) => f.write_str(source),
        }
    }
}

fn demo_key_file(config: &Config) -> PathBuf {
    config.data_dir.join("master-keys")
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
    if config.keys.master_keys.is_some() || config.keys.master_keys_file.is_some() {
        return Ok((load(config)?, None));
    }
    let path = demo_key_file(config);
    if path.exists() {
        return Ok((read_file(&path)?, None));
    }
    std::fs::create_dir_all(&config.data_dir)?;
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

/// `storelink keys rotate`: add a new master key, which seals from now on. With a key file the file
/// is rewritten (0600, atomically); with `STORELINK_MASTER_KEYS` the new value is printed to set.
pub fn rotate(config: &Config) -> anyhow::Result<()> {
    let keys = load(config)?;
    let rotated = keys.with_generated(&new_key_id())?;
    match &config.keys.master_keys_file {
        Some(path) if config.keys.master_keys.is_none() => {
            write_file(path, &rotated)?;
            println!(
                "added master key {} to {}; it seals new secrets from now on.",
                rotated.active_id(),
                path.display()
            );
            println!("Restart every storelink process, then run `storelink keys rewrap`.");
        }
        _ => {
            println!("{}", rotated.to_config_string().expose_secret());
            eprintln!(
                "set STORELINK_MASTER_KEYS to the line above on every process, restart them, then run `storelink keys rewrap`"
            );
        }
    }
    Ok(())
}

/// `storelink keys retire --id ID`: drop a master key once nothing is sealed under it.
pub fn retire(
    config: &Config,
    keys: &MasterKeys,
    id: &str,
    data_keys: i64,
    endpoint_secrets: i64,
) -> anyhow::Result<()> {
    if data_keys > 0 || endpoint_secrets > 0 {
        bail!(
            "master key {id} still seals {data_keys} data key(s) and {endpoint_secrets} endpoint secret(s); run `storelink keys rewrap` first"
        );
    }
    let remaining = keys.without(id)?;
    match &config.keys.master_keys_file {
        Some(path) if config.keys.master_keys.is_none() => {
            write_file(path, &remaining)?;
            println!("removed master key {id} from {}", path.display());
        }
        _ => println!("{}", remaining.to_config_string().expose_secret()),
    }
    Ok(())
}

fn write_file(path: &Path, keys: &MasterKeys) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(keys.to_config_string().expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// `storelink keys rewrap`: batches until nothing is sealed under an older key, with a progress bar.
/// Each batch commits on its own: interrupt it and run it again to continue.
pub async fn rewrap(services: &crate::server::Services, batch: i64) -> anyhow::Result<()> {
    let vault = &services.vault;
    let total = vault.count_needing_rewrap().await?;
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} data keys  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    loop {
        let done = vault.rewrap_batch(batch).await?;
        if done == 0 {
            break;
        }
        bar.inc(done);
    }
    bar.finish();
    let mut secrets = 0;
    loop {
        let done = storelink_partner_webhooks::rewrap_secrets(&services.pool, &services.keys, batch).await?;
        if done == 0 {
            break;
        }
        secrets += done;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "rewrapped {total} data keys ({:.0}/s) and {secrets} endpoint secrets under master key {}",
        total as f64 / elapsed.max(1e-9),
        services.keys.active_id()
    );
    Ok(())
}
