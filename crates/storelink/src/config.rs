//! Configuration: defaults, then an optional TOML file (`--config` or `STORELINK_CONFIG`), then
//! `STORELINK_*` environment variables (and `DATABASE_URL`), validated once into one typed struct.
//! `RawConfig` is the layers' flat form (each field named as its environment variable); `Config` is
//! what the roles use: typed sections, `Duration`s, and master keys as secrets.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use storelink_connector_occ::SlotMap;
use storelink_netguard::TrustedProxies;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Raw settings as read from the layers. Field names are the env names without `STORELINK_`.
#[derive(Clone, Serialize, Deserialize)]
pub struct RawConfig {
    pub database_url: Option<String>,
    /// Streaming standbys of the primary (comma-separated `postgres://` URLs) that serve the partner
    /// API's read routes and the ops lists. Unset: every read goes to the primary.
    pub read_database_url: Option<String>,
    /// A standby further behind than this (`5s`, `500ms`, or seconds) is skipped until it catches up.
    #[serde(deserialize_with = "lenient_text")]
    pub read_max_lag: String,
    pub listen: String,
    pub public_url: String,
    /// `id:base64(32 bytes)` list; the last one encrypts. Or `master_keys_file`.
    pub master_keys: Option<String>,
    pub master_keys_file: Option<PathBuf>,
    #[serde(deserialize_with = "lenient_bool")]
    pub allow_insecure_store_urls: bool,
    pub log_format: LogFormat,
    /// `slot=occWebhookId,...` overrides; unnamed slots are mapped by discovery (docs/occ.md).
    pub webhook_ids: String,
    /// How often each merchant's store is asked to resend the webhook deliveries it failed to make.
    pub webhook_resend_secs: f64,
    pub connect_per_client_per_minute: u32,
    pub connect_per_store_per_minute: u32,
    pub slot_retry_base_secs: f64,
    pub slot_retry_cap_secs: f64,
    pub slot_retry_poll_secs: f64,
    /// A slot still `pending` this long after connect was never recorded; the retry loop takes it.
    pub slot_pending_stale_secs: f64,
    pub db_max_connections: u32,
    pub occ_request_timeout_secs: f64,
    /// Enqueue periodic syncs (off: only initial and manual syncs run).
    #[serde(deserialize_with = "lenient_bool")]
    pub schedule_syncs: bool,
    /// Benchmark and test setting: divides every sync cadence (each schedule's interval and full
    /// interval, and the worker's scheduling tick) by this factor. 1 in production.
    pub schedule_compress: u32,
    /// Sync jobs one `worker` process runs at once.
    pub worker_concurrency: usize,
    /// A job's lease; a worker that stops heartbeating loses its job after this long.
    pub job_lease_secs: f64,
    pub job_heartbeat_secs: f64,
    /// How long a job runs before it yields to other merchants' jobs.
    pub job_slice_secs: f64,
    /// Where `demo` keeps its generated master key and embedded database.
    pub data_dir: PathBuf,
    /// The local Postgres server probed when `DATABASE_URL` is unset (no database name).
    pub local_postgres_url: String,
    /// Where `initdb` and `pg_ctl` are for the embedded cluster (unset: found on the system).
    pub postgres_bin_dir: Option<PathBuf>,
    /// Waits between partner webhook retries, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    pub webhook_retry_schedule: String,
    /// Consecutive failed deliveries that disable a partner endpoint.
    pub webhook_disable_after: i32,
    pub webhook_timeout_secs: f64,
    /// How long a rotated-out partner webhook secret keeps signing.
    pub webhook_secret_overlap_secs: f64,
    /// Ops console sign-in attempts per client address (and per user name) per minute.
    pub ops_logins_per_minute: u32,
    /// Days processed inbound deliveries, settled partner events (with their delivery log) and change
    /// events are kept; `worker` processes delete older ones hourly.
    pub retention_days: u32,
    /// Where a `worker` process serves /metrics, /healthz and /readyz (empty: not served).
    pub worker_metrics_listen: Option<String>,
    /// Where a `serve` process serves /metrics, /healthz and /readyz, apart from the public port
    /// (empty: not served). Loopback by default.
    pub metrics_listen: String,
    /// Reverse proxies (comma-separated addresses and CIDR ranges) whose `X-Forwarded-For` /
    /// `Forwarded` headers name the client. Empty: none; the TCP peer is the client.
    pub trusted_proxies: String,
    /// An OTLP/HTTP collector (`http://collector:4318`); spans are exported to its `/v1/traces`.
    /// Unset: nothing is exported (traces still propagate, and logs are unchanged).
    pub otlp_endpoint: Option<String>,
}

/// `1`, `true`, `yes`, `on` (and their opposites) as environment variables are usually written.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Lenient::deserialize(d)? {
        Lenient::Bool(b) => Ok(b),
        Lenient::Int(i) => Ok(i != 0),
        Lenient::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!("{other:?} is not a yes/no value (use 1 or 0)"))),
        },
    }
}

/// A setting written as a number or as text (`5`, `5s`), kept as text.
fn lenient_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Int(i64),
        Float(f64),
        Text(String),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::Int(i) => i.to_string(),
        Lenient::Float(f) => f.to_string(),
        Lenient::Text(t) => t,
    })
}

/// `500ms`, `5s`, `2m`, or a number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let secs = number.trim().parse::<f64>().ok()? * scale;
    (secs.is_finite() && secs > 0.0 && secs <= 3600.0).then(|| Duration::from_secs_f64(secs))
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            read_database_url: None,
            read_max_lag: "5s".into(),
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            master_keys: None,
            master_keys_file: None,
            allow_insecure_store_urls: false,
            log_format: LogFormat::Text,
            webhook_ids: String::new(),
            webhook_resend_secs: 600.0,
            connect_per_client_per_minute: 20,
            connect_per_store_per_minute: 6,
            slot_retry_base_secs: 30.0,
            slot_retry_cap_secs: 3600.0,
            slot_retry_poll_secs: 5.0,
            slot_pending_stale_secs: 120.0,
            db_max_connections: 20,
            occ_request_timeout_secs: 30.0,
            schedule_syncs: true,
            schedule_compress: 1,
            worker_concurrency: 4,
            job_lease_secs: 30.0,
            job_heartbeat_secs: 10.0,
            job_slice_secs: 0.5,
            data_dir: PathBuf::from(".storelink"),
            local_postgres_url: "postgres://postgres@127.0.0.1:5432".into(),
            postgres_bin_dir: None,
            webhook_retry_schedule: "5s,5m,30m,2h,5h,10h,10h".into(),
            webhook_disable_after: 8,
            webhook_timeout_secs: 15.0,
            webhook_secret_overlap_secs: 86_400.0,
            ops_logins_per_minute: 10,
            retention_days: 30,
            worker_metrics_listen: None,
            metrics_listen: "127.0.0.1:9464".into(),
            trusted_proxies: String::new(),
            otlp_endpoint: None,
        }
    }
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConfig")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("master_keys", &self.master_keys.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Read(#[from] Box<figment::Error>),
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Validated configuration, in typed sections. Built once at start-up by `validate`.
#[derive(Clone, Debug)]
pub struct Config {
    pub log_format: LogFormat,
    /// Where `demo` keeps its generated master key and embedded database.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub http: HttpConfig,
    pub stores: StoresConfig,
    pub slots: SlotsConfig,
    pub workers: WorkersConfig,
    pub webhooks: WebhooksConfig,
    pub limits: LimitsConfig,
    /// Where spans are exported (`STORELINK_OTLP_ENDPOINT`): the traces URL, `…/v1/traces`.
    pub otlp_traces_url: Option<Url>,
}

/// Finding and pooling the database (`storelink::database::resolve`).
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL` (it may hold a password); unset: the local server, else an embedded cluster.
    pub url: Option<SecretString>,
    /// The local Postgres server probed when `url` is unset (no database name).
    pub local_postgres_url: String,
    /// Where `initdb` and `pg_ctl` are for the embedded cluster (unset: found on the system).
    pub postgres_bin_dir: Option<PathBuf>,
    pub max_connections: u32,
    /// `STORELINK_READ_DATABASE_URL`: the standbys (each may hold a password); empty: none.
    pub read_urls: Vec<SecretString>,
    /// `STORELINK_READ_MAX_LAG`: a standby further behind is skipped.
    pub read_max_lag: Duration,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_ref().map(|_| "[redacted]"))
            .field("max_connections", &self.max_connections)
            .field("read_urls", &format_args!("[{} redacted]", self.read_urls.len()))
            .field("read_max_lag", &self.read_max_lag)
            .finish_non_exhaustive()
    }
}

/// Where the master keys come from (`storelink::keys`).
#[derive(Clone, Debug)]
pub struct KeysConfig {
    /// `id:base64(32 bytes)` list; the last one encrypts.
    pub master_keys: Option<SecretString>,
    pub master_keys_file: Option<PathBuf>,
}

/// The public port, the metrics ports and who the clients are.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub public_url: Url,
    /// Where `serve` serves /metrics, /healthz and /readyz; `None`: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Where `worker` serves them; `None`: not served.
    pub worker_metrics_listen: Option<SocketAddr>,
    pub trusted_proxies: TrustedProxies,
}

impl HttpConfig {
    /// Cookies are `Secure` (and `__Host-`) when the public URL is https.
    pub fn secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Calls to merchants' stores.
#[derive(Clone, Debug)]
pub struct StoresConfig {
    /// Plain http and private addresses allowed (development only).
    pub allow_insecure_urls: bool,
    pub request_timeout: Duration,
}

/// Webhook slots in the stores (the registrar).
#[derive(Clone, Debug)]
pub struct SlotsConfig {
    pub map: SlotMap,
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub retry_poll: Duration,
    /// A slot still `pending` this long after connect was never recorded; the retry loop takes it.
    pub pending_stale_after: Duration,
    /// How often each merchant's store is asked to resend failed webhook deliveries.
    pub resend_every: Duration,
}

/// The background role.
#[derive(Clone, Debug)]
pub struct WorkersConfig {
    /// Jobs one `worker` process runs at once.
    pub concurrency: usize,
    /// A job's lease; a worker that stops heartbeating loses its job after this long.
    pub lease: Duration,
    pub heartbeat: Duration,
    /// How long a job runs before it yields to other merchants' jobs.
    pub slice: Duration,
    /// Enqueue periodic syncs (off: only initial and manual syncs run).
    pub schedule_syncs: bool,
    /// Every sync cadence is divided by this (1 in production; `storelink-bench density` raises it).
    pub schedule_compress: u32,
    /// How long processed inbound deliveries, settled partner events and change events are kept.
    pub retention: Duration,
}

impl WorkersConfig {
    /// The periodic sync schedules this process enqueues: none when `schedule_syncs` is off, else
    /// `storelink_sync::default_schedules()` with every interval divided by `schedule_compress`.
    pub fn sync_schedules(&self) -> Vec<storelink_jobs::Schedule> {
        if !self.schedule_syncs {
            return Vec::new();
        }
        let factor = self.schedule_compress.max(1);
        storelink_sync::default_schedules()
            .into_iter()
            .map(|s| storelink_jobs::Schedule { every: s.every / factor, full_every: s.full_every / factor, ..s })
            .collect()
    }

    /// How often a worker process reaps leases and enqueues due schedules: `default` divided by
    /// `schedule_compress`, never under 100 ms.
    pub fn maintenance_every(&self, default: Duration) -> Duration {
        (default / self.schedule_compress.max(1)).max(Duration::from_millis(100))
    }
}

/// Partner webhooks.
#[derive(Clone, Debug)]
pub struct WebhooksConfig {
    pub retry_schedule: Vec<Duration>,
    /// Consecutive failed deliveries that disable an endpoint.
    pub disable_after: i32,
    pub timeout: Duration,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap: Duration,
}

/// Rate limits, per minute.
#[derive(Clone, Copy, Debug)]
pub struct LimitsConfig {
    pub connect_per_client_per_minute: u32,
    pub connect_per_store_per_minute: u32,
    /// Ops console sign-in attempts per client address (and per user name).
    pub ops_logins_per_minute: u32,
}

impl Config {
    /// Roles that give stores our callback URL (`serve`, `worker`) need an https public URL: OCC
    /// refuses webhook targets that are not HTTPS with a CA-issued certificate. Development mode
    /// (`STORELINK_ALLOW_INSECURE_STORE_URLS=1`, which `demo` sets) lifts the rule.
    pub fn require_https_public_url(&self) -> Result<(), ConfigError> {
        if self.http.public_url.scheme() == "https" || self.stores.allow_insecure_urls {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            field: "STORELINK_PUBLIC_URL",
            reason: format!(
                "{} is not https; stores refuse webhook callbacks that are not HTTPS with a CA-issued \
                 certificate. Put Storelink behind TLS and set its https URL, or set \
                 STORELINK_ALLOW_INSECURE_STORE_URLS=1 (development only)",
                self.http.public_url
            ),
        })
    }

    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        let file = file.map(Path::to_path_buf).or_else(|| std::env::var_os("STORELINK_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let figment = figment
            .merge(Env::prefixed("STORELINK_").ignore(&["CONFIG"]))
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()));
        let raw: RawConfig = figment.extract().map_err(Box::new)?;
        Self::validate(raw)
    }

    pub fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let invalid = |field, reason: String| ConfigError::Invalid { field, reason };
        let listen = raw
            .listen
            .parse()
            .map_err(|e| invalid("STORELINK_LISTEN", format!("{e} (expected host:port, e.g. 0.0.0.0:8080)")))?;
        let public_url = Url::parse(&raw.public_url).map_err(|e| {
            invalid("STORELINK_PUBLIC_URL", format!("{e} (expected e.g. https://storelink.example.com)"))
        })?;
        if !matches!(public_url.scheme(), "http" | "https") {
            return Err(invalid("STORELINK_PUBLIC_URL", "must be an http(s) URL".into()));
        }
        let slot_map = SlotMap::parse(&raw.webhook_ids).map_err(|e| invalid("STORELINK_WEBHOOK_IDS", e.to_string()))?;
        let seconds = |field, secs: f64| {
            if secs.is_finite() && secs > 0.0 && secs < 86_400.0 * 7.0 {
                Ok(Duration::from_secs_f64(secs))
            } else {
                Err(invalid(field, format!("{secs} is not a positive number of seconds")))
            }
        };
        let workers = WorkersConfig {
            concurrency: raw.worker_concurrency,
            lease: seconds("STORELINK_JOB_LEASE_SECS", raw.job_lease_secs)?,
            heartbeat: seconds("STORELINK_JOB_HEARTBEAT_SECS", raw.job_heartbeat_secs)?,
            slice: seconds("STORELINK_JOB_SLICE_SECS", raw.job_slice_secs)?,
            schedule_syncs: raw.schedule_syncs,
            schedule_compress: raw.schedule_compress,
            retention: Duration::from_secs(u64::from(raw.retention_days) * 86_400),
        };
        if workers.heartbeat * 2 > workers.lease {
            return Err(invalid(
                "STORELINK_JOB_HEARTBEAT_SECS",
                "must be at most half of STORELINK_JOB_LEASE_SECS".into(),
            ));
        }
        if !(1..=3600).contains(&workers.schedule_compress) {
            return Err(invalid("STORELINK_SCHEDULE_COMPRESS", "must be between 1 and 3600".into()));
        }
        if workers.concurrency == 0 || workers.concurrency > 256 {
            return Err(invalid("STORELINK_WORKER_CONCURRENCY", "must be between 1 and 256".into()));
        }
        if !(1..=3650).contains(&raw.retention_days) {
            return Err(invalid("STORELINK_RETENTION_DAYS", "must be between 1 and 3650".into()));
        }
        let slots = SlotsConfig {
            map: slot_map,
            retry_base: seconds("STORELINK_SLOT_RETRY_BASE_SECS", raw.slot_retry_base_secs)?,
            retry_cap: seconds("STORELINK_SLOT_RETRY_CAP_SECS", raw.slot_retry_cap_secs)?,
            retry_poll: seconds("STORELINK_SLOT_RETRY_POLL_SECS", raw.slot_retry_poll_secs)?,
            pending_stale_after: seconds("STORELINK_SLOT_PENDING_STALE_SECS", raw.slot_pending_stale_secs)?,
            resend_every: seconds("STORELINK_WEBHOOK_RESEND_SECS", raw.webhook_resend_secs)?,
        };
        let stores = StoresConfig {
            allow_insecure_urls: raw.allow_insecure_store_urls,
            request_timeout: seconds("STORELINK_OCC_REQUEST_TIMEOUT_SECS", raw.occ_request_timeout_secs)?,
        };
        let webhooks = WebhooksConfig {
            retry_schedule: storelink_partner_webhooks::DeliveryConfig::parse_schedule(&raw.webhook_retry_schedule)
                .map_err(|e| invalid("STORELINK_WEBHOOK_RETRY_SCHEDULE", e.to_string()))?,
            disable_after: raw.webhook_disable_after,
            timeout: seconds("STORELINK_WEBHOOK_TIMEOUT_SECS", raw.webhook_timeout_secs)?,
            secret_overlap: seconds("STORELINK_WEBHOOK_SECRET_OVERLAP_SECS", raw.webhook_secret_overlap_secs)?,
        };
        if webhooks.disable_after < 1 {
            return Err(invalid("STORELINK_WEBHOOK_DISABLE_AFTER", "must be at least 1".into()));
        }
        let metrics_listen = optional_addr(&raw.metrics_listen).map_err(|e| {
            invalid("STORELINK_METRICS_LISTEN", format!("{e} (expected host:port, e.g. 127.0.0.1:9464, or empty)"))
        })?;
        if metrics_listen == Some(listen) {
            return Err(invalid("STORELINK_METRICS_LISTEN", "must differ from STORELINK_LISTEN".into()));
        }
        let worker_metrics_listen =
            optional_addr(raw.worker_metrics_listen.as_deref().unwrap_or_default()).map_err(|e| {
                invalid(
                    "STORELINK_WORKER_METRICS_LISTEN",
                    format!("{e} (expected host:port, e.g. 0.0.0.0:9464, or empty)"),
                )
            })?;
        let trusted_proxies = TrustedProxies::parse(&raw.trusted_proxies)
            .map_err(|e| invalid("STORELINK_TRUSTED_PROXIES", e.to_string()))?;
        let otlp_traces_url = match raw.otlp_endpoint.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(endpoint) => {
                Some(otlp_traces_url(endpoint).map_err(|reason| invalid("STORELINK_OTLP_ENDPOINT", reason))?)
            }
            None => None,
        };
        let read_urls = read_urls(raw.read_database_url.as_deref().unwrap_or_default())
            .map_err(|reason| invalid("STORELINK_READ_DATABASE_URL", reason))?;
        let read_max_lag = parse_duration(&raw.read_max_lag).ok_or_else(|| {
            invalid("STORELINK_READ_MAX_LAG", "expected a duration up to an hour, e.g. 5s or 500ms".into())
        })?;
        Ok(Self {
            otlp_traces_url,
            log_format: raw.log_format,
            data_dir: raw.data_dir,
            database: DatabaseConfig {
                url: raw.database_url.map(SecretString::from),
                local_postgres_url: raw.local_postgres_url,
                postgres_bin_dir: raw.postgres_bin_dir,
                max_connections: raw.db_max_connections,
                read_urls,
                read_max_lag,
            },
            keys: KeysConfig {
                master_keys: raw.master_keys.map(SecretString::from),
                master_keys_file: raw.master_keys_file,
            },
            http: HttpConfig { listen, public_url, metrics_listen, worker_metrics_listen, trusted_proxies },
            stores,
            slots,
            workers,
            webhooks,
            limits: LimitsConfig {
                connect_per_client_per_minute: raw.connect_per_client_per_minute,
                connect_per_store_per_minute: raw.connect_per_store_per_minute,
                ops_logins_per_minute: raw.ops_logins_per_minute,
            },
        })
    }
}

/// The standbys' URLs, each a `postgres://` URL. The reason never quotes a URL (it may hold a password).
fn read_urls(list: &str) -> Result<Vec<SecretString>, String> {
    let mut urls = Vec::new();
    for (n, entry) in list.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            continue;
        }
        let parsed = Url::parse(entry).ok().filter(|u| matches!(u.scheme(), "postgres" | "postgresql"));
        if parsed
            .is_none_or(|u| u.host_str().is_none_or(str::is_empty) && !u.query().is_some_and(|q| q.contains("host=")))
        {
            return Err(format!("entry {} is not a postgres://USER@HOST:PORT/DATABASE URL", n + 1));
        }
        urls.push(SecretString::from(entry.to_owned()));
    }
    Ok(urls)
}

/// A `host:port`, or `None` for an empty setting.
fn optional_addr(text: &str) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
    match text.trim() {
        "" => Ok(None),
        text => text.parse().map(Some),
    }
}

/// The traces URL of an OTLP/HTTP endpoint: the base (`http://collector:4318`) with `/v1/traces`
/// appended, as OpenTelemetry's `OTEL_EXPORTER_OTLP_ENDPOINT` reads; a URL already ending in
/// `/v1/traces` is taken as it is.
fn otlp_traces_url(endpoint: &str) -> Result<Url, String> {
    let url = Url::parse(endpoint).map_err(|e| format!("{e} (expected e.g. http://otel-collector:4318)"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
        return Err("must be an http(s) URL without a query".into());
    }
    if url.path().ends_with("/v1/traces") {
        return Ok(url);
    }
    let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
    let mut traces = url;
    traces.set_path(&path);
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn serving_needs_an_https_public_url_outside_development() {
        let plain = Config::validate(RawConfig::default()).expect("config");
        let refused = plain.require_https_public_url().expect_err("http refused");
        assert!(refused.to_string().contains("STORELINK_PUBLIC_URL"), "{refused}");
        assert!(refused.to_string().contains("STORELINK_ALLOW_INSECURE_STORE_URLS"), "{refused}");
        let https = RawConfig { public_url: "https://storelink.example.com".into(), ..RawConfig::default() };
        assert!(Config::validate(https).expect("config").require_https_public_url().is_ok());
        let dev = RawConfig { allow_insecure_store_urls: true, ..RawConfig::default() };
        assert!(Config::validate(dev).expect("config").require_https_public_url().is_ok());
    }

    #[test]
    fn otlp_endpoint_is_a_base_url_and_off_by_default() {
        assert_eq!(Config::validate(RawConfig::default()).expect("config").otlp_traces_url, None);
        for (endpoint, traces) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("https://otel.example.com/ingest", "https://otel.example.com/ingest/v1/traces"),
            ("http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/traces"),
        ] {
            let raw = RawConfig { otlp_endpoint: Some(endpoint.into()), ..RawConfig::default() };
            let url = Config::validate(raw).expect(endpoint).otlp_traces_url.map(|u| u.to_string());
            assert_eq!(url.as_deref(), Some(traces), "{endpoint}");
        }
        let blank = RawConfig { otlp_endpoint: Some(" ".into()), ..RawConfig::default() };
        assert_eq!(Config::validate(blank).expect("blank is unset").otlp_traces_url, None);
        for bad in ["collector:4318", "ftp://collector", "http://collector:4318?x=1"] {
            let raw = RawConfig { otlp_endpoint: Some(bad.into()), ..RawConfig::default() };
            let error = Config::validate(raw).expect_err(bad).to_string();
            assert!(error.contains("STORELINK_OTLP_ENDPOINT"), "{bad}: {error}");
        }
    }

    #[test]
    fn insecure_switch_accepts_the_usual_spellings() {
        for (value, expected) in [("1", true), ("true", true), ("yes", true), ("0", false), ("false", false)] {
            let figment = Figment::from(Serialized::defaults(RawConfig::default()))
                .merge(Serialized::default("allow_insecure_store_urls", value));
            let raw: RawConfig = figment.extract().expect(value);
            assert_eq!(raw.allow_insecure_store_urls, expected, "{value}");
        }
        let figment = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Serialized::default("allow_insecure_store_urls", 1));
        assert!(figment.extract::<RawConfig>().expect("int").allow_insecure_store_urls);
        let figment = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Serialized::default("allow_insecure_store_urls", "maybe"));
        assert!(figment.extract::<RawConfig>().is_err());
    }

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(Config::validate(RawConfig::default()).is_ok());
        let bad = RawConfig { listen: "nope".into(), ..RawConfig::default() };
        let err = Config::validate(bad).expect_err("bad listen");
        assert!(err.to_string().contains("STORELINK_LISTEN"));
        let bad = RawConfig { retention_days: 0, ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("no retention").to_string().contains("STORELINK_RETENTION_DAYS"));
        let bad = RawConfig { webhook_ids: "orders=x".into(), ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("bad ids").to_string().contains("STORELINK_WEBHOOK_IDS"));
        let bad = RawConfig { slot_retry_poll_secs: 0.0, ..RawConfig::default() };
        assert!(Config::validate(bad).is_err());
        let bad = RawConfig { trusted_proxies: "10.0.0.0/8, proxy.internal".into(), ..RawConfig::default() };
        let err = Config::validate(bad).expect_err("bad proxy list").to_string();
        assert!(err.contains("STORELINK_TRUSTED_PROXIES") && err.contains("proxy.internal"), "{err}");
        let bad = RawConfig { metrics_listen: "0.0.0.0".into(), ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("no port").to_string().contains("STORELINK_METRICS_LISTEN"));
        let bad = RawConfig { metrics_listen: "127.0.0.1:8080".into(), ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("same port").to_string().contains("STORELINK_METRICS_LISTEN"));
        let off = Config::validate(RawConfig { metrics_listen: String::new(), ..RawConfig::default() }).expect("ok");
        assert_eq!(off.http.metrics_listen, None);
        let bad = RawConfig { worker_metrics_listen: Some("localhost".into()), ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("no port").to_string().contains("STORELINK_WORKER_METRICS_LISTEN"));
        let config = Config::validate(RawConfig::default()).expect("defaults");
        assert!(config.http.metrics_listen.is_some_and(|a| a.ip().is_loopback()), "loopback by default");
        assert_eq!(config.http.worker_metrics_listen, None, "workers serve no metrics by default");
        assert!(config.http.trusted_proxies.is_empty(), "no proxy is trusted by default");
    }

    #[test]
    fn read_replicas_are_a_list_of_postgres_urls_and_a_lag_bound() {
        let config = Config::validate(RawConfig::default()).expect("defaults");
        assert!(config.database.read_urls.is_empty(), "no standby by default");
        assert_eq!(config.database.read_max_lag, Duration::from_secs(5));
        let raw = RawConfig {
            read_database_url: Some(
                " postgres://app:hunter2@replica-1:5432/storelink, postgresql://replica-2/storelink ,".into(),
            ),
            read_max_lag: "750ms".into(),
            ..RawConfig::default()
        };
        let config = Config::validate(raw).expect("valid");
        assert_eq!(config.database.read_urls.len(), 2);
        assert_eq!(config.database.read_urls[1].expose_secret(), "postgresql://replica-2/storelink");
        assert_eq!(config.database.read_max_lag, Duration::from_millis(750));
        assert!(!format!("{config:?}").contains("hunter2"));
        for (lag, expected) in [("3", 3000), ("2.5s", 2500), ("1m", 60_000)] {
            let raw = RawConfig { read_max_lag: lag.into(), ..RawConfig::default() };
            assert_eq!(Config::validate(raw).expect(lag).database.read_max_lag, Duration::from_millis(expected));
        }
        for lag in ["0", "-1s", "soon", "2h"] {
            let raw = RawConfig { read_max_lag: lag.into(), ..RawConfig::default() };
            assert!(Config::validate(raw).expect_err(lag).to_string().contains("STORELINK_READ_MAX_LAG"));
        }
        let raw = RawConfig {
            read_database_url: Some("postgres://replica-1/db,mysql://secret@other/db".into()),
            ..RawConfig::default()
        };
        let err = Config::validate(raw).expect_err("not postgres").to_string();
        assert!(err.contains("STORELINK_READ_DATABASE_URL") && err.contains("entry 2"), "{err}");
        assert!(!err.contains("secret"), "the URL is not quoted: {err}");
        let figment =
            Figment::from(Serialized::defaults(RawConfig::default())).merge(Serialized::default("read_max_lag", 4));
        assert_eq!(figment.extract::<RawConfig>().expect("a number").read_max_lag, "4");
    }

    #[test]
    fn seconds_become_durations() {
        let raw =
            RawConfig { job_slice_secs: 0.25, retention_days: 2, webhook_timeout_secs: 1.5, ..RawConfig::default() };
        let config = Config::validate(raw).expect("valid");
        assert_eq!(config.workers.slice, Duration::from_millis(250));
        assert_eq!(config.workers.retention, Duration::from_secs(2 * 86_400));
        assert_eq!(config.webhooks.timeout, Duration::from_millis(1500));
        let bad = RawConfig { job_heartbeat_secs: 20.0, job_lease_secs: 30.0, ..RawConfig::default() };
        assert!(Config::validate(bad).expect_err("heartbeat").to_string().contains("STORELINK_JOB_HEARTBEAT_SECS"));
    }

    #[test]
    fn debug_never_prints_master_keys_or_the_database_url() {
        let raw = RawConfig {
            master_keys: Some("k1:c2VjcmV0".into()),
            database_url: Some("postgres://app:hunter2@db/storelink".into()),
            ..RawConfig::default()
        };
        assert!(!format!("{raw:?}").contains("c2VjcmV0"));
        let config = Config::validate(raw).expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("c2VjcmV0") && !printed.contains("hunter2"), "{printed}");
        assert_eq!(config.keys.master_keys.as_ref().map(ExposeSecret::expose_secret), Some("k1:c2VjcmV0"));
    }

    #[test]
    fn schedule_compress_divides_every_cadence_and_is_bounded() {
        let real = Config::validate(RawConfig::default()).expect("config").workers;
        let fast =
            Config::validate(RawConfig { schedule_compress: 60, ..RawConfig::default() }).expect("config").workers;
        let (real_schedules, fast_schedules) = (real.sync_schedules(), fast.sync_schedules());
        assert_eq!(real_schedules.len(), fast_schedules.len());
        for (r, f) in real_schedules.iter().zip(&fast_schedules) {
            assert_eq!((r.kind.as_str(), r.every / 60, r.full_every / 60), (f.kind.as_str(), f.every, f.full_every));
        }
        let orders = fast_schedules.iter().find(|s| s.kind == "orders").expect("orders schedule");
        assert_eq!(orders.every, Duration::from_secs(5));
        assert_eq!(real.maintenance_every(Duration::from_secs(10)), Duration::from_secs(10));
        assert_eq!(fast.maintenance_every(Duration::from_secs(10)), Duration::from_nanos(166_666_666));
        let off = Config::validate(RawConfig { schedule_syncs: false, ..RawConfig::default() }).expect("config");
        assert!(off.workers.sync_schedules().is_empty());
        for bad in [0, 3601] {
            let err = Config::validate(RawConfig { schedule_compress: bad, ..RawConfig::default() }).expect_err("bad");
            assert!(err.to_string().contains("STORELINK_SCHEDULE_COMPRESS"), "{err}");
        }
    }
}
