//! Appends: positions, versions, expected versions, idempotency by command id, carried context.

use actors::{CommandContext, Conflict, ExpectedVersion};
use uuid::Uuid;

use super::{append_conflict, append_ok, events, stream, whole_log, Store};

conformance!(
    positions_are_gapless_from_one_in_commit_order_across_streams,
    versions_count_from_one_in_each_stream,
    an_append_of_several_events_is_stored_together_in_order,
    append_with_a_stale_version_is_a_conflict_and_writes_nothing,
    exact_zero_creates_a_stream_and_conflicts_once_it_exists,
    any_appends_whatever_the_version,
    an_empty_append_writes_nothing,
    a_conflicting_append_does_not_use_up_its_command_id,
    a_repeated_command_id_returns_the_first_result_and_writes_nothing,
    committed_by_returns_the_events_of_a_command,
    correlation_causation_and_metadata_are_kept,
);

async fn positions_are_gapless_from_one_in_commit_order_across_streams(store: Store) {
    let streams = [stream("account"), stream("account"), stream("ledger")];
    let mut appended = Vec::new();
    for (index, count) in [2, 1, 3, 1, 2, 4].into_iter().enumerate() {
        let result = append_ok(&store, &streams[index % 3], ExpectedVersion::Any, events(count), &CommandContext::new_request()).await;
        appended.extend(result.events);
    }
    let positions: Vec<u64> = appended.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=13).collect::<Vec<_>>());
    assert_eq!(whole_log(&store).await, appended);
    assert_eq!(store.head().await.unwrap(), 13);
}

async fn versions_count_from_one_in_each_stream(store: Store) {
    let (a, b) = (stream("account"), stream("account"));
    let first = append_ok(&store, &a, ExpectedVersion::Exact(0), events(2), &CommandContext::new_request()).await;
    let other = append_ok(&store, &b, ExpectedVersion::Exact(0), events(1), &CommandContext::new_request()).await;
    let second = append_ok(&store, &a, ExpectedVersion::Exact(2), events(1), &CommandContext::new_request()).await;

    assert_eq!(first.events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(first.version, 2);
    assert_eq!(other.events[0].version, 1);
    assert_eq!(other.version, 1);
    assert_eq!(second.events[0].version, 3);
    assert_eq!(second.version, 3);
    assert_eq!(store.stream_version(&a).await.unwrap(), 3);
    assert_eq!(store.stream_version(&b).await.unwrap(), 1);
}

async fn an_append_of_several_events_is_stored_together_in_order(store: Store) {
    let s = stream("account");
    append_ok(&store, &stream("other"), ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    let sent = events(5);
    let appended = append_ok(&store, &s, ExpectedVersion::Exact(0), sent.clone(), &CommandContext::new_request()).await;

    assert!(!appended.already_committed);
    assert_eq!(appended.version, 5);
    for (offset, (recorded, new)) in appended.events.iter().zip(&sent).enumerate() {
        assert_eq!(recorded.position, 2 + offset as u64);
        assert_eq!(recorded.version, 1 + offset as u64);
        assert_eq!(recorded.stream, s);
        assert_eq!(
            (recorded.event_id, &recorded.event_type, recorded.schema_version, &recorded.payload),
            (new.event_id, &new.event_type, new.schema_version, &new.payload)
        );
        assert_eq!(recorded.recorded_at, appended.events[0].recorded_at, "one append, one timestamp");
    }
    assert_eq!(store.read_stream(&s, 1, usize::MAX).await.unwrap(), appended.events);
}

async fn append_with_a_stale_version_is_a_conflict_and_writes_nothing(store: Store) {
    let s = stream("account");
    let first = append_ok(&store, &s, ExpectedVersion::Exact(0), events(2), &CommandContext::new_request()).await;
    let context = CommandContext::new_request();

    for expected in [0, 1, 3, 7] {
        let answer = store.append(&s, ExpectedVersion::Exact(expected), events(3), &context).await.unwrap();
        assert_eq!(answer, Err(Conflict { expected: ExpectedVersion::Exact(expected), actual: 2 }));
    }

    assert_eq!(store.head().await.unwrap(), 2);
    assert_eq!(store.stream_version(&s).await.unwrap(), 2);
    assert_eq!(whole_log(&store).await, first.events);
    assert_eq!(store.committed_by(context.command_id).await.unwrap(), None);
}

async fn exact_zero_creates_a_stream_and_conflicts_once_it_exists(store: Store) {
    let s = stream("account");
    let created = append_ok(&store, &s, ExpectedVersion::Exact(0), events(1), &CommandContext::new_request()).await;
    assert_eq!((created.version, created.events[0].version), (1, 1));

    let conflict = append_conflict(&store, &s, ExpectedVersion::Exact(0), events(1)).await;
    assert_eq!(conflict, Conflict { expected: ExpectedVersion::Exact(0), actual: 1 });
}

async fn any_appends_whatever_the_version(store: Store) {
    let s = stream("account");
    for expected_after in 1..=3 {
        let appended = append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
        assert_eq!(appended.version, expected_after);
    }
    assert_eq!(store.stream_version(&s).await.unwrap(), 3);
}

async fn an_empty_append_writes_nothing(store: Store) {
    let s = stream("account");
    let context = CommandContext::new_request();
    let appended = append_ok(&store, &s, ExpectedVersion::Exact(0), Vec::new(), &context).await;
    assert!(appended.events.is_empty());
    assert_eq!((appended.version, appended.already_committed), (0, false));

    assert_eq!(append_conflict(&store, &s, ExpectedVersion::Exact(4), Vec::new()).await.actual, 0);
    assert_eq!(store.head().await.unwrap(), 0);
    assert!(store.streams_of("account", None, 10).await.unwrap().is_empty(), "an empty append creates no stream");
    assert_eq!(store.committed_by(context.command_id).await.unwrap(), None);

    // The command id is still free: the same command may append events later.
    let later = append_ok(&store, &s, ExpectedVersion::Exact(0), events(1), &context).await;
    assert!(!later.already_committed);
}

async fn a_conflicting_append_does_not_use_up_its_command_id(store: Store) {
    let s = stream("account");
    append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    let context = CommandContext::new_request();
    let refused = store.append(&s, ExpectedVersion::Exact(0), events(1), &context).await.unwrap();
    assert!(refused.is_err());

    let retried = append_ok(&store, &s, ExpectedVersion::Exact(1), events(1), &context).await;
    assert!(!retried.already_committed);
    assert_eq!(retried.version, 2);
}

async fn a_repeated_command_id_returns_the_first_result_and_writes_nothing(store: Store) {
    let s = stream("account");
    let context = CommandContext::new_request();
    let first = append_ok(&store, &s, ExpectedVersion::Exact(0), events(2), &context).await;
    append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    let head = store.head().await.unwrap();
    let again = actors::Appended { already_committed: true, ..first.clone() };

    // The same request again (its expected version is stale by now).
    assert_eq!(append_ok(&store, &s, ExpectedVersion::Exact(0), events(2), &context).await, again);
    // Another expected version, other events, no check, even another stream: still the first result.
    assert_eq!(append_ok(&store, &s, ExpectedVersion::Exact(3), events(4), &context).await, again);
    assert_eq!(append_ok(&store, &s, ExpectedVersion::Any, Vec::new(), &context).await, again);
    assert_eq!(append_ok(&store, &stream("ledger"), ExpectedVersion::Exact(0), events(1), &context).await, again);

    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(store.stream_version(&s).await.unwrap(), 3);
    assert!(store.streams_of("ledger", None, 10).await.unwrap().is_empty());
}

async fn committed_by_returns_the_events_of_a_command(store: Store) {
    let s = stream("account");
    let context = CommandContext::new_request();
    append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    let appended = append_ok(&store, &s, ExpectedVersion::Any, events(3), &context).await;
    append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;

    assert_eq!(store.committed_by(context.command_id).await.unwrap(), Some(appended.events));
    assert_eq!(store.committed_by(Uuid::new_v4()).await.unwrap(), None);
}

async fn correlation_causation_and_metadata_are_kept(store: Store) {
    let s = stream("account");
    let request = CommandContext::new_request().with_metadata("member", "ada").with_metadata("ip", "10.0.0.1");
    let first = append_ok(&store, &s, ExpectedVersion::Any, events(2), &request).await;
    let cause = &first.events[1];
    let reaction = CommandContext::caused_by(cause, "notify", 0);
    let second = append_ok(&store, &stream("mail"), ExpectedVersion::Any, events(1), &reaction).await;

    for event in &first.events {
        assert_eq!((event.correlation_id, event.causation_id, &event.metadata), (request.correlation_id, None, &request.metadata));
    }
    let effect = &second.events[0];
    assert_eq!(
        (effect.correlation_id, effect.causation_id, &effect.metadata),
        (request.correlation_id, Some(cause.event_id), &request.metadata)
    );

    // Every read gives the same records back.
    let log = whole_log(&store).await;
    assert_eq!(log, [first.events.clone(), second.events.clone()].concat());
    assert_eq!(store.read_stream(&s, 1, 10).await.unwrap(), first.events);
    assert_eq!(store.committed_by(reaction.command_id).await.unwrap(), Some(second.events));
}
