//! Metrics: the process-wide Prometheus recorder, the request counter middleware, the shared gauges
//! (read on a timer through the functions of the crates that own the tables) and the metrics port.

use super::Services;
use super::http::{Route, healthz, readyz};
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use sqlx::PgPool;
use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Duration;
use storelink_jobs::Queue;

/// The metrics port of `serve` (`STORELINK_METRICS_LISTEN`) and `worker`
/// (`STORELINK_WORKER_METRICS_LISTEN`): `/metrics`, `/healthz`, `/readyz` only. Also starts refreshing
/// the shared gauges, so a scrape only renders what is in memory.
pub fn metrics_server(services: &Services, listener: TcpListener) -> std::io::Result<Server> {
    prometheus();
    tokio::spawn(refresh_gauges(services.pool.clone(), services.queue.clone()));
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

/// The process-wide Prometheus recorder (installed once, shared by every server in the process).
pub(super) fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
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
pub(super) async fn count_requests(
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
/// Each figure comes from the crate that owns its table.
async fn refresh_gauges(pool: PgPool, queue: Queue) {
    let mut tick = tokio::time::interval(GAUGE_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut job_kinds = HashSet::new();
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = read_gauges(&pool, &queue, &mut job_kinds).await {
            tracing::warn!(error = %e, "refreshing the queue and sync gauges failed");
        }
    }
}

/// `job_kinds`: the kinds reported so far, so a kind whose jobs are all gone reads 0 again.
async fn read_gauges(pool: &PgPool, queue: &Queue, job_kinds: &mut HashSet<String>) -> anyhow::Result<()> {
    let counts = queue.counts().await?;
    let mut gone = std::mem::take(job_kinds);
    for c in counts {
        gone.remove(&c.kind);
        set_job_gauges(&c.kind, [c.queued, c.running, c.paused]);
        job_kinds.insert(c.kind);
    }
    for kind in gone {
        set_job_gauges(&kind, [0; 3]);
        job_kinds.insert(kind);
    }
    for (kind, seconds) in storelink_sync::lag_by_kind(pool).await? {
        metrics::gauge!("storelink_sync_lag_seconds", "kind" => kind).set(seconds);
    }
    let pending = storelink_partner_webhooks::pending_deliveries(pool).await?;
    metrics::gauge!("storelink_partner_deliveries_pending").set(pending as f64);
    Ok(())
}

/// `storelink_jobs{kind, state}` for the queued, running and paused jobs of `kind`.
fn set_job_gauges(kind: &str, [queued, running, paused]: [i64; 3]) {
    for (state, n) in [("queued", queued), ("running", running), ("paused", paused)] {
        metrics::gauge!("storelink_jobs", "kind" => kind.to_owned(), "state" => state).set(n as f64);
    }
}

/// Prometheus text format, from memory only (the gauges are refreshed on a timer).
async fn metrics_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(prometheus().render())
}
