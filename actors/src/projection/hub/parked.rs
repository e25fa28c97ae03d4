//! Dead letters: the events subscribers gave up on, and an operator's retry or skip.

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::Projections;
use crate::codec::decode_bytes;
use crate::event::Position;
use crate::projection::driver::Control;

/// An event a subscriber gave up on, with the last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub position: Position,
    pub event_id: Uuid,
    pub error: String,
}

pub(crate) fn parked_key(subscriber: &str, position: Position) -> Vec<u8> {
    let mut key = subscriber.as_bytes().to_vec();
    key.push(0);
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

impl Projections {
    pub(super) fn parked_count(&self, name: &str) -> u64 {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        self.inner.parked.scan_prefix(prefix).count() as u64
    }

    /// The events a subscriber parked, in position order.
    pub fn parked(&self, name: &str) -> Vec<ParkedEvent> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        self.inner.parked.scan_prefix(prefix).filter_map(|entry| entry.ok()).filter_map(|(_, value)| decode_bytes(&value).ok()).collect()
    }

    /// Every parked event of every subscriber, by subscriber name.
    pub fn all_parked(&self) -> Vec<(String, ParkedEvent)> {
        let names: Vec<String> = self.inner.entries.lock().keys().cloned().collect();
        names.into_iter().flat_map(|name| self.parked(&name).into_iter().map(move |event| (name.clone(), event))).collect()
    }

    fn check_parked(&self, name: &str, position: Position) -> Result<mpsc::Sender<Control>, ParkedError> {
        let control = self
            .inner
            .entries
            .lock()
            .get(name)
            .map(|e| e.control.clone())
            .ok_or_else(|| ParkedError::UnknownSubscriber(name.to_owned()))?;
        let parked = self.inner.parked.contains_key(parked_key(name, position)).map_err(|e| ParkedError::Local(e.to_string()))?;
        if !parked {
            return Err(ParkedError::NotParked { subscriber: name.to_owned(), position });
        }
        Ok(control)
    }

    /// Applies a parked event again, through the running subscriber; on success it is no longer
    /// parked, on failure it stays parked with the new error.
    pub async fn retry_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        let control = self.check_parked(name, position)?;
        let (reply, answer) = oneshot::channel();
        control.send(Control::Retry { position, reply }).await.map_err(|_| ParkedError::NotRunning)?;
        answer.await.map_err(|_| ParkedError::NotRunning)?.map_err(ParkedError::FailedAgain)
    }

    /// Gives up on a parked event for good: it is no longer listed (its subscriber moved past it
    /// when it was parked).
    pub fn skip_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        self.check_parked(name, position)?;
        self.inner.parked.remove(parked_key(name, position)).map_err(|e| ParkedError::Local(e.to_string()))?;
        tracing::info!(subscriber = name, position, "parked event skipped");
        Ok(())
    }
}
