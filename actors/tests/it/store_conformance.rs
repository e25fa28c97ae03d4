//! The event store's contract, run against every implementation: in memory, sled in a temporary
//! database, sled on disk with fsync, and PostgreSQL (a schema of its own per test; skipped
//! with one printed line where no database answers, see `actors::testing::postgres`).
//!
//! Each case is one async function over a [`Store`]; `conformance!` turns it into one test per
//! store, named `<case>::in_memory`, `<case>::sled_temporary`, `<case>::sled_on_disk` and
//! `<case>::postgres`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::{
    Appended, CommandContext, Conflict, EventStore, ExpectedVersion, InMemoryStore, NewEvent, RecordedEvent, SledStore, SledStoreConfig,
    StreamId,
};
use uuid::Uuid;

/// Runs each named case (an `async fn(Store)` of the calling module) against every store.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn in_memory() {
                super::$case(crate::store_conformance::in_memory()).await;
            }

            #[tokio::test]
            async fn sled_temporary() {
                super::$case(crate::store_conformance::sled_temporary()).await;
            }

            #[tokio::test]
            async fn sled_on_disk() {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                super::$case(crate::store_conformance::sled_on_disk(dir.path())).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(schema) = actors::testing::postgres::TestSchema::create(stringify!($case)).await else { return };
                super::$case(std::sync::Arc::new(schema.store().await)).await;
            }
        }
    )+};
}

mod appends;
mod concurrency;
mod leases;
mod model;
mod nodes;
mod reads;
mod records;
mod reopen;

/// The store under test, shared with spawned tasks.
pub type Store = Arc<dyn EventStore>;

pub fn in_memory() -> Store {
    Arc::new(InMemoryStore::new())
}

pub fn sled_temporary() -> Store {
    Arc::new(SledStore::temporary().expect("open a temporary sled store"))
}

/// A sled store in `dir` with the default configuration (fsync on).
pub fn sled_on_disk(dir: &Path) -> Store {
    Arc::new(open_retrying(dir, SledStoreConfig::default()))
}

/// Opens the sled store in `dir`, waiting up to 5 s for a dropped store's writer thread (or a
/// killed process) to let go of the database.
pub fn open_retrying(dir: &Path, config: SledStoreConfig) -> SledStore {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match SledStore::open(dir, config.clone()) {
            Ok(store) => return store,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("could not reopen the sled store in {}: {error}", dir.display()),
        }
    }
}

/// A fresh stream of `aggregate_type`.
pub fn stream(aggregate_type: &str) -> StreamId {
    StreamId::new(aggregate_type, Uuid::new_v4())
}

/// One event of `event_type` whose payload is `payload`.
pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent { event_id: Uuid::new_v4(), event_type: event_type.into(), schema_version: 1, payload: payload.to_vec() }
}

/// `count` events named `Noted`, with payloads 0, 1, 2, ...
pub fn events(count: usize) -> Vec<NewEvent> {
    (0..count).map(|i| event("Noted", &[i as u8])).collect()
}

/// Appends and expects success.
pub async fn append_ok(
    store: &Store,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    context: &CommandContext,
) -> Appended {
    store.append(stream, expected, events, context).await.expect("the store works").expect("no conflict")
}

/// Appends and expects a conflict.
pub async fn append_conflict(store: &Store, stream: &StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Conflict {
    let context = CommandContext::new_request();
    match store.append(stream, expected, events, &context).await.expect("the store works") {
        Err(conflict) => conflict,
        Ok(appended) => panic!("expected a conflict, the append succeeded: {appended:?}"),
    }
}

/// The whole global log.
pub async fn whole_log(store: &Store) -> Vec<RecordedEvent> {
    store.read_all(1, usize::MAX, None).await.expect("read the log")
}

/// Positions are exactly 1, 2, ..., n, and each stream's versions are 1, 2, ... in log order.
pub fn assert_well_formed(log: &[RecordedEvent]) {
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=log.len() as u64).collect::<Vec<_>>(), "positions are gapless from 1");
    let mut versions = std::collections::HashMap::new();
    for event in log {
        let version = versions.entry(event.stream.clone()).or_insert(0);
        *version += 1;
        assert_eq!(event.version, *version, "versions of {} are contiguous, in log order", event.stream);
    }
}
