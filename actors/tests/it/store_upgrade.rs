//! A sled store written in the first or the second stored format opens upgraded, every event
//! as it was; an interrupted upgrade is refused until its partial copy is discarded.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::{
    encode_bytes, EventStore, ExpectedVersion, FormatError, RecordedEvent, SledStore, SledStoreConfig, StoreError, UpgradeProgress,
};
use uuid::Uuid;

use crate::account::AccountEvent;
use crate::store_conformance::{open_retrying, whole_log};
use crate::store_import::history;
use crate::support::{encoded, request};

/// Writes `log` as the first format kept it: tree `log`, the whole `RecordedEvent` under
/// `E|stream|version`, `P|position` pointing at it, `T|type|id` per stream, `C|command id` per
/// command (here one command per event, `commands[i]` for `log[i]`).
fn write_first_format(dir: &Path, log: &[RecordedEvent], commands: &[Uuid]) {
    let db = sled::Config::new().path(dir).open().expect("open sled");
    let tree = db.open_tree("log").expect("the old log tree");
    for (event, command) in log.iter().zip(commands) {
        let name = event.stream.aggregate_type.as_bytes();
        let mut stream_key = vec![b'E', name.len() as u8];
        stream_key.extend_from_slice(name);
        stream_key.extend_from_slice(event.stream.aggregate_id.as_bytes());
        let mut event_key = stream_key.clone();
        event_key.extend_from_slice(&event.version.to_be_bytes());
        tree.insert(&event_key, encode_bytes(event).expect("encodes")).expect("write");
        let mut position_key = vec![b'P'];
        position_key.extend_from_slice(&event.position.to_be_bytes());
        tree.insert(position_key, event_key.as_slice()).expect("write");
        write_type_and_command_keys(&tree, event, command);
    }
    db.flush().expect("flush");
}

/// The keys every format so far kept beside the events: `T|type|id` for a stream's first event,
/// `C|command id` -> first position and count.
fn write_type_and_command_keys(tree: &sled::Tree, event: &RecordedEvent, command: &Uuid) {
    let name = event.stream.aggregate_type.as_bytes();
    if event.version == 1 {
        let mut type_key = vec![b'T', name.len() as u8];
        type_key.extend_from_slice(name);
        type_key.extend_from_slice(event.stream.aggregate_id.as_bytes());
        tree.insert(type_key, &[][..]).expect("write");
    }
    let mut command_key = vec![b'C'];
    command_key.extend_from_slice(command.as_bytes());
    let mut record = event.position.to_be_bytes().to_vec();
    record.extend_from_slice(&1u32.to_be_bytes());
    tree.insert(command_key, record).expect("write");
}

/// Writes `log` as the second format kept it: tree `log2` with `V` = 2, under
/// `E|stream|version` the event without its stream and version, its time as integer seconds
/// and nanoseconds; `G|first position` -> the `E` keys of a run of positions (here one run per
/// append); `T` and `C` as in the first.
fn write_second_format(dir: &Path, log: &[RecordedEvent], commands: &[Uuid]) {
    #[derive(serde::Serialize)]
    struct Second<'a> {
        position: u64,
        seconds: i64,
        nanos: u32,
        event_id: Uuid,
        correlation_id: Uuid,
        causation_id: Option<Uuid>,
        schema_version: u32,
        event_type: &'a str,
        metadata: Vec<(&'a str, &'a str)>,
        payload: &'a [u8],
    }
    let db = sled::Config::new().path(dir).open().expect("open sled");
    let tree = db.open_tree("log2").expect("the second log tree");
    tree.insert(b"V", &[2u8][..]).expect("write");
    let mut run: Option<(u64, Vec<u8>, Uuid)> = None;
    let write_run = |run: Option<(u64, Vec<u8>, Uuid)>| {
        if let Some((first, keys, _)) = run {
            let mut run_key = vec![b'G'];
            run_key.extend_from_slice(&u64::to_be_bytes(first));
            tree.insert(run_key, keys).expect("write");
        }
    };
    for (event, command) in log.iter().zip(commands) {
        let name = event.stream.aggregate_type.as_bytes();
        let mut event_key = vec![b'E', name.len() as u8];
        event_key.extend_from_slice(name);
        event_key.extend_from_slice(event.stream.aggregate_id.as_bytes());
        event_key.extend_from_slice(&event.version.to_be_bytes());
        let stored = Second {
            position: event.position,
            seconds: event.recorded_at.timestamp(),
            nanos: event.recorded_at.timestamp_subsec_nanos(),
            event_id: event.event_id,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            schema_version: event.schema_version,
            event_type: &event.event_type,
            metadata: event.metadata.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect(),
            payload: &event.payload,
        };
        tree.insert(&event_key, encode_bytes(&stored).expect("encodes")).expect("write");
        if run.as_ref().is_some_and(|(_, _, correlation)| *correlation != event.correlation_id) {
            write_run(run.take());
        }
        let (_, keys, _) = run.get_or_insert_with(|| (event.position, Vec::new(), event.correlation_id));
        keys.extend_from_slice(&(event_key.len() as u16).to_be_bytes());
        keys.extend_from_slice(&event_key);
        write_type_and_command_keys(&tree, event, command);
    }
    write_run(run);
    db.flush().expect("flush");
}

/// Opens the store, retrying only while the previous handle still holds sled's lock.
fn open_or_refusal(dir: &Path, config: SledStoreConfig) -> Result<SledStore, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open(dir, config.clone()) {
            Err(StoreError::Backend(_)) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => return other,
        }
    }
}

fn counting_progress() -> (SledStoreConfig, Arc<AtomicU64>) {
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let progress = UpgradeProgress(Arc::new(move |events, _total| seen.store(events, Ordering::SeqCst)));
    (SledStoreConfig { upgrade_progress: Some(progress), ..SledStoreConfig::default() }, done)
}

type WriteOlderFormat = fn(&Path, &[RecordedEvent], &[Uuid]);

async fn an_older_log_is_upgraded_and_reads_back_identically(write_older_format: WriteOlderFormat) {
    let (log, streams) = history().await;
    let commands: Vec<Uuid> = log.iter().map(|_| Uuid::new_v4()).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_older_format(dir.path(), &log, &commands);

    let (config, progress) = counting_progress();
    let store: Arc<dyn EventStore> = Arc::new(open_or_refusal(dir.path(), config.clone()).expect("opens upgraded"));
    assert_eq!(progress.load(Ordering::SeqCst), log.len() as u64, "the upgrade reported every event");
    assert_eq!(whole_log(&store).await, log);
    for stream in &streams {
        let expected: Vec<_> = log.iter().filter(|e| &e.stream == stream).cloned().collect();
        assert_eq!(store.read_stream(stream, 1, usize::MAX).await.expect("a read"), expected);
    }
    let mut ids: Vec<Uuid> = streams.iter().map(|s| s.aggregate_id).collect();
    ids.sort();
    assert_eq!(store.streams_of("account", None, 10).await.expect("a read"), ids);
    assert_eq!(store.committed_by(commands[4]).await.expect("a read"), Some(vec![log[4].clone()]));

    // A repeated command is still answered from its first commit; a new one continues the log.
    let version = store.stream_version(&log[4].stream).await.expect("a read");
    let repeat = request().with_command_id(commands[4]);
    let deposit = encoded(&[AccountEvent::Deposited { amount: 1, note: None }]);
    let again = store.append(&log[4].stream, ExpectedVersion::Exact(version), deposit.clone(), &repeat).await.unwrap().unwrap();
    assert!(again.already_committed);
    let next = store.append(&log[4].stream, ExpectedVersion::Exact(version), deposit, &request()).await.unwrap().unwrap();
    assert_eq!(next.events[0].position, log.len() as u64 + 1);
    drop(store);

    // Upgraded once: the next open finds the current format and has nothing to report.
    let (config, progress) = counting_progress();
    let store: Arc<dyn EventStore> = Arc::new(open_retrying(dir.path(), config));
    assert_eq!(progress.load(Ordering::SeqCst), 0);
    assert_eq!(whole_log(&store).await[..log.len()], log[..]);
}

#[tokio::test]
async fn a_log_in_the_first_format_is_upgraded_and_reads_back_identically() {
    an_older_log_is_upgraded_and_reads_back_identically(write_first_format).await;
}

#[tokio::test]
async fn a_log_in_the_second_format_is_upgraded_and_reads_back_identically() {
    an_older_log_is_upgraded_and_reads_back_identically(write_second_format).await;
}

/// `old` and `new`: the trees of the older format and of the upgrade's copy.
async fn an_interrupted_upgrade_is_refused_until_its_copy_is_discarded(write_older_format: WriteOlderFormat, old: &str, new: &str) {
    let (log, _) = history().await;
    let commands: Vec<Uuid> = log.iter().map(|_| Uuid::new_v4()).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_older_format(dir.path(), &log, &commands);
    {
        // What a crash part-way through an upgrade leaves: some keys copied, no format key.
        let db = sled::Config::new().path(dir.path()).open().expect("open sled");
        let old = db.open_tree(old).expect("the old log");
        let partial = db.open_tree(new).expect("the new log");
        for entry in old.iter().filter(|entry| entry.as_ref().map_or(true, |(key, _)| key.as_ref() != b"V")).take(5) {
            let (key, value) = entry.expect("a read");
            partial.insert(key, value).expect("write");
        }
        db.flush().expect("flush");
    }

    let refused = open_or_refusal(dir.path(), SledStoreConfig::default()).err().expect("an interrupted upgrade is refused");
    assert!(matches!(refused, StoreError::Format(FormatError::Interrupted)), "{refused}");
    assert!(refused.to_string().contains("interrupted") && refused.to_string().contains("--discard-interrupted"), "{refused}");

    assert!(discard_retrying(dir.path()), "there was a partial copy to discard");
    let store: Arc<dyn EventStore> = Arc::new(open_or_refusal(dir.path(), SledStoreConfig::default()).expect("opens upgraded"));
    assert_eq!(whole_log(&store).await, log);
    drop(store);
    assert!(!discard_retrying(dir.path()), "a finished upgrade leaves nothing to discard");
}

#[tokio::test]
async fn an_interrupted_upgrade_of_the_first_format_is_refused_until_its_copy_is_discarded() {
    // The copy an older binary was making (to the second format) or this one (to the third).
    an_interrupted_upgrade_is_refused_until_its_copy_is_discarded(write_first_format, "log", "log2").await;
    an_interrupted_upgrade_is_refused_until_its_copy_is_discarded(write_first_format, "log", "log3").await;
}

#[tokio::test]
async fn an_interrupted_upgrade_of_the_second_format_is_refused_until_its_copy_is_discarded() {
    an_interrupted_upgrade_is_refused_until_its_copy_is_discarded(write_second_format, "log2", "log3").await;
}

#[tokio::test]
async fn a_log_in_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let db = sled::Config::new().path(dir.path()).open().expect("open sled");
        db.open_tree("log3").expect("the log").insert(b"V", &[9u8][..]).expect("write");
        db.flush().expect("flush");
    }
    let refused = open_or_refusal(dir.path(), SledStoreConfig::default()).err().expect("a newer format is refused");
    assert!(matches!(refused, StoreError::Format(FormatError::Newer { found: 9 })), "{refused}");

    // A log kept under a newer tree's name, beside nothing this program knows.
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        let db = sled::Config::new().path(dir.path()).open().expect("open sled");
        db.open_tree("log4").expect("the log").insert(b"V", &[4u8][..]).expect("write");
        db.flush().expect("flush");
    }
    let refused = open_or_refusal(dir.path(), SledStoreConfig::default()).err().expect("a newer format is refused");
    assert!(matches!(refused, StoreError::Format(FormatError::Newer { found: 4 })), "{refused}");
}

fn discard_retrying(dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::discard_interrupted_upgrade(dir) {
            Ok(discarded) => return discarded,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("could not discard: {error}"),
        }
    }
}
