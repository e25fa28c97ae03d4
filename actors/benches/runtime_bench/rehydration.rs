//! W2: one long stream loaded without, then with, a snapshot; each time from a freshly opened
//! store, so sled's cache is cold (the operating system's page cache is not).

use std::sync::Arc;
use std::time::Instant;

use actors::load_state;
use actors::encode_bytes;
use actors::{
    Aggregate, AggregateConfig, CommandContext, EventCodec, EventStore, ExpectedVersion, Runtime, SledStore, SledStoreConfig, Snapshot,
    StreamId,
};
use uuid::Uuid;

use crate::account::{Account, AccountEvent};
use crate::commands::deposit;
use crate::report::{emit, ms};
use crate::{open_store, Options};

const APPEND_CHUNK: usize = 1_000;

pub async fn run(options: &Options) {
    let events = options.scale.long_stream;
    let dir = options.fresh_dir("w2-");
    let id = Uuid::new_v4();
    let stream = StreamId::new(Account::TYPE, id);
    let codec = EventCodec::<AccountEvent>::default();

    let store = SledStore::open(dir.path(), SledStoreConfig::default()).expect("open the store");
    let started = Instant::now();
    let mut version = 0;
    while (version as usize) < events {
        let chunk = (events - version as usize).min(APPEND_CHUNK);
        let batch = (0..chunk)
            .map(|n| {
                let event = if version == 0 && n == 0 {
                    AccountEvent::Opened { owner: "bench".into() }
                } else {
                    AccountEvent::Deposited { amount: 1, note: None }
                };
                codec.encode(&event).expect("encode")
            })
            .collect();
        let appended = store.append(&stream, ExpectedVersion::Exact(version), batch, &CommandContext::new_request()).await;
        version = appended.expect("the store works").expect("no conflict").version;
    }
    emit("w2_append_events_per_s", events as f64 / started.elapsed().as_secs_f64(), "events/s (appends of 1,000 events, durable)");
    drop(store);

    let store = open_store(dir.path(), SledStoreConfig::default()).await;
    let started = Instant::now();
    let (state, loaded) = load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_no_snapshot_ms", ms(started.elapsed()), &format!("ms to load {events} events, freshly opened store"));
    assert_eq!((loaded as usize, state.deposits as usize), (events, events - 1), "every event applied");
    let started = Instant::now();
    load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_no_snapshot_warm_ms", ms(started.elapsed()), &format!("ms to load {events} events again, sled's cache warm"));
    let store: Arc<dyn EventStore> = Arc::new(store);
    let unit = "ms for the first command to the aggregate through a new runtime (load + command + durable append), no snapshot";
    emit("w2_cold_command_no_snapshot_ms", cold_command(&store, id).await, unit);

    let (state, head) = load_state::<Account>(store.as_ref(), &stream, &codec, None).await.expect("load");
    let snapshot = Snapshot { version: head, state: encode_bytes(&state).expect("encode the state") };
    store.save_snapshot(&stream, snapshot).await.expect("save a snapshot");
    drop(store);

    let store = open_store(dir.path(), SledStoreConfig::default()).await;
    let started = Instant::now();
    let (_, loaded) = load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_snapshot_ms", ms(started.elapsed()), "ms to load from a snapshot at the head, freshly opened store");
    assert_eq!(loaded, head, "the snapshot is at the head");
    let store: Arc<dyn EventStore> = Arc::new(store);
    let unit = "ms for the first command to the aggregate through a new runtime, snapshot at the head";
    emit("w2_cold_command_snapshot_ms", cold_command(&store, id).await, unit);
}

/// Starts a runtime on `store`, times the first command to `id` (its actor loads the stream
/// first), and shuts the runtime down.
async fn cold_command(store: &Arc<dyn EventStore>, id: Uuid) -> f64 {
    let local = sled::Config::new().temporary(true).open().expect("open a local database");
    let runtime =
        Runtime::builder(store.clone(), local).aggregate::<Account>(AggregateConfig::default()).start().await.expect("start the runtime");
    let started = Instant::now();
    runtime.send::<Account>(id, deposit(), CommandContext::new_request()).await.expect("command accepted");
    let took = ms(started.elapsed());
    runtime.shutdown().await;
    took
}
