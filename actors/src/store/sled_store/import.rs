//! Restoring a backup: events that already carry their positions, ids, times and payloads,
//! written by the writer thread exactly as given.

use std::collections::HashMap;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::format;
use super::keys::{event_key, type_prefix};
use super::positions;
use super::{Request, SledStore, Writer};
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::{StoreError, SyncStep};

/// Events per `apply_batch`: each batch is atomic, and one flush follows the last.
const BATCH: usize = 10_000;

/// Why an import was refused (nothing was written) or failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImportError {
    #[error("event {event_id} is at position {found}, but the log continues at position {expected}")]
    Position { event_id: Uuid, expected: Position, found: Position },
    #[error("the event at position {position} is version {found} of {stream}, but that stream continues at version {expected}")]
    Version { position: Position, stream: StreamId, expected: Version, found: Version },
    #[error("the event at position {position} names an aggregate type longer than 255 bytes")]
    AggregateType { position: Position },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(super) struct ImportRequest {
    events: Vec<RecordedEvent>,
    reply: oneshot::Sender<Result<Position, ImportError>>,
}

impl SledStore {
    /// Writes events as a backup recorded them (positions, versions, ids, times, payload bytes)
    /// and answers the new head.
    ///
    /// The events must continue the log exactly: the first at the head + 1, positions gapless,
    /// each stream's versions following on from what it holds; otherwise nothing is written. The
    /// writer thread takes the import between two group commits and writes it in atomic batches
    /// of 10 000 events with one flush (and `fdatasync`) at the end, so a failure part-way may
    /// leave whole batches written. Command ids are not part of an event: the idempotency records
    /// of the original appends are not restored, and a command retried after a restore is
    /// applied again. Live subscribers are sent the last imported event and read the rest from
    /// the log, as for any hole.
    pub async fn import(&self, events: Vec<RecordedEvent>) -> Result<Position, ImportError> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Request::Import(ImportRequest { events, reply })).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Writer {
    pub(super) fn import(&mut self, request: ImportRequest) {
        let outcome = self.write_imported(&request.events);
        let _ = request.reply.send(outcome);
    }

    fn write_imported(&mut self, events: &[RecordedEvent]) -> Result<Position, ImportError> {
        self.durability.check()?;
        let Some(last) = events.last() else {
            return Ok(self.next_position - 1);
        };
        let versions = self.check_continuation(events)?;
        if let Err(error) = self.write_batches(events) {
            // Some batches may be in the tree; the store is poisoned (or the events could not
            // be encoded, before anything was written).
            tracing::error!(%error, "import failed");
            return Err(error.into());
        }
        self.next_position = last.position + 1;
        self.durable.store(last.position, std::sync::atomic::Ordering::Release);
        for (stream, version) in versions {
            self.versions.put(stream, version);
        }
        tracing::info!(events = events.len(), head = last.position, "events imported");
        let _ = self.bus.send(vec![last.clone()].into());
        Ok(last.position)
    }

    /// The streams' versions after the import, if every event continues the log.
    fn check_continuation(&mut self, events: &[RecordedEvent]) -> Result<HashMap<StreamId, Version>, ImportError> {
        let mut pending = HashMap::new();
        for (offset, event) in events.iter().enumerate() {
            let expected = self.next_position + offset as u64;
            if event.position != expected {
                return Err(ImportError::Position { event_id: event.event_id, expected, found: event.position });
            }
            if event.stream.aggregate_type.len() > usize::from(u8::MAX) {
                return Err(ImportError::AggregateType { position: event.position });
            }
            let current = self.current_version(&event.stream, &mut pending)?;
            if event.version != current + 1 {
                let stream = event.stream.clone();
                return Err(ImportError::Version { position: event.position, stream, expected: current + 1, found: event.version });
            }
            pending.insert(event.stream.clone(), event.version);
        }
        Ok(pending)
    }

    /// The keys an append writes (`E` chunks, the position runs, `T`; no `C`, there is no
    /// command), then one sync.
    fn write_batches(&mut self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        for (index, part) in events.chunks(BATCH).enumerate() {
            let mut batch = sled::Batch::default();
            let mut keys = Vec::with_capacity(part.len());
            for chunk in format::chunks(part) {
                let key = event_key(&chunk[0].stream, chunk[0].version);
                let bytes = match format::encode(chunk) {
                    Ok(bytes) => bytes,
                    // Earlier batches are in the tree already, at positions the writer would
                    // hand out again: only a reopen tells what is there.
                    Err(error) if index > 0 => return Err(self.durability.fail(SyncStep::Write, error)),
                    Err(error) => return Err(error),
                };
                keys.extend(std::iter::repeat_n(&key, chunk.len()).cloned());
                batch.insert(key, bytes);
                if chunk[0].version == 1 {
                    let mut type_key = type_prefix(&chunk[0].stream.aggregate_type);
                    type_key.extend_from_slice(chunk[0].stream.aggregate_id.as_bytes());
                    batch.insert(type_key, &[][..]);
                }
            }
            if let Some(first) = part.first() {
                positions::index(&mut batch, first.position, &keys);
            }
            self.durability.apply(&self.log, batch)?;
        }
        self.durability.sync()
    }
}
