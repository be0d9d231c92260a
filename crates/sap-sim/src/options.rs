//! What a simulated SAP Commerce store looks like and how it authenticates inbound calls.

use std::time::Duration;

/// The authentication type of the objects' inbound channel configuration (`$authType` in the ImpEx):
/// a call using the other kind is refused with 401. `Both` is for the demo and manual runs only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InboundAuth {
    Basic,
    OAuth,
    Both,
}

impl InboundAuth {
    pub fn basic(self) -> bool {
        matches!(self, Self::Basic | Self::Both)
    }

    pub fn oauth(self) -> bool {
        matches!(self, Self::OAuth | Self::Both)
    }
}

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub products: usize,
    pub variants_per_product: usize,
    pub delivery_modes: usize,
    pub orders: usize,
    pub seed: u64,
    /// `expires_in` of access tokens (an OAuth client's `accessTokenValiditySeconds`; the ImpEx sets 3600).
    pub token_ttl: Duration,
    /// Added before every answer (not to webhook deliveries).
    pub latency: Duration,
    pub inbound_auth: InboundAuth,
    /// Deliver webhooks to destinations outside loopback. Off: such a delivery is recorded as refused
    /// (a test tool must not call out of the machine).
    pub allow_remote_destinations: bool,
    /// The CCv2 region and instance id in the `ce-source` header of deliveries.
    pub region: String,
    pub instance_id: String,
    /// Integration objects this store lacks (the merchant did not import them): 404 on their services.
    pub hidden_objects: Vec<String>,
    /// Attributes this store's objects lack, as `Object:Item:attribute` (an import that was edited):
    /// absent from the EDMX and from every answer.
    pub hidden_attributes: Vec<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            products: 25,
            variants_per_product: 2,
            delivery_modes: 3,
            orders: 5,
            seed: 42,
            token_ttl: Duration::from_secs(3600),
            latency: Duration::ZERO,
            inbound_auth: InboundAuth::OAuth,
            allow_remote_destinations: false,
            region: "eu10".to_owned(),
            instance_id: "sapsim".to_owned(),
            hidden_objects: Vec::new(),
            hidden_attributes: Vec::new(),
        }
    }
}
