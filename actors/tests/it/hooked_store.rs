//! A store wrapper for tests that need the store to fail or to yield at a chosen moment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::CommittedBatch;
use actors::{
    Appended, CommandContext, Conflict, EventStore, ExpectedVersion, Fenced, InMemoryStore, Lease, LeaseHeld, Leases, NewEvent, Position,
    RecordWrite, RecordedEvent, Snapshot, StoreError, StreamId, Version,
};
use async_trait::async_trait;
use tokio::sync::broadcast;
use uuid::Uuid;

/// An in-memory store with switches: stream reads fail while `failing_reads` is set, and
/// `head` yields to other tasks once before answering while `yielding_head` is set (so two
/// calls of one task interleave there), and `read_all` waits while `holding_reads` is set,
/// until [`HookedStore::release_reads`].
#[derive(Default)]
pub struct HookedStore {
    inner: InMemoryStore,
    pub failing_reads: AtomicBool,
    pub yielding_head: AtomicBool,
    pub holding_reads: AtomicBool,
    reads_released: tokio::sync::Notify,
    /// How many writes each fenced write carried, in order.
    pub fenced_writes: Arc<parking_lot::Mutex<Vec<usize>>>,
}

impl HookedStore {
    /// Lets every `read_all` held by `holding_reads` go on, and the later ones too.
    pub fn release_reads(&self) {
        self.holding_reads.store(false, Ordering::SeqCst);
        self.reads_released.notify_waiters();
    }
}

#[async_trait]
impl EventStore for HookedStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError> {
        self.inner.append(stream, expected, events, context).await
    }

    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        self.inner.committed_by(command_id).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.failing_reads.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("the disk cannot be read")));
        }
        self.inner.read_stream(stream, from_version, limit).await
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream_last(stream, count).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.inner.stream_version(stream).await
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        while self.holding_reads.load(Ordering::SeqCst) {
            // Created before the check, so a release in between is not missed.
            let released = self.reads_released.notified();
            if !self.holding_reads.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        self.inner.read_all(from_position, limit, types).await
    }

    fn records(&self, table: &str) -> Result<std::sync::Arc<dyn actors::Records>, StoreError> {
        self.inner.records(table)
    }

    fn leases(&self) -> Result<std::sync::Arc<dyn actors::Leases>, StoreError> {
        Ok(Arc::new(CountedLeases { inner: self.inner.leases()?, writes: self.fenced_writes.clone() }))
    }

    async fn head(&self) -> Result<Position, StoreError> {
        if self.yielding_head.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        self.inner.head().await
    }

    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.inner.streams_of(aggregate_type, after, limit).await
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(stream, snapshot).await
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream).await
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.inner.subscribe()
    }
}

/// Leases that note the size of every fenced write.
struct CountedLeases {
    inner: Arc<dyn Leases>,
    writes: Arc<parking_lot::Mutex<Vec<usize>>>,
}

#[async_trait]
impl Leases for CountedLeases {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        self.inner.acquire(name, holder, ttl).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.inner.release(lease).await
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        self.inner.holder(name).await
    }

    async fn write_fenced(&self, lease: &Lease, writes: &[RecordWrite]) -> Result<Result<(), Fenced>, StoreError> {
        self.writes.lock().push(writes.len());
        self.inner.write_fenced(lease, writes).await
    }
}
