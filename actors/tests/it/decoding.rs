//! The decoders of stored bytes (events, snapshots, payloads) on arbitrary and damaged input:
//! never a panic, always a typed error.

use actors::{decode_bytes, encode_bytes};
use actors::{BytesError, CodecError, EventCodec, RecordedEvent, Snapshot, StreamId};
use proptest::prelude::*;
use uuid::Uuid;

use crate::account::AccountEvent;

fn recorded(payload: Vec<u8>, event_type: String, metadata: Vec<(String, String)>) -> RecordedEvent {
    RecordedEvent {
        position: 42,
        stream: StreamId::new("account", Uuid::from_u128(7)),
        version: 3,
        event_id: Uuid::from_u128(9),
        event_type,
        schema_version: 1,
        payload,
        recorded_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("a time"),
        correlation_id: Uuid::from_u128(11),
        causation_id: Some(Uuid::from_u128(13)),
        metadata: metadata.into_iter().collect(),
    }
}

fn any_recorded() -> impl Strategy<Value = RecordedEvent> {
    (proptest::collection::vec(any::<u8>(), 0..64), "[A-Za-z]{0,12}", proptest::collection::vec(("[a-z]{0,4}", ".{0,6}"), 0..3))
        .prop_map(|(payload, event_type, metadata)| recorded(payload, event_type, metadata))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_are_a_typed_error_or_a_value_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _: Result<RecordedEvent, BytesError> = decode_bytes(&bytes);
        let _: Result<Snapshot, BytesError> = decode_bytes(&bytes);
        let event = recorded(bytes, "Deposited".into(), Vec::new());
        match EventCodec::<AccountEvent>::default().decode(&event) {
            Ok(_) | Err(CodecError::Decode { .. }) => {}
            Err(other) => prop_assert!(false, "not a decoding error: {other}"),
        }
    }

    #[test]
    fn a_damaged_stored_event_is_a_typed_error_never_a_panic(
        event in any_recorded(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = encode_bytes(&event).expect("encodes");
        prop_assert_eq!(decode_bytes::<RecordedEvent>(&bytes), Ok(event.clone()));

        let cut = at.index(bytes.len());
        prop_assert!(decode_bytes::<RecordedEvent>(&bytes[..cut]).is_err());

        let mut longer = bytes.clone();
        longer.push(byte);
        prop_assert_eq!(decode_bytes::<RecordedEvent>(&longer), Err(BytesError::TrailingBytes { left: 1 }));

        let mut flipped = bytes;
        let flip = at.index(flipped.len());
        flipped[flip] ^= byte | 1;
        let _: Result<RecordedEvent, BytesError> = decode_bytes(&flipped);
    }
}

#[test]
fn a_cut_event_says_it_ended_too_early() {
    let bytes = encode_bytes(&recorded(vec![1, 2, 3], "Deposited".into(), Vec::new())).expect("encodes");
    assert_eq!(decode_bytes::<RecordedEvent>(&bytes[..bytes.len() - 1]), Err(BytesError::Truncated));
}
