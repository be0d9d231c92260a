//! The web role: the HTTP server with its middleware (security headers, client address, request
//! span and trace context, request metrics) and the routes every crate contributes.

use super::Services;
use super::metrics::{count_requests, prometheus};
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
use std::time::Duration;
use storelink_core::trace;
use storelink_inbound::{Batcher, Inbound, Lookups};
use storelink_netguard::{ClientIp, TrustedProxies};
use storelink_partner_api::{PartnerApi, Sticky, TokenIssuer, TokenThrottle};
use storelink_partner_webhooks::Endpoints;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder, TracingLogger};

const STYLESHEET: &str = include_str!("../../../../static/storelink.css");

/// The HTTP server on an already bound listener (tests bind 127.0.0.1:0).
pub fn http_server(services: &Services, listener: TcpListener, demo: bool) -> std::io::Result<Server> {
    prometheus();
    let onboarding = web::Data::new(services.onboarding());
    let pool = web::Data::new(services.pool.clone());
    let proxies = web::Data::new(services.config.http.trusted_proxies.clone());
    let inbound = Inbound {
        pool: services.pool.clone(),
        vault: services.vault.clone(),
        connectors: services.connectors.clone(),
        queue: services.queue.clone(),
        lookups: Lookups::listening(services.pool.clone()),
        batcher: Batcher::start(services.pool.clone(), services.queue.clone()),
    };
    let issuer = services.config.http.public_url.as_str().trim_end_matches('/').to_owned();
    // Standbys are watched (replay position, lag) from the moment this process serves reads.
    services.reads.start();
    let partner_api = PartnerApi {
        pool: services.pool.clone(),
        reads: services.reads.clone(),
        sticky: Sticky::new(services.config.database.read_max_lag),
        tokens: TokenIssuer::new(services.keys.clone(), issuer),
        endpoints: Endpoints::new(services.pool.clone(), services.keys.clone(), services.policy),
        secret_overlap: services.config.webhooks.secret_overlap,
        sessions: services.tokens.clone(),
        vault: services.vault.clone(),
        policy: services.policy,
        token_throttle: TokenThrottle::default(),
    };
    let console = storelink_ops_console::Console::new(
        services.pool.clone(),
        services.ops(),
        services.keys.derive_key(b"storelink/ops-csrf/v1"),
        services.config.http.secure(),
        services.config.limits.ops_logins_per_minute,
    )
    .with_reads(services.reads.clone());
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

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"))
}

/// The request span: tracing-actix-web's usual fields plus the `trace_id` of the W3C trace the request
/// joins (its `traceparent` header, made the span's OpenTelemetry parent) or starts; jobs it enqueues
/// and OCC calls it makes carry it on (`storelink_core::trace`).
/// Built here rather than with `root_span!` so the route template (a walk over every route's pattern)
/// is matched once per request and shared with the metrics middleware (`Route`).
struct RequestSpan;

/// The matched route template of a request (`/v1/merchants/{merchant_id}`), or `unmatched`.
#[derive(Clone)]
pub(super) struct Route(pub String);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        let user_agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %format_args!("{} {route}", request.method()),
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
            trace_id = tracing::field::Empty,
        );
        let traceparent = request.headers().get(trace::TRACEPARENT).and_then(|v| v.to_str().ok());
        trace::continue_remote(&span, traceparent);
        if let Some(trace_id) = trace::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
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

/// Echoes the request id tracing-actix-web assigned (so a merchant's report can be found in logs)
/// and the request span's trace (`traceresponse`, Trace Context level 2). Runs inside the request
/// span (tracing-actix-web wraps the app), so the current span is the request's.
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let trace = trace::current_traceparent();
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if let Some(Ok(value)) = id.map(|id| HeaderValue::from_str(&id)) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(Ok(value)) = trace.map(|t| HeaderValue::from_str(&t)) {
        headers.insert(HeaderName::from_static("traceresponse"), value);
    }
    Ok(response)
}

pub(super) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers within two seconds.
pub(super) async fn readyz(pool: web::Data<PgPool>) -> HttpResponse {
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
