//! The one switch that relaxes the guard: development against a local OCC simulator.

/// What outbound addresses are allowed. `Default` is strict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Dev only (`STORELINK_ALLOW_INSECURE_STORE_URLS=1`): allow plain http, IP literals, any port and
    /// loopback/private addresses, so a store URL can be `http://127.0.0.1:PORT`.
    pub allow_insecure: bool,
}

impl Policy {
    pub const fn strict() -> Self {
        Self { allow_insecure: false }
    }

    pub const fn insecure() -> Self {
        Self { allow_insecure: true }
    }

    /// Reads `STORELINK_ALLOW_INSECURE_STORE_URLS` (`1`, `true`, `yes` switch it on).
    pub fn from_env() -> Self {
        let value = std::env::var("STORELINK_ALLOW_INSECURE_STORE_URLS").unwrap_or_default();
        Self { allow_insecure: matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes") }
    }
}
