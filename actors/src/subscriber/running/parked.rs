//! Dead letters: the events subscribers gave up on, and an operator's retry or skip.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::Subscribers;
use crate::codec::decode_bytes;
use crate::event::Position;
use crate::subscriber::driver::Control;

/// An event a subscriber gave up on, with the last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub position: Position,
    pub event_id: Uuid,
    pub error: String,
}

/// Where one copy of a subscriber keeps its parked events: `name\0` for handlers, process
/// managers and a read model's first copy; `name\x01` + generation + `\0` for a rebuilt copy,
/// so a copy never sees (nor retries) what its predecessor parked.
pub(crate) fn parked_prefix(subscriber: &str, generation: u64) -> Vec<u8> {
    let mut prefix = subscriber.as_bytes().to_vec();
    if generation > 0 {
        prefix.push(1);
        prefix.extend_from_slice(&generation.to_be_bytes());
    }
    prefix.push(0);
    prefix
}

pub(crate) fn parked_key(prefix: &[u8], position: Position) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// Why a parked event could not be retried or skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParkedError {
    #[error("no subscriber is named {0:?}")]
    UnknownSubscriber(String),
    #[error("{subscriber} has no parked event at position {position}")]
    NotParked { subscriber: String, position: Position },
    #[error("the retry failed again: {0}")]
    FailedAgain(String),
    #[error("the subscriber is not running")]
    NotRunning,
    #[error("local storage failed: {0}")]
    Local(String),
}

impl Subscribers {
    pub(super) fn parked_count(&self, prefix: &[u8]) -> u64 {
        self.inner.parked.scan_prefix(prefix).count() as u64
    }

    /// The events a subscriber's serving copy parked, in position order.
    pub fn parked(&self, name: &str) -> Vec<ParkedEvent> {
        let Some(prefix) = self.parked_prefix_of(name) else { return Vec::new() };
        self.inner.parked.scan_prefix(prefix).filter_map(|entry| entry.ok()).filter_map(|(_, value)| decode_bytes(&value).ok()).collect()
    }

    /// Every parked event of every subscriber, by subscriber name.
    pub fn all_parked(&self) -> Vec<(String, ParkedEvent)> {
        let names: Vec<String> = self.inner.entries.lock().keys().cloned().collect();
        names.into_iter().flat_map(|name| self.parked(&name).into_iter().map(move |event| (name.clone(), event))).collect()
    }

    fn parked_prefix_of(&self, name: &str) -> Option<Vec<u8>> {
        self.inner.entries.lock().get(name).map(|entry| parked_prefix(name, entry.generation()))
    }

    /// Applies a parked event again, through the running subscriber, which checks first that
    /// it is still parked (two retries at once apply it once); on success it is no longer
    /// parked, on failure it stays parked with the new error.
    pub async fn retry_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        let control = self.inner.entries.lock().get(name).map(|e| e.control.clone());
        let control = control.ok_or_else(|| ParkedError::UnknownSubscriber(name.to_owned()))?;
        let (reply, answer) = oneshot::channel();
        control.send(Control::Retry { position, reply }).await.map_err(|_| ParkedError::NotRunning)?;
        answer.await.map_err(|_| ParkedError::NotRunning)?
    }

    /// Gives up on a parked event for good: it is no longer listed (its subscriber moved past it
    /// when it was parked).
    pub fn skip_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        let prefix = self.parked_prefix_of(name).ok_or_else(|| ParkedError::UnknownSubscriber(name.to_owned()))?;
        let removed = self.inner.parked.remove(parked_key(&prefix, position)).map_err(|e| ParkedError::Local(e.to_string()))?;
        if removed.is_none() {
            return Err(ParkedError::NotParked { subscriber: name.to_owned(), position });
        }
        tracing::info!(subscriber = name, position, "parked event skipped");
        Ok(())
    }

    /// Moves parked events from one copy's prefix to another's.
    pub(super) fn move_parked(&self, from: &[u8], to: &[u8]) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for entry in self.inner.parked.scan_prefix(from) {
            let (key, value) = entry?;
            // Only keys of the shape `prefix + position`; nothing else is a parked event.
            let Ok(position) = <[u8; 8]>::try_from(&key[from.len()..]) else { continue };
            batch.insert(parked_key(to, Position::from_be_bytes(position)), value);
            batch.remove(key);
        }
        self.inner.parked.apply_batch(batch)
    }

    /// Forgets what one copy of a subscriber parked (a replaced or abandoned copy).
    pub(super) fn forget_parked(&self, prefix: &[u8]) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for entry in self.inner.parked.scan_prefix(prefix) {
            batch.remove(entry?.0);
        }
        self.inner.parked.apply_batch(batch)
    }
}
