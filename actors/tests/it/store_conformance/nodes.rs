//! Several nodes on one PostgreSQL log: two store instances in one test stand for two
//! processes (each has its own writer, pool, listener and runtime). Skipped with one printed
//! line where no database answers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::testing::postgres::TestSchema;
use actors::{Appended, CommandContext, Conflict, EventStore, ExpectedVersion, PostgresStore, RecordedEvent};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::{append_ok, assert_well_formed, events, stream, whole_log, Store};

/// Two nodes on a fresh schema.
async fn two_nodes(test: &str) -> Option<(TestSchema, Store, Store)> {
    let schema = TestSchema::create(test).await?;
    let (a, b) = (schema.store().await, schema.store().await);
    Some((schema, Arc::new(a), Arc::new(b)))
}

/// Every event the feed delivers until it has delivered position `last`, checking that batches
/// never go backwards (they may skip ahead; the caller checks what arrived).
async fn follow_until(feed: &mut broadcast::Receiver<actors::CommittedBatch>, last: u64) -> Vec<RecordedEvent> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<RecordedEvent> = Vec::new();
    while seen.last().is_none_or(|event| event.position < last) {
        let left = deadline.saturating_duration_since(Instant::now());
        let batch = tokio::time::timeout(left, feed.recv()).await.expect("the feed delivers within a minute").expect("no lag");
        for event in batch.iter() {
            assert!(seen.last().is_none_or(|previous| previous.position < event.position), "the feed went backwards at {}", event.position);
            seen.push(event.clone());
        }
    }
    seen
}

/// Appends `rounds` times to a stream of its own from each of `tasks` tasks on `store`.
fn append_to_own_streams(tasks: &mut JoinSet<Vec<Appended>>, store: &Store, count: usize, rounds: usize) {
    for task in 0..count {
        let store = store.clone();
        tasks.spawn(async move {
            let s = stream("account");
            let mut answers: Vec<Appended> = Vec::new();
            for round in 0..rounds {
                let version = answers.last().map_or(0, |appended| appended.version);
                let (expected, size) = (ExpectedVersion::Exact(version), 1 + (task + round) % 3);
                answers.push(append_ok(&store, &s, expected, events(size), &CommandContext::new_request()).await);
            }
            answers
        });
    }
}

#[tokio::test]
async fn two_nodes_appending_at_once_leave_no_gap_no_duplicate_and_no_lost_append() {
    let Some((_schema, a, b)) = two_nodes("two_nodes_appending").await else { return };
    let mut tasks = JoinSet::new();
    append_to_own_streams(&mut tasks, &a, 8, 12);
    append_to_own_streams(&mut tasks, &b, 8, 12);
    // Meanwhile both race on shared streams.
    let shared = [stream("course"), stream("course")];
    let mut racers = JoinSet::new();
    for node in [a.clone(), b.clone(), a.clone(), b.clone()] {
        let shared = shared.clone();
        racers.spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..10 {
                let s = &shared[round % 2];
                let current = node.stream_version(s).await.unwrap();
                outcomes.push(node.append(s, ExpectedVersion::Exact(current), events(1), &CommandContext::new_request()).await.unwrap());
            }
            outcomes
        });
    }
    let answers: Vec<Appended> = tasks.join_all().await.into_iter().flatten().collect();
    let raced: Vec<Result<Appended, Conflict>> = racers.join_all().await.into_iter().flatten().collect();

    for log in [whole_log(&a).await, whole_log(&b).await] {
        assert_well_formed(&log);
        let wins: Vec<&Appended> = raced.iter().filter_map(|r| r.as_ref().ok()).collect();
        let written: usize = answers.iter().chain(wins.iter().copied()).map(|a| a.events.len()).sum();
        assert_eq!(written, log.len(), "every acknowledged event is in the log, and nothing else");
        for appended in answers.iter().chain(wins.iter().copied()) {
            let first = appended.events[0].position as usize;
            assert_eq!(log[first - 1..first - 1 + appended.events.len()], appended.events[..], "stored as answered");
        }
        let ids: BTreeSet<_> = log.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), log.len(), "no event twice");
        for s in &shared {
            let versions = log.iter().filter(|e| e.stream == *s).count() as u64;
            assert_eq!(versions, wins.iter().filter(|w| w.events[0].stream == *s).count() as u64);
        }
    }
    assert!(raced.iter().all(|r| match r {
        Err(conflict) => matches!(conflict.expected, ExpectedVersion::Exact(v) if v < conflict.actual),
        Ok(_) => true,
    }));
    assert_eq!(a.head().await.unwrap(), b.head().await.unwrap());
}

#[tokio::test]
async fn two_nodes_racing_on_one_stream_let_exactly_one_append_win_each_round() {
    let Some((_schema, a, b)) = two_nodes("two_nodes_racing").await else { return };
    let s = stream("course");
    for round in 1..=6u64 {
        let mut tasks = JoinSet::new();
        for node in [&a, &b, &a, &b, &a, &b] {
            let (node, s) = (node.clone(), s.clone());
            tasks.spawn(async move {
                node.append(&s, ExpectedVersion::Exact(round - 1), events(1), &CommandContext::new_request()).await.unwrap()
            });
        }
        let answers = tasks.join_all().await;
        let winners: Vec<&Appended> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let conflict = Conflict { expected: ExpectedVersion::Exact(round - 1), actual: round };
        assert!(answers.iter().filter_map(|a| a.as_ref().err()).all(|c| *c == conflict), "round {round}: {answers:?}");
    }
    assert_well_formed(&whole_log(&b).await);
}

#[tokio::test]
async fn a_command_sent_through_both_nodes_at_once_is_appended_once() {
    let Some((_schema, a, b)) = two_nodes("command_through_both").await else { return };
    for _ in 0..5 {
        let (s, context) = (stream("account"), CommandContext::new_request());
        let sent = events(2);
        let (through_a, through_b) =
            tokio::join!(a.append(&s, ExpectedVersion::Any, sent.clone(), &context), b.append(&s, ExpectedVersion::Any, sent, &context));
        let (through_a, through_b) = (through_a.unwrap().unwrap(), through_b.unwrap().unwrap());
        assert_eq!(through_a.events, through_b.events);
        assert!(through_a.already_committed != through_b.already_committed, "one wrote, the other answered from it");
        assert_eq!(a.stream_version(&s).await.unwrap(), 2);
    }
    assert_well_formed(&whole_log(&a).await);
}

#[tokio::test]
async fn a_subscriber_of_one_node_receives_the_other_nodes_events_in_order() {
    let Some((_schema, a, b)) = two_nodes("subscriber_across_nodes").await else { return };
    let mut feed = a.subscribe();
    let mut tasks = JoinSet::new();
    append_to_own_streams(&mut tasks, &b, 4, 10);
    append_to_own_streams(&mut tasks, &a, 2, 5);
    tasks.join_all().await;
    let head = b.head().await.unwrap();

    let delivered = follow_until(&mut feed, head).await;
    assert_eq!(delivered, whole_log(&a).await, "every event of both nodes, once, in position order");
}

#[tokio::test]
async fn a_node_whose_connections_are_cut_reconnects_and_goes_on() {
    let Some(schema) = TestSchema::create("connections_cut").await else { return };
    let name = format!("cut-{}", schema.name());
    let a: Store =
        Arc::new(PostgresStore::connect(actors::PostgresStoreConfig { application_name: name.clone(), ..schema.config() }).await.unwrap());
    let b: Store = Arc::new(schema.store().await);
    append_ok(&a, &stream("account"), ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    let mut feed = a.subscribe();

    // What a database restart does to this node: every connection it has is gone at once.
    let (admin, connection) =
        actors::testing::postgres::test_url().parse::<tokio_postgres::Config>().unwrap().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let cut = admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", &[&name]).await.unwrap();
    assert!(!cut.is_empty(), "the node had connections to cut");

    let appended = append_ok(&b, &stream("account"), ExpectedVersion::Any, events(2), &CommandContext::new_request()).await;
    let delivered = follow_until(&mut feed, appended.events[1].position).await;
    assert_eq!(delivered, appended.events, "the listener reconnected and read what it missed");

    // The node's own appends and reads work again (the first may still meet a dead connection).
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = stream("account");
    let own = loop {
        match a.append(&s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await {
            Ok(answer) => break answer.unwrap(),
            Err(error) => assert!(Instant::now() < deadline, "the node never recovered: {error}"),
        }
    };
    assert_eq!(own.events[0].position, 4);
    assert_eq!(whole_log(&a).await.len(), 4);
}

#[tokio::test]
async fn nodes_starting_at_once_migrate_the_schema_once() {
    let Some(schema) = TestSchema::create("starting_at_once").await else { return };
    let nodes = futures::future::join_all((0..4).map(|_| PostgresStore::connect(schema.config()))).await;
    let nodes: Vec<PostgresStore> = nodes.into_iter().map(|node| node.expect("every node starts")).collect();
    let (admin, connection) =
        actors::testing::postgres::test_url().parse::<tokio_postgres::Config>().unwrap().connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let applied: i64 = admin.query_one(&format!("SELECT count(*) FROM {}.schema_migrations", schema.name()), &[]).await.unwrap().get(0);
    assert_eq!(applied, 1);
    let store: Store = Arc::new(nodes[3].clone());
    append_ok(&store, &stream("account"), ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    assert_eq!(nodes[0].head().await.unwrap(), 1);
}

#[tokio::test]
async fn an_import_continues_the_log_of_every_node_or_writes_nothing() {
    let Some((schema, a, b)) = two_nodes("import_continues").await else { return };
    let source: Store = Arc::new(actors::InMemoryStore::new());
    append_ok(&source, &stream("account"), ExpectedVersion::Any, events(3), &CommandContext::new_request()).await;
    append_ok(&source, &stream("ledger"), ExpectedVersion::Any, events(2), &CommandContext::new_request()).await;
    let backup = whole_log(&source).await;
    let node = PostgresStore::connect(schema.config()).await.unwrap();

    let refused = node.import(backup[1..].to_vec()).await;
    assert!(matches!(refused, Err(actors::ImportError::Position { expected: 1, found: 2, .. })), "{refused:?}");
    assert_eq!(node.import(backup.clone()).await.unwrap(), 5);
    assert_eq!(whole_log(&b).await, backup, "byte for byte, on every node");
    assert_eq!(a.streams_of("ledger", None, 10).await.unwrap(), [backup[3].stream.aggregate_id]);
    let next = append_ok(&a, &backup[0].stream, ExpectedVersion::Exact(3), events(1), &CommandContext::new_request()).await;
    assert_eq!((next.events[0].position, next.events[0].version), (6, 4));
}
