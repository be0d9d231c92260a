//! Finding the database (DESIGN.md section 1): `DATABASE_URL` when set; else a Postgres answering
//! at `STORELINK_LOCAL_POSTGRES_URL` (127.0.0.1:5432; database `storelink`, created if missing); else
//! a private cluster started from the system's Postgres binaries under the data dir (as user
//! `postgres` when run as root). Every command finds it the same way, so the CLI works beside a demo.

use anyhow::{Context, bail};
use sqlx::{Connection, Executor, PgConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::config::Config;
use secrecy::ExposeSecret;

const DB_NAME: &str = "storelink";

/// What to tell a user who has neither a database nor the binaries to start one.
const INSTALL_POSTGRES: &str = "install PostgreSQL (Debian/Ubuntu: `sudo apt install postgresql`; Fedora: \
     `sudo dnf install postgresql-server`; macOS with Homebrew: `brew install postgresql@16`) or set \
     DATABASE_URL=postgres://USER@HOST:5432/storelink";

/// Where the database lives; an embedded cluster is stopped when this is dropped... only if we
/// started it, so a second `storelink` process sharing it does not pull it from under the first.
pub struct Database {
    pub url: String,
    pub origin: String,
    embedded: Option<Embedded>,
}

impl Database {
    pub fn describe(&self) -> String {
        match &self.embedded {
            Some(e) => format!("embedded Postgres cluster in {}", e.data.display()),
            None => self.origin.clone(),
        }
    }

    /// Stops an embedded cluster this process started.
    pub fn shutdown(&mut self) {
        if let Some(e) = self.embedded.take() {
            e.stop();
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub async fn resolve(config: &Config) -> anyhow::Result<Database> {
    if let Some(url) = &config.database.url {
        return Ok(Database { url: url.expose_secret().to_owned(), origin: "DATABASE_URL".to_owned(), embedded: None });
    }
    let local = config.database.local_postgres_url.trim_end_matches('/');
    let admin = format!("{local}/postgres");
    if let Ok(Ok(conn)) = tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&admin)).await {
        ensure_database(conn).await?;
        return Ok(Database {
            url: format!("{local}/{DB_NAME}"),
            origin: format!("local Postgres at {}, database {DB_NAME}", without_user(local)),
            embedded: None,
        });
    }
    let embedded = Embedded::start(&config.data_dir, config.database.postgres_bin_dir.as_deref(), local)?;
    let url = embedded.url(DB_NAME);
    let conn = connect_with_retry(&embedded.url("postgres")).await?;
    ensure_database(conn).await?;
    Ok(Database { url, origin: "embedded".to_owned(), embedded: Some(embedded) })
}

/// `postgres://user@host:port` -> `host:port`, for messages.
fn without_user(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rsplit_once('@').map_or(rest, |(_, host)| host)
}

async fn ensure_database(mut conn: PgConnection) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(DB_NAME)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        // Two processes may race here; the loser's "already exists" is fine.
        if let Err(e) = conn.execute(format!(r#"CREATE DATABASE "{DB_NAME}""#).as_str()).await
            && !e.to_string().contains("already exists")
        {
            return Err(e).context("creating the storelink database");
        }
    }
    conn.close().await.ok();
    Ok(())
}

async fn connect_with_retry(url: &str) -> anyhow::Result<PgConnection> {
    let mut last = None;
    for _ in 0..50 {
        match PgConnection::connect(url).await {
            Ok(conn) => return Ok(conn),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.map(anyhow::Error::from).unwrap_or_else(|| anyhow::anyhow!("embedded Postgres did not start")))
}

/// A private cluster listening only on a Unix socket inside the data dir: no port to clash with.
struct Embedded {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    started_here: bool,
}

impl Embedded {
    fn start(data_dir: &Path, bin_dir: Option<&Path>, local: &str) -> anyhow::Result<Self> {
        let Some(bin) = postgres_bin_dir(bin_dir) else {
            bail!(
                "no database: DATABASE_URL is unset, nothing answers at {}, and no Postgres server binaries \
                 (initdb, pg_ctl) were found to start a private one under {}. To fix it, {INSTALL_POSTGRES}.",
                without_user(local),
                data_dir.display()
            );
        };
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let root = std::fs::canonicalize(data_dir)?;
        let data = root.join("pgdata");
        let socket_dir = root.join("pgrun");
        std::fs::create_dir_all(&socket_dir)?;
        let as_root = is_root();
        if as_root {
            chown_postgres(&socket_dir)?;
        }
        if !data.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&data)?;
            if as_root {
                chown_postgres(&data)?;
            }
            tracing::info!(dir = %data.display(), "initialising the embedded Postgres cluster");
            run_pg(
                as_root,
                &bin.join("initdb"),
                &["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"],
            )?;
        }
        let mut cluster = Self { bin, data, socket_dir, started_here: false };
        if !cluster.running(as_root) {
            let log = cluster.data.join("server.log");
            let opts = format!("-c listen_addresses='' -c unix_socket_directories='{}'", cluster.socket_dir.display());
            run_pg(
                as_root,
                &cluster.bin.join("pg_ctl"),
                &["-D", &cluster.data.to_string_lossy(), "-l", &log.to_string_lossy(), "-o", &opts, "-w", "start"],
            )?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@localhost/{db}?host={}", self.socket_dir.display())
    }

    fn running(&self, as_root: bool) -> bool {
        run_pg(as_root, &self.bin.join("pg_ctl"), &["-D", &self.data.to_string_lossy(), "status"]).is_ok()
    }

    fn stop(self) {
        if self.started_here {
            let _ = run_pg(
                is_root(),
                &self.bin.join("pg_ctl"),
                &["-D", &self.data.to_string_lossy(), "-m", "fast", "-w", "stop"],
            );
        }
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user.
fn run_pg(as_root: bool, program: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = if as_root {
        Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(program).args(args).output()
    } else {
        Command::new(program).args(args).output()
    }
    .with_context(|| format!("running {}", program.display()))?;
    if !output.status.success() {
        bail!("{} failed: {}", program.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn chown_postgres(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new("chown").arg("postgres:postgres").arg(dir).status()?;
    if !status.success() {
        bail!("could not hand {} to the postgres user", dir.display());
    }
    Ok(())
}

/// `STORELINK_POSTGRES_BIN_DIR` when set (only there); else `pg_config --bindir`, then Debian's
/// `/usr/lib/postgresql/<version>/bin`, newest first.
fn postgres_bin_dir(configured: Option<&Path>) -> Option<PathBuf> {
    let has_binaries = |dir: &Path| dir.join("initdb").exists() && dir.join("pg_ctl").exists();
    if let Some(dir) = configured {
        return has_binaries(dir).then(|| dir.to_path_buf());
    }
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates.into_iter().find(|dir| has_binaries(dir))
}
