//! An event store in memory: same semantics as the sled one, for tests and examples.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::leases::InMemoryLeases;
use super::records::InMemoryRecords;
use super::{Appended, CommittedBatch, Conflict, EventStore, Leases, Snapshot, StoreError};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

#[derive(Default)]
struct Log {
    events: Vec<RecordedEvent>,
    /// Positions of each stream's events, in version order.
    streams: HashMap<StreamId, Vec<Position>>,
    commands: HashMap<Uuid, (Position, usize)>,
    snapshots: HashMap<StreamId, Snapshot>,
}

impl Log {
    fn at(&self, position: Position) -> &RecordedEvent {
        &self.events[(position - 1) as usize]
    }

    fn version(&self, stream: &StreamId) -> Version {
        self.streams.get(stream).map_or(0, |positions| positions.len() as Version)
    }
}

/// The in-memory store. One mutex: appends are serialized, reads copy out.
pub struct InMemoryStore {
    log: Mutex<Log>,
    bus: broadcast::Sender<CommittedBatch>,
    records: InMemoryRecords,
    leases: std::sync::Arc<InMemoryLeases>,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        let records = InMemoryRecords::default();
        let leases = std::sync::Arc::new(InMemoryLeases::new(records.clone()));
        Self { log: Mutex::new(Log::default()), bus: broadcast::channel(4096).0, records, leases }
    }
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventStore for InMemoryStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError> {
        let mut log = self.log.lock();
        let current = log.version(stream);
        if let Some(&(first, count)) = log.commands.get(&context.command_id) {
            let events: Vec<_> = (first..first + count as u64).map(|p| log.at(p).clone()).collect();
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Ok(Appended { events, version, already_committed: true }));
        }
        if !expected.matches(current) {
            return Ok(Err(Conflict { expected, actual: current }));
        }
        if events.is_empty() {
            return Ok(Ok(Appended { events: Vec::new(), version: current, already_committed: false }));
        }
        let recorded_at = Utc::now();
        let first = log.events.len() as Position + 1;
        let recorded: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(offset, new)| RecordedEvent {
                position: first + offset as u64,
                stream: stream.clone(),
                version: current + 1 + offset as u64,
                event_id: new.event_id,
                event_type: new.event_type,
                schema_version: new.schema_version,
                payload: new.payload,
                recorded_at,
                correlation_id: context.correlation_id,
                causation_id: context.causation_id,
                metadata: context.metadata.clone(),
            })
            .collect();
        log.commands.insert(context.command_id, (first, recorded.len()));
        log.streams.entry(stream.clone()).or_default().extend(recorded.iter().map(|e| e.position));
        log.events.extend(recorded.iter().cloned());
        let version = current + recorded.len() as u64;
        // Sent under the lock so batches reach subscribers in position order.
        let _ = self.bus.send(recorded.clone().into());
        Ok(Ok(Appended { events: recorded, version, already_committed: false }))
    }

    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let log = self.log.lock();
        Ok(log.commands.get(&command_id).map(|&(first, count)| (first..first + count as u64).map(|p| log.at(p).clone()).collect()))
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log.lock();
        let Some(positions) = log.streams.get(stream) else { return Ok(Vec::new()) };
        let skip = from_version.max(1) as usize - 1;
        Ok(positions.iter().skip(skip).take(limit).map(|&p| log.at(p).clone()).collect())
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log.lock();
        let Some(positions) = log.streams.get(stream) else { return Ok(Vec::new()) };
        let skip = positions.len().saturating_sub(count);
        Ok(positions[skip..].iter().map(|&p| log.at(p).clone()).collect())
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        Ok(self.log.lock().version(stream))
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.log.lock();
        let skip = from_position.max(1) as usize - 1;
        Ok(log.events.iter().skip(skip).filter(|e| types.is_none_or(|types| types.contains(&e.event_type))).take(limit).cloned().collect())
    }

    async fn head(&self) -> Result<Position, StoreError> {
        Ok(self.log.lock().events.len() as Position)
    }

    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let log = self.log.lock();
        let ids: BTreeMap<Uuid, ()> = log
            .streams
            .keys()
            .filter(|s| s.aggregate_type == aggregate_type && after.is_none_or(|after| s.aggregate_id > after))
            .map(|s| (s.aggregate_id, ()))
            .collect();
        Ok(ids.into_keys().take(limit).collect())
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.log.lock().snapshots.insert(stream.clone(), snapshot);
        Ok(())
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.log.lock().snapshots.get(stream).cloned())
    }

    fn records(&self, table: &str) -> Result<std::sync::Arc<dyn super::Records>, StoreError> {
        Ok(self.records.table(table))
    }

    fn leases(&self) -> Result<std::sync::Arc<dyn Leases>, StoreError> {
        Ok(self.leases.clone())
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.bus.subscribe()
    }
}
