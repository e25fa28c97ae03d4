//! How an event is stored under its `E|stream|version` key: the second format, and the first,
//! read only to upgrade a log written before (`upgrade.rs`).
//!
//! The second format leaves out what the key already says (the stream and the version) and
//! keeps the time as integer seconds and nanoseconds instead of RFC 3339 text, which was
//! parsed again on every load. Its strings and payload are borrowed from the stored bytes
//! while decoding, so the only allocations are the event's own fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{decode_bytes, encode_bytes, BytesError};
use crate::event::{Metadata, Position, RecordedEvent, StreamId, Version};
use crate::store::{EventView, StoreError};

/// The format the store writes; kept in the log under the `V` key.
pub(super) const CURRENT: u8 = 2;

/// One stored event of the second format, borrowing from the bytes it was decoded from. The
/// position comes first, so [`position_of`] reads it without decoding the rest.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
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

/// The stored bytes of `event` (its stream and version go into its key).
pub(super) fn encode(event: &RecordedEvent) -> Result<Vec<u8>, StoreError> {
    let stored = Stored {
        position: event.position,
        seconds: event.recorded_at.timestamp(),
        nanos: event.recorded_at.timestamp_subsec_nanos(),
        event_id: event.event_id,
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        schema_version: event.schema_version,
        event_type: &event.event_type,
        metadata: event.metadata.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
        payload: &event.payload,
    };
    encode_bytes(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The event stored as `bytes` under the key of `stream` at `version`.
pub(super) fn decode(stream: &StreamId, version: Version, bytes: &[u8]) -> Result<RecordedEvent, StoreError> {
    let stored: Stored<'_> = borrow_decode(bytes)?;
    let recorded_at = DateTime::<Utc>::from_timestamp(stored.seconds, stored.nanos)
        .ok_or(StoreError::Undecodable(BytesError::Invalid { reason: "the stored time is out of range".into() }))?;
    Ok(RecordedEvent {
        position: stored.position,
        stream: stream.clone(),
        version,
        event_id: stored.event_id,
        event_type: stored.event_type.to_owned(),
        schema_version: stored.schema_version,
        payload: stored.payload.to_vec(),
        recorded_at,
        correlation_id: stored.correlation_id,
        causation_id: stored.causation_id,
        metadata: stored.metadata.into_iter().map(|(key, value)| (key.to_owned(), value.to_owned())).collect::<Metadata>(),
    })
}

/// What a rehydration needs of the event stored as `bytes` at `version`, borrowed from them.
pub(super) fn view(version: Version, bytes: &[u8]) -> Result<EventView<'_>, StoreError> {
    let stored: Stored<'_> = borrow_decode(bytes)?;
    Ok(EventView {
        position: stored.position,
        version,
        event_type: stored.event_type,
        schema_version: stored.schema_version,
        payload: stored.payload,
    })
}

/// The position of a stored event, read from the front of its bytes (both formats start with
/// it) without decoding the rest.
pub(super) fn position_of(bytes: &[u8]) -> Result<Position, StoreError> {
    let (position, _) = bincode::serde::decode_from_slice::<Position, _>(bytes, bincode::config::standard())
        .map_err(|_| StoreError::Corrupt("a stored event does not start with its position".into()))?;
    Ok(position)
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

    fn any_event() -> impl Strategy<Value = RecordedEvent> {
        (
            (1..u64::MAX, 1..u64::MAX, any::<u128>(), any::<u128>(), proptest::option::of(any::<u128>())),
            ("[a-z]{1,12}", any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)),
            (-8_000_000_000i64..8_000_000_000, 0u32..1_000_000_000),
            proptest::collection::btree_map("[a-z]{0,6}", ".{0,6}", 0..3),
        )
            .prop_map(
                |((position, version, id, correlation, causation), (event_type, schema_version, payload), (secs, nanos), metadata)| {
                    RecordedEvent {
                        position,
                        stream: StreamId::new("course", Uuid::from_u128(id ^ 7)),
                        version,
                        event_id: Uuid::from_u128(id),
                        event_type,
                        schema_version,
                        payload,
                        recorded_at: DateTime::from_timestamp(secs, nanos).expect("in range"),
                        correlation_id: Uuid::from_u128(correlation),
                        causation_id: causation.map(Uuid::from_u128),
                        metadata,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn every_event_reads_back_as_written_and_damage_is_a_typed_error(event in any_event(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let bytes = encode(&event).expect("encodes");
            prop_assert_eq!(decode(&event.stream, event.version, &bytes).expect("decodes"), event.clone());
            prop_assert_eq!(position_of(&bytes).expect("a position"), event.position);
            prop_assert!(decode(&event.stream, event.version, &bytes[..at.index(bytes.len())]).is_err());
            let mut longer = bytes.clone();
            longer.push(byte);
            prop_assert!(decode(&event.stream, event.version, &longer).is_err());
            let mut flipped = bytes;
            let flip = at.index(flipped.len());
            flipped[flip] ^= byte | 1;
            let _ = decode(&event.stream, event.version, &flipped);
        }
    }

    #[test]
    fn the_second_format_is_smaller_than_the_first() {
        let event = RecordedEvent {
            position: 12_345,
            stream: StreamId::new("account", Uuid::from_u128(1)),
            version: 17,
            event_id: Uuid::from_u128(2),
            event_type: "Deposited".into(),
            schema_version: 1,
            payload: vec![1, 0],
            recorded_at: Utc::now(),
            correlation_id: Uuid::from_u128(3),
            causation_id: None,
            metadata: Metadata::new(),
        };
        let first = encode_bytes(&event).expect("encodes");
        let second = encode(&event).expect("encodes");
        assert!(second.len() * 3 < first.len() * 2, "{} bytes against {}", second.len(), first.len());
        assert_eq!(decode_first(&first).expect("decodes"), event);
    }
}
