//! The `[payments]` section of the configuration, and the provider it asks for.

use std::sync::Arc;
use std::time::Duration;

use actors::{EventStore, StoreError};
use serde::{Deserialize, Serialize};

use super::gateway::{Bounded, PaymentGateway};
use super::simulated::{SimulatedGateway, TABLE};

/// Which payment provider charges the learners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The simulated provider (the only one so far): a real provider's test mode, with its
    /// books in the event store (see [`super::simulated`]).
    #[default]
    Simulated,
}

/// The `[payments]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    pub provider: ProviderKind,
    /// A call to the provider that takes longer counts as unanswered: its outcome is unknown and
    /// asked for again, by the same key, on the next attempt.
    pub call_timeout_ms: u64,
    /// How long the simulated provider takes to answer a charge paid with `tok_slow`.
    pub simulated_slow_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self { provider: ProviderKind::Simulated, call_timeout_ms: 10_000, simulated_slow_ms: 2_000 }
    }
}

/// The provider `config` asks for, its books in `store`, every call bounded by the timeout.
pub fn build_gateway(config: &PaymentsConfig, store: &dyn EventStore) -> Result<Arc<dyn PaymentGateway>, StoreError> {
    let timeout = Duration::from_millis(config.call_timeout_ms.max(1));
    Ok(match config.provider {
        ProviderKind::Simulated => {
            let simulated = SimulatedGateway::new(store.records(TABLE)?, Duration::from_millis(config.simulated_slow_ms));
            Arc::new(Bounded::new(simulated, timeout))
        }
    })
}
