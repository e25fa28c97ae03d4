//! Crash safety of the sled store: a child process appends as fast as it can and is killed with
//! SIGKILL; every append it acknowledged must be there after a reopen, whole, and nothing may be
//! half-written. Meanwhile it writes records into a local tree of the same database and flushes
//! them through the store (`LocalFlush`, as handlers do): each one it acknowledged must be there.
//!
//! The child is this very test binary, run again with `ACTORS_CRASH_CHILD_DIR` set and only
//! `crash::child_process_writer` selected.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use actors::{CommandContext, EventStore, ExpectedVersion, LocalFlush, NewEvent, SledStoreConfig, StreamId};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::store_conformance::{assert_well_formed, open_retrying};

const CHILD_DIR: &str = "ACTORS_CRASH_CHILD_DIR";
/// Set for a child that only writes and flushes local records (the writer has nothing else to
/// flush for: every flush is one of theirs).
const CHILD_LOCAL_ONLY: &str = "ACTORS_CRASH_CHILD_LOCAL_ONLY";
const WRITERS: usize = 16;
const EVENTS_PER_APPEND: usize = 3;
const APPENDS_PER_STREAM: u64 = 4;
/// The local tree the child writes records into.
const LOCAL_TREE: &str = "crash-local-records";

/// An append the child reported as committed.
#[derive(Debug)]
struct Ack {
    command_id: Uuid,
    first_position: u64,
    count: usize,
}

impl Ack {
    /// Parses `OK <command id> <first position> <count>`, which may follow libtest's own output
    /// on the same line.
    fn parse(line: &str) -> Option<Self> {
        let start = line.find("OK ")?;
        let mut fields = line[start + 3..].split_whitespace();
        let ack = Ack {
            command_id: fields.next()?.parse().ok()?,
            first_position: fields.next()?.parse().ok()?,
            count: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(ack)
    }
}

fn batch() -> Vec<NewEvent> {
    (0..EVENTS_PER_APPEND)
        .map(|i| NewEvent { event_id: Uuid::new_v4(), event_type: "Written".into(), schema_version: 1, payload: vec![i as u8; 64] })
        .collect()
}

/// The child: appends batches of 3 events from 16 tasks until killed, acknowledging each on
/// stdout after it returns; one more task writes local records and acknowledges each once
/// `flush_local` returned. Does nothing when run as an ordinary test.
#[test]
#[ignore = "the child process of appends_acknowledged_before_a_kill_survive_it"]
fn child_process_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        // The parent's check may still hold the database for a moment.
        let store = Arc::new(open_retrying(Path::new(&dir), SledStoreConfig::default()));
        let mut writers = JoinSet::new();
        let appenders = if std::env::var_os(CHILD_LOCAL_ONLY).is_some() { 0 } else { WRITERS };
        for _ in 0..appenders {
            let store = store.clone();
            writers.spawn(async move {
                // Bounded, so an orphaned child cannot run forever.
                for _ in 0..10_000 {
                    let stream = StreamId::new("crash", Uuid::new_v4());
                    for append in 0..APPENDS_PER_STREAM {
                        let context = CommandContext::new_request();
                        let expected = ExpectedVersion::Exact(append * EVENTS_PER_APPEND as u64);
                        let appended = store
                            .append(&stream, expected, batch(), &context)
                            .await
                            .expect("the store works")
                            .expect("one writer per stream");
                        let mut out = std::io::stdout().lock();
                        let line = format!("OK {} {} {}\n", context.command_id, appended.events[0].position, appended.events.len());
                        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
                            // The parent is gone.
                            std::process::exit(0);
                        }
                    }
                }
            });
        }
        let records = store.database().open_tree(LOCAL_TREE).expect("a local tree");
        writers.spawn(async move {
            for _ in 0..100_000 {
                let id = Uuid::new_v4();
                records.insert(id.as_bytes(), &[1u8][..]).expect("a local write");
                store.flush_local().await.expect("a flush");
                let mut out = std::io::stdout().lock();
                if out.write_all(format!("LOCAL {id}\n").as_bytes()).and_then(|()| out.flush()).is_err() {
                    std::process::exit(0);
                }
            }
            // Wait for the kill: a clean exit would flush the database on the way out.
            std::future::pending::<()>().await;
        });
        writers.join_all().await;
    });
}

/// Parses `LOCAL <record id>`, which may follow libtest's own output on the same line.
fn parse_local(line: &str) -> Option<Uuid> {
    let start = line.find("LOCAL ")?;
    line[start + 6..].trim().parse().ok()
}

/// Starts the child on `dir`, waits for `wanted` acks (appends and local records), kills it, and
/// returns every complete ack line it wrote, and every local record it acknowledged.
fn run_child_and_kill(dir: &Path, wanted: usize, local_only: bool) -> (Vec<Ack>, Vec<Uuid>) {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    if local_only {
        command.env(CHILD_LOCAL_ONLY, "1");
    }
    let mut child = command
        .args(["--exact", "crash::child_process_writer", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (lines, received) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        // A line cut short by the kill has no newline: it was not acknowledged.
        while matches!(stdout.read_line(&mut line), Ok(n) if n > 0) && line.ends_with('\n') {
            if lines.send(std::mem::take(&mut line)).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut acks, mut records) = (Vec::new(), Vec::new());
    while acks.len() + records.len() < wanted {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                acks.extend(Ack::parse(&line));
                records.extend(parse_local(&line));
            }
            Err(error) => {
                let status = kill(&mut child);
                panic!("the child gave {} of {wanted} acks ({error:?}, exit status {status:?})", acks.len() + records.len());
            }
        }
    }
    kill(&mut child);
    // Acks already in the pipe were committed before the kill too.
    for line in received.iter() {
        acks.extend(Ack::parse(&line));
        records.extend(parse_local(&line));
    }
    reader.join().expect("the reader thread");
    (acks, records)
}

fn kill(child: &mut Child) -> std::process::ExitStatus {
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child")
}

/// Reopens the store and checks it against every ack so far; appends one more batch.
async fn check_after_crash(dir: &Path, acks: &[Ack], records: &[Uuid]) {
    let store = open_retrying(dir, SledStoreConfig::default());
    let local = store.database().open_tree(LOCAL_TREE).expect("the local tree");
    for record in records {
        assert!(local.contains_key(record.as_bytes()).expect("a local read"), "flushed local record lost: {record}");
    }
    let log = store.read_all(1, usize::MAX, None).await.expect("read the log");
    let head = store.head().await.expect("head");
    assert_eq!(head, log.len() as u64);
    assert_well_formed(&log);

    for ack in acks {
        let events = store
            .committed_by(ack.command_id)
            .await
            .expect("read a command")
            .unwrap_or_else(|| panic!("acknowledged append lost: {ack:?}"));
        assert_eq!(events.len(), ack.count);
        assert_eq!(events[0].position, ack.first_position);
        assert!(events.iter().all(|e| e.correlation_id == ack.command_id));
    }

    // Every command that reached the log is whole: 3 events at consecutive positions.
    let mut commands: HashMap<Uuid, Vec<u64>> = HashMap::new();
    for event in &log {
        commands.entry(event.correlation_id).or_default().push(event.position);
    }
    for (command, positions) in &commands {
        assert_eq!(positions.len(), EVENTS_PER_APPEND, "command {command} is half-written: {positions:?}");
        assert!(positions.windows(2).all(|w| w[1] == w[0] + 1));
    }

    let context = CommandContext::new_request();
    let appended =
        store.append(&StreamId::new("crash", Uuid::new_v4()), ExpectedVersion::Exact(0), batch(), &context).await.unwrap().unwrap();
    let positions: Vec<u64> = appended.events.iter().map(|e| e.position).collect();
    assert_eq!(positions, [head + 1, head + 2, head + 3]);
}

#[test]
fn appends_acknowledged_before_a_kill_survive_it() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let (mut acks, mut records) = (Vec::new(), Vec::new());
    // Two kills on the same data: the second child writes after a recovery.
    for wanted in [300, 450] {
        let (new_acks, new_records) = run_child_and_kill(dir.path(), wanted, false);
        acks.extend(new_acks);
        records.extend(new_records);
        runtime.block_on(check_after_crash(dir.path(), &acks, &records));
    }
    assert!(!records.is_empty(), "the child flushed no local record");
}

#[test]
fn local_records_flushed_through_an_idle_store_survive_a_kill() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let (acks, records) = run_child_and_kill(dir.path(), 100, true);
    assert!(acks.is_empty());
    runtime.block_on(check_after_crash(dir.path(), &acks, &records));
}
