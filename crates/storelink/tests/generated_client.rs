//! "A real client works": the OpenAPI document served by a running server passes
//! `openapi-spec-validator`, and a client generated from it by `openapi-python-client` (neither
//! written here) lists products with cursors, reads an order with its lines, places an order and gets
//! a problem+json error as the typed `Problem`, against the server and the OCC simulator behind it.
//! The Python tools are required: without them the test fails, saying what to install (`.ci/run`
//! installs the pinned versions).

mod common;

use std::process::Command;

use common::{merchant_id_from, spawn_app};

const INSTALL: &str = "python3 -m pip install openapi-spec-validator==0.9.0 openapi-python-client==0.29.1";

fn require_tools() {
    let validator = Command::new("python3").args(["-c", "import openapi_spec_validator"]).output();
    let generator = Command::new("openapi-python-client").arg("--version").output();
    let present = |o: std::io::Result<std::process::Output>| o.is_ok_and(|o| o.status.success());
    assert!(
        present(validator) && present(generator),
        "openapi-spec-validator and openapi-python-client are needed for this test: {INSTALL}"
    );
}

#[tokio::test]
async fn a_client_generated_from_the_document_works_against_the_running_server() {
    require_tools();
    let app = spawn_app().await;
    let merchant = merchant_id_from(&app.connect().await);
    app.wait_synced().await;
    let bearer = app.bearer().await;
    let sku = app.sku_in_stock().await;

    let workdir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("client-{merchant}"));
    std::fs::create_dir_all(&workdir).expect("workdir");
    let document = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.expect("get");
    assert_eq!(document.status(), 200);
    let spec = workdir.join("openapi.json");
    std::fs::write(&spec, document.bytes().await.expect("body")).expect("write");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/generated_client/exercise.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&spec)
        .arg(&workdir)
        .args([app.base.as_str(), bearer.as_str(), merchant.as_str(), sku.as_str()])
        .output()
        .await
        .expect("run python3");
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the generated client failed:\n{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("summary");
    assert!(summary["pages"].as_i64().is_some_and(|p| p > 1), "{summary}");
    assert!(app.sim.order(summary["placed"].as_str().expect("placed")).is_some(), "the order reached the store");
    std::fs::remove_dir_all(&workdir).ok();
    app.stop().await;
}
