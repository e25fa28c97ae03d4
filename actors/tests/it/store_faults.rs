//! The sled store under I/O faults: a test-only fault plan fails one step of one durable write
//! (durable write 0 is the sync at open, then one per group commit), and a real disk-full run
//! on a small tmpfs where the machine allows mounting one. Each case checks what every caller
//! was told, then what a reopened store holds: nothing acknowledged lost, nothing refused
//! after the failure written, the failed group whole or absent.

use std::path::Path;
use std::sync::Arc;

use actors::{
    Appended, CommandContext, Conflict, EventStore, ExpectedVersion, FaultPlan, LocalFlush, NewEvent, SledStore, SledStoreConfig,
    StoreError, StreamId, SyncStep,
};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::store_conformance::{assert_well_formed, event, open_retrying, stream};

type Answer = Result<Result<Appended, Conflict>, StoreError>;

fn failing_at(write: u64, step: SyncStep) -> SledStoreConfig {
    SledStoreConfig { fault: Some(FaultPlan { write, step }), ..SledStoreConfig::default() }
}

fn poisoned_at(answer: &Answer, step: SyncStep) -> bool {
    matches!(answer, Err(StoreError::Poisoned(poisoned)) if poisoned.step == step)
}

async fn append(store: &SledStore, stream: &StreamId, events: Vec<NewEvent>, context: &CommandContext) -> Answer {
    store.append(stream, ExpectedVersion::Any, events, context).await
}

/// Two groups succeed, the third fails at `step`, a fourth is refused; after a reopen the
/// first two are there, the third whole or not at all (never when its write failed), the
/// fourth never, and the failed command can be sent again.
async fn a_failed_durable_write_poisons_until_reopened(step: SyncStep) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stream = stream("note");
    let contexts: Vec<CommandContext> = (0..4).map(|_| CommandContext::new_request()).collect();
    let store = open_retrying(dir.path(), failing_at(3, step));
    let mut acknowledged = Vec::new();
    for context in &contexts[..2] {
        let appended = append(&store, &stream, vec![event("Noted", b"ok")], context).await.expect("a healthy write").expect("no conflict");
        acknowledged.extend(appended.events);
    }
    let failed = append(&store, &stream, vec![event("Noted", b"a"), event("Noted", b"b")], &contexts[2]).await;
    assert!(poisoned_at(&failed, step), "{failed:?}");
    let refused = append(&store, &stream, vec![event("Noted", b"late")], &contexts[3]).await;
    assert!(poisoned_at(&refused, step), "the first failure stays the reason: {refused:?}");
    assert!(matches!(store.flush_local().await, Err(StoreError::Poisoned(_))));
    assert_eq!(store.poisoned().map(|p| p.step), Some(step));
    assert_eq!(store.head().await.expect("the head"), 2);
    drop(store);

    let store = open_retrying(dir.path(), SledStoreConfig::default());
    assert!(store.poisoned().is_none(), "a reopened store takes writes again");
    let log = store.read_all(1, usize::MAX, None).await.expect("the log");
    assert_well_formed(&log);
    assert_eq!(log[..2], acknowledged[..], "nothing acknowledged is lost");
    match log.len() {
        2 => {}
        4 if step != SyncStep::Write => assert_eq!(log[2].correlation_id, contexts[2].correlation_id, "the failed group, whole"),
        _ => panic!("after a failed {step}, the log holds {log:?}"),
    }
    assert!(store.committed_by(contexts[3].command_id).await.expect("a read").is_none(), "a refused append never appears");
    let retried = append(&store, &stream, vec![event("Noted", b"a"), event("Noted", b"b")], &contexts[2]).await;
    let retried = retried.expect("a healthy write").expect("no conflict");
    assert_eq!(retried.already_committed, log.len() == 4, "committed once, whichever way the failure went");
    let log = store.read_all(1, usize::MAX, None).await.expect("the log");
    assert_eq!(log.len(), 4);
    assert_well_formed(&log);
}

#[tokio::test]
async fn a_failed_write_poisons_the_store_until_it_is_reopened() {
    a_failed_durable_write_poisons_until_reopened(SyncStep::Write).await;
}

#[tokio::test]
async fn a_failed_flush_poisons_the_store_until_it_is_reopened() {
    a_failed_durable_write_poisons_until_reopened(SyncStep::Flush).await;
}

#[tokio::test]
async fn a_failed_fdatasync_poisons_the_store_until_it_is_reopened() {
    a_failed_durable_write_poisons_until_reopened(SyncStep::Fsync).await;
}

#[tokio::test]
async fn concurrent_appends_around_a_failed_group_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(open_retrying(dir.path(), failing_at(5, SyncStep::Fsync)));
    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            let stream = stream("note");
            let mut answers = Vec::new();
            for _ in 0..10 {
                let context = CommandContext::new_request();
                let answer = append(&store, &stream, vec![event("Noted", b"x")], &context).await;
                let failed = answer.is_err();
                answers.push((context, answer));
                if failed {
                    break;
                }
            }
            answers
        });
    }
    let answers: Vec<(CommandContext, Answer)> = tasks.join_all().await.into_iter().flatten().collect();
    assert!(answers.iter().all(|(_, answer)| matches!(answer, Ok(Ok(_))) || poisoned_at(answer, SyncStep::Fsync)), "{answers:?}");
    drop(store);

    let store = open_retrying(dir.path(), SledStoreConfig::default());
    let log = store.read_all(1, usize::MAX, None).await.expect("the log");
    assert_well_formed(&log);
    let acknowledged: Vec<_> =
        answers.iter().filter_map(|(_, answer)| answer.as_ref().ok()?.as_ref().ok()).flat_map(|a| &a.events).collect();
    for event in &acknowledged {
        assert_eq!(log.get(event.position as usize - 1), Some(*event), "an acknowledged event is where it was acknowledged");
    }
    // Past the acknowledged events, at most the one failed group: appends told they failed.
    let told_failed: Vec<Uuid> = answers.iter().filter(|(_, answer)| answer.is_err()).map(|(context, _)| context.correlation_id).collect();
    for event in &log[acknowledged.len()..] {
        assert!(told_failed.contains(&event.correlation_id), "only the failed group may follow: {event:?}");
    }
}

#[tokio::test]
async fn what_sled_recovered_is_synced_before_the_store_opens() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    drop(open_retrying(dir.path(), SledStoreConfig::default()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let opened = loop {
        match SledStore::open(dir.path(), failing_at(0, SyncStep::Flush)) {
            // The dropped store's writer thread still holds the database's lock.
            Err(StoreError::Backend(_)) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(10)),
            opened => break opened,
        }
    };
    assert!(matches!(opened, Err(StoreError::Poisoned(ref poisoned)) if poisoned.step == SyncStep::Flush), "{:?}", opened.err());
}

/// Larger than sled's blob threshold (128 KiB minus headers): stored in a file of its own.
fn large_event() -> NewEvent {
    event("Large", &vec![7; 200 * 1024])
}

#[tokio::test]
async fn a_large_event_is_in_a_blob_file_synced_before_its_append_is_answered() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Durable write 1 (the first group) has no new blob, so its blob step cannot fail.
    let store = open_retrying(dir.path(), failing_at(1, SyncStep::BlobSync));
    let small = append(&store, &stream("note"), vec![event("Noted", b"x")], &CommandContext::new_request()).await;
    assert!(matches!(small, Ok(Ok(_))), "{small:?}");
    drop(store);
    let store = open_retrying(dir.path(), failing_at(1, SyncStep::BlobSync));
    let large = append(&store, &stream("note"), vec![large_event()], &CommandContext::new_request()).await;
    assert!(poisoned_at(&large, SyncStep::BlobSync), "{large:?}");
    drop(store);

    let store = open_retrying(dir.path(), SledStoreConfig::default());
    let large = stream("note");
    let appended =
        append(&store, &large, vec![large_event()], &CommandContext::new_request()).await.expect("a write").expect("no conflict");
    assert!(std::fs::read_dir(dir.path().join("blobs")).expect("the blob directory").count() > 0);
    drop(store);
    let store = open_retrying(dir.path(), SledStoreConfig::default());
    assert_eq!(store.read_stream(&large, 1, 10).await.expect("a read"), appended.events);
}

/// Unmounts the small filesystem however the test ends.
struct Mounted<'a>(&'a Path);

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_poisons_the_store_and_loses_nothing_acknowledged() {
    let mount_point = tempfile::tempdir().expect("a temporary directory");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mount_point.path())
        .stderr(std::process::Stdio::piped())
        .output();
    match mounted {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            println!("skipped: cannot mount a small tmpfs here ({})", String::from_utf8_lossy(&output.stderr).trim());
            return;
        }
        Err(error) => {
            println!("skipped: cannot run mount here ({error})");
            return;
        }
    }
    let _unmount = Mounted(mount_point.path());
    let dir = mount_point.path().join("store");
    // Space to free once the disk is full, so the store can be reopened and checked.
    let filler = mount_point.path().join("filler");
    std::fs::write(&filler, vec![0; 1024 * 1024]).expect("the filler");

    let store = open_retrying(&dir, SledStoreConfig::default());
    let stream = stream("note");
    let mut acknowledged = Vec::new();
    let failure = loop {
        assert!(acknowledged.len() < 10_000, "4 MiB never filled up");
        let context = CommandContext::new_request();
        match append(&store, &stream, vec![event("Noted", &[1; 4096])], &context).await {
            Ok(Ok(appended)) => acknowledged.extend(appended.events),
            Ok(Err(conflict)) => panic!("{conflict}"),
            Err(error) => break error,
        }
    };
    assert!(matches!(failure, StoreError::Poisoned(_)), "a full disk poisons the store: {failure:?}");
    let refused = append(&store, &stream, vec![event("Noted", b"late")], &CommandContext::new_request()).await;
    assert!(matches!(refused, Err(StoreError::Poisoned(_))), "{refused:?}");
    drop(store);

    std::fs::remove_file(&filler).expect("free some space");
    let store = open_retrying(&dir, SledStoreConfig::default());
    let log = store.read_all(1, usize::MAX, None).await.expect("the log");
    assert_well_formed(&log);
    assert!(log.len() <= acknowledged.len() + 1, "at most the failed append follows: {} > {}", log.len(), acknowledged.len());
    assert_eq!(log[..acknowledged.len()], acknowledged[..], "nothing acknowledged is lost");
}
