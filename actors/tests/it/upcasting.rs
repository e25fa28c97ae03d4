//! Events stored at an older schema version still load: the committed v1 fixture goes through
//! the account's upcaster, from a record and from a sled store.

use actors::load_state;
use actors::{CodecError, CommandContext, EventCodec, EventStore, ExpectedVersion, NewEvent, RecordedEvent, SledStore, StreamId};
use serde::Serialize;
use uuid::Uuid;

use crate::account::{Account, AccountEvent, AccountState};
use crate::support::encoded;

/// `legacy::AccountEventV1::Deposited { amount: 4200 }` as bincode wrote it.
const DEPOSITED_V1: &[u8] = include_bytes!("../fixtures/account_deposited_v1.bin");

/// A serializing mirror of `legacy::AccountEventV1`: same variants, same order.
#[derive(Serialize)]
#[allow(dead_code)]
enum AccountEventV1 {
    Opened { owner: String },
    Deposited { amount: u64 },
    Withdrawn { amount: u64 },
}

fn recorded(event_type: &str, schema_version: u32, payload: &[u8]) -> RecordedEvent {
    RecordedEvent {
        position: 1,
        stream: StreamId::new("account", Uuid::new_v4()),
        version: 1,
        event_id: Uuid::new_v4(),
        event_type: event_type.into(),
        schema_version,
        payload: payload.to_vec(),
        recorded_at: Default::default(),
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        metadata: Default::default(),
    }
}

fn decode(record: &RecordedEvent) -> Result<AccountEvent, CodecError> {
    EventCodec::<AccountEvent>::default().decode(record)
}

#[test]
fn the_fixture_is_what_bincode_writes_for_a_v1_deposit() {
    let bytes = bincode::serde::encode_to_vec(AccountEventV1::Deposited { amount: 4200 }, bincode::config::standard()).unwrap();
    assert_eq!(bytes, DEPOSITED_V1);
    assert_eq!(DEPOSITED_V1, [0x01, 0xfb, 0x68, 0x10]);
}

#[test]
fn a_v1_deposit_decodes_as_a_deposit_without_a_note() {
    let event = decode(&recorded("Deposited", 1, DEPOSITED_V1)).unwrap();
    assert_eq!(event, AccountEvent::Deposited { amount: 4200, note: None });
}

#[test]
fn current_events_still_decode() {
    let events = [
        AccountEvent::Opened { owner: "ada".into() },
        AccountEvent::Deposited { amount: 4200, note: Some("rent".into()) },
        AccountEvent::Deposited { amount: 1, note: None },
        AccountEvent::Withdrawn { amount: 7 },
    ];
    for (new, event) in encoded(&events).into_iter().zip(events) {
        let expected_version = if new.event_type == "Deposited" { 2 } else { 1 };
        assert_eq!(new.schema_version, expected_version);
        assert_eq!(decode(&recorded(&new.event_type, new.schema_version, &new.payload)).unwrap(), event);
    }
}

#[test]
fn a_payload_that_is_no_event_is_a_decode_error() {
    // Variant 9 exists in neither version; an empty payload ends before the variant index.
    for (schema_version, payload) in [(2, &[9u8, 1, 2][..]), (1, &[9, 1, 2][..]), (2, &[][..]), (1, &[0x01, 0xfb][..])] {
        match decode(&recorded("Deposited", schema_version, payload)) {
            Err(CodecError::Decode { event_type, schema_version: reported, .. }) => {
                assert_eq!((event_type.as_str(), reported), ("Deposited", schema_version));
            }
            other => panic!("{payload:?} at v{schema_version} decoded as {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_v1_deposit_in_a_sled_store_loads_into_the_account() {
    let store = SledStore::temporary().unwrap();
    let stream = StreamId::new("account", Uuid::new_v4());
    let v1 = NewEvent { event_id: Uuid::new_v4(), event_type: "Deposited".into(), schema_version: 1, payload: DEPOSITED_V1.to_vec() };
    let mut events = encoded(&[AccountEvent::Opened { owner: "ada".into() }]);
    events.push(v1);
    events.extend(encoded(&[AccountEvent::Deposited { amount: 8, note: Some("tip".into()) }, AccountEvent::Withdrawn { amount: 200 }]));
    store.append(&stream, ExpectedVersion::Exact(0), events, &CommandContext::new_request()).await.unwrap().unwrap();

    let (state, version) = load_state::<Account>(&store, &stream, &EventCodec::default(), None).await.unwrap();
    assert_eq!(version, 4);
    assert_eq!(state, AccountState { owner: Some("ada".into()), balance: 4008, deposits: 2 });

    // Upcasting happens on read: the stored event is untouched.
    let stored = &store.read_stream(&stream, 2, 1).await.unwrap()[0];
    assert_eq!((stored.schema_version, stored.payload.as_slice()), (1, DEPOSITED_V1));
}
