//! Logging: human-readable text by default, JSON lines with `STORELINK_LOG_FORMAT=json`, always on
//! standard error (standard output is for tables and JSON). `RUST_LOG` sets levels; without it the
//! long-running roles log at info and the one-shot commands at warn. Colour only on a terminal.
//! Secrets never reach a log line: they are `secrecy` types throughout.

use std::io::IsTerminal;

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// How much a process logs when `RUST_LOG` is unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// serve, worker, demo: what they do as they do it.
    Info,
    /// One-shot commands: only what went wrong (`-v` raises it to info).
    Warn,
}

pub fn init(format: LogFormat, verbosity: Verbosity) {
    let level = match verbosity {
        Verbosity::Info => "info",
        Verbosity::Warn => "warn",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,actix_server=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
