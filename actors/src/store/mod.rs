//! The event store: one trait, an embedded sled implementation (the default), a PostgreSQL one
//! for several nodes sharing one log, and an in-memory one.
//!
//! Nothing in the trait names a sled or PostgreSQL type, so the runtime works the same on each. The conformance suite in `tests/it/store_conformance.rs` runs
//! against every implementation.

mod follow;
mod leases;
mod memory;
mod poison;
mod postgres;
mod records;
mod sled_store;

use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

pub use follow::follow;
pub use leases::{Fenced, Lease, LeaseHeld, Leases, RecordWrite};
pub use memory::InMemoryStore;
pub use poison::{Poisoned, SyncStep};
pub use postgres::{ConnectError, PostgresStore, PostgresStoreConfig};
pub use records::{Record, Records};
pub use sled_store::{FaultPlan, FormatError, ImportError, SledStore, SledStoreConfig, UpgradeProgress};

/// Events committed together, in position order, as published to live subscribers.
pub type CommittedBatch = Arc<[RecordedEvent]>;

/// The store failed: the append may or may not have happened, the read did not.
/// Kept apart from [`Conflict`], which is an expected answer, not a failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("event store backend failed: {0}")]
    Backend(#[source] Arc<dyn std::error::Error + Send + Sync>),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a stored record could not be decoded: {0}")]
    Undecodable(#[from] crate::codec::BytesError),
    /// A durable write failed earlier: nothing is written until the store is reopened.
    #[error(transparent)]
    Poisoned(#[from] Poisoned),
    /// The log is in a stored format this program cannot use as it is.
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("event store is closed")]
    Closed,
}

impl StoreError {
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Arc::new(error))
    }

    /// Whether the store could not be used (unreachable, refusing writes, closed), as opposed
    /// to holding bad data: the same request may well succeed later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Backend(_) | StoreError::Poisoned(_) | StoreError::Closed)
    }
}

/// The stream was not at the version the writer expected: someone else wrote first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected version {expected:?}, but the stream is at version {actual}")]
pub struct Conflict {
    pub expected: ExpectedVersion,
    pub actual: Version,
}

/// A successful append.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The events as stored, in order (empty if the append carried none).
    pub events: Vec<RecordedEvent>,
    /// The stream's version after the append.
    pub version: Version,
    /// True when the command id had been committed before: nothing was written, and `events`
    /// are those of the first append.
    pub already_committed: bool,
}

/// What a rehydration reads of one stored event, lent by the store (see
/// [`EventStore::fold_stream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventView<'a> {
    pub position: Position,
    pub version: Version,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub payload: &'a [u8],
}

impl<'a> EventView<'a> {
    pub fn of(event: &'a RecordedEvent) -> Self {
        Self {
            position: event.position,
            version: event.version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &event.payload,
        }
    }
}

/// The saved state of a stream at a version, opaque bytes to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: Version,
    pub state: Vec<u8>,
}

/// Appends and reads an append-only log of streams.
///
/// Every read stops at the durable head: an event is visible to `read_stream`,
/// `read_stream_last`, `stream_version`, `committed_by`, `read_all` and `head` only once it has
/// been made durable, never in the moment between its write and the end of its flush.
///
/// Events have no size limit of their own. In the sled store, a value (or a tree node holding
/// several values) larger than sled 0.34's blob threshold, 128 KiB minus 52 bytes of headers
/// (a quarter of its 512 KiB segment), is kept in a file of its own under `blobs/`; the store
/// `fsync`s each new blob file and that directory with every durable write, before the
/// `fdatasync` of the database file, so a large event is as durable as a small one when its
/// append is answered.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically and durably, if the stream is at `expected`.
    ///
    /// The outer `Err` is a broken store; the inner `Err` is a conflict the caller can handle.
    /// An append whose `context.command_id` was committed before writes nothing and returns the
    /// first result with `already_committed` set.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError>;

    /// The events a command committed, if that command id was committed.
    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError>;

    /// Up to `limit` events of `stream` from `from_version` on (versions start at 1).
    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Hands `fold` the events of `stream` from `from_version` on, at most `limit`, in order,
    /// until it breaks; answers how many it was handed. What `read_stream` reads, for a reader
    /// that needs only each event's type, schema and payload (rehydration): a store can lend
    /// them from its own bytes instead of building a `RecordedEvent` per event.
    async fn fold_stream(
        &self,
        stream: &StreamId,
        from_version: Version,
        limit: usize,
        fold: &mut (dyn for<'e> FnMut(EventView<'e>) -> ControlFlow<()> + Send),
    ) -> Result<usize, StoreError> {
        let events = self.read_stream(stream, from_version, limit).await?;
        let mut handed = 0;
        for event in &events {
            handed += 1;
            if fold(EventView::of(event)).is_break() {
                break;
            }
        }
        Ok(handed)
    }

    /// The last `count` events of `stream`, in version order.
    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The version of the stream's last event; 0 when it has none.
    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError>;

    /// Up to `limit` events of the global log from `from_position` on, keeping only `types` if
    /// given; never past [`EventStore::head`], so a subscriber catching up acts only on durable events.
    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last committed (durable) event; 0 for an empty log.
    async fn head(&self) -> Result<Position, StoreError>;

    /// Ids of the streams of one aggregate type, in id order, after `after`, at most `limit`.
    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError>;

    /// Replaces the stream's snapshot.
    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError>;

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// The table of records named `table`, kept durably beside the log in this store and shared
    /// by every process that shares it (see [`Records`]). Tables are created on first use.
    fn records(&self, table: &str) -> Result<Arc<dyn Records>, StoreError>;

    /// The named leases kept in this store, with writes to its records fenced by them (see
    /// [`Leases`]): what lets one process at a time own a piece of work among all that share it.
    fn leases(&self) -> Result<Arc<dyn Leases>, StoreError>;

    /// Live feed of committed events. A receiver that falls behind sees `Lagged` and must read
    /// the gap from the log: subscribers always reconcile with their checkpoint.
    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch>;

    /// Whether other processes may write this store while this one does (a database shared by
    /// several nodes). Then a live actor's state can be behind the store, and a lease can be
    /// held elsewhere; a store one process owns (sled locks its directory, memory is private)
    /// answers `false`.
    fn shared(&self) -> bool {
        false
    }

    /// Why the store refuses every write until it is reopened, if a durable write failed (see
    /// [`Poisoned`]); `None` while it takes writes. Cheap: readiness checks call it per request.
    fn poisoned(&self) -> Option<Poisoned> {
        None
    }
}

/// Makes every write made so far to the runtime's local sled database survive a crash: the
/// dedup records and checkpoints of handlers. A database on its own flushes itself; the sled
/// store, when the local database is its own, folds the request into its writer's next flush.
#[async_trait]
pub trait LocalFlush: Send + Sync + 'static {
    async fn flush_local(&self) -> Result<(), StoreError>;
}

#[async_trait]
impl LocalFlush for sled::Db {
    async fn flush_local(&self) -> Result<(), StoreError> {
        flush_tree(self).await.map_err(StoreError::backend)
    }
}

/// Makes everything written to `tree`'s database durable, from a blocking thread.
///
/// Never `flush_async` in sled 0.34: it runs each flush on sled's own small I/O pool, where it
/// waits for log writes that need a thread of that very pool; a few concurrent flushes (one per
/// handled effect, one per registration) starve the pool and deadlock every writer of the
/// process. A blocking flush on tokio's blocking pool waits without holding sled's threads.
pub async fn flush_tree(tree: &sled::Tree) -> Result<(), sled::Error> {
    let tree = tree.clone();
    match tokio::task::spawn_blocking(move || tree.flush()).await {
        Ok(flushed) => flushed.map(drop),
        Err(join) => Err(sled::Error::ReportableBug(format!("the flush thread failed: {join}"))),
    }
}
