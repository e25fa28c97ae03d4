//! Reactions across processes sharing a store: one process at a time runs each (the holder of
//! its lease), their progress lives in the store's records written under that lease, a batch's
//! dedup records cost one write, and what earlier versions kept in the local `reactors` tree
//! is carried over. Two runtimes on one PostgreSQL schema stand for two nodes (skipped with one
//! printed line where no database answers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::testing::postgres::TestSchema;
use actors::{
    AggregateConfig, CommandBus, CommandContext, EventHandler, EventStore, ExpectedVersion, RecordWrite, RecordedEvent, Runtime, SledStore,
    SledStoreConfig, StartFrom, StreamId, SubscriberError, WaitFor,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::account::{Account, AccountEvent, AccountState};
use crate::hooked_store::HookedStore;
use crate::support::{deposit, encoded, open, request};

/// Which runtime ran which event, in order, shared by every runtime of a test.
#[derive(Clone, Default)]
struct Tally {
    runs: Arc<Mutex<Vec<(&'static str, Uuid)>>>,
}

impl Tally {
    fn labelled(&self, label: &'static str) -> Labelled {
        Labelled { label, runs: self.runs.clone() }
    }

    fn runs(&self) -> Vec<(&'static str, Uuid)> {
        self.runs.lock().clone()
    }

    fn event_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.runs().into_iter().map(|(_, id)| id).collect();
        ids.sort();
        ids
    }
}

struct Labelled {
    label: &'static str,
    runs: Arc<Mutex<Vec<(&'static str, Uuid)>>>,
}

#[async_trait]
impl EventHandler for Labelled {
    fn event_types(&self) -> &[&'static str] {
        &["Deposited"]
    }

    async fn handle(&self, event: &RecordedEvent, _: &CommandBus) -> Result<(), SubscriberError> {
        self.runs.lock().push((self.label, event.event_id));
        Ok(())
    }
}

/// A handler that keeps its own record of each effect (here, the tally) and asks the runtime for
/// none.
struct KeepsItsOwnRecords(Labelled);

#[async_trait]
impl EventHandler for KeepsItsOwnRecords {
    fn event_types(&self) -> &[&'static str] {
        self.0.event_types()
    }

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        self.0.handle(event, commands).await
    }

    fn records_completions(&self) -> bool {
        false
    }
}

/// Appends an opened account and `deposits` deposits directly to the store; answers the events.
async fn history(store: &dyn EventStore, deposits: u64) -> Vec<RecordedEvent> {
    let stream = StreamId::new("account", Uuid::new_v4());
    let mut events = vec![AccountEvent::Opened { owner: "ada".into() }];
    events.extend((0..deposits).map(|amount| AccountEvent::Deposited { amount: amount + 1, note: None }));
    let appended =
        store.append(&stream, ExpectedVersion::Exact(0), encoded(&events), &request()).await.expect("a store").expect("no conflict");
    appended.events
}

async fn deposits_on(store: &dyn EventStore, count: u64) -> Vec<Uuid> {
    history(store, count).await.into_iter().filter(|event| event.event_type == "Deposited").map(|event| event.event_id).collect()
}

async fn settled(runtime: &Runtime) {
    let head = runtime.store().head().await.expect("the head");
    runtime.subscribers().wait_for(head, Duration::from_secs(20), WaitFor::All).await.expect("every subscriber reaches the head");
}

/// Waits for `condition`, checked every few milliseconds, failing after `within`.
async fn eventually(within: Duration, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < within, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn open_sled(dir: &std::path::Path) -> SledStore {
    let config = SledStoreConfig { fsync: false, ..SledStoreConfig::default() };
    // A store just dropped lets go of its directory a moment later.
    for _ in 0..500 {
        if let Ok(store) = SledStore::open(dir, config.clone()) {
            return store;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store could not be reopened");
}

#[actix_rt::test]
async fn an_existing_data_directory_keeps_its_reactions_checkpoints_and_dedup_records() {
    let dir = tempfile::tempdir().expect("a directory");
    let store = open_sled(dir.path()).await;
    let events = history(&store, 5).await;
    // What an earlier version left in its local tree: the checkpoint at position 3, and the
    // dedup record of position 4, done in a batch that failed before its checkpoint moved.
    let legacy = store.database().open_tree("reactors").expect("a tree");
    legacy.insert(b"tally\0c", &3u64.to_be_bytes()).expect("a write");
    legacy.insert([&b"tally\0d"[..], events[3].event_id.as_bytes()].concat(), &[][..]).expect("a write");
    drop(legacy);
    let tally = Tally::default();
    let runtime =
        Runtime::builder_on(store).handler("tally", tally.labelled("one"), StartFrom::Beginning).start().await.expect("a runtime");
    settled(&runtime).await;
    assert_eq!(tally.event_ids(), sorted(vec![events[4].event_id, events[5].event_id]));
    let recorded = runtime.store().records("reactions").expect("records").get(b"tally\0c").await.expect("a read");
    assert_eq!(recorded, Some(6u64.to_be_bytes().to_vec()));
    runtime.shutdown().await;
    drop(runtime);

    // The records win from now on; the old tree is left as it was.
    let store = open_sled(dir.path()).await;
    let runtime =
        Runtime::builder_on(store).handler("tally", tally.labelled("two"), StartFrom::Beginning).start().await.expect("a runtime");
    settled(&runtime).await;
    assert_eq!(tally.runs().len(), 2, "nothing ran again after the restart");
    runtime.shutdown().await;
}

#[actix_rt::test]
async fn a_handlers_batch_writes_its_dedup_records_and_checkpoint_at_once() {
    let store = Arc::new(HookedStore::default());
    let deposited = deposits_on(store.as_ref(), 10).await;
    let tally = Tally::default();
    let local = sled::Config::new().temporary(true).open().expect("a local database");
    let runtime = Runtime::builder(store.clone(), local)
        .handler("tally", tally.labelled("one"), StartFrom::Beginning)
        .start()
        .await
        .expect("a runtime");
    settled(&runtime).await;
    assert_eq!(tally.event_ids(), sorted(deposited));
    // The catch-up reads the eleven events as one batch: ten dedup records and the checkpoint,
    // in one durable write.
    assert_eq!(*store.fenced_writes.lock(), vec![11]);
    runtime.shutdown().await;
}

#[actix_rt::test]
async fn a_handler_that_keeps_its_own_records_gets_none_and_its_checkpoint_is_written_behind() {
    let store = Arc::new(HookedStore::default());
    let deposited = deposits_on(store.as_ref(), 10).await;
    let tally = Tally::default();
    let local = sled::Config::new().temporary(true).open().expect("a local database");
    let runtime = Runtime::builder(store.clone(), local)
        .handler("tally", KeepsItsOwnRecords(tally.labelled("one")), StartFrom::Beginning)
        .start()
        .await
        .expect("a runtime");
    settled(&runtime).await;
    assert_eq!(tally.event_ids(), sorted(deposited));
    runtime.shutdown().await;
    // No dedup records: the only durable write is the checkpoint, alone, written behind (within
    // 200 ms or at the stop, whichever came first).
    assert_eq!(*store.fenced_writes.lock(), vec![1]);
}

/// Two runtimes with the `tally` handler on one PostgreSQL schema.
async fn two_nodes(schema: &TestSchema, tally: &Tally, ttl: Duration) -> (Runtime, Runtime) {
    let mut nodes = Vec::new();
    for label in ["a", "b"] {
        let local = sled::Config::new().temporary(true).open().expect("a local database");
        let runtime = Runtime::builder(Arc::new(schema.store().await), local)
            .node_id(label)
            .lease_ttl(ttl)
            .handler("tally", tally.labelled(label), StartFrom::Beginning)
            .start()
            .await
            .expect("a runtime");
        nodes.push(runtime);
    }
    let b = nodes.pop().expect("two");
    (nodes.pop().expect("two"), b)
}

#[actix_rt::test]
async fn a_reaction_runs_on_one_node_at_a_time_and_moves_when_its_node_stops() {
    let Some(schema) = TestSchema::create("reaction_on_one_node").await else { return };
    let tally = Tally::default();
    // A lease that would take longer to run out than the test waits: the stopping node hands
    // it over by releasing it.
    let (a, b) = two_nodes(&schema, &tally, Duration::from_secs(60)).await;
    let first = deposits_on(a.store().as_ref(), 20).await;
    settled(&a).await;
    settled(&b).await;
    let running: Vec<Vec<String>> = [&a, &b].iter().map(|node| node.subscribers().reactions_running_here()).collect();
    assert!(running.contains(&vec!["tally".to_owned()]) && running.contains(&Vec::new()), "one node runs it: {running:?}");
    let holder = tally.runs()[0].0;
    assert!(tally.runs().iter().all(|(label, _)| *label == holder), "every event ran on the holder");
    assert_eq!(tally.event_ids(), sorted(first.clone()));

    let (stopping, other) = if holder == "a" { (a, b) } else { (b, a) };
    stopping.shutdown().await;
    let second = deposits_on(other.store().as_ref(), 10).await;
    eventually(Duration::from_secs(20), "the other node takes over", || tally.runs().len() == 30).await;
    assert_eq!(tally.event_ids(), sorted([first, second.clone()].concat()), "each event ran once");
    assert!(tally.runs()[20..].iter().all(|(label, _)| *label != holder));
    assert_eq!(other.subscribers().reactions_running_here(), ["tally"]);
    other.shutdown().await;
}

#[actix_rt::test]
async fn a_lease_whose_holder_vanished_is_taken_over_once_it_runs_out_and_its_holder_is_fenced() {
    let Some(schema) = TestSchema::create("lease_taken_over").await else { return };
    let store = schema.store().await;
    let leases = store.leases().expect("leases");
    let ttl = Duration::from_millis(800);
    let ghost = leases.acquire("reaction/tally", "ghost", ttl).await.expect("a store").expect("a free lease");
    let taken = Instant::now();
    let tally = Tally::default();
    let local = sled::Config::new().temporary(true).open().expect("a local database");
    let runtime = Runtime::builder(Arc::new(store), local)
        .node_id("heir")
        .lease_ttl(ttl)
        .handler("tally", tally.labelled("heir"), StartFrom::Beginning)
        .start()
        .await
        .expect("a runtime");
    assert!(runtime.subscribers().reactions_running_here().is_empty(), "the ghost holds it");
    let deposited = deposits_on(runtime.store().as_ref(), 3).await;
    eventually(Duration::from_secs(20), "the heir takes over", || tally.runs().len() == 3).await;
    assert!(taken.elapsed() >= ttl, "not before the ghost's lease ran out");
    assert_eq!(tally.event_ids(), sorted(deposited));
    let late = [RecordWrite::put("reactions", b"tally\0c".to_vec(), 1u64.to_be_bytes().to_vec())];
    assert!(leases.write_fenced(&ghost, &late).await.expect("a store").is_err(), "the ghost can no longer move the checkpoint");
    runtime.shutdown().await;
}

#[actix_rt::test]
async fn inspect_on_a_shared_store_is_never_older_than_the_store() {
    let Some(schema) = TestSchema::create("inspect_shared").await else { return };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let local = sled::Config::new().temporary(true).open().expect("a local database");
        let runtime = Runtime::builder(Arc::new(schema.store().await), local)
            .aggregate::<Account>(AggregateConfig::default())
            .start()
            .await
            .expect("a runtime");
        nodes.push(runtime);
    }
    let id = Uuid::new_v4();
    let balance = |state: &AccountState, version: u64| (state.balance, version);
    nodes[0].commands().send::<Account>(id, open("ada"), CommandContext::new_request()).await.expect("opened");
    // Node 0's actor is live at version 1; node 1 deposits through an actor of its own.
    assert_eq!(nodes[0].commands().inspect::<Account, _>(id, 0, balance).await.expect("a state"), (0, 1));
    nodes[1].commands().send::<Account>(id, deposit(5), CommandContext::new_request()).await.expect("deposited");
    assert_eq!(nodes[0].commands().inspect::<Account, _>(id, 0, balance).await.expect("a state"), (5, 2));
    for node in nodes {
        node.shutdown().await;
    }
}

/// Reads the account of every deposit in its live actor; counts its attempts.
#[derive(Clone, Default)]
struct Reader {
    attempts: Arc<std::sync::atomic::AtomicUsize>,
    balances: Arc<Mutex<Vec<u64>>>,
}

#[async_trait]
impl EventHandler for Reader {
    fn event_types(&self) -> &[&'static str] {
        &["Deposited"]
    }

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        self.attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let read = commands.inspect::<Account, _>(event.stream.aggregate_id, event.version, |state, _| state.balance).await;
        let balance = read.map_err(|error| match error {
            actors::InspectError::Load(actors::LoadError::Store(error)) => SubscriberError::Store(error),
            other => SubscriberError::failed(other),
        })?;
        self.balances.lock().push(balance);
        Ok(())
    }
}

#[actix_rt::test]
async fn a_reaction_waits_for_an_unavailable_store_instead_of_parking_its_events() {
    let store = Arc::new(HookedStore::default());
    let reader = Reader::default();
    let local = sled::Config::new().temporary(true).open().expect("a local database");
    let runtime = Runtime::builder(store.clone(), local)
        .aggregate::<Account>(AggregateConfig::default())
        .retry_policy(actors::RetryPolicy { max_retries: 1, ..actors::RetryPolicy::default() })
        .lease_ttl(Duration::from_millis(300))
        .handler("reader", reader.clone(), StartFrom::Beginning)
        .start()
        .await
        .expect("a runtime");
    store.failing_reads.store(true, std::sync::atomic::Ordering::SeqCst);
    history(store.as_ref(), 1).await;
    // More attempts than the retry policy allows before parking.
    let attempts = reader.attempts.clone();
    eventually(Duration::from_secs(20), "the reaction tries again and again", || attempts.load(std::sync::atomic::Ordering::SeqCst) >= 4)
        .await;
    let statuses = runtime.subscribers().statuses().await.expect("statuses");
    assert!(statuses.iter().all(|status| status.parked == 0), "nothing parked: {statuses:?}");
    store.failing_reads.store(false, std::sync::atomic::Ordering::SeqCst);
    settled(&runtime).await;
    assert_eq!(*reader.balances.lock(), vec![1], "the deposit was read once the store answered");
    runtime.shutdown().await;
}
