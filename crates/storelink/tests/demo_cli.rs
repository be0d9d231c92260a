//! A first user's path: `storelink demo` in an empty folder, with no `DATABASE_URL` and nothing
//! answering at the local Postgres address (a setting, pointed here at an unused port), starts its
//! private cluster under `./.storelink/`; the CLI in the same folder then finds that database and the
//! demo's master-key file with nothing set, logs only to stderr, and keeps stdout for tables and JSON.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A folder for one test: under the target dir, whose parents the `postgres` user can traverse (the
/// embedded cluster runs as that user when the tests run as root).
fn empty_folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("folder");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `storelink ARGS` in `dir` with nothing set but the unused local Postgres address (and, for the demo,
/// its port): what a user who cloned the repository has.
fn storelink(dir: &Path, local_pg: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_storelink"));
    cmd.current_dir(dir).args(args).env("STORELINK_LOCAL_POSTGRES_URL", local_pg).env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name == "DATABASE_URL" || name.starts_with("STORELINK_") && name != "STORELINK_LOCAL_POSTGRES_URL" {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs a one-shot command; checks it succeeded and that stderr has no colour codes.
fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    assert!(!stderr.contains('\x1b'), "colour codes on stderr: {stderr:?}");
    out
}

struct Demo {
    child: Child,
    lines: Vec<String>,
}

impl Demo {
    fn value(&self, label: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {label:?} in the demo's output: {:#?}", self.lines))
    }

    /// Ctrl-C, as a user stops it.
    fn stop(mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let status = self.child.wait().expect("demo exits");
        assert!(status.success(), "demo exited with {status}");
    }
}

/// Starts the demo and reads its greeting (up to "Press Ctrl-C to stop").
fn start_demo(dir: &Path, local_pg: &str, port: u16) -> Demo {
    let mut cmd = storelink(dir, local_pg, &["demo", "--products", "30"]);
    cmd.env("STORELINK_LISTEN", format!("127.0.0.1:{port}"))
        .env("STORELINK_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STORELINK_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads all the demo prints, to the end: a closed pipe would fail its next print.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        let done = line.contains("Press Ctrl-C to stop");
        lines.push(line);
        if done {
            return Demo { child, lines };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the demo did not start: {lines:#?}");
}

#[tokio::test]
async fn the_demo_starts_its_own_cluster_and_the_cli_works_beside_it() {
    let dir = empty_folder("demo");
    let local_pg = format!("postgres://postgres@127.0.0.1:{}", free_port());
    let port = free_port();
    let demo = start_demo(&dir, &local_pg, port);
    let base = format!("http://127.0.0.1:{port}");

    assert!(
        demo.lines.iter().any(|l| l.contains("embedded Postgres cluster in")),
        "the demo says it uses its own cluster: {:#?}",
        demo.lines
    );
    assert!(dir.join(".storelink/pgdata/PG_VERSION").exists(), "cluster under ./.storelink/");
    assert!(dir.join(".storelink/master-keys").exists(), "demo key file");
    let metrics = reqwest::get(demo.value("Metrics:")).await.expect("metrics");
    assert_eq!(metrics.status(), 200, "the demo serves metrics on their own port");

    // One-shot commands that read no secret: no master key asked for, which database said on stderr.
    let status = run(storelink(&dir, &local_pg, &["sync", "status", "--json"]), None);
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("database: embedded Postgres cluster in"), "{stderr}");
    assert!(!stderr.contains("master keys"), "sync status reads no secret: {stderr}");
    assert!(!stderr.contains("INFO"), "one-shot commands log at warn: {stderr}");
    let rows: serde_json::Value = serde_json::from_slice(&status.stdout).expect("stdout is JSON alone");
    assert!(rows.is_array());
    let audit = run(storelink(&dir, &local_pg, &["tenants", "audit"]), None);
    serde_json::from_slice::<serde_json::Value>(&audit.stdout).expect("audit JSON");

    let partner = run(
        storelink(
            &dir,
            &local_pg,
            &["partners", "create", "--name", "Acme", "--redirect-uri", "https://acme.example/cb"],
        ),
        None,
    );
    let partner: serde_json::Value = serde_json::from_slice(&partner.stdout).expect("partner JSON");
    assert!(partner["client_secret"].as_str().is_some_and(|s| !s.is_empty()));
    run(
        storelink(&dir, &local_pg, &["ops-users", "add", "--username", "viewer1", "--role", "viewer"]),
        Some("a long enough password\n"),
    );

    // The ops console, with the admin the demo created and printed once.
    let ops_line = demo.value("Ops console:");
    assert!(ops_line.starts_with(&format!("{base}/ops")), "{ops_line}");
    let credentials = demo.value("user admin, password");
    let password = credentials.split_whitespace().next().expect("password").to_owned();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http");
    let login = http
        .post(format!("{base}/ops/login"))
        .form(&[("username", "admin"), ("password", password.as_str())])
        .send()
        .await
        .expect("ops login");
    assert_eq!(login.status(), 303, "the printed ops password signs in");

    // A merchant connects through the link the demo printed, with the simulator's store and key.
    let open = url::Url::parse(&demo.value("Open:")).expect("connect link");
    let form = http.get(open.clone()).send().await.expect("GET /connect");
    assert_eq!(form.status(), 200);
    let cookie = form.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("c").to_owned();
    let token = storelink_testkit::extract_csrf_token(&form.text().await.expect("form")).expect("csrf token");
    let mut fields: Vec<(String, String)> = open.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    fields.push(("csrf_token".into(), token));
    fields.push(("store_url".into(), demo.value("Store URL:")));
    fields.push(("app_key".into(), demo.value("Application key:")));
    let connected =
        http.post(format!("{base}/connect")).header("cookie", cookie).form(&fields).send().await.expect("connect");
    assert_eq!(connected.status(), 200, "the connect summary page");
    let link = connected.headers()["link"].to_str().expect("link");
    let target = link.strip_prefix('<').and_then(|l| l.split_once('>')).map(|(t, _)| t).expect("Link target");
    let location = url::Url::parse(target).expect("url");
    let merchant =
        location.query_pairs().find(|(k, _)| k == "merchant_id").map(|(_, v)| v.into_owned()).expect("merchant_id");

    // A SAP merchant connects through the demo's SAP link, to its SAP simulator, with OAuth.
    let open = url::Url::parse(&demo.value("Open for SAP:")).expect("SAP connect link");
    assert!(open.query_pairs().any(|(k, v)| k == "platform" && v == "sap"), "{open}");
    let form = http.get(open.clone()).send().await.expect("GET /connect");
    let cookie = form.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("c").to_owned();
    let page = form.text().await.expect("form");
    assert!(page.contains("storelink-integration-objects.impex"), "the SAP form links its ImpEx");
    let token = storelink_testkit::extract_csrf_token(&page).expect("csrf token");
    let mut fields: Vec<(String, String)> = open.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let secret = demo.value("SAP secret:").split_whitespace().next().expect("secret").to_owned();
    fields.extend([
        ("csrf_token".into(), token),
        ("store_url".into(), demo.value("API base URL:")),
        ("sap_auth".into(), "oauth".into()),
        ("sap_client_id".into(), demo.value("OAuth client:")),
        ("sap_client_secret".into(), secret),
    ]);
    let connected =
        http.post(format!("{base}/connect")).header("cookie", cookie).form(&fields).send().await.expect("connect");
    assert_eq!(connected.status(), 200, "the SAP connect summary page");

    // Commands that open secrets find the demo's key file, and say so.
    let synced =
        run(storelink(&dir, &local_pg, &["sync", "run", "--merchant", &merchant, "--kind", "catalog", "--wait"]), None);
    let stderr = String::from_utf8_lossy(&synced.stderr);
    assert!(stderr.contains("master keys: .storelink/master-keys"), "{stderr}");
    // Whichever process runs the job (this one or the demo's worker) may call the loopback store.
    assert!(stderr.contains("development mode (the demo's data)"), "{stderr}");
    run(storelink(&dir, &local_pg, &["tenants", "pause", &merchant]), None);
    let audit = run(storelink(&dir, &local_pg, &["tenants", "audit", "--merchant", &merchant]), None);
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("audit JSON");
    assert!(audit.to_string().contains("pause"), "the pause is audited: {audit}");

    demo.stop();
    assert!(!dir.join(".storelink/pgdata/postmaster.pid").exists(), "the demo stops the cluster it started");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_database_or_postgres_binaries_the_demo_says_what_to_install() {
    let dir = empty_folder("nopg");
    let empty_bin = dir.join("no-postgres-here");
    std::fs::create_dir_all(&empty_bin).expect("bin dir");
    let local_pg = format!("postgres://postgres@127.0.0.1:{}", free_port());
    let mut cmd = storelink(&dir, &local_pg, &["demo"]);
    cmd.env("STORELINK_POSTGRES_BIN_DIR", &empty_bin).env("STORELINK_LISTEN", format!("127.0.0.1:{}", free_port()));
    let out = cmd.stdin(Stdio::null()).output().expect("run demo");
    assert!(!out.status.success(), "the demo cannot start without a database");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in
        ["apt install postgresql", "dnf install postgresql-server", "brew install postgresql", "DATABASE_URL"]
    {
        assert!(stderr.contains(expected), "{expected:?} missing from: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
