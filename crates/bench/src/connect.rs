//! `storelink-bench connect`: how long `POST /connect` takes against one call to the store, with the
//! same latency added to every simulator answer, for an OCC store or a SAP store (OAuth2 client
//! credentials). The ratio is about the number of dependent round trips the connect makes.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use storelink::config::{Config, RawConfig};
use storelink::server::{self, Services};
use storelink_occ::{OccClient, OccConfig};
use storelink_occ_sim::{OccSim, Permissions};
use storelink_sap_sim::{InboundAuth, SapSim};
use storelink_tenants::{NewPartner, partners};
use storelink_testkit::extract_csrf_token;
use storelink_vault::MasterKeys;

use crate::sync::Platform;
use crate::{median, ms, percentile, with_temp_db};

/// The simulated store a run connects, and its one-call baseline.
enum Store {
    Occ { sim: OccSim, key: String, client: OccClient },
    Sap { sim: SapSim, secret: String, http: reqwest::Client },
}

impl Store {
    async fn spawn(platform: Platform, latency: Duration) -> anyhow::Result<Self> {
        Ok(match platform {
            Platform::Occ => {
                let options =
                    storelink_occ_sim::SimOptions { latency, allow_http_callbacks: true, ..Default::default() };
                let sim = OccSim::spawn(options).await?;
                let key = sim.add_key(Permissions::all());
                let client = OccClient::new(OccConfig::default(), storelink_netguard::Policy { allow_insecure: true })?;
                Store::Occ { sim, key, client }
            }
            Platform::Sap => {
                let options =
                    storelink_sap_sim::SimOptions { latency, inbound_auth: InboundAuth::OAuth, ..Default::default() };
                let sim = SapSim::spawn(options).await?;
                let secret = "bench-sap-secret".to_owned();
                storelink::demo::add_sap_access(&sim, &secret);
                Store::Sap { sim, secret, http: reqwest::Client::new() }
            }
        })
    }

    fn base_url(&self) -> String {
        match self {
            Store::Occ { sim, .. } => sim.base_url(),
            Store::Sap { sim, .. } => sim.base_url(),
        }
    }

    /// One call to the store: OCC's login; for SAP one OData read (`Products?$top=1`) with a token
    /// obtained beforehand.
    async fn single_calls(&self, runs: usize) -> anyhow::Result<Vec<Duration>> {
        let mut single = Vec::with_capacity(runs);
        match self {
            Store::Occ { sim, key, client } => {
                let store = url::Url::parse(&sim.base_url())?;
                let key = secrecy::SecretString::from(key.clone());
                for _ in 0..runs {
                    let started = Instant::now();
                    client.login(&store, &key).await?;
                    single.push(started.elapsed());
                }
            }
            Store::Sap { sim, secret, http } => {
                let token: serde_json::Value = http
                    .post(format!("{}{}", sim.base_url(), storelink_sap_sim::TOKEN_PATH))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", storelink::demo::SAP_CLIENT),
                        ("client_secret", secret),
                    ])
                    .send()
                    .await?
                    .json()
                    .await?;
                let token = token["access_token"].as_str().context("no access token")?.to_owned();
                let url = format!("{}/odata2webservices/StorelinkProduct/Products?$top=1", sim.base_url());
                for _ in 0..runs {
                    let started = Instant::now();
                    let answer = http.get(&url).bearer_auth(&token).header("accept", "application/json").send().await?;
                    answer.error_for_status()?.bytes().await?;
                    single.push(started.elapsed());
                }
            }
        }
        Ok(single)
    }

    /// Each run must really write the webhooks, as a first connection does.
    fn reset(&self) {
        if let Store::Occ { sim, .. } = self {
            for id in sim.webhook_ids() {
                sim.set_webhook_urls(&id, Vec::new());
            }
        }
    }

    /// The connect form's platform and credential fields.
    fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Store::Occ { key, .. } => vec![("platform", "occ".into()), ("app_key", key.clone())],
            Store::Sap { secret, .. } => vec![
                ("platform", "sap".into()),
                ("sap_auth", "oauth".into()),
                ("sap_client_id", storelink::demo::SAP_CLIENT.into()),
                ("sap_client_secret", secret.clone()),
            ],
        }
    }

    async fn stop(&self) {
        match self {
            Store::Occ { sim, .. } => sim.stop().await,
            Store::Sap { sim, .. } => sim.stop().await,
        }
    }
}

pub async fn connect(config: Config, platform: Platform, latency_ms: u64, runs: usize) -> anyhow::Result<()> {
    with_temp_db(&config, |url| async move { connect_in(&url, platform, latency_ms, runs).await }).await
}

async fn connect_in(db_url: &str, platform: Platform, latency_ms: u64, runs: usize) -> anyhow::Result<()> {
    let pool = storelink_core::db::connect(db_url, 10).await?;
    storelink_core::db::migrate(&pool).await?;
    let store = Store::spawn(platform, Duration::from_millis(latency_ms)).await?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let raw = RawConfig {
        listen: addr.to_string(),
        public_url: format!("http://{addr}"),
        allow_insecure_store_urls: true,
        connect_per_client_per_minute: 10_000,
        connect_per_store_per_minute: 10_000,
        ..RawConfig::default()
    };
    let config = Config::validate(raw)?;
    let services = Services::new(config, pool.clone(), MasterKeys::generate("bench"))?;
    let http = server::http_server(&services, listener, false)?;
    let handle = http.handle();
    tokio::spawn(http);

    let redirect = "https://partner.example/callback".to_owned();
    let partner =
        partners::create(&pool, NewPartner { name: "Bench", redirect_uris: std::slice::from_ref(&redirect) }).await?;
    let mut single = store.single_calls(runs).await?;

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let base = format!("http://{addr}");
    let link =
        [("partner_id", partner.partner_id.to_string()), ("redirect_uri", redirect.clone()), ("state", "b".into())];
    let mut connects = Vec::with_capacity(runs);
    for _ in 0..runs {
        store.reset();
        let form = http.get(format!("{base}/connect")).query(&link).send().await?;
        let cookie = form
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .context("no CSRF cookie")?;
        let body = form.text().await?;
        let token = extract_csrf_token(&body).context("no CSRF token in the form")?;
        let mut fields = link.to_vec();
        fields.extend([("store_url", store.base_url()), ("csrf_token", token)]);
        fields.extend(store.fields());
        let started = Instant::now();
        let response = http.post(format!("{base}/connect")).header("cookie", cookie).form(&fields).send().await?;
        let elapsed = started.elapsed();
        // A connect answers the summary page, with the way back to the partner in its Link header.
        if response.status() != reqwest::StatusCode::OK || response.headers().get("link").is_none() {
            bail!("connect answered {} instead of the summary page", response.status());
        }
        connects.push(elapsed);
    }
    handle.stop(true).await;
    store.stop().await;

    let single_median = median(&mut single);
    let connect_median = median(&mut connects);
    let ratio = connect_median.as_secs_f64() / single_median.as_secs_f64();
    let (name, call) = match platform {
        Platform::Occ => ("OCC", "single OCC call (login)"),
        Platform::Sap => ("SAP", "single OData call ($top=1)"),
    };
    println!("bench connect: {runs} runs, {latency_ms} ms added to every {name} call");
    println!("  {call:<26} median {:>8.1} ms", ms(single_median));
    println!(
        "  POST /connect              median {:>8.1} ms   p90 {:>8.1} ms",
        ms(connect_median),
        ms(percentile(&connects, 0.9))
    );
    println!("  ratio connect/single       {ratio:.2}x   (target <= the dependent round trips of the connect)");
    Ok(())
}
