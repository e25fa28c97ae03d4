//! Loading state from a snapshot plus the tail of the stream gives what a full replay gives, at
//! the head and at any earlier version.

use actors::load_state;
use actors::encode_bytes;
use actors::{Aggregate, CommandContext, EventCodec, EventStore, ExpectedVersion, InMemoryStore, SledStore, Snapshot, StreamId};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

use crate::account::{Account, AccountCommand, AccountEvent, AccountState};
use crate::support::{deposit, encoded, open};

fn command() -> impl Strategy<Value = AccountCommand> {
    prop_oneof![
        1 => "[a-z]{1,6}".prop_map(|owner| AccountCommand::Open { owner }),
        4 => (0..500u64, proptest::option::of("[a-z]{0,4}")).prop_map(|(amount, note)| AccountCommand::Deposit { amount, note }),
        3 => (0..800u64).prop_map(|amount| AccountCommand::Withdraw { amount }),
    ]
}

/// Decides `commands` one after the other and appends each accepted one's events to a new
/// stream; returns the stream and every event, in order.
async fn record(store: &dyn EventStore, commands: impl IntoIterator<Item = AccountCommand>) -> (StreamId, Vec<AccountEvent>) {
    let stream = StreamId::new(Account::TYPE, Uuid::new_v4());
    let mut state = AccountState::default();
    let mut history: Vec<AccountEvent> = Vec::new();
    for command in commands {
        let Ok(events) = Account::handle(&state, command) else { continue };
        let version = history.len() as u64;
        store.append(&stream, ExpectedVersion::Exact(version), encoded(&events), &CommandContext::new_request()).await.unwrap().unwrap();
        state = events.iter().fold(state, Account::apply);
        history.extend(events);
    }
    (stream, history)
}

async fn save_replayed_snapshot(store: &dyn EventStore, stream: &StreamId, history: &[AccountEvent], version: usize) {
    let state = Account::replay(&history[..version]);
    store.save_snapshot(stream, Snapshot { version: version as u64, state: encode_bytes(&state).unwrap() }).await.unwrap();
}

async fn load(store: &dyn EventStore, stream: &StreamId, up_to: Option<u64>) -> (AccountState, u64) {
    load_state::<Account>(store, stream, &EventCodec::default(), up_to).await.expect("the stream loads")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_snapshot_and_its_tail_equal_a_full_replay_at_any_version(
        commands in prop::collection::vec(command(), 0..40),
        snapshot_at in any::<Index>(),
        up_to in any::<Index>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(async {
            let stores: [Box<dyn EventStore>; 2] = [Box::new(InMemoryStore::new()), Box::new(SledStore::temporary().unwrap())];
            for store in stores {
                let commands = std::iter::once(open("ada")).chain(commands.iter().cloned());
                let (stream, history) = record(store.as_ref(), commands).await;
                let head = history.len();
                let full = (Account::replay(&history), head as u64);
                assert_eq!(load(store.as_ref(), &stream, None).await, full, "without a snapshot");

                let snapshot_at = snapshot_at.index(head + 1);
                save_replayed_snapshot(store.as_ref(), &stream, &history, snapshot_at).await;
                assert_eq!(load(store.as_ref(), &stream, None).await, full, "with a snapshot at {snapshot_at}");

                let up_to = up_to.index(head + 1);
                let then = (Account::replay(&history[..up_to]), up_to as u64);
                assert_eq!(load(store.as_ref(), &stream, Some(up_to as u64)).await, then, "at version {up_to}, snapshot at {snapshot_at}");
            }
        });
    }
}

#[tokio::test]
async fn load_state_starts_from_the_snapshot_and_replays_only_the_tail() {
    let store = InMemoryStore::new();
    let (stream, history) = record(&store, [open("ada"), deposit(10), deposit(20), deposit(30)]).await;
    // A snapshot that disagrees with the log shows which one load_state read.
    let forged = AccountState { owner: Some("forged".into()), balance: 1000, deposits: 0 };
    store.save_snapshot(&stream, Snapshot { version: 2, state: encode_bytes(&forged).unwrap() }).await.unwrap();

    let expected = AccountState { owner: Some("forged".into()), balance: 1050, deposits: 2 };
    assert_eq!(load(&store, &stream, None).await, (expected, 4));
    assert_eq!(load(&store, &stream, Some(3)).await, (AccountState { owner: Some("forged".into()), balance: 1020, deposits: 1 }, 3));
    // A snapshot newer than the version asked for is not used.
    assert_eq!(load(&store, &stream, Some(1)).await, (Account::replay(&history[..1]), 1));
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_decoded_is_ignored() {
    let store = SledStore::temporary().unwrap();
    let (stream, history) = record(&store, [open("ada"), deposit(10), AccountCommand::Withdraw { amount: 4 }]).await;
    // An `Option` tag of 7: no `AccountState` starts like this.
    store.save_snapshot(&stream, Snapshot { version: 2, state: vec![7, 1, 2] }).await.unwrap();

    assert_eq!(load(&store, &stream, None).await, (Account::replay(&history), 3));
    assert_eq!(load(&store, &stream, Some(2)).await, (Account::replay(&history[..2]), 2));
}

#[tokio::test]
async fn time_travel_past_the_head_stops_at_the_head() {
    let store = InMemoryStore::new();
    let (stream, history) = record(&store, [open("ada"), deposit(10)]).await;
    assert_eq!(load(&store, &stream, Some(99)).await, (Account::replay(&history), 2));
    assert_eq!(load(&store, &stream, Some(0)).await, (AccountState::default(), 0));
    assert_eq!(load(&store, &StreamId::new(Account::TYPE, Uuid::new_v4()), None).await, (AccountState::default(), 0));
}

#[tokio::test]
async fn a_stream_longer_than_a_read_page_loads_completely() {
    let store = InMemoryStore::new();
    let stream = StreamId::new(Account::TYPE, Uuid::new_v4());
    let mut history = vec![AccountEvent::Opened { owner: "ada".into() }];
    history.extend((1..=10_050).map(|amount| AccountEvent::Deposited { amount, note: None }));
    for chunk in history.chunks(1000) {
        store.append(&stream, ExpectedVersion::Any, encoded(chunk), &CommandContext::new_request()).await.unwrap().unwrap();
    }

    assert_eq!(load(&store, &stream, None).await, (Account::replay(&history), 10_051));
    assert_eq!(load(&store, &stream, Some(10_020)).await, (Account::replay(&history[..10_020]), 10_020));
    save_replayed_snapshot(&store, &stream, &history, 17).await;
    assert_eq!(load(&store, &stream, None).await, (Account::replay(&history), 10_051));
}
