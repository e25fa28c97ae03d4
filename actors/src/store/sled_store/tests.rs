//! The sled store's own cases: what no other store can show (its durable head, its files).

use super::*;

fn noted() -> Vec<NewEvent> {
    vec![NewEvent { event_id: Uuid::new_v4(), event_type: "Noted".into(), schema_version: 1, payload: vec![1] }]
}

#[actix_rt::test]
async fn readers_never_see_past_the_last_flushed_group() {
    let store = SledStore::temporary().expect("a temporary store");
    let stream = StreamId::new("note", Uuid::new_v4());
    let appended = store.append(&stream, ExpectedVersion::Any, noted(), &CommandContext::new_request()).await;
    assert!(matches!(appended, Ok(Ok(_))));
    // What a group looks like between its write and the end of its flush: in the tree, and
    // (here) pointing at a readable event.
    let first_event = event_key(&stream, 1);
    let mut run = sled::Batch::default();
    super::positions::index(&mut run, 2, &[first_event]);
    store.log.apply_batch(run).expect("a raw write");
    assert_eq!(store.head().await.expect("the head"), 1);
    assert_eq!(store.read_all(1, 10, None).await.expect("the log").len(), 1);

    // The writer's next group takes position 2 and, once flushed, is visible.
    let appended = store.append(&stream, ExpectedVersion::Any, noted(), &CommandContext::new_request()).await;
    assert!(matches!(appended, Ok(Ok(ref appended)) if appended.events[0].position == 2));
    assert_eq!(store.head().await.expect("the head"), 2);
    let positions: Vec<Position> = store.read_all(1, 10, None).await.expect("the log").iter().map(|e| e.position).collect();
    assert_eq!(positions, [1, 2]);
}

#[actix_rt::test]
async fn reads_of_a_stream_stop_at_the_durable_head() {
    let store = SledStore::temporary().expect("a temporary store");
    let stream = StreamId::new("note", Uuid::new_v4());
    let first = CommandContext::new_request();
    let appended = store.append(&stream, ExpectedVersion::Any, noted(), &first).await.expect("the store works").expect("no conflict");
    // A second group as it is between its write and the end of its flush: every key in the
    // tree, the durable head still at 1.
    let mut pending = appended.events[0].clone();
    (pending.position, pending.version, pending.event_id) = (2, 2, Uuid::new_v4());
    let second = CommandContext::new_request();
    let mut record = 2u64.to_be_bytes().to_vec();
    record.extend_from_slice(&1u32.to_be_bytes());
    store.log.insert(event_key(&stream, 2), super::format::encode(&[pending]).expect("encodes")).expect("a raw write");
    let mut run = sled::Batch::default();
    super::positions::index(&mut run, 2, &[event_key(&stream, 2)]);
    store.log.apply_batch(run).expect("a raw write");
    store.log.insert(keys::command_key(second.command_id), record).expect("a raw write");

    let versions = |events: Vec<RecordedEvent>| events.iter().map(|e| e.version).collect::<Vec<_>>();
    assert_eq!(versions(store.read_stream(&stream, 1, 10).await.expect("a read")), [1]);
    assert_eq!(versions(store.read_stream_last(&stream, 1).await.expect("a read")), [1]);
    assert_eq!(store.stream_version(&stream).await.expect("a read"), 1);
    assert!(store.committed_by(second.command_id).await.expect("a read").is_none());
    assert!(store.committed_by(first.command_id).await.expect("a read").is_some());

    store.durable.store(2, Ordering::Release);
    assert_eq!(versions(store.read_stream(&stream, 1, 10).await.expect("a read")), [1, 2]);
    assert_eq!(store.stream_version(&stream).await.expect("a read"), 2);
    assert!(store.committed_by(second.command_id).await.expect("a read").is_some());
}

type Answer = oneshot::Receiver<Result<Result<Appended, Conflict>, StoreError>>;

fn request(stream: &StreamId, expected: ExpectedVersion, context: &CommandContext) -> (AppendRequest, Answer) {
    let (reply, answer) = oneshot::channel();
    (AppendRequest { stream: stream.clone(), expected, events: noted(), context: context.clone(), reply }, answer)
}

fn told_poisoned_at(answer: Answer, step: crate::store::SyncStep) {
    match answer.blocking_recv().expect("answered") {
        Err(StoreError::Poisoned(poisoned)) => assert_eq!(poisoned.step, step),
        other => panic!("expected the {step} failure, got {other:?}"),
    }
}

#[test]
fn every_request_of_a_failed_group_is_told_so_and_every_later_write_is_refused() {
    let step = crate::store::SyncStep::Fsync;
    // Durable write 0 is the sync at open, 1 the first group: the second group fails.
    let config = SledStoreConfig { fault: Some(FaultPlan { write: 2, step }), ..SledStoreConfig::default() };
    let db = sled::Config::new().temporary(true).open().expect("a temporary database");
    let (store, mut writer, queue) = SledStore::unstarted(db, None, config).expect("a store");
    let stream = StreamId::new("note", Uuid::new_v4());
    let first = CommandContext::new_request();
    let (append, answer) = request(&stream, ExpectedVersion::Exact(0), &first);
    assert!(matches!(writer.commit_group(&mut vec![append]), Some(Ok(()))));
    assert!(matches!(answer.blocking_recv(), Ok(Ok(Ok(ref appended))) if !appended.already_committed));

    // One group: a fresh append, the same command again, a command of the first group again,
    // and an append that conflicts with the fresh one.
    let fresh = CommandContext::new_request();
    let (fresh_append, fresh_answer) = request(&stream, ExpectedVersion::Exact(1), &fresh);
    let (twin, twin_answer) = request(&stream, ExpectedVersion::Exact(1), &fresh);
    let (repeat, repeat_answer) = request(&stream, ExpectedVersion::Exact(0), &first);
    let (late, late_answer) = request(&stream, ExpectedVersion::Exact(1), &CommandContext::new_request());
    assert!(matches!(writer.commit_group(&mut vec![fresh_append, twin, repeat, late]), Some(Err(StoreError::Poisoned(_)))));
    for answer in [fresh_answer, twin_answer, repeat_answer, late_answer] {
        told_poisoned_at(answer, step);
    }

    std::thread::spawn(move || writer.run(queue));
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(async {
        assert_eq!(store.poisoned().map(|p| p.step), Some(step));
        let refused = store.append(&stream, ExpectedVersion::Any, noted(), &CommandContext::new_request()).await;
        assert!(matches!(refused, Err(StoreError::Poisoned(ref p)) if p.step == step), "{refused:?}");
        assert!(matches!(store.flush_local().await, Err(StoreError::Poisoned(_))));
        assert!(matches!(store.import(Vec::new()).await, Err(ImportError::Store(StoreError::Poisoned(_)))));
        // The failed group is in the tree, never durable: nobody is told it committed.
        assert!(store.committed_by(fresh.command_id).await.expect("a read").is_none());
        assert_eq!(store.stream_version(&stream).await.expect("a read"), 1);
        assert_eq!(store.head().await.expect("the head"), 1);
    });
}

/// A writer not running, as if its last write had taken `last_write`, and a way to queue
/// appends for it.
fn writer_after(gather_wait: Duration, last_write: Duration) -> (SledStore, Writer, mpsc::Receiver<Request>) {
    let config = SledStoreConfig { gather_wait, ..SledStoreConfig::default() };
    let db = sled::Config::new().temporary(true).open().expect("a temporary database");
    let (store, mut writer, queue) = SledStore::unstarted(db, None, config).expect("a store");
    writer.last_write = last_write;
    (store, writer, queue)
}

/// An append of one event to a fresh stream.
fn fresh_append() -> Request {
    let (append, _answer) = request(&StreamId::new("note", Uuid::new_v4()), ExpectedVersion::Exact(0), &CommandContext::new_request());
    Request::Append(append)
}

/// What the writer gathers from an empty queue after `first`, when the last group answered
/// three appends.
fn gathered_after_three(writer: &mut Writer, queue: &mut mpsc::Receiver<Request>) -> usize {
    let (mut group, mut flushes) = (Vec::new(), Vec::new());
    writer.gather(fresh_append(), queue, &mut group, &mut flushes);
    assert_eq!(group.len(), 1, "nothing else was queued");
    writer.wait_for_more(3, queue, &mut group, &mut flushes);
    group.len()
}

#[test]
fn a_group_waits_for_as_many_appends_as_the_last_group_answered() {
    let (store, mut writer, mut queue) = writer_after(Duration::from_secs(60), Duration::from_secs(60));
    let callers = std::thread::spawn(move || {
        for _ in 0..2 {
            store.writer.blocking_send(fresh_append()).map_err(|_| "the queue is open").expect("sent");
        }
        store
    });
    assert_eq!(gathered_after_three(&mut writer, &mut queue), 3);
    callers.join().expect("the callers");
}

#[test]
fn a_group_waits_no_longer_than_gather_wait() {
    let (_store, mut writer, mut queue) = writer_after(Duration::from_millis(20), Duration::from_secs(60));
    assert_eq!(gathered_after_three(&mut writer, &mut queue), 1);
}

#[test]
fn a_group_waits_no_longer_than_the_last_write_took() {
    let (_store, mut writer, mut queue) = writer_after(Duration::from_secs(60), Duration::from_millis(20));
    assert_eq!(gathered_after_three(&mut writer, &mut queue), 1);
}
