//! Subscribers and rebuilds when things go wrong: parked events retried twice at once or after
//! a rebuild, a failed retry, two rebuilds at once, and a shutdown during a rebuild.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::{ParkedError, RebuildError};
use actors::testing::TestRuntime;
use actors::{
    AggregateConfig, CommandContext, EventCodec, SubscriberError, SubscriberState, ReadModel, ReadModelTx, RecordedEvent, RetryPolicy,
    Runtime, RuntimeBuilder,
};
use uuid::Uuid;

use crate::account::{Account, AccountEvent};
use crate::hooked_store::HookedStore;
use crate::support::open;

/// Counts the `Opened` events it applied per account (in its own tree, so a double apply
/// shows); fails for the owner `ada` until healed, naming the attempt in its error.
#[derive(Clone, Default)]
struct Picky {
    attempts: Arc<AtomicU32>,
    healed: Arc<AtomicBool>,
}

impl ReadModel for Picky {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        let AccountEvent::Opened { owner } = EventCodec::<AccountEvent>::default().decode(event)? else { return Ok(()) };
        if owner == "ada" && !self.healed.load(Ordering::SeqCst) {
            let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            return Err(SubscriberError::failed(std::io::Error::other(format!("not yet (attempt {attempt})"))));
        }
        let key = event.stream.aggregate_id.as_bytes().to_vec();
        let applied: u64 = tx.fetch(&key)?.unwrap_or(0);
        tx.put(key, &(applied + 1))
    }
}

fn with_picky(picky: Picky) -> impl Fn(RuntimeBuilder) -> RuntimeBuilder + 'static {
    let retry = RetryPolicy { max_retries: 1, first_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(5) };
    move |builder| builder.aggregate::<Account>(AggregateConfig::default()).retry_policy(retry.clone()).read_model("picky", picky.clone())
}

fn applied(runtime: &Runtime, id: Uuid) -> u64 {
    runtime.read_model("picky").expect("the read model").fetch(id.as_bytes()).expect("a read").unwrap_or(0)
}

fn serving_tree(runtime: &Runtime, name: &str) -> sled::IVec {
    runtime.read_model(name).expect("the read model").tree().name()
}

/// Waits (up to 10 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not after 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Opens ada's account (parked by `Picky`) and waits until everything settled.
async fn parked_ada(picky: &Picky) -> (TestRuntime, Uuid) {
    let test = TestRuntime::start(with_picky(picky.clone())).await;
    let ada = Uuid::new_v4();
    test.send::<Account>(ada, open("ada")).await.expect("opened");
    test.settle().await;
    assert_eq!(test.runtime().subscribers().parked("picky").len(), 1);
    (test, ada)
}

#[actix_rt::test]
async fn two_retries_of_one_parked_event_at_once_apply_it_once() {
    let picky = Picky::default();
    let (test, ada) = parked_ada(&picky).await;
    picky.healed.store(true, Ordering::SeqCst);
    let projections = test.runtime().subscribers();
    let (first, second) = futures::join!(projections.retry_parked("picky", 1), projections.retry_parked("picky", 1));
    let mut outcomes = [first, second];
    outcomes.sort_by_key(Result::is_err);
    assert!(matches!(outcomes, [Ok(()), Err(ParkedError::NotParked { .. })]), "{outcomes:?}");
    assert_eq!(applied(test.runtime(), ada), 1);
    assert!(projections.parked("picky").is_empty());
}

#[actix_rt::test]
async fn a_failed_retry_records_its_new_error() {
    let picky = Picky::default();
    let (test, _) = parked_ada(&picky).await;
    let projections = test.runtime().subscribers();
    let before = projections.parked("picky")[0].error.clone();
    let retried = projections.retry_parked("picky", 1).await;
    assert!(matches!(retried, Err(ParkedError::FailedAgain(_))), "{retried:?}");
    let after = projections.parked("picky");
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].error, before);
    assert!(retried.unwrap_err().to_string().contains(&after[0].error), "the record holds the retry's own error");
}

#[actix_rt::test]
async fn a_rebuilt_read_model_does_not_inherit_the_old_copys_parked_events() {
    let picky = Picky::default();
    let (test, ada) = parked_ada(&picky).await;
    picky.healed.store(true, Ordering::SeqCst);
    let before = serving_tree(test.runtime(), "picky");
    test.runtime().subscribers().rebuild("picky").await.expect("a rebuild");
    until("the rebuilt copy serves", || serving_tree(test.runtime(), "picky") != before).await;
    assert_eq!(applied(test.runtime(), ada), 1, "the new copy applied the event once");
    let projections = test.runtime().subscribers();
    assert!(projections.parked("picky").is_empty(), "{:?}", projections.parked("picky"));
    assert!(matches!(projections.retry_parked("picky", 1).await, Err(ParkedError::NotParked { .. })));
    assert_eq!(applied(test.runtime(), ada), 1, "no second apply");
}

#[actix_rt::test]
async fn two_rebuilds_at_once_start_one_copy_and_refuse_the_other() {
    let store = Arc::new(HookedStore::default());
    let local = sled::Config::new().temporary(true).open().expect("a temporary database");
    let runtime = with_picky(Picky::default())(Runtime::builder(store.clone(), local)).start().await.expect("a runtime");
    let bob = Uuid::new_v4();
    let opened = runtime.send::<Account>(bob, open("bob"), CommandContext::new_request()).await.expect("opened");
    runtime.wait_for(opened.last_position().expect("an event"), Duration::from_secs(5)).await.expect("applied");
    let before = serving_tree(&runtime, "picky");
    // Each call then yields inside `rebuild`, so the two interleave.
    store.yielding_head.store(true, Ordering::SeqCst);
    let projections = runtime.subscribers();
    let (first, second) = futures::join!(projections.rebuild("picky"), projections.rebuild("picky"));
    let mut outcomes = [first.map(|status| status.state), second.map(|status| status.state)];
    outcomes.sort_by_key(Result::is_err);
    assert!(matches!(outcomes, [Ok(SubscriberState::Rebuilding), Err(RebuildError::AlreadyRebuilding(_))]), "{outcomes:?}");
    until("the rebuilt copy serves", || serving_tree(&runtime, "picky") != before).await;
    assert_eq!(applied(&runtime, bob), 1);
    runtime.shutdown().await;
}

/// Counts every event; while `closed` is set, an apply waits until it is cleared.
#[derive(Clone, Default)]
struct Gated {
    closed: Arc<AtomicBool>,
    waiting: Arc<AtomicBool>,
}

impl ReadModel for Gated {
    fn apply(&self, tx: &mut ReadModelTx<'_>, _: &RecordedEvent) -> Result<(), SubscriberError> {
        while self.closed.load(Ordering::SeqCst) {
            self.waiting.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1));
        }
        let seen: u64 = tx.fetch(b"seen")?.unwrap_or(0);
        tx.put(b"seen".to_vec(), &(seen + 1))
    }
}

#[actix_rt::test]
async fn shutdown_stops_a_copy_being_built_and_it_is_never_swapped_in() {
    let gated = Gated::default();
    let model = gated.clone();
    let test =
        TestRuntime::start(move |b: RuntimeBuilder| b.aggregate::<Account>(AggregateConfig::default()).read_model("gated", model.clone()))
            .await;
    for _ in 0..3 {
        test.send::<Account>(Uuid::new_v4(), open("ada")).await.expect("opened");
    }
    test.settle().await;
    let before = serving_tree(test.runtime(), "gated");
    gated.closed.store(true, Ordering::SeqCst);
    let projections = test.runtime().subscribers();
    projections.rebuild("gated").await.expect("a rebuild");
    until("the copy is applying", || gated.waiting.load(Ordering::SeqCst)).await;
    projections.stop_all();
    gated.closed.store(false, Ordering::SeqCst);
    let rebuilding = || async { projections.statuses().await.expect("statuses")[0].state == SubscriberState::Rebuilding };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rebuilding().await {
        assert!(tokio::time::Instant::now() < deadline, "the rebuild never ended");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(serving_tree(test.runtime(), "gated"), before, "a copy told to stop is not swapped in");
}
