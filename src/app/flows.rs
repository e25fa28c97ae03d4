//! An index of the log by correlation id, so `flow` reads one request's causal chain without
//! scanning the whole log. A read model like the others: rebuilt from the log when needed.

use actors::{SubscriberError, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent};
use uuid::Uuid;

use super::{App, AppError};

/// The name the index is registered under.
pub const NAME: &str = "flows";

/// `correlation id | position` -> nothing.
#[derive(Default)]
pub struct FlowIndex;

fn key(correlation_id: Uuid, position: u64) -> Vec<u8> {
    let mut key = correlation_id.as_bytes().to_vec();
    key.extend_from_slice(&position.to_be_bytes());
    key
}

impl ReadModel for FlowIndex {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        tx.insert(key(event.correlation_id, event.position), Vec::new())
    }
}

/// The positions of one flow, in order.
pub fn positions(handle: &ReadModelHandle, correlation_id: Uuid) -> Result<Vec<u64>, sled::Error> {
    handle
        .tree()
        .scan_prefix(correlation_id.as_bytes())
        .map(|entry| entry.map(|(key, _)| u64::from_be_bytes(key[16..24].try_into().unwrap_or_default())))
        .collect()
}

impl App {
    /// Every event one request caused, directly or through reactions, in position order. Read
    /// from the store after the index has caught up with the head, so it is never stale.
    pub async fn flow(&self, correlation_id: Uuid) -> Result<Vec<RecordedEvent>, AppError> {
        let head = self.head().await?;
        let projections = self.runtime.subscribers();
        let _ = projections.wait_for(head, std::time::Duration::from_secs(5), actors::WaitFor::One(NAME)).await;
        let handle = self.runtime.read_model(NAME).ok_or_else(|| AppError::internal("the flow index is missing", NAME))?;
        let positions = positions(&handle, correlation_id).map_err(|e| AppError::internal("could not read the flow index", e))?;
        let mut events = Vec::with_capacity(positions.len());
        for position in positions {
            let page = self.store().read_all(position, 1, None).await.map_err(|e| AppError::internal("could not read the log", e))?;
            events.extend(page.into_iter().filter(|e| e.position == position));
        }
        Ok(events)
    }
}
