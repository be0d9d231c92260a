//! Logs captured during a connect contain neither the application key nor the access token.
//! Its own test binary, so the global log capture sees only this test.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn connect_logs_never_contain_the_key_or_token() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt().with_env_filter("trace").with_writer(move || writer.clone()).json().init();

    let app = common::spawn_app().await;
    let response = app.connect().await;
    assert_eq!(response.status(), 200);
    // A rejected key is logged about too; it must not be logged itself.
    let rejected = "eyJhbGciOiJSUzI1NiJ9.cmVqZWN0ZWQ.c2lnbmF0dXJl";
    assert_eq!(app.connect_with(&app.sim.base_url(), rejected).await.status(), 422);
    let tokens = app.sim.issued_tokens();
    assert!(!tokens.is_empty());
    let key = app.key.clone();
    app.stop().await;

    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf8");
    assert!(logs.contains("merchant connected"), "the capture works: {} bytes", logs.len());
    assert!(logs.len() > 10_000, "trace-level logs were captured");
    assert!(!logs.contains(&key), "application key in logs");
    assert!(!logs.contains(rejected), "rejected key in logs");
    for token in tokens {
        assert!(!logs.contains(&token), "access token in logs");
    }
}
