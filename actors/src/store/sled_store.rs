//! The default event store: sled on local disk, with group commit.
//!
//! Layout: everything an append writes lives in one tree (`log`), so one `apply_batch` makes it
//! atomic across a crash:
//! - `E|stream|version` -> the recorded event (a stream replays with one range scan)
//! - `P|position`       -> the `E` key (the global log, gapless)
//! - `T|type|id`        -> () (the streams of a type)
//! - `C|command id`     -> first position and count (idempotent appends)
//!
//! One writer thread owns positions. It takes every append waiting in its queue, checks each
//! against the stream versions, writes them as one batch, flushes once (plus `fdatasync`, since
//! sled's own flush survives a process crash but not a power loss), then answers them all.
//! Aggregates decide concurrently and hold no lock while they do.
//!
//! A restore ([`SledStore::import`], in `sled_store/import.rs`) goes through the same writer, so
//! positions stay its own.

use std::fs::File;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use super::{Appended, CommittedBatch, Conflict, EventStore, LocalFlush, Snapshot, StoreError};
use crate::codec::{decode_bytes, encode_bytes};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

mod import;
mod records;
mod writer;

pub use import::ImportError;
use writer::Writer;

const EVENT: u8 = b'E';
const POSITION: u8 = b'P';
const TYPE_INDEX: u8 = b'T';
const COMMAND: u8 = b'C';

/// Tuning of the sled store.
#[derive(Debug, Clone)]
pub struct SledStoreConfig {
    /// Most appends merged into one write and one flush.
    pub max_batch: usize,
    /// Appends waiting for the writer before `append` itself waits (backpressure).
    pub queue_capacity: usize,
    /// `fdatasync` the database file after each flush (power-loss durability).
    pub fsync: bool,
    /// sled's page cache, in bytes.
    pub cache_capacity: u64,
    /// Stream versions the writer keeps in memory; others are read from disk.
    pub version_cache: usize,
}

impl Default for SledStoreConfig {
    fn default() -> Self {
        Self { max_batch: 1024, queue_capacity: 8192, fsync: true, cache_capacity: 256 * 1024 * 1024, version_cache: 100_000 }
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
    /// flush ends; `read_all` and `head` stop here, so no subscriber catching up (and no side
    /// effect it causes) ever acts on an event a crash could still take back.
    durable: Arc<AtomicU64>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: impl AsRef<Path>, config: SledStoreConfig) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        let db = sled::Config::new().path(dir).cache_capacity(config.cache_capacity).open().map_err(StoreError::backend)?;
        let sync_file = if config.fsync { Some(dir.join("db")) } else { None };
        Self::with_db(db, sync_file, config)
    }

    /// A store in a throw-away sled database (tests).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open().map_err(StoreError::backend)?;
        Self::with_db(db, None, SledStoreConfig::default())
    }

    fn with_db(db: sled::Db, sync_file: Option<PathBuf>, config: SledStoreConfig) -> Result<Self, StoreError> {
        let log = db.open_tree("log").map_err(StoreError::backend)?;
        let snapshots = db.open_tree("snapshots").map_err(StoreError::backend)?;
        let (bus, _) = broadcast::channel(4096);
        let (writer, queue) = mpsc::channel(config.queue_capacity.max(1));
        let sync_file = match sync_file {
            Some(path) => Some(File::open(path).map_err(StoreError::backend)?),
            None => None,
        };
        let next_position = last_position(&log)? + 1;
        // What sled recovered at open is on disk.
        let durable = Arc::new(AtomicU64::new(next_position - 1));
        let state = Writer {
            durable: durable.clone(),
            db: db.clone(),
            log: log.clone(),
            sync_file,
            bus: bus.clone(),
            next_position,
            versions: lru::LruCache::new(NonZeroUsize::new(config.version_cache.max(1)).expect("max(1)")),
            max_batch: config.max_batch.max(1),
        };
        std::thread::Builder::new().name("event-store-writer".into()).spawn(move || state.run(queue)).map_err(StoreError::backend)?;
        Ok(Self { db, log, snapshots, writer, bus, durable })
    }

    /// The sled database, so local read models can live in it and commit with their checkpoint.
    pub fn database(&self) -> &sled::Db {
        &self.db
    }

    fn event_at_key(&self, key: &[u8]) -> Result<RecordedEvent, StoreError> {
        match self.log.get(key).map_err(StoreError::backend)? {
            Some(bytes) => decode_event(&bytes),
            None => Err(StoreError::Corrupt("global index points at a missing event".into())),
        }
    }
}

/// Flushes the store's own database. Under load the writer flushes it for every group commit
/// anyway, so a request waits for the next of those instead of causing a flush of its own; only
/// an idle writer flushes for it alone.
#[async_trait]
impl LocalFlush for SledStore {
    async fn flush_local(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Request::Flush(reply)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

fn decode_event(bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    decode_bytes(bytes).map_err(StoreError::Corrupt)
}

fn stream_prefix(tag: u8, stream: &StreamId) -> Vec<u8> {
    let name = stream.aggregate_type.as_bytes();
    let mut key = Vec::with_capacity(2 + name.len() + 16 + 8);
    key.push(tag);
    key.push(u8::try_from(name.len()).expect("aggregate type names are at most 255 bytes"));
    key.extend_from_slice(name);
    key.extend_from_slice(stream.aggregate_id.as_bytes());
    key
}

fn event_key(stream: &StreamId, version: Version) -> Vec<u8> {
    let mut key = stream_prefix(EVENT, stream);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn position_key(position: Position) -> [u8; 9] {
    let mut key = [POSITION; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn command_key(command_id: Uuid) -> [u8; 17] {
    let mut key = [COMMAND; 17];
    key[1..].copy_from_slice(command_id.as_bytes());
    key
}

fn type_prefix(aggregate_type: &str) -> Vec<u8> {
    let mut key = vec![TYPE_INDEX, u8::try_from(aggregate_type.len()).expect("aggregate type names are at most 255 bytes")];
    key.extend_from_slice(aggregate_type.as_bytes());
    key
}

fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt("bad integer in key".into()))?;
    Ok(u64::from_be_bytes(array))
}

fn last_position(log: &sled::Tree) -> Result<Position, StoreError> {
    match log.scan_prefix([POSITION]).next_back() {
        Some(entry) => be_u64(&entry.map_err(StoreError::backend)?.0[1..]),
        None => Ok(0),
    }
}

fn stored_version(log: &sled::Tree, stream: &StreamId) -> Result<Version, StoreError> {
    match log.scan_prefix(stream_prefix(EVENT, stream)).next_back() {
        Some(entry) => {
            let key = entry.map_err(StoreError::backend)?.0;
            be_u64(&key[key.len() - 8..])
        }
        None => Ok(0),
    }
}

fn committed_events(log: &sled::Tree, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
    let Some(value) = log.get(command_key(command_id)).map_err(StoreError::backend)? else {
        return Ok(None);
    };
    if value.len() != 12 {
        return Err(StoreError::Corrupt("bad command record".into()));
    }
    let first = be_u64(&value[..8])?;
    let count = u32::from_be_bytes(value[8..12].try_into().expect("4 bytes"));
    let mut events = Vec::with_capacity(count as usize);
    for position in first..first + u64::from(count) {
        let event_key = log.get(position_key(position)).map_err(StoreError::backend)?;
        let event_key = event_key.ok_or_else(|| StoreError::Corrupt("command record points at a missing position".into()))?;
        let bytes = log.get(&event_key).map_err(StoreError::backend)?;
        events.push(decode_event(&bytes.ok_or_else(|| StoreError::Corrupt("missing event".into()))?)?);
    }
    Ok(Some(events))
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
        committed_events(&self.log, command_id)
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let start = event_key(stream, from_version.max(1));
        let end = event_key(stream, Version::MAX);
        self.log.range(start..=end).take(limit).map(|entry| decode_event(&entry.map_err(StoreError::backend)?.1)).collect()
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = self
            .log
            .scan_prefix(stream_prefix(EVENT, stream))
            .rev()
            .take(count)
            .map(|entry| decode_event(&entry.map_err(StoreError::backend)?.1))
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        stored_version(&self.log, stream)
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::new();
        let durable = self.durable.load(Ordering::Acquire);
        for entry in self.log.range(position_key(from_position.max(1))..=position_key(durable)) {
            if events.len() >= limit {
                break;
            }
            let (_, event_key) = entry.map_err(StoreError::backend)?;
            let event = self.event_at_key(&event_key)?;
            if types.is_none_or(|types| types.contains(&event.event_type)) {
                events.push(event);
            }
        }
        Ok(events)
    }

    async fn head(&self) -> Result<Position, StoreError> {
        Ok(self.durable.load(Ordering::Acquire))
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
        self.snapshots.insert(stream_prefix(b'S', stream), bytes).map_err(StoreError::backend)?;
        Ok(())
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        match self.snapshots.get(stream_prefix(b'S', stream)).map_err(StoreError::backend)? {
            Some(bytes) => Ok(Some(decode_bytes(&bytes).map_err(StoreError::Corrupt)?)),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted() -> Vec<NewEvent> {
        vec![NewEvent { event_id: Uuid::new_v4(), event_type: "Noted".into(), schema_version: 1, payload: vec![1] }]
    }

    #[actix_rt::test]
    async fn readers_never_see_past_the_last_flushed_group() {
        let store = SledStore::temporary().expect("a temporary store");
        let stream = StreamId::new("note", Uuid::new_v4());
        let appended = store.append(&stream, ExpectedVersion::Any, noted(), &CommandContext::new_request()).await;
        assert!(matches!(appended, Ok(Ok(_))));
        // What a group looks like between its write and the end of its flush: in the tree, and
        // (here) pointing at a readable event.
        let first_event = event_key(&stream, 1);
        store.log.insert(position_key(2), first_event.as_slice()).expect("a raw write");
        assert_eq!(store.head().await.expect("the head"), 1);
        assert_eq!(store.read_all(1, 10, None).await.expect("the log").len(), 1);

        // The writer's next group takes position 2 and, once flushed, is visible.
        let appended = store.append(&stream, ExpectedVersion::Any, noted(), &CommandContext::new_request()).await;
        assert!(matches!(appended, Ok(Ok(ref appended)) if appended.events[0].position == 2));
        assert_eq!(store.head().await.expect("the head"), 2);
        let positions: Vec<Position> = store.read_all(1, 10, None).await.expect("the log").iter().map(|e| e.position).collect();
        assert_eq!(positions, [1, 2]);
    }
}
