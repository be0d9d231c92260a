//! `storelink`: one binary, several roles. See `storelink --help`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use storelink::config::Config;
use storelink::server::{self, Services};
use storelink::sync_cli::SyncCommand;
use storelink::telemetry::Verbosity;
use storelink::tenants_cli::TenantsCommand;
use storelink_tenants::{NewPartner, partners};
use storelink_vault::MasterKeys;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "storelink", version, about = "Connects channel partners to merchants' Oracle Commerce Cloud stores")]
struct Cli {
    /// TOML configuration file (also STORELINK_CONFIG); environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log at info instead of warn (one-shot commands; `RUST_LOG` overrides both).
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process: embedded database, OCC and SAP simulators, demo partner, server, workers.
    Demo {
        /// Products in the simulated store.
        #[arg(long, default_value_t = 200)]
        products: usize,
    },
    /// The HTTP server (onboarding, webhooks, partner API).
    Serve,
    /// Background workers: sync jobs and their schedules, webhook slot retries.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// The OCC simulator on its own (a test tool; never point it at real data).
    OccSim {
        #[arg(long, default_value_t = 9090)]
        port: u16,
        #[arg(long, default_value_t = 1000)]
        products: usize,
        /// Application keys the simulator accepts (a new one is minted and printed when none is given).
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Accept plain-http webhook callback URLs (development; OCC refuses them).
        #[arg(long)]
        allow_http_callbacks: bool,
    },
    /// The SAP Commerce Cloud simulator on its own (a test tool; never point it at real data).
    SapSim {
        #[arg(long, default_value_t = 9091)]
        port: u16,
        #[arg(long, default_value_t = 1000)]
        products: usize,
        /// Password of the `storelink` user (Basic) and secret of the `storelink-client` OAuth client.
        #[arg(long, default_value = "storelink")]
        secret: String,
    },
    /// Channel partners.
    Partners {
        #[command(subcommand)]
        command: PartnersCommand,
    },
    /// Ops actions on tenants (audited): revoke, rotate, pause, resume, resync, retry-slots, audit.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Ops console users.
    OpsUsers {
        #[command(subcommand)]
        command: OpsUsersCommand,
    },
    /// Master keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Sync status and manual runs.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
}

#[derive(Subcommand)]
enum PartnersCommand {
    /// Create a partner; prints {"partner_id","client_id","client_secret"} (the secret only this once).
    Create {
        #[arg(long)]
        name: String,
        /// Allowed redirect URI (repeat for several).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
    },
}

#[derive(Subcommand)]
enum OpsUsersCommand {
    /// Add an ops console user; the password is read from standard input (at least 12 characters).
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["viewer", "admin"])]
        role: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new master key `id:base64` for STORELINK_MASTER_KEYS.
    Generate {
        #[arg(long)]
        id: Option<String>,
    },
    /// Add a new master key that seals from now on (older keys still open what they sealed).
    Rotate,
    /// Re-seal every data key and endpoint secret under the newest master key, online, resumable.
    Rewrap {
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Remove a master key once nothing is sealed under it.
    Retire {
        #[arg(long)]
        id: String,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    storelink::run_to_exit(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let long_running = matches!(
        cli.command,
        Command::Demo { .. } | Command::Serve | Command::Worker | Command::OccSim { .. } | Command::SapSim { .. }
    );
    let verbosity = if long_running || cli.verbose { Verbosity::Info } else { Verbosity::Warn };
    let role = match cli.command {
        Command::Demo { .. } => "demo",
        Command::Serve => "serve",
        Command::Worker => "worker",
        Command::OccSim { .. } => "occ-sim",
        _ => "cli",
    };
    let telemetry = storelink::telemetry::init_for(config.log_format, verbosity, role, config.otlp_traces_url.as_ref());
    let result = command(cli.command, config).await;
    // After the role's graceful shutdown: the spans still buffered are exported before exit.
    telemetry.shutdown().await;
    result
}

async fn command(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Demo { products } => storelink::demo::run(config, products).await,
        Command::Serve => serve(config).await,
        Command::Worker => worker(config).await,
        Command::Migrate => {
            let (pool, _db) = open_database(&config).await?;
            storelink_core::db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::OccSim { port, products, keys, allow_http_callbacks } => {
            occ_sim(port, products, keys, allow_http_callbacks).await
        }
        Command::SapSim { port, products, secret } => sap_sim(port, products, &secret).await,
        Command::Partners { command: PartnersCommand::Create { name, redirect_uris } } => {
            let (pool, _db) = cli_database(&config).await?;
            let created = partners::create(&pool, NewPartner { name: &name, redirect_uris: &redirect_uris }).await?;
            println!(
                "{}",
                serde_json::json!({
                    "partner_id": created.partner_id,
                    "client_id": created.client_id,
                    "client_secret": created.client_secret.expose_secret(),
                })
            );
            Ok(())
        }
        Command::Keys { command: KeysCommand::Rotate } => storelink::keys::rotate(&config),
        Command::Keys { command: KeysCommand::Rewrap { batch } } => {
            let (services, _db) = cli_services(config).await?;
            storelink::keys::rewrap(&services, batch.clamp(1, 10_000)).await
        }
        Command::Keys { command: KeysCommand::Retire { id } } => {
            let (services, _db) = cli_services(config.clone()).await?;
            let data_keys = services.vault.count_under(&id).await?;
            let secrets = storelink_partner_webhooks::secrets_under(&services.pool, &id).await?;
            storelink::keys::retire(&config, &services.keys, &id, data_keys, secrets)
        }
        Command::Keys { command: KeysCommand::Generate { id } } => {
            let keys = MasterKeys::generate(&id.unwrap_or_else(storelink::keys::new_key_id));
            println!("{}", keys.to_config_string().expose_secret());
            Ok(())
        }
        Command::OpsUsers { command: OpsUsersCommand::Add { username, role } } => {
            let (pool, _db) = cli_database(&config).await?;
            let mut password = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut password)?;
            let password = secrecy::SecretString::from(password.trim_end_matches(['\n', '\r']).to_owned());
            let role = storelink_ops_console::users::Role::parse(&role).context("role is viewer or admin")?;
            let id = storelink_ops_console::users::add(&pool, &username, &password, role).await?;
            println!("{}", serde_json::json!({"user_id": id, "username": username, "role": role.as_str()}));
            Ok(())
        }
        // Reading the audit trail and the sync status needs no secret, so no master key either.
        Command::Tenants { command: TenantsCommand::Audit { merchant, limit } } => {
            let (pool, _db) = cli_database(&config).await?;
            storelink::tenants_cli::audit(&pool, merchant, limit).await
        }
        Command::Tenants { command } => {
            let (services, _db) = cli_services(config).await?;
            storelink::tenants_cli::run(command, services).await
        }
        Command::Sync { command: SyncCommand::Status { merchant, json } } => {
            let (pool, _db) = cli_database(&config).await?;
            storelink::sync_cli::status(&pool, merchant, json).await
        }
        Command::Sync { command } => {
            let (services, _db) = cli_services(config).await?;
            storelink::sync_cli::run(command, services).await
        }
    }
}

async fn open_database(config: &Config) -> anyhow::Result<(sqlx::PgPool, storelink::database::Database)> {
    let db = storelink::database::resolve(config).await?;
    tracing::info!(database = %db.describe(), "database");
    let pool = storelink_core::db::connect(&db.url, config.database.max_connections).await?;
    Ok((pool, db))
}

/// A one-shot command's database, found as `demo` finds it, migrated; says on stderr which it is.
async fn cli_database(config: &Config) -> anyhow::Result<(sqlx::PgPool, storelink::database::Database)> {
    let (pool, db) = open_database(config).await?;
    eprintln!("storelink: database: {}", db.describe());
    storelink_core::db::migrate(&pool).await.context("applying migrations")?;
    Ok((pool, db))
}

/// A one-shot command's services: its database, and the master keys configured or the demo's key file
/// (said on stderr).
async fn cli_services(mut config: Config) -> anyhow::Result<(Services, storelink::database::Database)> {
    let (keys, source) = storelink::keys::load_for_cli(&config)?;
    let (pool, db) = cli_database(&config).await?;
    eprintln!("storelink: master keys: {source}");
    if matches!(source, storelink::keys::KeySource::Demo(_)) && !config.stores.allow_insecure_urls {
        // Beside the demo, a `sync run --wait` calls the demo's loopback simulator as the demo does.
        config.stores.allow_insecure_urls = true;
        eprintln!("storelink: development mode (the demo's data): loopback store addresses are allowed");
    }
    Ok((Services::new(config, pool, keys)?, db))
}

async fn services(config: Config) -> anyhow::Result<(Services, storelink::database::Database)> {
    let keys = storelink::keys::load(&config)?;
    let (pool, db) = open_database(&config).await?;
    storelink_core::db::migrate(&pool).await.context("applying migrations at start-up")?;
    Ok((Services::new(config, pool, keys)?, db))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    config.require_https_public_url()?;
    let listen = config.http.listen;
    let metrics_listen = config.http.metrics_listen;
    let (services, _db) = services(config).await?;
    let listener = TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, "serving");
    // /metrics lives on its own (loopback by default) port, never the public one.
    if let Some(metrics_listen) = metrics_listen {
        let listener = TcpListener::bind(metrics_listen).with_context(|| format!("binding {metrics_listen}"))?;
        tokio::spawn(server::metrics_server(&services, listener)?);
        tracing::info!(%metrics_listen, "metrics at /metrics");
    }
    // actix-web stops gracefully on SIGTERM/SIGINT by itself.
    server::http_server(&services, listener, false)?.await?;
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    config.require_https_public_url()?;
    let metrics_listen = config.http.worker_metrics_listen;
    let (services, _db) = services(config).await?;
    let shutdown = CancellationToken::new();
    // The worker's own counters (OCC calls, syncs, deliveries) for Prometheus, with health probes.
    let metrics = match metrics_listen {
        Some(listen) => {
            let listener = std::net::TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
            let http = server::metrics_server(&services, listener)?;
            let handle = http.handle();
            tokio::spawn(http);
            tracing::info!(%listen, "worker metrics at /metrics");
            Some(handle)
        }
        None => None,
    };
    let workers = tokio::spawn(server::run_workers(services, shutdown.clone()));
    tracing::info!("worker running");
    shutdown_signal().await;
    tracing::info!("worker stopping");
    shutdown.cancel();
    let _ = workers.await;
    if let Some(handle) = metrics {
        handle.stop(true).await;
    }
    Ok(())
}

async fn occ_sim(port: u16, products: usize, keys: Vec<String>, allow_http_callbacks: bool) -> anyhow::Result<()> {
    use storelink_occ_sim::{OccSim, Permissions, SimOptions};
    let options = SimOptions { products, allow_http_callbacks, ..SimOptions::default() };
    let sim = OccSim::bind(options, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    if keys.is_empty() {
        println!("application key: {}", sim.add_key(Permissions::all()));
    }
    for key in &keys {
        sim.add_named_key(key, Permissions::all());
    }
    println!("OCC simulator at {} with {products} products (admin routes under /__sim/)", sim.base_url());
    shutdown_signal().await;
    sim.stop().await;
    Ok(())
}

/// Serves both authentication types, with Storelink's user (`storelinkgroup` and
/// `integrationadmingroup`, so webhook registration works) and OAuth client, as the ImpEx creates them.
async fn sap_sim(port: u16, products: usize, secret: &str) -> anyhow::Result<()> {
    use storelink_sap_sim::{InboundAuth, SapSim, SimOptions};
    let options = SimOptions { products, inbound_auth: InboundAuth::Both, ..SimOptions::default() };
    let sim = SapSim::bind(options, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    storelink::demo::add_sap_access(&sim, secret);
    println!(
        "SAP simulator at {} with {products} products: Basic user `storelink`, OAuth client `storelink-client` \
         (token at {}{}), secret as given with --secret",
        sim.base_url(),
        sim.base_url(),
        storelink_sap_sim::TOKEN_PATH
    );
    shutdown_signal().await;
    sim.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
