//! Reads: a stream by version, its tail, the global log by position and type, the streams of a
//! type, snapshots, and the live feed.

use actors::{CommandContext, ExpectedVersion, NewEvent, Snapshot, StreamId};
use tokio::sync::broadcast::error::TryRecvError;
use uuid::Uuid;

use super::{append_ok, event, events, stream, whole_log, Store};

conformance!(
    read_stream_pages_from_a_version,
    read_stream_last_gives_the_newest_events_in_version_order,
    stream_version_is_zero_for_a_new_stream_and_counts_its_events,
    read_all_pages_through_the_log,
    read_all_keeps_only_the_given_types,
    head_is_the_position_of_the_last_event,
    streams_of_lists_one_type_in_id_order_with_paging,
    snapshots_are_saved_loaded_and_replaced,
    subscribers_receive_committed_batches_in_position_order,
);

/// Appends 7 events to a new stream, one by one, with an event of another stream between each.
async fn seven_events_among_noise(store: &Store) -> StreamId {
    let s = stream("account");
    let noise = stream("account");
    for _ in 0..7 {
        append_ok(store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
        append_ok(store, &noise, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    }
    s
}

async fn versions(store: &Store, s: &StreamId, from: u64, limit: usize) -> Vec<u64> {
    store.read_stream(s, from, limit).await.unwrap().iter().map(|e| e.version).collect()
}

async fn read_stream_pages_from_a_version(store: Store) {
    let s = seven_events_among_noise(&store).await;
    assert_eq!(versions(&store, &s, 1, 3).await, [1, 2, 3]);
    assert_eq!(versions(&store, &s, 4, 3).await, [4, 5, 6]);
    assert_eq!(versions(&store, &s, 7, 3).await, [7]);
    assert!(versions(&store, &s, 8, 3).await.is_empty());
    assert_eq!(versions(&store, &s, 0, 2).await, [1, 2], "version 0 reads from the start");
    assert!(versions(&store, &s, 1, 0).await.is_empty());
    assert!(versions(&store, &stream("account"), 1, 10).await.is_empty());

    let all = store.read_stream(&s, 1, usize::MAX).await.unwrap();
    assert!(all.iter().all(|e| e.stream == s));
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
}

async fn read_stream_last_gives_the_newest_events_in_version_order(store: Store) {
    let s = seven_events_among_noise(&store).await;
    let last = |count| {
        let store = store.clone();
        let s = s.clone();
        async move { store.read_stream_last(&s, count).await.unwrap().iter().map(|e| e.version).collect::<Vec<_>>() }
    };
    assert_eq!(last(3).await, [5, 6, 7]);
    assert_eq!(last(1).await, [7]);
    assert_eq!(last(100).await, [1, 2, 3, 4, 5, 6, 7]);
    assert!(last(0).await.is_empty());
    assert!(store.read_stream_last(&stream("account"), 3).await.unwrap().is_empty());
}

async fn stream_version_is_zero_for_a_new_stream_and_counts_its_events(store: Store) {
    let s = seven_events_among_noise(&store).await;
    assert_eq!(store.stream_version(&s).await.unwrap(), 7);
    assert_eq!(store.stream_version(&stream("account")).await.unwrap(), 0);
    // Same id, another type: another stream.
    assert_eq!(store.stream_version(&StreamId::new("ledger", s.aggregate_id)).await.unwrap(), 0);
}

async fn read_all_pages_through_the_log(store: Store) {
    let s = stream("account");
    append_ok(&store, &s, ExpectedVersion::Any, events(4), &CommandContext::new_request()).await;
    append_ok(&store, &stream("account"), ExpectedVersion::Any, events(6), &CommandContext::new_request()).await;
    let page = |from, limit| {
        let store = store.clone();
        async move { store.read_all(from, limit, None).await.unwrap().iter().map(|e| e.position).collect::<Vec<_>>() }
    };
    assert_eq!(page(1, 4).await, [1, 2, 3, 4]);
    assert_eq!(page(5, 4).await, [5, 6, 7, 8]);
    assert_eq!(page(9, 4).await, [9, 10]);
    assert!(page(11, 4).await.is_empty());
    assert_eq!(page(0, 2).await, [1, 2], "position 0 reads from the start");
    assert!(page(1, 0).await.is_empty());
}

async fn read_all_keeps_only_the_given_types(store: Store) {
    let typed = |names: &[&str]| names.iter().map(|name| event(name, name.as_bytes())).collect::<Vec<NewEvent>>();
    append_ok(&store, &stream("account"), ExpectedVersion::Any, typed(&["A", "B", "A"]), &CommandContext::new_request()).await;
    append_ok(&store, &stream("account"), ExpectedVersion::Any, typed(&["C", "A", "B", "A"]), &CommandContext::new_request()).await;
    let filtered = |from, limit, types: &[&str]| {
        let store = store.clone();
        let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        async move {
            store.read_all(from, limit, Some(&types)).await.unwrap().iter().map(|e| (e.position, e.event_type.clone())).collect::<Vec<_>>()
        }
    };
    let a = |position: u64| (position, "A".to_string());
    assert_eq!(filtered(1, 10, &["A"]).await, [a(1), a(3), a(5), a(7)]);
    assert_eq!(filtered(1, 2, &["A"]).await, [a(1), a(3)], "the limit counts kept events");
    assert_eq!(filtered(4, 10, &["A"]).await, [a(5), a(7)]);
    assert_eq!(filtered(1, 10, &["C", "B"]).await, [(2, "B".into()), (4, "C".into()), (6, "B".into())]);
    assert!(filtered(1, 10, &[]).await.is_empty());
    assert!(filtered(1, 10, &["Z"]).await.is_empty());
    assert_eq!(store.read_all(1, 10, None).await.unwrap().len(), 7);
}

async fn head_is_the_position_of_the_last_event(store: Store) {
    assert_eq!(store.head().await.unwrap(), 0);
    append_ok(&store, &stream("account"), ExpectedVersion::Any, events(3), &CommandContext::new_request()).await;
    assert_eq!(store.head().await.unwrap(), 3);
    append_ok(&store, &stream("account"), ExpectedVersion::Any, events(2), &CommandContext::new_request()).await;
    assert_eq!(store.head().await.unwrap(), 5);
}

async fn streams_of_lists_one_type_in_id_order_with_paging(store: Store) {
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        let s = StreamId::new("account", *id);
        append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
        append_ok(&store, &s, ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    }
    // Types whose names share a prefix with "account", and a stream that only saw an empty append.
    for other in ["accounts", "acc", "accoun"] {
        append_ok(&store, &stream(other), ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;
    }
    append_ok(&store, &stream("account"), ExpectedVersion::Any, Vec::new(), &CommandContext::new_request()).await;

    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(store.streams_of("account", None, 100).await.unwrap(), sorted);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.streams_of("account", after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(*last);
        paged.extend(page);
    }
    assert_eq!(paged, sorted);

    // `after` need not be a listed id.
    let between = Uuid::from_u128(sorted[1].as_u128() + 1);
    assert_eq!(store.streams_of("account", Some(between), 100).await.unwrap(), sorted[2..]);
    assert_eq!(store.streams_of("account", Some(Uuid::nil()), 100).await.unwrap(), sorted);
    assert!(store.streams_of("account", Some(Uuid::max()), 100).await.unwrap().is_empty());
    assert!(store.streams_of("account", None, 0).await.unwrap().is_empty());
    assert!(store.streams_of("ledger", None, 100).await.unwrap().is_empty());
    assert_eq!(store.streams_of("acc", None, 100).await.unwrap().len(), 1);
}

async fn snapshots_are_saved_loaded_and_replaced(store: Store) {
    let s = stream("account");
    assert_eq!(store.load_snapshot(&s).await.unwrap(), None);

    let first = Snapshot { version: 3, state: vec![1, 2, 3] };
    store.save_snapshot(&s, first.clone()).await.unwrap();
    assert_eq!(store.load_snapshot(&s).await.unwrap(), Some(first));

    let second = Snapshot { version: 5, state: vec![9; 40] };
    store.save_snapshot(&s, second.clone()).await.unwrap();
    assert_eq!(store.load_snapshot(&s).await.unwrap(), Some(second));

    assert_eq!(store.load_snapshot(&stream("account")).await.unwrap(), None);
    assert_eq!(store.load_snapshot(&StreamId::new("ledger", s.aggregate_id)).await.unwrap(), None);
    assert_eq!(store.head().await.unwrap(), 0, "a snapshot is not an event");
}

async fn subscribers_receive_committed_batches_in_position_order(store: Store) {
    let mut feed = store.subscribe();
    let s = stream("account");
    let repeated = CommandContext::new_request();
    let mut appended = Vec::new();
    for (count, context) in [(2, repeated.clone()), (1, CommandContext::new_request()), (3, CommandContext::new_request())] {
        appended.push(append_ok(&store, &s, ExpectedVersion::Any, events(count), &context).await.events);
    }
    append_ok(&store, &stream("ledger"), ExpectedVersion::Any, events(1), &CommandContext::new_request()).await;

    let mut batches = Vec::new();
    while let Ok(batch) = feed.try_recv() {
        batches.push(batch.to_vec());
    }
    assert!(batches.iter().all(|batch| !batch.is_empty()));
    assert_eq!(batches.concat(), whole_log(&store).await, "every committed event, once, in position order");
    assert_eq!(batches[..3], appended[..], "one batch per sequential append");

    // Refused, repeated and empty appends publish nothing.
    store.append(&s, ExpectedVersion::Exact(0), events(1), &CommandContext::new_request()).await.unwrap().unwrap_err();
    append_ok(&store, &s, ExpectedVersion::Any, events(1), &repeated).await;
    append_ok(&store, &s, ExpectedVersion::Any, Vec::new(), &CommandContext::new_request()).await;
    assert_eq!(feed.try_recv().unwrap_err(), TryRecvError::Empty);
}
