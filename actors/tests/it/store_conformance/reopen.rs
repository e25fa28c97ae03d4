//! A sled store reopened on the same directory has everything it had and carries on from there.

use actors::{CommandContext, ExpectedVersion, SledStoreConfig, Snapshot};

use super::{append_ok, assert_well_formed, events, open_retrying, stream, whole_log, Store};

#[tokio::test]
async fn reopening_a_sled_store_keeps_everything_and_continues_positions() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let open = || -> Store { std::sync::Arc::new(open_retrying(dir.path(), SledStoreConfig::default())) };
    let (a, b) = (stream("account"), stream("account"));
    let repeated = CommandContext::new_request();
    let snapshot = Snapshot { version: 2, state: vec![7, 7] };

    let store = open();
    let first = append_ok(&store, &a, ExpectedVersion::Exact(0), events(2), &repeated).await;
    append_ok(&store, &b, ExpectedVersion::Exact(0), events(3), &CommandContext::new_request()).await;
    append_ok(&store, &a, ExpectedVersion::Exact(2), events(1), &CommandContext::new_request()).await;
    store.save_snapshot(&a, snapshot.clone()).await.unwrap();
    let before = whole_log(&store).await;
    drop(store);

    let store = open();
    assert_eq!(whole_log(&store).await, before);
    assert_eq!(store.head().await.unwrap(), 6);
    assert_eq!((store.stream_version(&a).await.unwrap(), store.stream_version(&b).await.unwrap()), (3, 3));
    assert_eq!(store.committed_by(repeated.command_id).await.unwrap(), Some(first.events.clone()));
    assert_eq!(store.load_snapshot(&a).await.unwrap(), Some(snapshot));
    let mut ids = vec![a.aggregate_id, b.aggregate_id];
    ids.sort();
    assert_eq!(store.streams_of("account", None, 10).await.unwrap(), ids);

    // The writer knows the stored versions, positions and commands.
    let again = append_ok(&store, &a, ExpectedVersion::Exact(0), events(1), &repeated).await;
    assert!(again.already_committed);
    assert_eq!(again.events, first.events);
    assert_eq!(
        store.append(&a, ExpectedVersion::Exact(2), events(1), &CommandContext::new_request()).await.unwrap().unwrap_err().actual,
        3
    );
    let next = append_ok(&store, &a, ExpectedVersion::Exact(3), events(2), &CommandContext::new_request()).await;
    assert_eq!(next.events.iter().map(|e| (e.position, e.version)).collect::<Vec<_>>(), [(7, 4), (8, 5)]);
    let fresh = append_ok(&store, &stream("account"), ExpectedVersion::Exact(0), events(1), &CommandContext::new_request()).await;
    assert_eq!(fresh.events[0].position, 9);
    drop(store);

    let store = open();
    let log = whole_log(&store).await;
    assert_eq!(log.len(), 9);
    assert_eq!(log[..6], before[..]);
    assert_well_formed(&log);
}
