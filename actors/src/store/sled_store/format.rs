//! How events are stored under their `E|stream|first version` key: the third format, in
//! chunks, and the two before it, read only to upgrade a log written before (`upgrade.rs`).
//!
//! A chunk holds consecutive events of one stream written together (by one append, at most
//! [`CHUNK_EVENTS`] of them and about [`CHUNK_BYTES`]), so the time, the correlation and
//! causation ids and the metadata they share are stored once, and a long stream replays from a
//! few hundred sled values instead of one per event: sled pays per key it visits or pages in.
//! Chunks are written once and never changed, as events are.
//!
//! The second format kept one event per key; the first, the whole `RecordedEvent` with its
//! time as RFC 3339 text. Strings and payloads are borrowed from the stored bytes while
//! decoding, so the only allocations are the event's own fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{decode_bytes, encode_bytes, BytesError};
use crate::event::{Metadata, Position, RecordedEvent, StreamId, Version};
use crate::store::{EventView, StoreError};

/// The format the store writes; kept in the log under the `V` key.
pub(super) const CURRENT: u8 = 3;
/// Most events in one chunk.
const CHUNK_EVENTS: usize = 256;
/// About the most bytes of one chunk: sled keeps a leaf of up to 17 values in one piece and
/// writes one larger than 128 KiB to a file of its own, so chunks stay well below an eighth
/// of that. A single larger event is a chunk alone.
const CHUNK_BYTES: usize = 4 * 1024;

/// One stored chunk, borrowing from the bytes it was decoded from. Its first position and its
/// length come first, so [`Head`] reads them without decoding the rest.
#[derive(Serialize, Deserialize)]
struct Chunk<'a> {
    first_position: Position,
    count: u32,
    seconds: i64,
    nanos: u32,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    #[serde(borrow)]
    metadata: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    events: Vec<ChunkEvent<'a>>,
}

#[derive(Serialize, Deserialize)]
struct ChunkEvent<'a> {
    event_id: Uuid,
    schema_version: u32,
    event_type: &'a str,
    payload: &'a [u8],
}

/// The front of a chunk: where it is in the log and how many events it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) struct Head {
    pub(super) first_position: Position,
    pub(super) count: u32,
}

impl Head {
    pub(super) fn last_position(&self) -> Position {
        self.first_position + u64::from(self.count) - 1
    }
}

/// Whether `next` may join `chunk` (non-empty, `bytes` of [`stored_size`] so far): the same
/// stream, the next version at the next position, the same shared fields, and room left.
fn joins(chunk: &[RecordedEvent], bytes: usize, next: &RecordedEvent) -> bool {
    let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
    chunk.len() < CHUNK_EVENTS
        && bytes + stored_size(next) <= CHUNK_BYTES
        && next.stream == first.stream
        && next.version == last.version + 1
        && next.position == last.position + 1
        && next.recorded_at == first.recorded_at
        && next.correlation_id == first.correlation_id
        && next.causation_id == first.causation_id
        && next.metadata == first.metadata
}

/// About what an event adds to a chunk.
fn stored_size(event: &RecordedEvent) -> usize {
    24 + event.event_type.len() + event.payload.len()
}

/// Splits `events` into chunks, in order: runs of events that [`joins`] allows together.
pub(super) fn chunks(events: &[RecordedEvent]) -> impl Iterator<Item = &[RecordedEvent]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (mut length, mut bytes) = (1, stored_size(&rest[0]));
        while length < rest.len() && joins(&rest[..length], bytes, &rest[length]) {
            bytes += stored_size(&rest[length]);
            length += 1;
        }
        let (chunk, tail) = rest.split_at(length);
        rest = tail;
        Some(chunk)
    })
}

/// Gathers events arriving one by one (an upgrade reads them in position order) into chunks.
#[derive(Default)]
pub(super) struct Chunker {
    pending: Vec<RecordedEvent>,
    /// The [`stored_size`] of `pending`.
    bytes: usize,
}

impl Chunker {
    /// Adds `event`; hands back the chunk it closed, if it does not join the pending one.
    pub(super) fn push(&mut self, event: RecordedEvent) -> Option<Vec<RecordedEvent>> {
        let joined = self.pending.is_empty() || joins(&self.pending, self.bytes, &event);
        let closed = if joined { None } else { Some(std::mem::take(&mut self.pending)) };
        self.bytes = if joined { self.bytes } else { 0 } + stored_size(&event);
        self.pending.push(event);
        closed
    }

    /// The last chunk, if any.
    pub(super) fn finish(&mut self) -> Option<Vec<RecordedEvent>> {
        self.bytes = 0;
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// The stored bytes of `chunk`, events that [`chunks`] put together (its stream and first
/// version go into its key).
pub(super) fn encode(chunk: &[RecordedEvent]) -> Result<Vec<u8>, StoreError> {
    let first = chunk.first().ok_or_else(|| StoreError::Corrupt("an empty chunk".into()))?;
    let stored = Chunk {
        first_position: first.position,
        count: u32::try_from(chunk.len()).map_err(|_| StoreError::Corrupt("a chunk too long".into()))?,
        seconds: first.recorded_at.timestamp(),
        nanos: first.recorded_at.timestamp_subsec_nanos(),
        correlation_id: first.correlation_id,
        causation_id: first.causation_id,
        metadata: first.metadata.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
        events: chunk
            .iter()
            .map(|event| ChunkEvent {
                event_id: event.event_id,
                schema_version: event.schema_version,
                event_type: &event.event_type,
                payload: &event.payload,
            })
            .collect(),
    };
    encode_bytes(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_chunk(bytes: &[u8]) -> Result<Chunk<'_>, StoreError> {
    let chunk: Chunk<'_> = borrow_decode(bytes)?;
    if chunk.events.is_empty() || chunk.events.len() != chunk.count as usize {
        return Err(BytesError::Invalid { reason: "a chunk's length does not match its events".into() }.into());
    }
    Ok(chunk)
}

/// The events stored as `bytes` under the key of `stream` at `first_version`.
pub(super) fn decode(stream: &StreamId, first_version: Version, bytes: &[u8]) -> Result<Vec<RecordedEvent>, StoreError> {
    let chunk = decode_chunk(bytes)?;
    let recorded_at = time(chunk.seconds, chunk.nanos)?;
    let metadata: Metadata = chunk.metadata.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect();
    Ok(chunk
        .events
        .iter()
        .zip(0u64..)
        .map(|(event, offset)| RecordedEvent {
            position: chunk.first_position + offset,
            stream: stream.clone(),
            version: first_version + offset,
            event_id: event.event_id,
            event_type: event.event_type.to_owned(),
            schema_version: event.schema_version,
            payload: event.payload.to_vec(),
            recorded_at,
            correlation_id: chunk.correlation_id,
            causation_id: chunk.causation_id,
            metadata: metadata.clone(),
        })
        .collect())
}

/// What a rehydration needs of the events stored as `bytes` from `first_version`, borrowed
/// from them, in order.
pub(super) fn views(first_version: Version, bytes: &[u8]) -> Result<Vec<EventView<'_>>, StoreError> {
    let chunk = decode_chunk(bytes)?;
    Ok(chunk
        .events
        .into_iter()
        .zip(0u64..)
        .map(|(event, offset)| EventView {
            position: chunk.first_position + offset,
            version: first_version + offset,
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
        })
        .collect())
}

/// The head of a stored chunk, read from its front without decoding the rest.
pub(super) fn head(bytes: &[u8]) -> Result<Head, StoreError> {
    let (head, _) = bincode::serde::decode_from_slice::<Head, _>(bytes, bincode::config::standard())
        .map_err(|_| StoreError::Corrupt("a stored chunk does not start with its position and length".into()))?;
    if head.count == 0 {
        return Err(StoreError::Corrupt("an empty stored chunk".into()));
    }
    Ok(head)
}

fn time(seconds: i64, nanos: u32) -> Result<DateTime<Utc>, StoreError> {
    DateTime::<Utc>::from_timestamp(seconds, nanos)
        .ok_or(StoreError::Undecodable(BytesError::Invalid { reason: "the stored time is out of range".into() }))
}

/// One event of the second format, one per key.
#[derive(Serialize, Deserialize)]
struct Second<'a> {
    position: Position,
    seconds: i64,
    nanos: u32,
    event_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    schema_version: u32,
    event_type: &'a str,
    #[serde(borrow)]
    metadata: Vec<(&'a str, &'a str)>,
    payload: &'a [u8],
}

/// The second format: the event stored as `bytes` under the key of `stream` at `version`.
pub(super) fn decode_second(stream: &StreamId, version: Version, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let stored: Second<'_> = borrow_decode(bytes)?;
    Ok(RecordedEvent {
        position: stored.position,
        stream: stream.clone(),
        version,
        event_id: stored.event_id,
        event_type: stored.event_type.to_owned(),
        schema_version: stored.schema_version,
        payload: stored.payload.to_vec(),
        recorded_at: time(stored.seconds, stored.nanos)?,
        correlation_id: stored.correlation_id,
        causation_id: stored.causation_id,
        metadata: stored.metadata.into_iter().map(|(key, value)| (key.to_owned(), value.to_owned())).collect::<Metadata>(),
    })
}

/// The first format: the whole `RecordedEvent`, its time as RFC 3339 text.
pub(super) fn decode_first(bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    Ok(decode_bytes(bytes)?)
}

/// As `codec::decode_bytes` (same limit, trailing bytes refused), borrowing from `bytes`.
fn borrow_decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    let config = bincode::config::standard().with_limit::<{ 256 * 1024 * 1024 }>();
    let (value, read) = bincode::serde::borrow_decode_from_slice(bytes, config).map_err(|error| match error {
        bincode::error::DecodeError::UnexpectedEnd { .. } => BytesError::Truncated,
        other => BytesError::Invalid { reason: other.to_string() },
    })?;
    if read != bytes.len() {
        return Err(BytesError::TrailingBytes { left: bytes.len() - read }.into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Events of one append: one stream, consecutive versions and positions, shared fields.
    fn any_append() -> impl Strategy<Value = Vec<RecordedEvent>> {
        (
            (1..u64::MAX / 2, 1..u64::MAX / 2, any::<u128>(), any::<u128>(), proptest::option::of(any::<u128>())),
            proptest::collection::vec(("[a-z]{1,12}", any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..40),
            (-8_000_000_000i64..8_000_000_000, 0u32..1_000_000_000),
            proptest::collection::btree_map("[a-z]{0,6}", ".{0,6}", 0..3),
        )
            .prop_map(|((position, version, id, correlation, causation), events, (secs, nanos), metadata)| {
                events
                    .into_iter()
                    .zip(0u64..)
                    .map(|((event_type, schema_version, payload), offset)| RecordedEvent {
                        position: position + offset,
                        stream: StreamId::new("course", Uuid::from_u128(id ^ 7)),
                        version: version + offset,
                        event_id: Uuid::from_u128(id.wrapping_add(u128::from(offset))),
                        event_type,
                        schema_version,
                        payload,
                        recorded_at: DateTime::from_timestamp(secs, nanos).expect("in range"),
                        correlation_id: Uuid::from_u128(correlation),
                        causation_id: causation.map(Uuid::from_u128),
                        metadata: metadata.clone(),
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn every_chunk_reads_back_as_written_and_damage_is_a_typed_error(
            append in any_append(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let chunks: Vec<&[RecordedEvent]> = chunks(&append).collect();
            prop_assert_eq!(chunks.concat(), append.clone(), "the chunks are the append, in order");
            for chunk in chunks {
                let (stream, first) = (&chunk[0].stream, chunk[0].version);
                let bytes = encode(chunk).expect("encodes");
                prop_assert_eq!(decode(stream, first, &bytes).expect("decodes"), chunk.to_vec());
                let views = views(first, &bytes).expect("views");
                prop_assert!(views.iter().zip(chunk).all(|(view, event)| *view == EventView::of(event)));
                let head = head(&bytes).expect("a head");
                prop_assert_eq!((head.first_position, head.last_position()), (chunk[0].position, chunk[chunk.len() - 1].position));
                prop_assert!(decode(stream, first, &bytes[..at.index(bytes.len())]).is_err());
                let mut longer = bytes.clone();
                longer.push(byte);
                prop_assert!(decode(stream, first, &longer).is_err());
                let mut flipped = bytes;
                let flip = at.index(flipped.len());
                flipped[flip] ^= byte | 1;
                let _ = decode(stream, first, &flipped);
            }
        }
    }

    fn deposited(position: Position, version: Version, correlation: u128) -> RecordedEvent {
        RecordedEvent {
            position,
            stream: StreamId::new("account", Uuid::from_u128(1)),
            version,
            event_id: Uuid::from_u128(u128::from(position)),
            event_type: "Deposited".into(),
            schema_version: 1,
            payload: vec![1, 0],
            recorded_at: DateTime::from_timestamp(1_700_000_000, 5).expect("in range"),
            correlation_id: Uuid::from_u128(correlation),
            causation_id: None,
            metadata: Metadata::new(),
        }
    }

    #[test]
    fn a_chunk_holds_one_append_at_most_and_stays_small() {
        let long: Vec<RecordedEvent> = (1..=1_000).map(|n| deposited(n, n, 3)).collect();
        let sizes: Vec<usize> = chunks(&long).map(<[RecordedEvent]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 1_000);
        // About 4 KiB each: a hundred-odd deposits a chunk.
        assert!(sizes.len() <= 10 && sizes.iter().all(|&size| size <= CHUNK_EVENTS), "{sizes:?}");
        assert!(chunks(&long).all(|chunk| encode(chunk).expect("encodes").len() <= CHUNK_BYTES + 128));

        // Another append (its own correlation), another stream, a gap in the positions.
        let mut other_stream = deposited(4, 1, 3);
        other_stream.stream = StreamId::new("account", Uuid::from_u128(2));
        let mixed = [deposited(1, 1, 3), deposited(2, 2, 3), deposited(3, 3, 4), other_stream, deposited(6, 4, 4)];
        let sizes: Vec<usize> = chunks(&mixed).map(<[RecordedEvent]>::len).collect();
        assert_eq!(sizes, [2, 1, 1, 1]);

        let mut chunker = Chunker::default();
        let closed: Vec<usize> = mixed.iter().cloned().filter_map(|event| chunker.push(event)).map(|chunk| chunk.len()).collect();
        assert_eq!(closed, [2, 1, 1]);
        assert_eq!(chunker.finish().map(|chunk| chunk.len()), Some(1));
        assert!(chunker.finish().is_none());
    }

    #[test]
    fn a_long_stream_takes_less_room_than_in_the_formats_before() {
        let long: Vec<RecordedEvent> = (1..=1_000).map(|n| deposited(n, n, 3)).collect();
        let third: usize = chunks(&long).map(|chunk| encode(chunk).expect("encodes").len()).sum();
        let first: usize = long.iter().map(|event| encode_bytes(event).expect("encodes").len()).sum();
        assert!(third * 3 < first, "{third} bytes against {first}");
        let single = encode(&long[..1]).expect("encodes");
        assert!(single.len() * 3 < encode_bytes(&long[0]).expect("encodes").len() * 2);
        assert_eq!(decode_first(&encode_bytes(&long[0]).expect("encodes")).expect("decodes"), long[0]);
    }

    #[test]
    fn the_second_format_still_reads() {
        let event = deposited(12_345, 17, 3);
        let stored = Second {
            position: event.position,
            seconds: event.recorded_at.timestamp(),
            nanos: event.recorded_at.timestamp_subsec_nanos(),
            event_id: event.event_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            schema_version: event.schema_version,
            event_type: &event.event_type,
            metadata: vec![("tenant", "a")],
            payload: &event.payload,
        };
        let bytes = encode_bytes(&stored).expect("encodes");
        let mut expected = event.clone();
        expected.metadata.insert("tenant".into(), "a".into());
        assert_eq!(decode_second(&event.stream, 17, &bytes).expect("decodes"), expected);
        assert!(decode_second(&event.stream, 17, &bytes[..bytes.len() - 1]).is_err());
    }
}
