//! Appends from many tasks at once: the log stays gapless, each stream contiguous, and an
//! expected version admits exactly one writer.

use actors::{Appended, CommandContext, Conflict, ExpectedVersion};
use tokio::task::JoinSet;

use super::{append_ok, assert_well_formed, events, stream, whole_log, Store};

conformance!(
    concurrent_appends_to_distinct_streams_keep_positions_gapless,
    concurrent_appends_racing_on_one_stream_let_exactly_one_win,
    a_command_repeated_while_its_first_append_is_in_flight_answers_like_the_first,
);

async fn concurrent_appends_to_distinct_streams_keep_positions_gapless(store: Store) {
    let mut tasks = JoinSet::new();
    for task in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let s = stream("account");
            let mut version = 0;
            let mut answers = Vec::new();
            for round in 0..8 {
                let count = 1 + (task + round) % 3;
                let appended = append_ok(&store, &s, ExpectedVersion::Exact(version), events(count), &CommandContext::new_request()).await;
                version = appended.version;
                answers.push(appended);
                tokio::task::yield_now().await;
            }
            answers
        });
    }
    let answers: Vec<Appended> = tasks.join_all().await.into_iter().flatten().collect();

    let log = whole_log(&store).await;
    assert_well_formed(&log);
    assert_eq!(store.head().await.unwrap(), log.len() as u64);
    let answered: usize = answers.iter().map(|a| a.events.len()).sum();
    assert_eq!(answered, log.len());
    for appended in answers {
        let first = appended.events[0].position as usize;
        assert_eq!(
            log[first - 1..first - 1 + appended.events.len()],
            appended.events[..],
            "an append's events are stored as answered, together"
        );
    }
}

async fn concurrent_appends_racing_on_one_stream_let_exactly_one_win(store: Store) {
    let s = stream("account");
    for round in 1..=5u64 {
        let mut tasks = JoinSet::new();
        for _ in 0..16 {
            let (store, s) = (store.clone(), s.clone());
            tasks.spawn(async move {
                store.append(&s, ExpectedVersion::Exact(round - 1), events(1), &CommandContext::new_request()).await.unwrap()
            });
        }
        let answers = tasks.join_all().await;
        let winners: Vec<&Appended> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one append wins");
        assert_eq!(winners[0].version, round);
        let conflict = Conflict { expected: ExpectedVersion::Exact(round - 1), actual: round };
        assert!(answers.iter().filter_map(|a| a.as_ref().err()).all(|c| *c == conflict));
        assert_eq!(store.stream_version(&s).await.unwrap(), round);
    }
    assert_well_formed(&whole_log(&store).await);
}

/// The sled store decides several waiting appends as one group: a command repeated within the
/// group must get the same answer as one repeated after the group.
async fn a_command_repeated_while_its_first_append_is_in_flight_answers_like_the_first(store: Store) {
    for _ in 0..5 {
        let s = stream("account");
        let (bulk, ledger) = (stream("bulk"), stream("ledger"));
        let (repeated, other_command, bulk_command) =
            (CommandContext::new_request(), CommandContext::new_request(), CommandContext::new_request());
        // A large append keeps the writer busy while the next three queue up behind it.
        let (_, first, other, again_here, again_elsewhere) = tokio::join!(
            store.append(&bulk, ExpectedVersion::Any, events(2000), &bulk_command),
            store.append(&s, ExpectedVersion::Any, events(2), &repeated),
            store.append(&s, ExpectedVersion::Any, events(1), &other_command),
            store.append(&s, ExpectedVersion::Any, events(1), &repeated),
            store.append(&ledger, ExpectedVersion::Any, events(1), &repeated),
        );
        let first = first.unwrap().unwrap();
        other.unwrap().unwrap();
        let replayed = Appended { already_committed: true, ..first.clone() };
        assert_eq!(first.version, 2);
        assert_eq!(again_here.unwrap().unwrap(), replayed);
        assert_eq!(again_elsewhere.unwrap().unwrap(), replayed);
        assert_eq!(append_ok(&store, &s, ExpectedVersion::Any, Vec::new(), &repeated).await, replayed);
        assert_eq!(store.stream_version(&s).await.unwrap(), 3);
    }
    assert_well_formed(&whole_log(&store).await);
}
