//! `SledStore::import`: a restored log is the original byte for byte, continues where it ends,
//! refuses events that do not continue the head, and `reactions_start_at_head` keeps handlers
//! from acting on it.

use std::sync::Arc;
use std::time::Duration;

use actors::{
    AggregateConfig, CommandBus, EventHandler, EventStore, ExpectedVersion, ImportError, ReadModel, ReadModelTx, RecordedEvent, Runtime,
    SledStore, SledStoreConfig, StartFrom, StreamId, SubscriberError,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::account::{Account, AccountEvent};
use crate::store_conformance::{assert_well_formed, open_retrying, whole_log};
use crate::support::{encoded, open, request};

fn opened(owner: &str) -> AccountEvent {
    AccountEvent::Opened { owner: owner.into() }
}

fn deposited(amount: u64) -> AccountEvent {
    AccountEvent::Deposited { amount, note: Some(format!("deposit of {amount}")) }
}

/// A log of three accounts whose appends interleave, with metadata and causation on some.
pub(crate) async fn history() -> (Vec<RecordedEvent>, Vec<StreamId>) {
    let source = SledStore::temporary().expect("a temporary store");
    let streams: Vec<StreamId> = (0..3).map(|_| StreamId::new("account", Uuid::new_v4())).collect();
    for (i, stream) in streams.iter().enumerate() {
        let context = request().with_metadata("member", format!("m{i}"));
        source.append(stream, ExpectedVersion::Exact(0), encoded(&[opened(&format!("owner {i}"))]), &context).await.unwrap().unwrap();
    }
    for round in 1..=3 {
        for stream in &streams {
            let mut context = request();
            context.causation_id = Some(Uuid::new_v4());
            let events = encoded(&[deposited(round), deposited(round * 10)]);
            source.append(stream, ExpectedVersion::Any, events, &context).await.unwrap().unwrap();
        }
    }
    let store: Arc<dyn EventStore> = Arc::new(source);
    (whole_log(&store).await, streams)
}

#[tokio::test]
async fn an_imported_log_is_the_original_and_continues_after_it() {
    let (log, streams) = history().await;
    let target = SledStore::temporary().unwrap();
    assert_eq!(target.import(log.clone()).await.unwrap(), 21);
    let store: Arc<dyn EventStore> = Arc::new(target);

    assert_eq!(whole_log(&store).await, log);
    assert_eq!(store.head().await.unwrap(), 21);
    let mut ids: Vec<Uuid> = streams.iter().map(|s| s.aggregate_id).collect();
    ids.sort();
    assert_eq!(store.streams_of("account", None, 10).await.unwrap(), ids);
    for stream in &streams {
        assert_eq!(store.stream_version(stream).await.unwrap(), 7);
        let expected: Vec<RecordedEvent> = log.iter().filter(|e| e.stream == *stream).cloned().collect();
        assert_eq!(store.read_stream(stream, 1, 100).await.unwrap(), expected);
    }

    // The writer knows the imported head and versions.
    let conflict = store.append(&streams[0], ExpectedVersion::Exact(6), encoded(&[deposited(1)]), &request()).await.unwrap();
    assert_eq!(conflict.unwrap_err().actual, 7);
    let next = store.append(&streams[0], ExpectedVersion::Exact(7), encoded(&[deposited(1)]), &request()).await.unwrap().unwrap();
    assert_eq!(next.events.iter().map(|e| (e.position, e.version)).collect::<Vec<_>>(), [(22, 8)]);
    assert_well_formed(&whole_log(&store).await);
}

#[tokio::test]
async fn an_import_can_follow_an_import_and_survives_a_reopen() {
    let (log, _) = history().await;
    let dir = tempfile::tempdir().unwrap();
    let config = SledStoreConfig { fsync: true, ..SledStoreConfig::default() };
    let store = open_retrying(dir.path(), config.clone());
    assert_eq!(store.import(log[..10].to_vec()).await.unwrap(), 10);
    assert_eq!(store.import(log[10..].to_vec()).await.unwrap(), 21);
    assert_eq!(store.import(Vec::new()).await.unwrap(), 21, "an empty import writes nothing");
    drop(store);

    let store: Arc<dyn EventStore> = Arc::new(open_retrying(dir.path(), config));
    assert_eq!(whole_log(&store).await, log);
}

#[tokio::test]
async fn it_should_not_import_a_gap_in_positions() {
    let (mut log, _) = history().await;
    log.remove(4);
    let target = SledStore::temporary().unwrap();
    let refused = target.import(log.clone()).await.unwrap_err();
    assert!(matches!(refused, ImportError::Position { expected: 5, found: 6, .. }), "{refused}");
    assert_eq!(target.head().await.unwrap(), 0, "nothing written");
    assert!(target.streams_of("account", None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn it_should_not_import_events_that_do_not_continue_the_head() {
    let (log, _) = history().await;
    let target = SledStore::temporary().unwrap();
    target
        .append(&StreamId::new("account", Uuid::new_v4()), ExpectedVersion::Exact(0), encoded(&[opened("x")]), &request())
        .await
        .unwrap()
        .unwrap();
    let refused = target.import(log).await.unwrap_err();
    assert!(matches!(refused, ImportError::Position { expected: 2, found: 1, .. }), "{refused}");
    assert_eq!(target.head().await.unwrap(), 1);
}

#[tokio::test]
async fn it_should_not_import_a_version_out_of_order() {
    let (mut log, streams) = history().await;
    // Positions stay gapless; the first stream's version 3 comes before its version 2.
    let (second, third) = (
        log.iter().position(|e| e.stream == streams[0] && e.version == 2).unwrap(),
        log.iter().position(|e| e.stream == streams[0] && e.version == 3).unwrap(),
    );
    log[second].version = 3;
    log[third].version = 2;
    let target = SledStore::temporary().unwrap();
    let refused = target.import(log).await.unwrap_err();
    assert!(matches!(refused, ImportError::Version { expected: 2, found: 3, .. }), "{refused}");
    assert_eq!(target.head().await.unwrap(), 0);
}

/// Records the events it is given: a handler with an effect.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<u64>>>);

#[async_trait]
impl EventHandler for Recorder {
    fn event_types(&self) -> &[&'static str] {
        &["Opened", "Deposited"]
    }

    async fn handle(&self, event: &RecordedEvent, _: &CommandBus) -> Result<(), SubscriberError> {
        self.0.lock().push(event.position);
        Ok(())
    }
}

/// Counts the events applied.
#[derive(Clone, Default)]
struct Counter;

impl ReadModel for Counter {
    fn apply(&self, tx: &mut ReadModelTx<'_>, _: &RecordedEvent) -> Result<(), SubscriberError> {
        let count: u64 = tx.fetch(b"count")?.unwrap_or(0);
        tx.put(b"count".to_vec(), &(count + 1))
    }
}

#[actix_rt::test]
async fn reactions_starting_at_head_do_not_act_on_imported_history_while_read_models_rebuild() {
    let (log, _) = history().await;
    let store = SledStore::temporary().unwrap();
    store.import(log).await.unwrap();
    let (effects, local) = (Recorder::default(), store.database().clone());
    let runtime = Runtime::builder(Arc::new(store), local)
        .workers(2)
        .aggregate::<Account>(AggregateConfig::default())
        .read_model("count", Counter)
        .handler("effects", effects.clone(), StartFrom::Beginning)
        .reactions_start_at_head()
        .start()
        .await
        .unwrap();
    runtime.wait_for(21, Duration::from_secs(5)).await.unwrap();
    assert_eq!(runtime.read_model("count").unwrap().fetch::<u64>(b"count").unwrap(), Some(21));

    let executed = runtime.commands().send::<Account>(Uuid::new_v4(), open("new"), request()).await.unwrap();
    let position = executed.last_position().unwrap();
    runtime.subscribers().wait_for(position, Duration::from_secs(5), actors::WaitFor::All).await.unwrap();
    assert_eq!(*effects.0.lock(), [22], "only what was committed after the start");
    runtime.shutdown().await;
}
