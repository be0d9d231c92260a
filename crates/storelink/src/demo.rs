//! `storelink demo`: everything in one process for a first look: the embedded database default,
//! an OCC simulator and a SAP Commerce Cloud simulator with seeded stores, a demo partner with a link
//! to connect each, the server and the workers.

use crate::config::Config;
use crate::server::{self, Services};
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::ExposeSecret;
use std::net::TcpListener;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_sap_sim::{GROUP_ADMIN, GROUP_STORELINK, InboundAuth, SapSim};
use storelink_tenants::{NewPartner, partners};
use tokio_util::sync::CancellationToken;

pub const PARTNER_NAME: &str = "Demo Partner";
const CALLBACK_PATH: &str = "/demo/partner/callback";

pub async fn run(mut config: Config, products: usize) -> anyhow::Result<()> {
    // The simulator speaks plain http on loopback, which production refuses.
    config.stores.allow_insecure_urls = true;
    let (keys, created) = crate::keys::load_or_create_demo(&config)?;
    if let Some(path) = created {
        println!(
            "Created a demo master key in {} (mode 0600). Production needs STORELINK_MASTER_KEYS.",
            path.display()
        );
    }
    let mut database = crate::database::resolve(&config).await?;
    tracing::info!(database = %database.describe(), "database");
    let pool = storelink_core::db::connect(&database.url, config.database.max_connections).await?;
    storelink_core::db::migrate(&pool).await?;

    // Development mode: the simulator takes the plain-http callback URLs of a loopback demo.
    let sim = OccSim::spawn(SimOptions { products, allow_http_callbacks: true, ..SimOptions::default() }).await?;
    let app_key = sim.add_key(Permissions::all());
    let sap = SapSim::spawn(storelink_sap_sim::SimOptions {
        products,
        inbound_auth: InboundAuth::Both,
        ..storelink_sap_sim::SimOptions::default()
    })
    .await?;
    // Random per run, as the OCC simulator mints its key.
    let sap_secret = storelink_onboarding::Csrf::new_cookie_value();
    add_sap_access(&sap, &sap_secret);
    let first_admin = storelink_ops_console::users::add_first_admin(&pool).await?;
    let redirect_uri = format!("{}{CALLBACK_PATH}", config.http.public_url.as_str().trim_end_matches('/'));
    let partner = match partners::find_by_name(&pool, PARTNER_NAME).await? {
        Some(p) if partners::redirect_allowed(&pool, p.partner_id, &redirect_uri).await? => p.partner_id,
        _ => {
            let uris = vec![redirect_uri.clone()];
            partners::create(&pool, NewPartner { name: PARTNER_NAME, redirect_uris: &uris }).await?.partner_id
        }
    };

    let listener = TcpListener::bind(config.http.listen).map_err(|e| {
        anyhow::anyhow!("cannot listen on {}: {e} (set STORELINK_LISTEN and STORELINK_PUBLIC_URL)", config.http.listen)
    })?;
    let services = Services::new(config.clone(), pool, keys)?;
    let http = server::http_server(&services, listener, true)?;
    // Metrics on their own port as `serve` has them; a demo whose port is taken goes on without.
    let metrics = match config.http.metrics_listen.map(TcpListener::bind) {
        Some(Ok(listener)) => {
            let address = listener.local_addr()?;
            tokio::spawn(server::metrics_server(&services, listener)?);
            Some(address)
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "metrics not served (STORELINK_METRICS_LISTEN)");
            None
        }
        None => None,
    };
    let handle = http.handle();
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn(server::run_workers(services, shutdown.clone()));

    let mut connect = config.http.public_url.join("/connect")?;
    connect
        .query_pairs_mut()
        .append_pair("partner_id", &partner.to_string())
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", "demo");
    println!();
    println!("Storelink demo is running ({}).", database.describe());
    let platform_link = |platform: &str| {
        let mut link = connect.clone();
        link.query_pairs_mut().append_pair("platform", platform);
        link
    };
    println!("  Any platform:    {connect} (the form asks which)");
    println!("  Oracle Commerce Cloud, the built-in OCC simulator:");
    println!("  Open:            {}", platform_link("occ"));
    println!("  Store URL:       {}", sim.base_url());
    println!("  Application key: {app_key}");
    println!("  SAP Commerce Cloud, the built-in SAP simulator (OAuth2 or Basic):");
    println!("  Open for SAP:    {}", platform_link("sap"));
    println!("  API base URL:    {}", sap.base_url());
    println!("  OAuth client:    {SAP_CLIENT}");
    println!("  Basic user:      {SAP_USER}");
    println!("  SAP secret:      {sap_secret} (the client's secret and the user's password)");
    let ops = config.http.public_url.join("/ops")?;
    match first_admin {
        Some(password) => {
            println!("  Ops console:     {ops}");
            println!(
                "                   user {}, password {} (shown only now)",
                storelink_ops_console::users::FIRST_ADMIN,
                password.expose_secret()
            );
        }
        None => println!(
            "  Ops console:     {ops} (add a user: `storelink ops-users add --username NAME --role admin`, password on stdin)"
        ),
    }
    if let Some(address) = metrics {
        println!("  Metrics:         http://{address}/metrics");
    }
    println!("  In this folder, `storelink sync status`, `storelink tenants audit` and the other commands use");
    println!("  this database and master key as they are. Press Ctrl-C to stop.");
    println!();

    tokio::select! {
        result = http => result?,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            handle.stop(true).await;
        }
    }
    shutdown.cancel();
    let _ = workers.await;
    sim.stop().await;
    sap.stop().await;
    database.shutdown();
    Ok(())
}

/// The user and OAuth client Storelink's ImpEx creates, in `storelinkgroup` and (so webhook
/// registration works) `integrationadmingroup`.
pub const SAP_USER: &str = "storelink";
pub const SAP_CLIENT: &str = "storelink-client";

/// Give a SAP simulator Storelink's user and OAuth client as the ImpEx creates them, with `secret`
/// as the password and the client secret.
pub fn add_sap_access(sim: &SapSim, secret: &str) {
    sim.add_user(SAP_USER, secret, &[GROUP_STORELINK, GROUP_ADMIN]);
    sim.add_oauth_client(SAP_CLIENT, secret, SAP_USER);
}

#[derive(Template)]
#[template(path = "demo_callback.html")]
struct CallbackPage {
    merchant_id: String,
    state: String,
    warnings: String,
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    merchant_id: Option<String>,
    state: Option<String>,
    warnings: Option<String>,
}

/// Stands in for the partner's page the merchant returns to.
pub fn configure_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(CALLBACK_PATH, web::get().to(callback));
}

async fn callback(q: web::Query<CallbackQuery>) -> HttpResponse {
    let q = q.into_inner();
    let page = CallbackPage {
        merchant_id: q.merchant_id.unwrap_or_default(),
        state: q.state.unwrap_or_default(),
        warnings: q.warnings.unwrap_or_default(),
    };
    match page.render() {
        Ok(body) => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
