//! The connectors a process serves, by `merchants.platform`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Connector;

#[derive(Debug, thiserror::Error)]
#[error("no connector serves the platform {0:?}")]
pub struct UnknownPlatform(pub String);

#[derive(Clone, Default)]
pub struct Registry {
    connectors: Arc<BTreeMap<&'static str, Arc<dyn Connector>>>,
}

impl Registry {
    /// A registry of these connectors; a later one replaces an earlier one of the same platform.
    pub fn new(connectors: impl IntoIterator<Item = Arc<dyn Connector>>) -> Self {
        let connectors = connectors.into_iter().map(|c| (c.platform(), c)).collect();
        Self { connectors: Arc::new(connectors) }
    }

    /// This registry plus `connector` (replacing one of the same platform).
    pub fn with(self, connector: impl Connector) -> Self {
        let mut connectors = (*self.connectors).clone();
        connectors.insert(connector.platform(), Arc::new(connector));
        Self { connectors: Arc::new(connectors) }
    }

    pub fn get(&self, platform: &str) -> Result<&Arc<dyn Connector>, UnknownPlatform> {
        self.connectors.get(platform).ok_or_else(|| UnknownPlatform(platform.to_owned()))
    }

    pub fn platforms(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.connectors.keys().copied()
    }
}
