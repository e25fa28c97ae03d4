//! Aggregate actors and the registry: serialized commands, conflicts, passivation, supervision.

use std::time::Duration;

use actors::testing::TestRuntime;
use actors::{Aggregate, AggregateConfig, CommandError, DomainEvent, Execute, ExpectedVersion, StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{Account, AccountCommand, AccountError, AccountEvent};
use crate::support::{deposit, encoded, open, request};

fn with_accounts(config: AggregateConfig) -> impl Fn(actors::RuntimeBuilder) -> actors::RuntimeBuilder {
    move |builder| builder.aggregate::<Account>(config.clone()).aggregate::<Fragile>(config.clone())
}

#[actix_rt::test]
async fn a_command_returns_its_committed_events_and_state() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    let opened = test.send::<Account>(id, open("ada")).await.unwrap();
    assert_eq!(opened.version, 1);
    assert_eq!(opened.events.len(), 1);
    assert_eq!(opened.events[0].event_type, "Opened");
    assert_eq!(opened.events[0].stream, StreamId::new("account", id));
    let deposited = test.send::<Account>(id, deposit(10)).await.unwrap();
    assert_eq!((deposited.version, deposited.state.balance), (2, 10));
    assert_eq!(deposited.last_position(), Some(2));
}

#[actix_rt::test]
async fn a_refused_command_commits_nothing() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    let refused = test.send::<Account>(id, deposit(10)).await.unwrap_err();
    assert!(matches!(refused, CommandError::Rejected(AccountError::NotOpen)));
    assert!(test.events().await.is_empty());
}

#[actix_rt::test]
async fn two_clients_racing_on_one_aggregate_are_serialized_without_lost_updates() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let runtime = test.runtime().clone();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let runtime = runtime.clone();
            actix_rt::spawn(async move {
                for _ in 0..50 {
                    runtime.commands().send::<Account>(id, deposit(1), request()).await.unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let (state, version) = runtime.state_at::<Account>(id, None).await.unwrap().unwrap();
    assert_eq!((state.balance, version), (100, 101));
}

/// An open account whose live actor has not seen the deposit of 5 another node committed behind
/// its back (version 2): nothing appended here to tell it.
async fn with_a_deposit_the_live_actor_missed(test: &TestRuntime) -> Uuid {
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let stream = StreamId::new("account", id);
    let outside = encoded(&[AccountEvent::Deposited { amount: 5, note: None }]);
    test.store().append(&stream, ExpectedVersion::Exact(1), outside, &request()).await.unwrap().unwrap();
    id
}

#[actix_rt::test]
async fn a_concurrent_writer_makes_the_actor_reload_and_retry() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = with_a_deposit_the_live_actor_missed(&test).await;
    let executed = test.send::<Account>(id, deposit(1)).await.unwrap();
    assert_eq!((executed.version, executed.state.balance), (3, 6));
}

#[actix_rt::test]
async fn a_command_the_live_state_refuses_is_decided_again_on_what_another_writer_committed() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = with_a_deposit_the_live_actor_missed(&test).await;
    let executed = test.send::<Account>(id, AccountCommand::Withdraw { amount: 3 }).await.unwrap();
    assert_eq!((executed.version, executed.state.balance), (3, 2));
    // A refusal on the latest state stays a refusal.
    let refused = test.send::<Account>(id, AccountCommand::Withdraw { amount: 3 }).await.unwrap_err();
    assert!(matches!(refused, CommandError::Rejected(AccountError::InsufficientFunds { balance: 2, requested: 3 })));
}

#[actix_rt::test]
async fn a_command_naming_the_version_it_saw_gets_a_conflict_not_a_refusal_when_another_writer_moved_on() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = with_a_deposit_the_live_actor_missed(&test).await;
    let stale = Execute::<Account>::new(id, AccountCommand::Withdraw { amount: 3 }, request()).expecting(Some(1));
    let error = test.runtime().commands().execute(stale).await.unwrap_err();
    assert!(matches!(error, CommandError::Conflict(conflict) if conflict.actual == 2));
}

#[actix_rt::test]
async fn a_command_naming_a_stale_version_gets_the_conflict_back() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(id, deposit(1)).await.unwrap();
    let stale = Execute::<Account>::new(id, deposit(1), request()).expecting(Some(1));
    let error = test.runtime().commands().execute(stale).await.unwrap_err();
    assert!(matches!(error, CommandError::Conflict(conflict) if conflict.actual == 2));
    let current = Execute::<Account>::new(id, deposit(1), request()).expecting(Some(2));
    assert_eq!(test.runtime().commands().execute(current).await.unwrap().version, 3);
}

#[actix_rt::test]
async fn the_same_command_id_sent_twice_commits_once() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    let context = request();
    let first = test.runtime().commands().send::<Account>(id, open("ada"), context.clone()).await.unwrap();
    let second = test.runtime().commands().send::<Account>(id, open("ada"), context).await.unwrap();
    assert!(second.already_committed);
    assert_eq!(first.events, second.events);
    assert_eq!(test.events().await.len(), 1);
}

#[actix_rt::test]
async fn a_repeated_command_the_domain_would_accept_again_is_answered_from_its_first_run() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let context = request();
    let first = test.runtime().commands().send::<Account>(id, deposit(5), context.clone()).await.unwrap();
    // A deposit is never refused: only the store can tell that this one was made already.
    let second = test.runtime().commands().send::<Account>(id, deposit(5), context).await.unwrap();
    assert!(second.already_committed);
    assert_eq!(first.events, second.events);
    assert_eq!((second.version, second.state.balance), (2, 5));
    assert_eq!(test.send::<Account>(id, deposit(1)).await.unwrap().state.balance, 6);
    assert_eq!(test.events().await.len(), 3);
}

#[actix_rt::test]
async fn a_repeated_command_naming_the_version_it_was_decided_at_is_answered_not_refused() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let context = request();
    let first =
        test.runtime().commands().execute(Execute::<Account>::new(id, deposit(2), context.clone()).expecting(Some(1))).await.unwrap();
    let again = test.runtime().commands().execute(Execute::<Account>::new(id, deposit(2), context).expecting(Some(1))).await.unwrap();
    assert!(again.already_committed);
    assert_eq!((first.events, again.version), (again.events, 2));
}

#[actix_rt::test]
async fn inspect_reads_the_live_actors_state_without_starting_another() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(id, deposit(7)).await.unwrap();
    let commands = test.runtime().commands();
    let (balance, version) = commands.inspect::<Account, _>(id, 0, |state, version| (state.balance, version)).await.unwrap();
    assert_eq!((balance, version), (7, 2));
    assert_eq!(test.runtime().registry_stats::<Account>().await.unwrap().started, 1);
    // A stream without events reads as the default state at version 0.
    let unknown = commands.inspect::<Account, _>(Uuid::new_v4(), 0, |state, version| (state.balance, version)).await.unwrap();
    assert_eq!(unknown, (0, 0));
}

#[actix_rt::test]
async fn inspect_at_least_a_version_the_actor_has_not_seen_reloads_it_first() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    // Another writer appends behind the live actor's back (a passivated twin, another node).
    let outside = encoded(&[AccountEvent::Deposited { amount: 5, note: None }]);
    test.store().append(&StreamId::new("account", id), ExpectedVersion::Exact(1), outside, &request()).await.unwrap().unwrap();
    let commands = test.runtime().commands();
    let live = commands.inspect::<Account, _>(id, 0, |state, version| (state.balance, version)).await.unwrap();
    assert_eq!(live, (0, 1), "without a minimum the actor answers with what it holds");
    let reloaded = commands.inspect::<Account, _>(id, 2, |state, version| (state.balance, version)).await.unwrap();
    assert_eq!(reloaded, (5, 2));
    assert_eq!(test.send::<Account>(id, deposit(1)).await.unwrap().state.balance, 6);
}

#[actix_rt::test]
async fn a_panicking_read_is_an_error_and_the_actor_goes_on() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let commands = test.runtime().commands();
    let read = commands.inspect::<Account, u64>(id, 0, |state, _| if state.balance == 0 { panic!("a bug in the read") } else { 1 });
    assert!(matches!(read.await, Err(actors::InspectError::Panicked)));
    assert_eq!(test.send::<Account>(id, deposit(3)).await.unwrap().state.balance, 3);
}

#[actix_rt::test]
async fn an_idle_actor_is_passivated_and_rehydrated_on_the_next_command() {
    let config = AggregateConfig { idle_timeout: Duration::from_millis(50), ..AggregateConfig::default() };
    let test = TestRuntime::start(with_accounts(config)).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(id, deposit(3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = test.runtime().registry_stats::<Account>().await.unwrap();
    assert_eq!((stats.live, stats.passivated), (0, 1));
    let executed = test.send::<Account>(id, deposit(4)).await.unwrap();
    assert_eq!(executed.state.balance, 7);
    assert_eq!(test.runtime().registry_stats::<Account>().await.unwrap().started, 2);
}

#[actix_rt::test]
async fn the_live_actor_cap_evicts_the_least_recently_used() {
    let config = AggregateConfig { max_live_actors: 3, ..AggregateConfig::default() };
    let test = TestRuntime::start(with_accounts(config)).await;
    let ids: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        test.send::<Account>(*id, open("ada")).await.unwrap();
    }
    let stats = test.runtime().registry_stats::<Account>().await.unwrap();
    assert_eq!((stats.live, stats.passivated), (3, 7));
    // An evicted aggregate comes back with its state.
    assert_eq!(test.send::<Account>(ids[0], deposit(2)).await.unwrap().version, 2);
}

#[actix_rt::test]
async fn commands_beyond_the_mailbox_capacity_are_refused_as_overloaded() {
    let config = AggregateConfig { mailbox_capacity: 2, ..AggregateConfig::default() };
    let test = TestRuntime::start(with_accounts(config)).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    let sends: Vec<_> = (0..40).map(|_| test.send::<Account>(id, deposit(1))).collect();
    let results = futures::future::join_all(sends).await;
    let overloaded = results.iter().filter(|r| matches!(r, Err(CommandError::Overloaded(_)))).count();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert!(overloaded > 0, "some commands must be refused");
    assert_eq!(accepted + overloaded, 40);
    let (state, _) = test.runtime().state_at::<Account>(id, None).await.unwrap().unwrap();
    assert_eq!(state.balance as usize, accepted, "every accepted command was applied once");

    // The refusal hands each command back as it was: sent again, each is applied once.
    let handed_back: Vec<_> = results
        .into_iter()
        .filter_map(|r| match r {
            Err(CommandError::Overloaded(execute)) => Some(*execute),
            _ => None,
        })
        .collect();
    for execute in handed_back {
        assert_eq!(execute.aggregate_id, id);
        test.runtime().commands().execute(execute).await.expect("accepted once the mailbox has room");
    }
    let (state, _) = test.runtime().state_at::<Account>(id, None).await.unwrap().unwrap();
    assert_eq!(state.balance, 40, "every command was applied once in the end");
}

#[actix_rt::test]
async fn a_panicking_aggregate_answers_with_an_error_and_is_rebuilt_from_the_store() {
    let test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Fragile>(id, FragileCommand::Add(2)).await.unwrap();
    let error = test.send::<Fragile>(id, FragileCommand::Panic).await.unwrap_err();
    assert!(matches!(error, CommandError::Panicked));
    let executed = test.send::<Fragile>(id, FragileCommand::Add(3)).await.unwrap();
    assert_eq!((executed.state, executed.version), (5, 2));
    // Other aggregates never noticed.
    test.send::<Account>(Uuid::new_v4(), open("ada")).await.unwrap();
}

#[actix_rt::test]
async fn a_restart_keeps_every_aggregate() {
    let mut test = TestRuntime::start(with_accounts(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    test.send::<Account>(id, deposit(9)).await.unwrap();
    test.restart().await;
    let executed = test.send::<Account>(id, deposit(1)).await.unwrap();
    assert_eq!((executed.version, executed.state.balance), (3, 10));
    assert_eq!(executed.events[0].position, 3);
}

#[actix_rt::test]
async fn snapshots_are_taken_by_policy_and_used_on_load() {
    let config = AggregateConfig { snapshot_every: 5, ..AggregateConfig::default() };
    let mut test = TestRuntime::start(with_accounts(config)).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    for _ in 0..11 {
        test.send::<Account>(id, deposit(1)).await.unwrap();
    }
    let stream = StreamId::new("account", id);
    let snapshot = test.store().load_snapshot(&stream).await.unwrap().expect("a snapshot");
    assert_eq!(snapshot.version, 10);
    test.restart().await;
    assert_eq!(test.send::<Account>(id, deposit(1)).await.unwrap().state.balance, 12);
}

#[actix_rt::test]
async fn time_travel_shows_the_state_at_any_version() {
    let test = TestRuntime::start(with_accounts(AggregateConfig { snapshot_every: 2, ..AggregateConfig::default() })).await;
    let id = Uuid::new_v4();
    test.send::<Account>(id, open("ada")).await.unwrap();
    for amount in 1..=4 {
        test.send::<Account>(id, deposit(amount)).await.unwrap();
    }
    let at = |version| {
        let runtime = test.runtime().clone();
        async move { runtime.state_at::<Account>(id, Some(version)).await.unwrap().unwrap().0.balance }
    };
    assert_eq!([at(1).await, at(2).await, at(3).await, at(5).await], [0, 1, 3, 10]);
    assert!(test.runtime().state_at::<Account>(Uuid::new_v4(), None).await.unwrap().is_none());
}

/// An aggregate whose `handle` panics on demand.
struct Fragile;

#[derive(Debug, Clone)]
enum FragileCommand {
    Add(u64),
    Panic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum FragileEvent {
    Added(u64),
}

impl DomainEvent for FragileEvent {
    fn event_type(&self) -> &'static str {
        "Added"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Fragile {
    const TYPE: &'static str = "fragile";
    type Command = FragileCommand;
    type Event = FragileEvent;
    type Error = Never;
    type State = u64;

    fn handle(_: &u64, command: FragileCommand) -> Result<Vec<FragileEvent>, Never> {
        match command {
            FragileCommand::Add(n) => Ok(vec![FragileEvent::Added(n)]),
            FragileCommand::Panic => panic!("a bug in the domain"),
        }
    }

    fn apply(state: u64, FragileEvent::Added(n): &FragileEvent) -> u64 {
        state + n
    }
}
