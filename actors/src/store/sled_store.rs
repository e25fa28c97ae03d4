//! The default event store: sled on local disk, with group commit.
//!
//! Layout: everything an append writes lives in one tree (`log3`), so one `apply_batch` makes
//! it atomic across a crash:
//! - `E|stream|first version` -> a chunk: the events of one append, up to a few KiB
//!   (`format.rs`; a stream replays with one range scan over few values)
//! - `G|first position` -> the `E` keys of a run of consecutive positions, one per position,
//!   one run per group commit (the global log, gapless; `positions.rs`)
//! - `T|type|id`        -> () (the streams of a type)
//! - `C|command id`     -> first position and count (idempotent appends)
//! - `V`                -> the stored format (a log of an older one is upgraded at open)
//!
//! One writer thread owns positions. It takes every append waiting in its queue, checks each
//! against the stream versions, writes them as one batch, flushes once (plus `fdatasync`, since
//! sled's own flush survives a process crash but not a power loss), then answers them all.
//! Aggregates decide concurrently and hold no lock while they do. A failed durable write
//! poisons the store (`sled_store/durability.rs`).
//!
//! A restore ([`SledStore::import`], in `sled_store/import.rs`) goes through the same writer, so
//! positions stay its own.

use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use super::{Appended, CommittedBatch, Conflict, EventStore, EventView, LocalFlush, Poisoned, Snapshot, StoreError};
use crate::codec::{decode_bytes, encode_bytes};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

mod durability;
mod format;
mod import;
mod keys;
mod positions;
mod records;
#[cfg(test)]
mod tests;
mod upgrade;
mod writer;

pub use durability::FaultPlan;
pub use import::ImportError;
use keys::{
    chunk_at, committed_events, durable_version, event_key, events_prefix, stream_prefix, type_prefix, version_of_key, ChunkReader,
};
pub use upgrade::{FormatError, UpgradeProgress};
use writer::Writer;

/// Tuning of the sled store.
#[derive(Debug, Clone)]
pub struct SledStoreConfig {
    /// Most appends merged into one write and one flush.
    pub max_batch: usize,
    /// The longest a group waits for as many appends as the last group answered (0: never
    /// waits), and never longer than the last group's write took. A flush carrying every
    /// caller is worth a short wait.
    pub gather_wait: Duration,
    /// Appends waiting for the writer before `append` itself waits (backpressure).
    pub queue_capacity: usize,
    /// `fdatasync` the database file (and `fsync` new blob files) after each flush
    /// (power-loss durability).
    pub fsync: bool,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Stream versions the writer keeps in memory; others are read from disk.
    pub version_cache: usize,
    /// Told how far the upgrade of a log in an older stored format got (a progress bar).
    pub upgrade_progress: Option<UpgradeProgress>,
    /// Tests only: one step of one durable write fails.
    #[doc(hidden)]
    pub fault: Option<FaultPlan>,
}

impl Default for SledStoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 1024,
            gather_wait: Duration::from_millis(1),
            queue_capacity: 8192,
            fsync: true,
            cache_capacity: 256 * 1024 * 1024,
            version_cache: 100_000,
            upgrade_progress: None,
            fault: None,
        }
    }
}

/// What the writer thread is asked to do.
enum Request {
    Append(AppendRequest),
    Import(import::ImportRequest),
    /// Answer once everything written to the database before this request is durable.
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

struct AppendRequest {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    context: CommandContext,
    reply: oneshot::Sender<Result<Result<Appended, Conflict>, StoreError>>,
}

/// The sled event store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    log: sled::Tree,
    snapshots: sled::Tree,
    writer: mpsc::Sender<Request>,
    bus: broadcast::Sender<CommittedBatch>,
    /// The last position known durable. A group's events are in the tree a moment before its
    /// flush ends; every read stops here, so no reader (and no side effect a subscriber causes)
    /// ever acts on an event a crash could still take back.
    durable: Arc<AtomicU64>,
    /// Set by the writer when a durable write failed; then every write is refused.
    poison: Arc<OnceLock<Poisoned>>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>, config: SledStoreConfig) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let db = sled::Config::new().path(dir).cache_capacity(config.cache_capacity).open().map_err(StoreError::backend)?;
        let synced = if config.fsync { Some(dir) } else { None };
        Self::with_db(db, synced, config)
    }

    /// A store in a throw-away sled database (tests).
    pub fn temporary() -> Result<Self, StoreError> {
        Self::temporary_with(SledStoreConfig::default())
    }

    /// A throw-away store with a configuration (tests of the fault plan).
    #[doc(hidden)]
    pub fn temporary_with(config: SledStoreConfig) -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open().map_err(StoreError::backend)?;
        Self::with_db(db, None, config)
    }

    /// `synced_dir`: where the database lives, when its files are to be `fsync`ed.
    fn with_db(db: sled::Db, synced_dir: Option<&Path>, config: SledStoreConfig) -> Result<Self, StoreError> {
        let (store, writer, queue) = Self::unstarted(db, synced_dir, config)?;
        std::thread::Builder::new().name("event-store-writer".into()).spawn(move || writer.run(queue)).map_err(StoreError::backend)?;
        Ok(store)
    }

    /// The store and its writer, not running yet (unit tests drive the writer by hand).
    fn unstarted(
        db: sled::Db,
        synced_dir: Option<&Path>,
        config: SledStoreConfig,
    ) -> Result<(Self, Writer, mpsc::Receiver<Request>), StoreError> {
        crate::metrics::store_poisoned(false);
        let log = upgrade::open_log(&db, synced_dir, config.upgrade_progress.as_ref())?;
        let snapshots = db.open_tree("snapshots").map_err(StoreError::backend)?;
        let (bus, _) = broadcast::channel(4096);
        let (writer, queue) = mpsc::channel(config.queue_capacity.max(1));
        let mut durability = durability::Durability::new(db.clone(), synced_dir, config.fault)?;
        // What sled recovered may have been written and never synced (a crash between a
        // group's write and its fsync): make it durable before any reader or subscriber sees it.
        durability.sync()?;
        let next_position = positions::last_position(&log)? + 1;
        let durable = Arc::new(AtomicU64::new(next_position - 1));
        let poison = durability.poison().clone();
        let state = Writer {
            durable: durable.clone(),
            durability,
            log: log.clone(),
            bus: bus.clone(),
            next_position,
            versions: lru::LruCache::new(NonZeroUsize::new(config.version_cache.max(1)).expect("max(1)")),
            max_batch: config.max_batch.max(1),
            gather_wait: config.gather_wait,
            last_write: Duration::ZERO,
        };
        Ok((Self { db, log, snapshots, writer, bus, durable, poison }, state, queue))
    }

    /// The sled database, so local read models can live in it and commit with their checkpoint.
    pub fn database(&self) -> &sled::Db {
        &self.db
    }

    fn durable_head(&self) -> Position {
        self.durable.load(Ordering::Acquire)
    }

    /// Drops the partial copy an interrupted upgrade of the stored format left in `dir`, so
    /// the next open upgrades afresh; `true` when there was one. The old log is untouched.
    pub fn discard_interrupted_upgrade(dir: impl AsRef<Path>) -> Result<bool, StoreError> {
        let db = sled::Config::new().path(dir.as_ref()).open().map_err(StoreError::backend)?;
        upgrade::discard_interrupted(&db)
    }

    /// The bytes the store keeps for `event`, appended alone, under its key (benchmarks size
    /// their ceilings with it).
    #[doc(hidden)]
    pub fn stored_bytes(event: &RecordedEvent) -> Result<Vec<u8>, StoreError> {
        format::encode(std::slice::from_ref(event))
    }

    fn refuse_if_poisoned(&self) -> Result<(), StoreError> {
        match self.poison.get() {
            Some(poisoned) => Err(poisoned.clone().into()),
            None => Ok(()),
        }
    }
}

/// Flushes the store's own database. Under load the writer flushes it for every group commit
/// anyway, so a request waits for the next of those instead of causing a flush of its own; only
/// an idle writer flushes for it alone.
#[async_trait]
impl LocalFlush for SledStore {
    async fn flush_local(&self) -> Result<(), StoreError> {
        self.refuse_if_poisoned()?;
        let (reply, answer) = oneshot::channel();
        self.writer.send(Request::Flush(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl EventStore for SledStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError> {
        self.refuse_if_poisoned()?;
        let span = tracing::debug_span!(
            "append",
            aggregate_type = %stream.aggregate_type,
            aggregate_id = %stream.aggregate_id,
            events = events.len(),
            correlation_id = %context.correlation_id,
        );
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest { stream: stream.clone(), expected, events, context: context.clone(), reply };
        async {
            self.writer.send(Request::Append(request)).await.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
        .instrument(span)
        .await
    }

    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        committed_events(&self.log, command_id, self.durable_head())
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let durable = self.durable_head();
        let from_version = from_version.max(1);
        let mut events = Vec::new();
        for entry in self.log.range(chunk_at(&self.log, stream, from_version)?..=event_key(stream, Version::MAX)) {
            if events.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(StoreError::backend)?;
            let chunk = format::decode(stream, version_of_key(&key)?, &value)?;
            // A stream's positions grow with its versions: past the durable head, the rest is
            // not durable either.
            let readable = chunk.into_iter().filter(|event| event.version >= from_version).take_while(|event| event.position <= durable);
            events.extend(readable.take(limit - events.len()));
            if events.last().is_some_and(|event| event.position >= durable) {
                break;
            }
        }
        Ok(events)
    }

    async fn fold_stream(
        &self,
        stream: &StreamId,
        from_version: Version,
        limit: usize,
        fold: &mut (dyn for<'e> FnMut(EventView<'e>) -> ControlFlow<()> + Send),
    ) -> Result<usize, StoreError> {
        let durable = self.durable_head();
        let from_version = from_version.max(1);
        let mut handed = 0;
        if limit == 0 {
            return Ok(handed);
        }
        for entry in self.log.range(chunk_at(&self.log, stream, from_version)?..=event_key(stream, Version::MAX)) {
            let (key, value) = entry.map_err(StoreError::backend)?;
            for view in format::views(version_of_key(&key)?, &value)? {
                if view.version < from_version {
                    continue;
                }
                if view.position > durable {
                    return Ok(handed);
                }
                handed += 1;
                if fold(view).is_break() || handed >= limit {
                    return Ok(handed);
                }
            }
        }
        Ok(handed)
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let durable = self.durable_head();
        let mut events = Vec::with_capacity(count.min(1024));
        for entry in self.log.scan_prefix(events_prefix(stream)).rev() {
            if events.len() >= count {
                break;
            }
            let (key, value) = entry.map_err(StoreError::backend)?;
            let chunk = format::decode(stream, version_of_key(&key)?, &value)?;
            events.extend(chunk.into_iter().rev().filter(|event| event.position <= durable).take(count - events.len()));
        }
        events.reverse();
        Ok(events)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        durable_version(&self.log, stream, self.durable_head())
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let durable = self.durable_head();
        if limit == 0 {
            return Ok(events);
        }
        let mut chunks = ChunkReader::new(&self.log);
        positions::scan(&self.log, from_position.max(1), durable, |position, chunk_key| {
            let event = chunks.event(position, chunk_key)?;
            if types.is_none_or(|types| types.contains(&event.event_type)) {
                events.push(event);
            }
            Ok(if events.len() >= limit { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })?;
        Ok(events)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        Ok(self.durable_head())
    }

    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let prefix = type_prefix(aggregate_type);
        let mut start = prefix.clone();
        if let Some(after) = after {
            start.extend_from_slice(after.as_bytes());
            start.push(0);
        }
        let mut end = prefix.clone();
        end.extend_from_slice(&[0xff; 17]);
        self.log
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let key = entry.map_err(StoreError::backend)?.0;
                Uuid::from_slice(&key[prefix.len()..]).map_err(|_| StoreError::Corrupt("bad stream index key".into()))
            })
            .collect()
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        let bytes = encode_bytes(&snapshot).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.snapshots.insert(stream_prefix(keys::SNAPSHOT, stream), bytes).map_err(StoreError::backend)?;
        Ok(())
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        match self.snapshots.get(stream_prefix(keys::SNAPSHOT, stream)).map_err(StoreError::backend)? {
            Some(bytes) => Ok(Some(decode_bytes(&bytes)?)),
            None => Ok(None),
        }
    }

    fn records(&self, table: &str) -> Result<Arc<dyn crate::store::Records>, StoreError> {
        Ok(Arc::new(records::SledRecords::open(self, table)?))
    }

    fn leases(&self) -> Result<Arc<dyn crate::store::Leases>, StoreError> {
        Ok(Arc::new(crate::store::leases::SledLeases::open(self)?))
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.bus.subscribe()
    }

    fn poisoned(&self) -> Option<Poisoned> {
        self.poison.get().cloned()
    }
}
