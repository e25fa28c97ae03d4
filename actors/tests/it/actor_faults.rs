//! Aggregate actors after a failure: a stream that could not be loaded, or an `apply` that
//! panicked while the actor reloaded, never leaves a dead actor behind; the next command gets a
//! fresh load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actors::store::CommittedBatch;
use actors::testing::TestRuntime;
use actors::{
    Aggregate, AggregateConfig, Appended, CommandContext, CommandError, Conflict, DomainEvent, EventStore, ExpectedVersion, InMemoryStore,
    NewEvent, Position, RecordedEvent, Runtime, Snapshot, StoreError, StreamId, Version,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::account::Account;
use crate::support::open;

/// An in-memory store whose stream reads fail while `failing` is set.
#[derive(Default)]
struct FlakyStore {
    inner: InMemoryStore,
    failing: AtomicBool,
}

#[async_trait]
impl EventStore for FlakyStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError> {
        self.inner.append(stream, expected, events, context).await
    }

    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        self.inner.committed_by(command_id).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("the disk cannot be read")));
        }
        self.inner.read_stream(stream, from_version, limit).await
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream_last(stream, count).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        self.inner.stream_version(stream).await
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from_position, limit, types).await
    }

    async fn head(&self) -> Result<Position, StoreError> {
        self.inner.head().await
    }

    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        self.inner.streams_of(aggregate_type, after, limit).await
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(stream, snapshot).await
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream).await
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.inner.subscribe()
    }
}

#[actix_rt::test]
async fn a_stream_that_failed_to_load_is_loaded_afresh_by_the_next_command() {
    let store = Arc::new(FlakyStore::default());
    let local = sled::Config::new().temporary(true).open().expect("a temporary database");
    let runtime = Runtime::builder(store.clone(), local).aggregate::<Account>(AggregateConfig::default()).start().await.expect("a runtime");
    let id = Uuid::new_v4();
    store.failing.store(true, Ordering::SeqCst);
    let failed = runtime.send::<Account>(id, open("ada"), CommandContext::new_request()).await;
    assert!(matches!(failed, Err(CommandError::Store(_))), "{failed:?}");
    store.failing.store(false, Ordering::SeqCst);
    let opened = runtime.send::<Account>(id, open("ada"), CommandContext::new_request()).await;
    assert!(matches!(opened, Ok(ref executed) if executed.version == 1), "{opened:?}");
    runtime.shutdown().await;
}

/// Set while `Brittle::apply` panics (only the test below uses it).
static BRITTLE: AtomicBool = AtomicBool::new(false);

struct Brittle;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added(u64);

impl DomainEvent for Added {
    fn event_type(&self) -> &'static str {
        "Added"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Brittle {
    const TYPE: &'static str = "brittle";
    type Command = u64;
    type Event = Added;
    type Error = Never;
    type State = u64;

    fn handle(_: &u64, amount: u64) -> Result<Vec<Added>, Never> {
        Ok(vec![Added(amount)])
    }

    fn apply(state: u64, Added(amount): &Added) -> u64 {
        assert!(!BRITTLE.load(Ordering::SeqCst), "a bug in apply");
        state + amount
    }
}

#[actix_rt::test]
async fn a_panic_in_apply_during_a_reload_leaves_no_dead_actor_behind() {
    let test = TestRuntime::start(|builder: actors::RuntimeBuilder| builder.aggregate::<Brittle>(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Brittle>(id, 1).await.expect("a healthy command");
    BRITTLE.store(true, Ordering::SeqCst);
    // `apply` panics after the append, and again in the reload that follows.
    let failed = test.send::<Brittle>(id, 2).await;
    BRITTLE.store(false, Ordering::SeqCst);
    assert!(matches!(failed, Err(CommandError::Unavailable)), "{failed:?}");
    let executed = test.send::<Brittle>(id, 3).await.expect("a fresh load");
    assert_eq!((executed.state, executed.version), (6, 3));
}
