//! Read models, handlers and process managers: catch-up, live delivery, rebuild, exactly-once
//! effects and causation.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::testing::TestRuntime;
use actors::ParkedEvent;
use actors::{
    AggregateConfig, CommandBus, CommandContext, EventCodec, EventHandler, ProcessManager, ReadModel, ReadModelTx, RecordedEvent,
    RetryPolicy, RuntimeBuilder, StartFrom, SubscriberError, SubscriberKind, SubscriberState, WaitFor,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::account::{Account, AccountEvent};
use crate::support::{deposit, open};

/// Balances by account, plus every position it was given (to catch duplicates and gaps).
#[derive(Clone, Default)]
struct Balances {
    seen: Arc<Mutex<Vec<u64>>>,
}

impl ReadModel for Balances {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        self.seen.lock().push(event.position);
        let key = event.stream.aggregate_id.as_bytes().to_vec();
        let balance: u64 = tx.fetch(&key)?.unwrap_or(0);
        if let AccountEvent::Deposited { amount, .. } = EventCodec::<AccountEvent>::default().decode(event)? {
            tx.put(key, &(balance + amount))?;
        }
        Ok(())
    }
}

/// Read as queries read: through the values the copy keeps decoded, which every write must
/// replace (the tests below write between reads).
fn balance(test: &TestRuntime, name: &str, id: Uuid) -> Option<u64> {
    test.runtime().read_model(name).unwrap().fetch_shared::<u64>(id.as_bytes()).unwrap().map(|balance| *balance)
}

#[actix_rt::test]
async fn a_value_kept_for_queries_follows_every_write_of_its_key() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).read_model("balances", Balances::default())
    })
    .await;
    let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
    let handle = test.runtime().read_model("balances").unwrap();
    assert_eq!(balance(&test, "balances", id), None, "nothing yet, and kept as nothing");
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(other, open("bob")).await.unwrap();
    for expected in 1..=3 {
        let executed = test.send::<Account>(id, deposit(1)).await.unwrap();
        test.runtime().wait_for(executed.last_position().unwrap(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(balance(&test, "balances", id), Some(expected));
        let (first, again) = (handle.fetch_shared::<u64>(id.as_bytes()).unwrap(), handle.fetch_shared::<u64>(id.as_bytes()).unwrap());
        assert!(Arc::ptr_eq(&first.unwrap(), &again.unwrap()), "read twice without a write between: decoded once");
    }
    // A write to another key leaves this one's value as it was.
    let executed = test.send::<Account>(other, deposit(5)).await.unwrap();
    test.runtime().wait_for(executed.last_position().unwrap(), Duration::from_secs(5)).await.unwrap();
    assert_eq!((balance(&test, "balances", id), balance(&test, "balances", other)), (Some(3), Some(5)));
}

#[actix_rt::test]
async fn a_read_model_added_to_an_existing_log_catches_up_then_follows_live() {
    let balances = Balances::default();
    let added = Arc::new(AtomicBool::new(false));
    let (model, flag) = (balances.clone(), added.clone());
    let mut test = TestRuntime::start(move |builder: RuntimeBuilder| {
        let builder = builder.aggregate::<Account>(AggregateConfig::default());
        if flag.load(Ordering::SeqCst) {
            builder.read_model("balances", model.clone())
        } else {
            builder
        }
    })
    .await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(id, deposit(5)).await.unwrap();
    added.store(true, Ordering::SeqCst);
    test.restart().await;
    test.settle().await;
    assert_eq!(balance(&test, "balances", id), Some(5));
    let executed = test.send::<Account>(id, deposit(2)).await.unwrap();
    test.runtime().wait_for(executed.last_position().unwrap(), Duration::from_secs(5)).await.unwrap();
    assert_eq!(balance(&test, "balances", id), Some(7));
    assert_eq!(*balances.seen.lock(), vec![1, 2, 3]);
}

#[actix_rt::test]
async fn the_switch_from_catch_up_to_live_has_no_gap_and_no_duplicate() {
    for round in 0..4u64 {
        let balances = Balances::default();
        let model = balances.clone();
        let test = TestRuntime::start(move |b: RuntimeBuilder| b.aggregate::<Account>(AggregateConfig::default())).await;
        let store = test.store().clone();
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let runtime = test.runtime().clone();
                actix_rt::spawn(async move {
                    let id = Uuid::new_v4();
                    runtime.commands().send::<Account>(id, open("w"), CommandContext::new_request()).await.unwrap();
                    for _ in 0..30 {
                        runtime.commands().send::<Account>(id, deposit(1), CommandContext::new_request()).await.unwrap();
                    }
                })
            })
            .collect();
        // Start a second runtime's projector on the same store while the writers are busy.
        tokio::time::sleep(Duration::from_millis(round * 7)).await;
        let local = sled::Config::new().temporary(true).open().unwrap();
        let follower = actors::Runtime::builder(store.clone(), local).read_model("balances", model).start().await.unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        let head = store.head().await.unwrap();
        follower.subscribers().wait_for(head, Duration::from_secs(10), WaitFor::All).await.unwrap();
        let seen = balances.seen.lock().clone();
        assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "round {round}: every position once, in order");
        follower.shutdown().await;
    }
}

#[actix_rt::test]
async fn wait_for_times_out_with_the_subscribers_behind() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).read_model("balances", Balances::default())
    })
    .await;
    let timeout = test.runtime().wait_for(10, Duration::from_millis(50)).await.unwrap_err();
    assert_eq!(timeout.behind, vec!["balances".to_owned()]);
}

#[actix_rt::test]
async fn the_read_version_stays_while_nothing_is_applied_and_moves_once_a_change_is_readable() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).read_model("balances", Balances::default())
    })
    .await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.settle().await;
    let version = test.runtime().subscribers().read_version();
    let settled = version.current();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(version.current(), settled, "nothing was applied");
    let executed = test.send::<Account>(id, deposit(2)).await.unwrap();
    test.runtime().wait_for(executed.last_position().unwrap(), Duration::from_secs(5)).await.unwrap();
    assert!(version.current() > settled);
    let applied = version.current();
    assert_eq!(balance(&test, "balances", id), Some(2), "a reader that sees the new version sees the change");
    // Read before the rebuild starts: the swap may come before `rebuild` returns.
    let before = test.runtime().read_model("balances").unwrap().tree().name();
    test.runtime().subscribers().rebuild("balances").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while test.runtime().read_model("balances").unwrap().tree().name() == before {
        assert!(tokio::time::Instant::now() < deadline, "the rebuild never swapped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(version.current() > applied, "the swap to the rebuilt copy moves the version");
}

#[actix_rt::test]
async fn a_rebuild_builds_a_fresh_copy_while_the_old_one_serves_then_swaps() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).read_model("balances", Balances::default())
    })
    .await;
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        test.send::<Account>(*id, open("ada")).await.unwrap();
        test.send::<Account>(*id, deposit(3)).await.unwrap();
    }
    test.settle().await;
    let before = test.runtime().read_model("balances").unwrap().tree().name();
    let status = test.runtime().subscribers().rebuild("balances").await.unwrap();
    assert_eq!(status.state, SubscriberState::Rebuilding);
    // The old copy keeps answering during the rebuild.
    assert_eq!(balance(&test, "balances", ids[0]), Some(3));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let statuses = test.runtime().subscribers().statuses().await.unwrap();
        if statuses[0].state == SubscriberState::Live && test.runtime().read_model("balances").unwrap().tree().name() != before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the rebuild never finished: {statuses:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in &ids {
        assert_eq!(balance(&test, "balances", *id), Some(3), "parked: {:?}", test.runtime().subscribers().parked("balances"));
    }
    let executed = test.send::<Account>(ids[0], deposit(1)).await.unwrap();
    test.runtime().wait_for(executed.last_position().unwrap(), Duration::from_secs(5)).await.unwrap();
    assert_eq!(balance(&test, "balances", ids[0]), Some(4));
    assert!(test.runtime().subscribers().rebuild("nope").await.is_err());
}

/// Counts the effects it performs; fails its first `failures` attempts, and always fails for
/// the account owner `poison`.
#[derive(Clone, Default)]
struct Mailer {
    sent: Arc<Mutex<Vec<Uuid>>>,
    attempts: Arc<AtomicU32>,
    failures: u32,
    poison: Option<&'static str>,
    /// Once set, the poison no longer fails (the bug was fixed).
    healed: Arc<AtomicBool>,
}

#[async_trait]
impl EventHandler for Mailer {
    fn event_types(&self) -> &[&'static str] {
        &["Opened"]
    }

    async fn handle(&self, event: &RecordedEvent, _: &CommandBus) -> Result<(), SubscriberError> {
        let owner = match EventCodec::<AccountEvent>::default().decode(event)? {
            AccountEvent::Opened { owner } => owner,
            _ => String::new(),
        };
        let poisoned = self.poison == Some(owner.as_str()) && !self.healed.load(Ordering::SeqCst);
        if self.attempts.fetch_add(1, Ordering::SeqCst) < self.failures || poisoned {
            return Err(SubscriberError::failed(std::io::Error::other("mail server down")));
        }
        self.sent.lock().push(event.event_id);
        Ok(())
    }
}

#[actix_rt::test]
async fn a_handler_runs_each_effect_once_across_restarts() {
    let mailer = Mailer::default();
    let handler = mailer.clone();
    let mut test = TestRuntime::start(move |b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).handler("mailer", handler.clone(), StartFrom::Beginning)
    })
    .await;
    for _ in 0..3 {
        test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
    }
    test.settle().await;
    test.restart().await;
    test.send::<Account>(Uuid::new_v4(), open("bob")).await.unwrap();
    test.settle().await;
    let sent = mailer.sent.lock().clone();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent.iter().collect::<BTreeSet<_>>().len(), 4);
}

#[actix_rt::test]
async fn a_new_handler_starting_now_does_not_act_on_history() {
    let mailer = Mailer::default();
    let added = Arc::new(AtomicBool::new(false));
    let (handler, flag) = (mailer.clone(), added.clone());
    let mut test = TestRuntime::start(move |b: RuntimeBuilder| {
        let b = b.aggregate::<Account>(AggregateConfig::default());
        if flag.load(Ordering::SeqCst) {
            b.handler("mailer", handler.clone(), StartFrom::Now)
        } else {
            b
        }
    })
    .await;
    test.send::<Account>(Uuid::new_v4(), open("old")).await.unwrap();
    added.store(true, Ordering::SeqCst);
    test.restart().await;
    test.send::<Account>(Uuid::new_v4(), open("new")).await.unwrap();
    test.settle().await;
    assert_eq!(mailer.sent.lock().len(), 1);
}

#[actix_rt::test]
async fn a_failing_handler_is_retried_then_succeeds() {
    let mailer = Mailer { failures: 2, ..Mailer::default() };
    let handler = mailer.clone();
    let test = TestRuntime::start(move |b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).retry_policy(fast_retries(3)).handler(
            "mailer",
            handler.clone(),
            StartFrom::Beginning,
        )
    })
    .await;
    test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
    test.settle().await;
    assert_eq!(mailer.sent.lock().len(), 1);
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);
}

#[actix_rt::test]
async fn an_event_that_keeps_failing_is_parked_and_the_handler_goes_on() {
    let mailer = Mailer { poison: Some("ada"), ..Mailer::default() };
    let handler = mailer.clone();
    let test = TestRuntime::start(move |b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).retry_policy(fast_retries(2)).handler(
            "mailer",
            handler.clone(),
            StartFrom::Beginning,
        )
    })
    .await;
    test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
    test.send::<Account>(Uuid::new_v4(), open("bob")).await.unwrap();
    test.settle().await;
    assert_eq!(mailer.sent.lock().len(), 1, "the second event went through");
    let parked: Vec<ParkedEvent> = test.runtime().subscribers().parked("mailer");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].position, 1);
    assert!(parked[0].error.contains("mail server down"));
    let status = test.runtime().subscribers().statuses().await.unwrap();
    assert_eq!((status[0].kind, status[0].parked, status[0].position, status[0].lag), (SubscriberKind::Handler, 1, 2, 0));
}

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy { max_retries, first_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(5) }
}

/// Gives every new account a welcome bonus: a reaction that sends a command.
struct WelcomeBonus;

#[async_trait]
impl ProcessManager for WelcomeBonus {
    fn event_types(&self) -> &[&'static str] {
        &["Opened"]
    }

    async fn react(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let context = CommandContext::caused_by(event, "welcome-bonus", 0);
        commands.send::<Account>(event.stream.aggregate_id, deposit(1), context).await.map_err(SubscriberError::failed)?;
        Ok(())
    }
}

#[actix_rt::test]
async fn a_process_manager_chains_causation_and_never_applies_a_command_twice() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).process_manager("welcome-bonus", WelcomeBonus, StartFrom::Beginning)
    })
    .await;
    let id = Uuid::new_v4();
    let opened = test.send::<Account>(id, open("ada")).await.unwrap().events.remove(0);
    test.settle().await;
    let events = test.events().await;
    assert_eq!(events.len(), 2);
    let bonus = &events[1];
    assert_eq!(bonus.event_type, "Deposited");
    assert_eq!(bonus.correlation_id, opened.correlation_id);
    assert_eq!(bonus.causation_id, Some(opened.event_id));
    // A redelivery of the same event derives the same command id: nothing new is committed.
    WelcomeBonus.react(&opened, test.runtime().commands()).await.unwrap();
    assert_eq!(test.events().await.len(), 2);
    let (state, _) = test.runtime().state_at::<Account>(id, None).await.unwrap().unwrap();
    assert_eq!(state.balance, 1);
}

#[actix_rt::test]
async fn subscribers_on_threads_of_their_own_see_and_react_to_every_command() {
    let test = TestRuntime::start(|b: RuntimeBuilder| {
        b.workers(1).subscriber_workers(1).aggregate::<Account>(AggregateConfig::default()).process_manager(
            "welcome-bonus",
            WelcomeBonus,
            StartFrom::Beginning,
        )
    })
    .await;
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        test.send::<Account>(*id, open("ada")).await.unwrap();
    }
    test.settle().await;
    assert_eq!(test.events().await.len(), 40);
    for id in ids {
        let (state, _) = test.runtime().state_at::<Account>(id, None).await.unwrap().unwrap();
        assert_eq!(state.balance, 1);
    }
}

#[actix_rt::test]
async fn a_process_manager_replayed_over_the_whole_history_commits_nothing_new() {
    // The runtime keeps no dedup record for a process manager: a copy that starts from the
    // beginning under a new name (no checkpoint) sends every command again, and the command ids
    // derived from the events are what keep the log unchanged.
    let replay = Arc::new(AtomicBool::new(false));
    let flag = replay.clone();
    let mut test = TestRuntime::start(move |b: RuntimeBuilder| {
        let name = if flag.load(Ordering::SeqCst) { "welcome-bonus-replayed" } else { "welcome-bonus" };
        b.aggregate::<Account>(AggregateConfig::default()).process_manager(name, WelcomeBonus, StartFrom::Beginning)
    })
    .await;
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        test.send::<Account>(*id, open("ada")).await.unwrap();
    }
    test.settle().await;
    let before = test.events().await;
    assert_eq!(before.len(), 6);
    replay.store(true, Ordering::SeqCst);
    test.restart().await;
    test.settle().await;
    let statuses = test.runtime().subscribers().statuses().await.unwrap();
    assert_eq!((statuses[0].name.as_str(), statuses[0].position), ("welcome-bonus-replayed", 6));
    assert_eq!(test.events().await.iter().map(|e| e.event_id).collect::<Vec<_>>(), before.iter().map(|e| e.event_id).collect::<Vec<_>>());
    for id in ids {
        let (state, _) = test.runtime().state_at::<Account>(id, None).await.unwrap().unwrap();
        assert_eq!(state.balance, 1);
    }
}

#[actix_rt::test]
async fn an_admin_can_retry_a_parked_event_once_the_cause_is_fixed_or_skip_it() {
    let mailer = Mailer { poison: Some("ada"), ..Mailer::default() };
    let handler = mailer.clone();
    let test = TestRuntime::start(move |b: RuntimeBuilder| {
        b.aggregate::<Account>(AggregateConfig::default()).retry_policy(fast_retries(1)).handler(
            "mailer",
            handler.clone(),
            StartFrom::Beginning,
        )
    })
    .await;
    test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
    test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
    test.settle().await;
    let projections = test.runtime().subscribers();
    assert_eq!(projections.parked("mailer").len(), 2);
    // Still broken: the retry fails and the event stays parked.
    assert!(matches!(projections.retry_parked("mailer", 1).await, Err(actors::ParkedError::FailedAgain(_))));
    mailer.healed.store(true, Ordering::SeqCst);
    projections.retry_parked("mailer", 1).await.unwrap();
    assert_eq!(mailer.sent.lock().len(), 1);
    projections.skip_parked("mailer", 2).unwrap();
    assert!(projections.parked("mailer").is_empty());
    assert_eq!(mailer.sent.lock().len(), 1, "a skipped event is not applied");
    assert!(projections.retry_parked("mailer", 2).await.is_err(), "nothing is parked there any more");
    assert_eq!(projections.statuses().await.unwrap()[0].parked, 0);
}

/// Records the deposits it sees per account and how many of its reactions overlapped.
#[derive(Clone, Default)]
struct DepositTracer {
    seen: Arc<Mutex<Vec<(Uuid, u64)>>>,
    in_flight: Arc<AtomicU32>,
    most_in_flight: Arc<AtomicU32>,
}

#[async_trait]
impl EventHandler for DepositTracer {
    fn event_types(&self) -> &[&'static str] {
        &["Deposited"]
    }

    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        event.stream.aggregate_id
    }

    async fn handle(&self, event: &RecordedEvent, _: &CommandBus) -> Result<(), SubscriberError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        // Long enough for the other keys' reactions to start meanwhile.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let AccountEvent::Deposited { amount, .. } = EventCodec::<AccountEvent>::default().decode(event)? {
            self.seen.lock().push((event.stream.aggregate_id, amount));
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[actix_rt::test]
async fn reactions_with_different_keys_overlap_and_those_with_one_key_keep_log_order() {
    let tracer = DepositTracer::default();
    let added = Arc::new(AtomicBool::new(false));
    let (handler, flag) = (tracer.clone(), added.clone());
    let mut test = TestRuntime::start(move |builder: RuntimeBuilder| {
        let builder = builder.aggregate::<Account>(AggregateConfig::default());
        if flag.load(Ordering::SeqCst) {
            builder.handler("tracer", handler.clone(), StartFrom::Beginning)
        } else {
            builder
        }
    })
    .await;
    let accounts: Vec<Uuid> = (0..8).map(|_| Uuid::new_v4()).collect();
    for id in &accounts {
        test.send::<Account>(*id, open("ada")).await.unwrap();
    }
    for amount in 1..=3 {
        for id in &accounts {
            test.send::<Account>(*id, deposit(amount)).await.unwrap();
        }
    }
    // Added now, the handler meets the whole history in one catch-up batch.
    added.store(true, Ordering::SeqCst);
    test.restart().await;
    test.settle().await;

    let seen = tracer.seen.lock().clone();
    assert_eq!(seen.len(), 24, "every deposit handled once");
    for id in &accounts {
        let amounts: Vec<u64> = seen.iter().filter(|(account, _)| account == id).map(|(_, amount)| *amount).collect();
        assert_eq!(amounts, vec![1, 2, 3], "one account's deposits in log order");
    }
    assert!(tracer.most_in_flight.load(Ordering::SeqCst) > 1, "different accounts were handled side by side");
}
