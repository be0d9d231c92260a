//! A Postgres primary and a streaming standby of it, each its own cluster under a temporary
//! directory on a free loopback port: `initdb` for the primary, `pg_basebackup -R` for the standby.
//! Run as the `postgres` user when the test runs as root (initdb and pg_ctl refuse root). Both are
//! stopped and the directory removed when the `Clusters` are dropped, a panicking test included.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the Postgres server binaries are (`initdb`, `pg_ctl`, `pg_basebackup`, `postgres`):
/// `pg_config --bindir`, else Debian's `/usr/lib/postgresql/<version>/bin`, newest first.
pub fn server_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| ["initdb", "pg_ctl", "pg_basebackup", "postgres"].iter().all(|b| dir.join(b).exists());
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
    candidates.into_iter().find(|dir| complete(dir))
}

pub struct Clusters {
    bin: PathBuf,
    root: PathBuf,
    as_root: bool,
    pub primary_port: u16,
    pub standby_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Clusters {
    /// A primary (wal_level replica, replication allowed from loopback: initdb's default pg_hba
    /// with trust) and a hot standby streaming from it, both running.
    pub fn start(bin: PathBuf) -> Self {
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let root = std::env::temp_dir().join(format!("sl-replicas-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).expect("temp dir");
        let clusters = Self { bin, root, as_root, primary_port: free_port(), standby_port: free_port() };
        if as_root {
            let status = Command::new("chown").arg("postgres:postgres").arg(&clusters.root).status().expect("chown");
            assert!(status.success(), "handing {} to the postgres user", clusters.root.display());
        }
        let primary = clusters.data("primary");
        clusters.pg("initdb", &["-D", &primary, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"]);
        clusters.pg_ctl_start(
            "primary",
            clusters.primary_port,
            "-c wal_level=replica -c max_wal_senders=4 -c fsync=off -c full_page_writes=off",
        );
        let port = clusters.primary_port.to_string();
        let standby = clusters.data("standby");
        clusters.pg(
            "pg_basebackup",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-D", &standby, "-R", "-X", "stream", "-c", "fast"],
        );
        clusters.pg_ctl_start("standby", clusters.standby_port, "-c hot_standby=on -c fsync=off");
        clusters
    }

    fn data(&self, name: &str) -> String {
        self.root.join(name).to_string_lossy().into_owned()
    }

    fn pg_ctl_start(&self, name: &str, port: u16, settings: &str) {
        let log = self.root.join(format!("{name}.log")).to_string_lossy().into_owned();
        let options = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' {settings}",
            self.root.display()
        );
        self.pg("pg_ctl", &["-D", &self.data(name), "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
    }

    /// Runs a server binary (as `postgres` when we are root); panics with its output on failure.
    fn pg(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let output = if self.as_root {
            Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(&program).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn primary_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.primary_port)
    }

    pub fn standby_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.standby_port)
    }

    /// Stops the standby at once (as a crash or a lost host would).
    pub fn stop_standby(&self) {
        self.pg("pg_ctl", &["-D", &self.data("standby"), "-m", "immediate", "-w", "stop"]);
    }

    fn stop_quietly(&self, name: &str) {
        let program = self.bin.join("pg_ctl");
        let data = self.data(name);
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_root {
            Command::new("runuser").arg("-u").arg("postgres").arg("--").arg(&program).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

impl Drop for Clusters {
    fn drop(&mut self) {
        self.stop_quietly("standby");
        self.stop_quietly("primary");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
