//! Injected faults: per route (method + exact path or `prefix*`), with a probability and a count.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FaultKind {
    /// Answer with this status and an SAP OData error body.
    Status(u16),
    /// 429 with `Retry-After`.
    RateLimited { retry_after_secs: u64 },
    /// Wait, then answer normally.
    Delay(Duration),
    /// Close the connection without a valid response.
    Drop,
    /// 200 with a body of `bytes` bytes (`{"d":{"results":[` and filler, never valid JSON), streamed
    /// chunked and generated as it is sent.
    HugeBody { bytes: u64 },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub method: Option<String>,
    pub path: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub probability: f64,
    #[serde(default)]
    pub times: Option<u32>,
}

fn one() -> f64 {
    1.0
}

impl Fault {
    pub fn new(method: Option<&str>, path: &str, kind: FaultKind) -> Self {
        Self { method: method.map(str::to_ascii_uppercase), path: path.to_owned(), kind, probability: 1.0, times: None }
    }

    pub fn probability(self, p: f64) -> Self {
        Self { probability: p.clamp(0.0, 1.0), ..self }
    }

    pub fn times(self, n: u32) -> Self {
        Self { times: Some(n), ..self }
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        };
        method_ok && path_ok
    }
}
