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

use std::collections::HashMap;
use std::fs::File;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;
use uuid::Uuid;

use super::{Appended, CommittedBatch, Conflict, EventStore, Snapshot, StoreError};
use crate::codec::{decode_bytes, encode_bytes};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

mod import;

pub use import::ImportError;

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
        let state = Writer {
            db: db.clone(),
            log: log.clone(),
            sync_file,
            bus: bus.clone(),
            next_position,
            versions: lru::LruCache::new(NonZeroUsize::new(config.version_cache.max(1)).expect("max(1)")),
            max_batch: config.max_batch.max(1),
        };
        std::thread::Builder::new().name("event-store-writer".into()).spawn(move || state.run(queue)).map_err(StoreError::backend)?;
        Ok(Self { db, log, snapshots, writer, bus })
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

/// The single writer: owns the next position and the cache of stream versions.
struct Writer {
    db: sled::Db,
    log: sled::Tree,
    sync_file: Option<File>,
    bus: broadcast::Sender<CommittedBatch>,
    next_position: Position,
    versions: lru::LruCache<StreamId, Version>,
    max_batch: usize,
}

type Reply = (oneshot::Sender<Result<Result<Appended, Conflict>, StoreError>>, Result<Appended, Conflict>);

impl Writer {
    fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let mut appends = Vec::with_capacity(self.max_batch);
        while let Some(first) = queue.blocking_recv() {
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append(append) => appends.push(append),
                    Request::Import(import) => {
                        // Appends queued before the import commit before it, as they came.
                        if !appends.is_empty() {
                            self.commit_group(std::mem::take(&mut appends));
                        }
                        self.import(import);
                    }
                }
                if appends.len() < self.max_batch {
                    next = queue.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit_group(std::mem::take(&mut appends));
            }
        }
        tracing::debug!("event store writer stopped");
    }

    /// Decides every request of the group, writes the accepted ones in one batch, flushes once.
    fn commit_group(&mut self, requests: Vec<AppendRequest>) {
        let started = Instant::now();
        let first_position = self.next_position;
        let mut batch = sled::Batch::default();
        let mut pending_versions: HashMap<StreamId, Version> = HashMap::new();
        let mut pending_commands: HashMap<Uuid, Vec<RecordedEvent>> = HashMap::new();
        let mut committed: Vec<RecordedEvent> = Vec::new();
        let mut replies: Vec<Reply> = Vec::with_capacity(requests.len());
        let mut failed: Vec<(oneshot::Sender<_>, StoreError)> = Vec::new();
        let recorded_at = Utc::now();

        for request in requests {
            match self.decide(&request, &mut pending_versions, &pending_commands) {
                Err(error) => failed.push((request.reply, error)),
                Ok(Decision::Answer(answer)) => replies.push((request.reply, answer)),
                Ok(Decision::Write(current)) => {
                    let events = match self.stage(&request, current, recorded_at, &mut batch) {
                        Ok(events) => events,
                        Err(error) => {
                            failed.push((request.reply, error));
                            continue;
                        }
                    };
                    pending_commands.insert(request.context.command_id, events.clone());
                    let version = current + events.len() as u64;
                    pending_versions.insert(request.stream, version);
                    committed.extend(events.iter().cloned());
                    replies.push((request.reply, Ok(Appended { events, version, already_committed: false })));
                }
            }
        }

        if !committed.is_empty() {
            let flush_started = Instant::now();
            let written = self.write(batch);
            crate::telemetry::group_committed(replies.len(), committed.len(), flush_started.elapsed());
            if let Err(error) = written {
                tracing::error!(%error, "group commit failed");
                // The batch may or may not be in the tree (a failed flush follows a good write):
                // take positions and versions from what is stored, not from what was planned.
                self.next_position = last_position(&self.log).map_or(first_position, |last| last + 1);
                self.versions.clear();
                for (reply, answer) in replies {
                    let fresh = matches!(&answer, Ok(appended) if !appended.already_committed && !appended.events.is_empty());
                    let _ = reply.send(if fresh { Err(error.clone()) } else { Ok(answer) });
                }
                for (reply, error) in failed {
                    let _ = reply.send(Err(error));
                }
                return;
            }
            for (stream, version) in pending_versions {
                self.versions.put(stream, version);
            }
            tracing::trace!(
                events = committed.len(),
                appends = replies.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "group committed"
            );
        }
        // Publish before answering: a caller that waits for projections after its append
        // then never races the delivery of its own events.
        if !committed.is_empty() {
            let _ = self.bus.send(committed.into());
        }
        for (reply, answer) in replies {
            let _ = reply.send(Ok(answer));
        }
        for (reply, error) in failed {
            let _ = reply.send(Err(error));
        }
    }

    /// Adds one append's keys to the group's batch and assigns its positions.
    fn stage(
        &mut self,
        request: &AppendRequest,
        current: Version,
        recorded_at: DateTime<Utc>,
        batch: &mut sled::Batch,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut events = Vec::with_capacity(request.events.len());
        let mut entries = Vec::with_capacity(request.events.len());
        for (offset, new) in request.events.iter().enumerate() {
            let recorded = RecordedEvent {
                position: self.next_position + offset as u64,
                stream: request.stream.clone(),
                version: current + 1 + offset as u64,
                event_id: new.event_id,
                event_type: new.event_type.clone(),
                schema_version: new.schema_version,
                payload: new.payload.clone(),
                recorded_at,
                correlation_id: request.context.correlation_id,
                causation_id: request.context.causation_id,
                metadata: request.context.metadata.clone(),
            };
            let bytes = encode_bytes(&recorded).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            entries.push((event_key(&recorded.stream, recorded.version), bytes));
            events.push(recorded);
        }
        for ((key, bytes), event) in entries.into_iter().zip(&events) {
            batch.insert(&position_key(event.position)[..], key.as_slice());
            batch.insert(key, bytes);
        }
        if current == 0 {
            let mut type_key = type_prefix(&request.stream.aggregate_type);
            type_key.extend_from_slice(request.stream.aggregate_id.as_bytes());
            batch.insert(type_key, &[][..]);
        }
        let mut record = self.next_position.to_be_bytes().to_vec();
        record.extend_from_slice(&(events.len() as u32).to_be_bytes());
        batch.insert(&command_key(request.context.command_id)[..], record);
        self.next_position += events.len() as u64;
        Ok(events)
    }

    fn decide(
        &mut self,
        request: &AppendRequest,
        pending_versions: &mut HashMap<StreamId, Version>,
        pending_commands: &HashMap<Uuid, Vec<RecordedEvent>>,
    ) -> Result<Decision, StoreError> {
        let current = self.current_version(&request.stream, pending_versions)?;
        if let Some(events) = pending_commands.get(&request.context.command_id) {
            // The first result's version, as for a command committed in an earlier group.
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Decision::Answer(Ok(Appended { events: events.clone(), version, already_committed: true })));
        }
        if let Some(events) = committed_events(&self.log, request.context.command_id)? {
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Decision::Answer(Ok(Appended { events, version, already_committed: true })));
        }
        if !request.expected.matches(current) {
            return Ok(Decision::Answer(Err(Conflict { expected: request.expected, actual: current })));
        }
        if request.events.is_empty() {
            return Ok(Decision::Answer(Ok(Appended { events: Vec::new(), version: current, already_committed: false })));
        }
        Ok(Decision::Write(current))
    }

    fn current_version(&mut self, stream: &StreamId, pending: &mut HashMap<StreamId, Version>) -> Result<Version, StoreError> {
        if let Some(version) = pending.get(stream) {
            return Ok(*version);
        }
        if let Some(version) = self.versions.get(stream) {
            return Ok(*version);
        }
        let version = stored_version(&self.log, stream)?;
        self.versions.put(stream.clone(), version);
        Ok(version)
    }

    fn write(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.log.apply_batch(batch).map_err(StoreError::backend)?;
        self.sync()
    }

    /// Flushes sled, then the database file itself when `fsync` is on.
    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(StoreError::backend)?;
        if let Some(file) = &self.sync_file {
            file.sync_data().map_err(StoreError::backend)?;
        }
        Ok(())
    }
}

enum Decision {
    /// Answer without writing (conflict, replayed command, empty append).
    Answer(Result<Appended, Conflict>),
    /// Write the events after the stream's current version.
    Write(Version),
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
        for entry in self.log.range(position_key(from_position.max(1))..=position_key(Position::MAX)) {
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
        last_position(&self.log)
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

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.bus.subscribe()
    }
}
