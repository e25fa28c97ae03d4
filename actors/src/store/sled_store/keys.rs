//! The keys of the log tree and the reads every part of the store shares.

use uuid::Uuid;

use std::ops::ControlFlow;

use super::format;
use super::positions;
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::StoreError;

pub(super) const EVENT: u8 = b'E';
/// The first format's position keys, read only by an upgrade (`positions.rs` has the runs).
pub(super) const POSITION: u8 = b'P';
const TYPE_INDEX: u8 = b'T';
const COMMAND: u8 = b'C';
/// The log's stored format (one byte), the only key of its kind.
pub(super) const FORMAT: u8 = b'V';
pub(super) const SNAPSHOT: u8 = b'S';

/// The stream and (first) version an `E` key names.
pub(super) fn event_key_parts(key: &[u8]) -> Result<(StreamId, Version), StoreError> {
    let corrupt = || StoreError::Corrupt("bad event key".into());
    let (&tag, rest) = key.split_first().ok_or_else(corrupt)?;
    let (&length, rest) = rest.split_first().ok_or_else(corrupt)?;
    let length = usize::from(length);
    if tag != EVENT || rest.len() != length + 16 + 8 {
        return Err(corrupt());
    }
    let aggregate_type = std::str::from_utf8(&rest[..length]).map_err(|_| corrupt())?;
    let aggregate_id = uuid::Uuid::from_slice(&rest[length..length + 16]).map_err(|_| corrupt())?;
    Ok((StreamId::new(aggregate_type, aggregate_id), be_u64(&rest[length + 16..])?))
}

/// The events of the chunk stored under the `E` key `key`.
pub(super) fn decode_chunk(key: &[u8], bytes: &[u8]) -> Result<Vec<RecordedEvent>, StoreError> {
    let (stream, first_version) = event_key_parts(key)?;
    format::decode(&stream, first_version, bytes)
}

/// The version an `E` key ends with (its chunk's first).
pub(super) fn version_of_key(key: &[u8]) -> Result<Version, StoreError> {
    key.len().checked_sub(8).map(|at| be_u64(&key[at..])).ok_or_else(|| StoreError::Corrupt("bad event key".into()))?
}

pub(super) fn stream_prefix(tag: u8, stream: &StreamId) -> Vec<u8> {
    let name = stream.aggregate_type.as_bytes();
    let mut key = Vec::with_capacity(2 + name.len() + 16 + 8);
    key.push(tag);
    key.push(u8::try_from(name.len()).expect("aggregate type names are at most 255 bytes"));
    key.extend_from_slice(name);
    key.extend_from_slice(stream.aggregate_id.as_bytes());
    key
}

pub(super) fn events_prefix(stream: &StreamId) -> Vec<u8> {
    stream_prefix(EVENT, stream)
}

pub(super) fn event_key(stream: &StreamId, version: Version) -> Vec<u8> {
    let mut key = stream_prefix(EVENT, stream);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

pub(super) fn command_key(command_id: Uuid) -> [u8; 17] {
    let mut key = [COMMAND; 17];
    key[1..].copy_from_slice(command_id.as_bytes());
    key
}

pub(super) fn type_prefix(aggregate_type: &str) -> Vec<u8> {
    let mut key = vec![TYPE_INDEX, u8::try_from(aggregate_type.len()).expect("aggregate type names are at most 255 bytes")];
    key.extend_from_slice(aggregate_type.as_bytes());
    key
}

pub(super) fn be_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt("bad integer in key".into()))?;
    Ok(u64::from_be_bytes(array))
}

/// The key of the chunk of `stream` holding `version`, if the stream has one at or before it:
/// where a read of the stream from `version` starts.
pub(super) fn chunk_at(log: &sled::Tree, stream: &StreamId, version: Version) -> Result<Vec<u8>, StoreError> {
    match log.range(event_key(stream, 0)..=event_key(stream, version)).next_back() {
        Some(entry) => Ok(entry.map_err(StoreError::backend)?.0.to_vec()),
        None => Ok(event_key(stream, version)),
    }
}

/// The stream's last version in the tree, durable or not: the writer's own version check,
/// which must see the groups it wrote.
pub(super) fn stored_version(log: &sled::Tree, stream: &StreamId) -> Result<Version, StoreError> {
    match log.scan_prefix(stream_prefix(EVENT, stream)).next_back() {
        Some(entry) => {
            let (key, value) = entry.map_err(StoreError::backend)?;
            Ok(version_of_key(&key)? + u64::from(format::head(&value)?.count) - 1)
        }
        None => Ok(0),
    }
}

/// The stream's last version whose event is at or below `durable`: what readers may see.
pub(super) fn durable_version(log: &sled::Tree, stream: &StreamId, durable: Position) -> Result<Version, StoreError> {
    // Only the chunks of a group still being flushed are skipped: one or two steps at most.
    for entry in log.scan_prefix(stream_prefix(EVENT, stream)).rev() {
        let (key, value) = entry.map_err(StoreError::backend)?;
        let head = format::head(&value)?;
        if head.first_position <= durable {
            // A chunk's positions are consecutive, its versions too.
            return Ok(version_of_key(&key)? + head.last_position().min(durable) - head.first_position);
        }
    }
    Ok(0)
}

/// Reads events by the keys of the position index, decoding each chunk once however many of
/// its positions follow one another.
pub(super) struct ChunkReader<'t> {
    log: &'t sled::Tree,
    key: Vec<u8>,
    first_position: Position,
    events: Vec<Option<RecordedEvent>>,
}

impl<'t> ChunkReader<'t> {
    pub(super) fn new(log: &'t sled::Tree) -> Self {
        Self { log, key: Vec::new(), first_position: 0, events: Vec::new() }
    }

    /// The event at `position`, whose chunk the index says is stored under `key`.
    pub(super) fn event(&mut self, position: Position, key: &[u8]) -> Result<RecordedEvent, StoreError> {
        if self.key != key {
            let bytes = self.log.get(key).map_err(StoreError::backend)?;
            let bytes = bytes.ok_or_else(|| StoreError::Corrupt("the position index points at a missing chunk".into()))?;
            let events = decode_chunk(key, &bytes)?;
            self.first_position = events[0].position;
            self.events = events.into_iter().map(Some).collect();
            self.key = key.to_vec();
        }
        position
            .checked_sub(self.first_position)
            .and_then(|offset| self.events.get_mut(usize::try_from(offset).ok()?))
            .and_then(Option::take)
            .ok_or_else(|| StoreError::Corrupt(format!("the position index points at a chunk without position {position}")))
    }
}

/// The events `command_id` committed, if all of them are at or below `durable`.
pub(super) fn committed_events(log: &sled::Tree, command_id: Uuid, durable: Position) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
    let Some(value) = log.get(command_key(command_id)).map_err(StoreError::backend)? else {
        return Ok(None);
    };
    if value.len() != 12 {
        return Err(StoreError::Corrupt("bad command record".into()));
    }
    let first = be_u64(&value[..8])?;
    let count = u32::from_be_bytes(value[8..12].try_into().expect("4 bytes"));
    if (first + u64::from(count)).saturating_sub(1) > durable {
        return Ok(None);
    }
    let mut events = Vec::with_capacity(count as usize);
    let mut chunks = ChunkReader::new(log);
    positions::scan(log, first, first + u64::from(count) - 1, |position, event_key| {
        events.push(chunks.event(position, event_key)?);
        Ok(ControlFlow::Continue(()))
    })?;
    if events.len() != count as usize {
        return Err(StoreError::Corrupt("command record points at a missing position".into()));
    }
    Ok(Some(events))
}
