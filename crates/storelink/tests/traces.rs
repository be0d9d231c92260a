//! Traces an operator can follow across processes: a `storelink serve` and a `storelink worker`
//! process export spans (OTLP/HTTP protobuf, `STORELINK_OTLP_ENDPOINT`) to a receiver in this test.
//! A connect request (joining the caller's W3C trace), the initial sync jobs it enqueues (run by the
//! worker process, continued from the `jobs` row) and their OCC calls arrive as one trace, each span
//! tagged with its process's role; the spans still buffered at SIGTERM are flushed before exit, and
//! no span or span event carries the store's application key or a bearer token.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use common::{count, merchant_id_from, open_form_at, post_connect_at, wait_for};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use secrecy::ExposeSecret;
use storelink_occ_sim::{OccSim, Permissions, SimOptions};
use storelink_tenants::{NewPartner, partners};
use storelink_testkit::test_db;
use storelink_vault::MasterKeys;

/// One span as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    role: String,
    pid: i64,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    /// The span's attributes and its events' attributes, as text.
    attributes: HashMap<String, String>,
    event_values: Vec<String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).map(|kv| text(kv.value.as_ref()))
}

/// `POST /v1/traces`: an OTLP/HTTP collector that keeps what it is sent.
async fn accept(spans: web::Data<Spans>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
        let role = attribute(&resource, "storelink.role").unwrap_or_default();
        let pid = attribute(&resource, "process.pid").and_then(|p| p.parse().ok()).unwrap_or_default();
        assert_eq!(attribute(&resource, "service.name").as_deref(), Some("storelink"), "the service name");
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(Received {
                role: role.clone(),
                pid,
                name: span.name.clone(),
                kind: span.kind,
                trace_id: hex::encode(&span.trace_id),
                span_id: hex::encode(&span.span_id),
                parent_span_id: hex::encode(&span.parent_span_id),
                attributes: span.attributes.iter().map(|kv| (kv.key.clone(), text(kv.value.as_ref()))).collect(),
                event_values: span
                    .events
                    .iter()
                    .flat_map(|e| e.attributes.iter().map(|kv| text(kv.value.as_ref())).chain([e.name.clone()]))
                    .collect(),
            });
        }
    }
    spans.lock().expect("spans").extend(received);
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

/// The receiver on 127.0.0.1:0; returns its base URL and what it has received.
fn receiver() -> (String, Spans, actix_web::dev::ServerHandle) {
    let spans: Spans = Arc::default();
    let data = web::Data::new(spans.clone());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(32 * 1024 * 1024))
            .route("/v1/traces", web::post().to(accept))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), spans, handle)
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Process {
    /// SIGTERM (graceful shutdown, which flushes the exporter), then waits for the exit.
    async fn terminate(&mut self) -> bool {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().is_ok_and(|s| s.success());
        sent && wait_for(Duration::from_secs(30), || {
            let exited = self.0.try_wait().is_ok_and(|status| status.is_some());
            async move { exited }
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").to_string()
}

fn spawn(role: &str, db_url: &str, keys: &MasterKeys, env: &[(&str, String)]) -> Process {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storelink"));
    cmd.arg(role)
        .env("DATABASE_URL", db_url)
        .env("STORELINK_MASTER_KEYS", keys.to_config_string().expose_secret())
        .env("STORELINK_ALLOW_INSECURE_STORE_URLS", "1")
        // Logs at warn: the spans must not depend on the log level.
        .env("RUST_LOG", "warn")
        // The SDK's default export interval (5 s), so the spans of the last seconds arrive only by
        // the flush at shutdown.
        .env_remove("OTEL_BSP_SCHEDULE_DELAY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        cmd.env(name, value);
    }
    Process(cmd.spawn().expect("spawn storelink"))
}

#[tokio::test]
async fn a_connect_its_jobs_and_their_occ_calls_are_one_trace_across_processes() {
    let (collector, spans, collector_handle) = receiver();
    let db = test_db().await;
    let keys = MasterKeys::generate("test");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let uris = vec![common::REDIRECT_URI.to_owned()];
    let partner = partners::create(&db.pool, NewPartner { name: "P", redirect_uris: &uris }).await.expect("partner");

    let web_addr = free_addr();
    let otlp = ("STORELINK_OTLP_ENDPOINT", collector.clone());
    let web_env = [
        ("STORELINK_LISTEN", web_addr.clone()),
        ("STORELINK_PUBLIC_URL", format!("http://{web_addr}")),
        ("STORELINK_METRICS_LISTEN", free_addr()),
        otlp.clone(),
    ];
    let mut web = spawn("serve", &db.url, &keys, &web_env);
    let mut worker = spawn("worker", &db.url, &keys, &[otlp]);
    let base = format!("http://{web_addr}");
    let ready = wait_for(Duration::from_secs(30), || async {
        http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(ready, "the web process became ready");

    // The caller's trace: the connect request is its child.
    let sim = OccSim::spawn(SimOptions { products: 60, allow_http_callbacks: true, ..SimOptions::default() })
        .await
        .expect("sim");
    let key = sim.add_key(Permissions::all());
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let session = open_form_at(&http, &base, partner.partner_id).await;
    let fields = [("store_url", sim.base_url()), ("app_key", key.clone())];
    let response =
        post_connect_at(&http, &base, partner.partner_id, &session, &fields, &[("traceparent", &traceparent)]).await;
    assert_eq!(response.status(), 200, "connect");
    let merchant = merchant_id_from(&response);
    let synced = wait_for(Duration::from_secs(60), || async {
        count(&db.pool, "SELECT count(*) FROM sync_state WHERE last_success_at IS NOT NULL").await >= 4
    })
    .await;
    assert!(synced, "the four initial syncs finished");
    let kinds: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT kind FROM jobs WHERE merchant_id = '{merchant}' AND traceparent LIKE '00-{trace_id}-%' ORDER BY kind"
    ))
    .fetch_all(&db.pool)
    .await
    .expect("jobs");
    assert!(kinds.len() >= 4, "the initial sync jobs carry the connect's trace: {kinds:?}");

    // Graceful shutdown flushes what the batch exporter still holds.
    assert!(web.terminate().await, "the web process stopped on SIGTERM");
    assert!(worker.terminate().await, "the worker process stopped on SIGTERM");
    let (web_pid, worker_pid) = (i64::from(web.0.id()), i64::from(worker.0.id()));
    let received = spans.lock().expect("spans").clone();
    collector_handle.stop(true).await;

    let trace: Vec<&Received> = received.iter().filter(|s| s.trace_id == trace_id).collect();
    let of = |role: &str, name: &str| -> Vec<&Received> {
        trace.iter().copied().filter(|s| s.role == role && s.name == name).collect()
    };
    // The web process: the request span, the child of the caller's span, and its OCC calls (login).
    let requests: Vec<&Received> =
        trace.iter().copied().filter(|s| s.role == "serve" && s.kind == SpanKind::Server as i32).collect();
    assert_eq!(requests.len(), 1, "one server span for the connect: {trace:#?}");
    let request = requests[0];
    assert_eq!(request.name, "POST /connect");
    assert_eq!(request.parent_span_id, caller_span, "the incoming traceparent is the request span's parent");
    assert_eq!(request.attributes.get("http.route").map(String::as_str), Some("/connect"));
    assert_eq!(request.pid, web_pid, "the web process's spans name its pid");
    let web_calls = of("serve", "occ_call");
    assert!(!web_calls.is_empty(), "the connect's OCC calls are spans of its trace");
    assert!(web_calls.iter().all(|s| s.kind == SpanKind::Client as i32), "OCC calls are client spans");
    // The worker process: one job span per initial kind, and their OCC calls, in the same trace.
    let jobs = of("worker", "job");
    let job_kinds: HashSet<&str> = jobs.iter().filter_map(|s| s.attributes.get("kind").map(String::as_str)).collect();
    for kind in &kinds {
        assert!(job_kinds.contains(kind.as_str()), "the {kind} job's span continues the trace: {job_kinds:?}");
    }
    assert!(jobs.iter().all(|s| s.kind == SpanKind::Consumer as i32 && s.pid == worker_pid));
    let worker_calls = of("worker", "occ_call");
    assert!(
        worker_calls.iter().any(|s| s.attributes.get("endpoint").is_some_and(|e| e.contains("products"))),
        "the catalog job's OCC calls are spans of the trace"
    );
    // One tree: every span's parent is the caller's span or another span of the trace, and the jobs
    // hang under spans of the web process (the request that enqueued them).
    let ids: HashMap<&str, &Received> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    for span in &trace {
        assert!(
            span.parent_span_id == caller_span || ids.contains_key(span.parent_span_id.as_str()),
            "span {} ({}) hangs outside the trace",
            span.name,
            span.role
        );
    }
    for job in &jobs {
        assert_eq!(ids.get(job.parent_span_id.as_str()).map(|p| p.role.as_str()), Some("serve"), "job parent");
    }
    for call in &worker_calls {
        let parent = ids.get(call.parent_span_id.as_str()).expect("parent");
        assert_eq!(
            (parent.role.as_str(), parent.name.as_str()),
            ("worker", "job"),
            "a worker's OCC call is its job's child"
        );
    }

    // Secrets are never span attributes nor event fields, in any span received.
    for span in &received {
        for value in span.attributes.values().chain(&span.event_values) {
            assert!(!value.contains(&key), "the application key in span {}: {value}", span.name);
            assert!(!value.to_ascii_lowercase().contains("bearer "), "a bearer token in span {}: {value}", span.name);
        }
    }
}
