//! Assembling the web server and the background workers from validated configuration.
//! Roles: `serve` runs the HTTP server, `worker` the background loops, `demo` both.

use crate::config::Config;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::Server;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use sqlx::PgPool;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use storelink_connector::{Connector, Registry};
use storelink_connector_occ::OccConnector;
use storelink_core::{SyncKind, TraceContext};
use storelink_inbound::{Batcher, Inbound, InboundHandler, Lookups};
use storelink_jobs::{Handler, Job, JobContext, Outcome, Queue, Worker, WorkerConfig};
use storelink_netguard::{ClientIp, Policy, TrustedProxies};
use storelink_occ::{OccClient, OccConfig};
use storelink_onboarding::{ConnectLimits, Csrf, Limiters, Onboarding, Pipeline};
use storelink_partner_api::{PartnerApi, TokenIssuer, TokenThrottle};
use storelink_partner_webhooks::{DeliverHandler, DeliveryConfig, Endpoints};
use storelink_registrar::{Registrar, RegistrarConfig};
use storelink_sync::SyncHandler;
use storelink_token_cache::{TokenCache, TokenConfig};
use storelink_vault::{MasterKeys, Vault};
use tokio_util::sync::CancellationToken;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};

const STYLESHEET: &str = include_str!("../../../static/storelink.css");

/// Everything the roles share, built once per process.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    pub pool: PgPool,
    pub vault: Vault,
    /// The platforms served, by `merchants.platform` (OCC, plus any a test adds).
    pub connectors: Registry,
    pub registrar: Registrar,
    pub tokens: TokenCache,
    pub queue: Queue,
    pub policy: Policy,
    pub keys: MasterKeys,
}

impl Services {
    pub fn new(config: Config, pool: PgPool, keys: MasterKeys) -> anyhow::Result<Self> {
        Self::with_connectors(config, pool, keys, Vec::new())
    }

    /// The services with the OCC connector and `extra` ones (a platform's connector of the same name
    /// replaces OCC's).
    pub fn with_connectors(
        config: Config,
        pool: PgPool,
        keys: MasterKeys,
        extra: Vec<Arc<dyn Connector>>,
    ) -> anyhow::Result<Self> {
        let policy = Policy { allow_insecure: config.raw.allow_insecure_store_urls };
        if policy.allow_insecure {
            tracing::warn!(
                "STORELINK_ALLOW_INSECURE_STORE_URLS is set: store URLs may be plain http and private addresses (development only)"
            );
        }
        let occ = OccClient::new(
            OccConfig { request_timeout: Config::secs(config.raw.occ_request_timeout_secs), ..OccConfig::default() },
            policy,
        )?;
        let occ: Arc<dyn Connector> = Arc::new(OccConnector::new(occ, config.slot_map.clone()));
        let connectors = Registry::new(std::iter::once(occ).chain(extra));
        let vault = Vault::new(pool.clone(), keys.clone());
        let mut registrar_config = RegistrarConfig::new(config.public_url.clone());
        registrar_config.retry_base = Config::secs(config.raw.slot_retry_base_secs);
        registrar_config.retry_cap = Config::secs(config.raw.slot_retry_cap_secs);
        registrar_config.retry_poll = Config::secs(config.raw.slot_retry_poll_secs);
        registrar_config.pending_stale_after = Config::secs(config.raw.slot_pending_stale_secs);
        let registrar = Registrar::new(pool.clone(), connectors.clone(), vault.clone(), registrar_config);
        let tokens = TokenCache::new(pool.clone(), connectors.clone(), vault.clone(), TokenConfig::default());
        let queue = Queue::new(pool.clone()).with_any_status_kinds(&[storelink_partner_webhooks::KIND]);
        Ok(Self { config, pool, vault, connectors, registrar, tokens, queue, policy, keys })
    }

    /// The ops actions (revoke, rotate, ...) on these services.
    pub fn ops(&self) -> storelink_ops::Ops {
        storelink_ops::Ops {
            pool: self.pool.clone(),
            vault: self.vault.clone(),
            connectors: self.connectors.clone(),
            tokens: self.tokens.clone(),
            registrar: self.registrar.clone(),
            queue: self.queue.clone(),
        }
    }

    fn delivery_config(&self) -> DeliveryConfig {
        DeliveryConfig {
            retry_schedule: self.config.webhook_retry_schedule.clone(),
            disable_after: self.config.raw.webhook_disable_after,
            timeout: Config::secs(self.config.raw.webhook_timeout_secs),
            ..DeliveryConfig::new(self.policy)
        }
    }

    fn onboarding(&self) -> Onboarding {
        let secure = self.config.public_url.scheme() == "https";
        Onboarding {
            pipeline: Pipeline {
                pool: self.pool.clone(),
                connectors: self.connectors.clone(),
                default_platform: storelink_connector_occ::PLATFORM.to_owned(),
                vault: self.vault.clone(),
                registrar: self.registrar.clone(),
                queue: self.queue.clone(),
                tokens: self.tokens.clone(),
                policy: self.policy,
            },
            // Derived from the master keys so every web process accepts every other's forms.
            csrf: Csrf::new(self.keys.derive_key(b"storelink/csrf/v1"), secure),
            limiters: Limiters::new(ConnectLimits {
                per_client_per_minute: self.config.raw.connect_per_client_per_minute,
                per_store_per_minute: self.config.raw.connect_per_store_per_minute,
            }),
        }
    }
}

/// The HTTP server on an already bound listener (tests bind 127.0.0.1:0).
pub fn http_server(services: &Services, listener: TcpListener, demo: bool) -> std::io::Result<Server> {
    prometheus();
    let onboarding = web::Data::new(services.onboarding());
    let pool = web::Data::new(services.pool.clone());
    let proxies = web::Data::new(services.config.trusted_proxies.clone());
    let inbound = Inbound {
        pool: services.pool.clone(),
        vault: services.vault.clone(),
        connectors: services.connectors.clone(),
        queue: services.queue.clone(),
        lookups: Lookups::listening(services.pool.clone()),
        batcher: Batcher::start(services.pool.clone(), services.queue.clone()),
    };
    let issuer = services.config.public_url.as_str().trim_end_matches('/').to_owned();
    let partner_api = PartnerApi {
        pool: services.pool.clone(),
        tokens: TokenIssuer::new(services.keys.clone(), issuer),
        endpoints: Endpoints::new(services.pool.clone(), services.keys.clone(), services.policy),
        secret_overlap: Config::secs(services.config.raw.webhook_secret_overlap_secs),
        sessions: services.tokens.clone(),
        vault: services.vault.clone(),
        policy: services.policy,
        token_throttle: TokenThrottle::default(),
    };
    let secure = services.config.public_url.scheme() == "https";
    let console = storelink_ops_console::Console::new(
        services.pool.clone(),
        services.ops(),
        services.keys.derive_key(b"storelink/ops-csrf/v1"),
        secure,
        services.config.raw.ops_logins_per_minute,
    );
    let server = HttpServer::new(move || {
        let app = App::new()
            .wrap(security_headers())
            .wrap(from_fn(request_context))
            .wrap(TracingLogger::<RequestSpan>::new())
            // Outside the request span, so the span, the limiters and the audit trail all see it.
            .wrap(from_fn(resolve_client))
            .app_data(onboarding.clone())
            .app_data(pool.clone())
            .app_data(proxies.clone())
            .wrap(from_fn(count_requests))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/static/storelink.css", web::get().to(stylesheet))
            .configure(storelink_onboarding::configure)
            .configure(|cfg| inbound.clone().configure(cfg))
            .configure(|cfg| partner_api.clone().configure(cfg))
            .configure(|cfg| console.clone().configure(cfg));
        let app = if demo { app.configure(crate::demo::configure_routes) } else { app.configure(|_| {}) };
        app.default_service(web::to(not_found))
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The metrics port of `serve` (`STORELINK_METRICS_LISTEN`) and `worker`
/// (`STORELINK_WORKER_METRICS_LISTEN`): `/metrics`, `/healthz`, `/readyz` only. Also starts refreshing
/// the shared gauges, so a scrape only renders what is in memory.
pub fn metrics_server(services: &Services, listener: TcpListener) -> std::io::Result<Server> {
    prometheus();
    tokio::spawn(refresh_gauges(services.pool.clone()));
    let pool = web::Data::new(services.pool.clone());
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_page))
    })
    .workers(1)
    .listen(listener)?
    .run())
}

/// The background role until `shutdown`: slot registration retries, sync jobs and inbound webhook
/// processing. Returns once they stopped.
pub async fn run_workers(services: Services, shutdown: CancellationToken) {
    let retry = tokio::spawn(services.registrar.clone().run_retry_loop(services.tokens.clone(), shutdown.clone()));
    let stale = tokio::spawn(inbound_safety_net(services.clone(), shutdown.clone()));
    let retention = tokio::spawn(retention_loop(services.clone(), shutdown.clone()));
    let handler = JobHandlers {
        sync: SyncHandler::new(services.pool.clone(), services.tokens.clone(), services.queue.clone()),
        inbound: InboundHandler::new(services.pool.clone()),
        deliver: DeliverHandler::new(services.pool.clone(), services.keys.clone(), services.delivery_config())
            .expect("the webhook HTTP client builds"),
    };
    let kinds = JobHandlers::kinds();
    let config = WorkerConfig {
        concurrency: services.config.raw.worker_concurrency,
        lease: Config::secs(services.config.raw.job_lease_secs),
        heartbeat: Config::secs(services.config.raw.job_heartbeat_secs),
        slice: Config::secs(services.config.raw.job_slice_secs),
        schedules: if services.config.raw.schedule_syncs { storelink_sync::default_schedules() } else { Vec::new() },
        ..WorkerConfig::new(kinds)
    };
    let sync = Worker::new(services.queue.clone(), handler, config).run(shutdown.clone());
    if let Err(e) = sync.await {
        tracing::error!(error = %e, "sync workers stopped");
    }
    let _ = retry.await;
    let _ = stale.await;
    let _ = retention.await;
}

/// Hourly (first a minute after start), delete what is older than `STORELINK_RETENTION_DAYS`.
/// Several worker processes may sweep at once: each skips the rows another holds.
async fn retention_loop(services: Services, shutdown: CancellationToken) {
    let keep = Duration::from_secs(u64::from(services.config.raw.retention_days) * 86_400);
    let start = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(start, Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        // A first sweep over a large backlog takes a while: shutting down abandons it between (or
        // inside) batches, each its own statement, and the next start carries on.
        tokio::select! {
            _ = prune(&services.pool, keep) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One retention sweep: processed inbound deliveries, settled partner events (with their deliveries
/// and attempts) and change events older than `keep`. A table that fails is logged and does not stop
/// the others. Returns the rows deleted per table that succeeded.
pub async fn prune(pool: &PgPool, keep: Duration) -> Vec<(&'static str, u64)> {
    let results = [
        ("inbound_events", storelink_inbound::prune(pool, keep).await),
        ("partner_events", storelink_partner_webhooks::prune(pool, keep).await),
        ("change_events", storelink_sync::prune_changes(pool, keep).await),
    ];
    let mut deleted = Vec::new();
    for (table, result) in results {
        match result {
            Ok(rows) => {
                metrics::counter!("storelink_retention_deleted_rows_total", "table" => table).increment(rows);
                deleted.push((table, rows));
            }
            Err(e) => tracing::warn!(table, error = %e, "retention sweep failed for a table; retried in an hour"),
        }
    }
    tracing::info!(?deleted, "retention sweep done");
    deleted
}

/// Every few seconds, queue processing for stored inbound deliveries nobody woke a job for.
async fn inbound_safety_net(services: Services, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        match storelink_inbound::enqueue_stale(&services.pool, &services.queue, Duration::from_secs(5)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(merchants = n, "queued processing of stored inbound deliveries"),
            Err(e) => tracing::warn!(error = %e, "checking for unprocessed inbound deliveries failed"),
        }
    }
}

/// Routes each job kind to the crate that runs it.
struct JobHandlers {
    sync: SyncHandler,
    inbound: InboundHandler,
    deliver: DeliverHandler,
}

/// Which handler runs a job kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobRoute {
    Sync,
    Inbound,
    Deliver,
}

impl JobHandlers {
    /// The kinds the worker claims: exactly those `route` knows.
    fn kinds() -> Vec<String> {
        let mut kinds = storelink_sync::kinds();
        kinds.push(storelink_inbound::KIND.to_owned());
        kinds.push(storelink_partner_webhooks::KIND.to_owned());
        kinds
    }

    /// None for a kind no handler here runs: it is never guessed to be a sync.
    fn route(kind: &str) -> Option<JobRoute> {
        match kind {
            storelink_inbound::KIND => Some(JobRoute::Inbound),
            storelink_partner_webhooks::KIND => Some(JobRoute::Deliver),
            kind if kind.parse::<SyncKind>().is_ok() => Some(JobRoute::Sync),
            _ => None,
        }
    }
}

impl Handler for JobHandlers {
    async fn run(&self, job: Job, ctx: JobContext) -> Outcome {
        match Self::route(&job.kind) {
            Some(JobRoute::Inbound) => self.inbound.run(job, ctx).await,
            Some(JobRoute::Deliver) => self.deliver.run(job, ctx).await,
            Some(JobRoute::Sync) => self.sync.run(job, ctx).await,
            None => {
                tracing::error!(kind = %job.kind, "no handler for this job kind; dead-lettering the job");
                Outcome::Failed { error: unknown_kind(&job.kind), retryable: false }
            }
        }
    }
}

/// The `last_error` of a job whose kind no handler runs.
fn unknown_kind(kind: &str) -> String {
    format!("unknown job kind {kind:?}: no handler runs it")
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"))
}

/// The request span: tracing-actix-web's usual fields plus the `trace_id` of the W3C trace the request
/// joins (its `traceparent` header) or starts; jobs it enqueues and OCC calls it makes carry it on.
/// Built here rather than with `root_span!` so the route template (a walk over every route's pattern)
/// is matched once per request and shared with the metrics middleware (`Route`).
struct RequestSpan;

/// The matched route template of a request (`/v1/merchants/{merchant_id}`), or `unmatched`.
#[derive(Clone)]
struct Route(String);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let trace = TraceContext::continue_from(request.headers().get("traceparent").and_then(|v| v.to_str().ok()));
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        let user_agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
            http.client_ip = %client_ip(request).map(|ip| ip.to_string()).unwrap_or_default(),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            request_id = %request_id,
            trace_id = %trace.trace_id_hex(),
        );
        request.extensions_mut().insert(trace);
        request.extensions_mut().insert(Route(route));
        span
    }

    fn on_request_end<B: MessageBody>(span: tracing::Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The client address (`STORELINK_TRUSTED_PROXIES`, `storelink_netguard::TrustedProxies`), resolved
/// once per request into its extensions: onboarding's and the token endpoint's limiters, the ops
/// console's limiter and audit rows, and the request span all read it from there.
async fn resolve_client(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let resolved = match (req.app_data::<web::Data<TrustedProxies>>(), req.peer_addr()) {
        (Some(proxies), Some(peer)) => {
            let lines = |name| req.headers().get_all(name).filter_map(|v| v.to_str().ok());
            Some(proxies.client_ip(peer.ip(), lines("forwarded"), lines("x-forwarded-for")))
        }
        (None, Some(peer)) => Some(peer.ip()),
        (_, None) => None,
    };
    if let Some(ip) = resolved {
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.call(req).await
}

fn client_ip(request: &ServiceRequest) -> Option<std::net::IpAddr> {
    request.extensions().get::<ClientIp>().map(|c| c.0)
}

/// Runs the request in its trace context and echoes the request id tracing-actix-web assigned (so a
/// merchant's report can be found in logs) and the trace (`traceresponse`, Trace Context level 2).
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let trace = req.extensions().get::<TraceContext>().copied().unwrap_or_else(TraceContext::root);
    let mut response = trace.scope(next.call(req)).await?;
    let headers = response.headers_mut();
    if let Some(Ok(value)) = id.map(|id| HeaderValue::from_str(&id)) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&trace.header()) {
        headers.insert(HeaderName::from_static("traceresponse"), value);
    }
    Ok(response)
}

/// The process-wide Prometheus recorder (installed once, shared by every server in the process).
fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows this one only");
        }
        handle
    })
}

/// HTTP requests by route template (never the raw path, which holds ids), method and status.
async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    let response = next.call(req).await?;
    let route = response.request().extensions().get::<Route>().map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    let status = response.status().as_u16().to_string();
    metrics::counter!("storelink_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("storelink_http_request_seconds", "route" => route).record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// How often the shared gauges (queue depth, sync lag, pending deliveries) are read from the database.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// Reads the shared figures every `GAUGE_REFRESH` (first at once) into gauges, so scrapes cost the
/// database nothing however often they come. Every process serving metrics reports the same figures.
async fn refresh_gauges(pool: PgPool) {
    let mut tick = tokio::time::interval(GAUGE_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = read_gauges(&pool).await {
            tracing::warn!(error = %e, "refreshing the queue and sync gauges failed");
        }
    }
}

async fn read_gauges(pool: &PgPool) -> Result<(), sqlx::Error> {
    let depth: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, state, count(*) FROM jobs WHERE state IN ('queued', 'running', 'paused') GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    for (kind, state, n) in depth {
        metrics::gauge!("storelink_jobs", "kind" => kind, "state" => state).set(n as f64);
    }
    let lag: Vec<(String, f64)> = sqlx::query_as(
        "SELECT kind, COALESCE(max(EXTRACT(EPOCH FROM now() - last_success_at)), 0)::float8 FROM sync_state GROUP BY kind",
    )
    .fetch_all(pool)
    .await?;
    for (kind, seconds) in lag {
        metrics::gauge!("storelink_sync_lag_seconds", "kind" => kind).set(seconds);
    }
    // Held deliveries of disabled endpoints are not a delivery backlog.
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM partner_deliveries d JOIN partner_endpoints p USING (endpoint_id)
         WHERE d.state = 'pending' AND p.enabled",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("storelink_partner_deliveries_pending").set(pending as f64);
    Ok(())
}

/// Prometheus text format, from memory only (the gauges are refreshed on a timer).
async fn metrics_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(prometheus().render())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers within two seconds.
async fn readyz(pool: web::Data<PgPool>) -> HttpResponse {
    let check = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(pool.get_ref())).await;
    match check {
        Ok(Ok(_)) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        _ => HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "database unavailable"})),
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_claimed_kind_has_a_handler_and_an_unknown_one_has_none() {
        for kind in JobHandlers::kinds() {
            assert!(JobHandlers::route(&kind).is_some(), "the worker claims {kind:?} but nothing runs it");
        }
        assert_eq!(JobHandlers::route("catalog"), Some(JobRoute::Sync));
        assert_eq!(JobHandlers::route(storelink_inbound::KIND), Some(JobRoute::Inbound));
        assert_eq!(JobHandlers::route(storelink_partner_webhooks::KIND), Some(JobRoute::Deliver));
        for unknown in ["catalogue", "reindex", ""] {
            assert_eq!(JobHandlers::route(unknown), None, "{unknown:?} must not fall through to sync");
        }
        assert_eq!(unknown_kind("reindex"), "unknown job kind \"reindex\": no handler runs it");
    }
}
