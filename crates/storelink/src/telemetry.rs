//! Logging and traces. Logs: human-readable text by default, JSON lines with
//! `STORELINK_LOG_FORMAT=json`, always on standard error (standard output is for tables and JSON).
//! `RUST_LOG` sets levels; without it the long-running roles log at info and the one-shot commands
//! at warn. Colour only on a terminal. Secrets never reach a log line: they are `secrecy` types.
//!
//! Traces: every process carries OpenTelemetry span contexts (`tracing-opentelemetry`), so the W3C
//! trace of a request reaches its jobs and their OCC calls (`storelink_core::trace`) whatever the log
//! level. Spans are exported, OTLP/HTTP protobuf, only when `STORELINK_OTLP_ENDPOINT` is set, tagged
//! with the service name and the process's role; `Telemetry::shutdown` flushes them.

use std::io::IsTerminal;
use std::pin::Pin;
use std::time::Duration;

use crate::config::LogFormat;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};
use url::Url;

/// The `service.name` resource attribute of every exported span.
pub const SERVICE_NAME: &str = "storelink";
/// The resource attribute naming the process's role (`serve`, `worker`, `demo`, `cli`).
pub const ROLE_ATTRIBUTE: &str = "storelink.role";
/// The longest an export (one batch, or the flush at shutdown) may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read (it is a small protobuf message).
const ANSWER_LIMIT: usize = 64 * 1024;

/// How much a process logs when `RUST_LOG` is unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// serve, worker, demo: what they do as they do it.
    Info,
    /// One-shot commands: only what went wrong (`-v` raises it to info).
    Warn,
}

/// The process's tracer provider; `shutdown` exports the spans still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Flushes the exporter and stops it (graceful shutdown's last step). Spans still open are not
    /// sent. Without an endpoint there is nothing to do.
    pub async fn shutdown(self) {
        if !self.exporting {
            return;
        }
        let provider = self.provider;
        // The SDK blocks while its export thread sends, and that send runs on this runtime.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(EXPORT_TIMEOUT)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "exporting the last spans failed");
        }
    }
}

/// Logging for a process that exports no spans (the benchmarks, tools).
pub fn init(format: LogFormat, verbosity: Verbosity) -> Telemetry {
    init_for(format, verbosity, "cli", None)
}

/// Logging, and traces for `role`, exported to `otlp_traces_url` when one is configured. Call once,
/// on the runtime (exports are sent from it).
pub fn init_for(
    format: LogFormat,
    verbosity: Verbosity,
    role: &'static str,
    otlp_traces_url: Option<&Url>,
) -> Telemetry {
    let level = match verbosity {
        Verbosity::Info => "info",
        Verbosity::Warn => "warn",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,actix_server=warn")));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let logs = match format {
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let (provider, exporting) = tracer_provider(role, otlp_traces_url);
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(span_filter());
    let _ = Registry::default().with(logs.with_filter(filter)).with(traces).try_init();
    Telemetry { provider, exporting }
}

/// What the trace layer sees, whatever `RUST_LOG` says (so propagation never depends on the log
/// level): spans at info and above, and warnings and errors as span events. Never the exporter's
/// own HTTP stack.
fn span_filter() -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(|meta| {
        let internal =
            ["opentelemetry", "hyper", "h2", "reqwest", "rustls"].iter().any(|t| meta.target().starts_with(t));
        let wanted = if meta.is_span() { *meta.level() <= Level::INFO } else { *meta.level() <= Level::WARN };
        wanted && !internal
    })
}

/// The provider: always there (it gives spans their ids), with an OTLP exporter when configured.
fn tracer_provider(role: &'static str, otlp_traces_url: Option<&Url>) -> (SdkTracerProvider, bool) {
    let resource = Resource::builder()
        .with_service_name(SERVICE_NAME)
        .with_attributes([
            KeyValue::new(ROLE_ATTRIBUTE, role),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("process.pid", i64::from(std::process::id())),
        ])
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(url) = otlp_traces_url else { return (builder.build(), false) };
    let exporter = ExportClient::new().and_then(|client| {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.as_str())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())
    });
    match exporter {
        Ok(exporter) => (builder.with_batch_exporter(exporter).build(), true),
        Err(e) => {
            // Logging is not set up yet; say it where the logs go.
            eprintln!("storelink: traces are not exported (STORELINK_OTLP_ENDPOINT): {e}");
            (builder.build(), false)
        }
    }
}

/// The exporter's HTTP client: the workspace's reqwest (rustls), driven on the process's runtime;
/// the SDK's export thread waits for the answer.
#[derive(Debug)]
struct ExportClient {
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl ExportClient {
    fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http, runtime })
    }
}

impl HttpClient for ExportClient {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let sent = self.runtime.spawn(exchange(self.http.clone(), request));
        Box::pin(async move { sent.await? })
    }
}

async fn exchange(http: reqwest::Client, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    let (parts, body) = request.into_parts();
    let mut response =
        http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut answer = Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        *headers = std::mem::take(response.headers_mut());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > ANSWER_LIMIT {
            return Err(HttpError::from("the collector's answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(answer.body(Bytes::from(body))?)
}
