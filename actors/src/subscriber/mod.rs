//! Subscribers of the log: read models, process managers and side-effect handlers, each driven
//! from its own checkpoint: catch up from the store, then follow live, never a gap or a duplicate.

mod delivery;
mod placement;
mod reaction;
mod read_model;
mod running;
mod views;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::codec::CodecError;
use crate::event::{Position, RecordedEvent};
use crate::store::StoreError;

pub use delivery::RetryPolicy;
pub(crate) use placement::{try_take, LeaseTerms, Start};
pub use reaction::{EventHandler, ProcessManager, ReactionSubscriber};
pub(crate) use reaction::{Reaction, LEGACY_TREE};
pub use read_model::{decode_value, ReadModel, ReadModelCopy, ReadModelHandle, ReadModelTx, ReadVersion};
pub use running::{ParkedError, ParkedEvent, RebuildError, Subscribers, WaitFor, WaitTimeout};

/// What a subscriber is for; shown in its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SubscriberKind {
    /// Keeps a query model; can be rebuilt from the log.
    ReadModel,
    /// Reacts to events by sending commands.
    ProcessManager,
    /// Performs side effects (e-mail, payments); never replayed.
    Handler,
}

/// Where a subscriber is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SubscriberState {
    CatchingUp,
    Live,
    Rebuilding,
    Stopped,
    /// A reaction this process does not run now: another process sharing the store holds its
    /// lease (or this one waits to take it over). Its position is the one recorded there.
    Standby,
}

/// A subscriber's progress as shown to operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberStatus {
    pub name: String,
    pub kind: SubscriberKind,
    /// Last global position applied.
    pub position: Position,
    /// Events committed but not applied yet.
    pub lag: u64,
    pub state: SubscriberState,
    /// Events given up on after retries.
    pub parked: u64,
}

/// Why a subscriber could not take an event.
#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("local storage failed: {0}")]
    Local(#[from] sled::Error),
    #[error("a stored checkpoint is corrupt")]
    CorruptCheckpoint,
    #[error("a read model wrote to the empty key, which holds its checkpoint")]
    ReservedKey,
    /// The subscriber's lease went to another process: it must leave the events to that one.
    #[error(transparent)]
    Fenced(#[from] crate::store::Fenced),
    #[error("{0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SubscriberError {
    /// Wraps an error of a handler or read model of the application.
    pub fn failed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SubscriberError::Failed(Box::new(error))
    }
}

/// Something the driver feeds with events in position order.
#[async_trait]
pub trait Subscriber: Send + 'static {
    /// The last position this subscriber has durably applied (0: none). Read once per run,
    /// before the first event.
    async fn checkpoint(&mut self) -> Result<Position, SubscriberError>;

    /// Applies `events` (all after the checkpoint, in order) and moves the checkpoint to the last.
    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), SubscriberError>;

    /// Moves the checkpoint past `event` without applying it: the event was parked.
    async fn skip(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError>;

    /// Applies an event the checkpoint has already passed (an admin retrying a parked event),
    /// leaving the checkpoint where it is.
    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError>;

    /// When what `handle` applied but left to write later (a checkpoint whose loss costs only a
    /// harmless replay) should be written, if no batch comes first; `None`: nothing waits.
    fn deferred_until(&self) -> Option<tokio::time::Instant> {
        None
    }

    /// Writes what waits (see [`Subscriber::deferred_until`]).
    async fn write_deferred(&mut self) -> Result<(), SubscriberError> {
        Ok(())
    }
}

/// Reads a big-endian position stored under `key`; 0 when absent.
pub(crate) fn read_position(tree: &sled::Tree, key: &[u8]) -> Result<Position, SubscriberError> {
    match tree.get(key)? {
        Some(bytes) => Ok(u64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| SubscriberError::CorruptCheckpoint)?)),
        None => Ok(0),
    }
}
