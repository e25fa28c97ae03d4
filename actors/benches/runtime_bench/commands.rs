//! W1, durable commands through the runtime, and W3, the lag of a read model meanwhile.
//!
//! Clients are tasks that send one command, await the reply, and send the next. With `c`
//! clients, client `k` owns aggregates `k, k + c, k + 2c, ...` and sends its commands
//! round-robin over them: no two clients ever write to one aggregate, so no command conflicts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actors::CommittedBatch;
use actors::{
    AggregateConfig, CommandContext, EventCodec, EventStore, ExpectedVersion, ReadModel, ReadModelTx, RecordedEvent, Runtime, SledStore,
    SledStoreConfig, StreamId, SubscriberError, WaitFor,
};
use chrono::Utc;
use parking_lot::Mutex;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::account::{Account, AccountCommand, AccountEvent};
use crate::ceiling::{self, Shape};
use crate::report::{emit, ms, process_cpu_seconds, quantile};
use crate::{Options, Scale};

pub fn deposit() -> AccountCommand {
    AccountCommand::Deposit { amount: 1, note: None }
}

pub fn open() -> AccountCommand {
    AccountCommand::Open { owner: "bench".into() }
}

/// Runs `clients` clients over `ids` (see the module doc), `rounds` commands per aggregate.
/// Returns the wall time and every command's latency in ms.
pub async fn run_clients(
    runtime: &Runtime,
    ids: &Arc<Vec<Uuid>>,
    clients: usize,
    rounds: usize,
    command: fn() -> AccountCommand,
) -> (Duration, Vec<f64>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (runtime, ids) = (runtime.clone(), ids.clone());
            actix_rt::spawn(async move {
                let mine: Vec<Uuid> = ids.iter().skip(client).step_by(clients).copied().collect();
                let mut latencies = Vec::with_capacity(mine.len() * rounds);
                for _ in 0..rounds {
                    for id in &mine {
                        let sent = Instant::now();
                        runtime.commands().send::<Account>(*id, command(), CommandContext::new_request()).await.expect("command accepted");
                        latencies.push(ms(sent.elapsed()));
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    (started.elapsed(), latencies)
}

/// W3's read model: how long after `recorded_at` each event is applied; writes one small key.
#[derive(Clone, Default)]
pub struct LagProbe {
    recording: Arc<AtomicBool>,
    lags_ms: Arc<Mutex<Vec<f64>>>,
}

impl ReadModel for LagProbe {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        if self.recording.load(Ordering::Relaxed) {
            let lag = Utc::now() - event.recorded_at;
            self.lags_ms.lock().push(lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        }
        tx.insert(event.stream.aggregate_id.as_bytes().to_vec(), event.position.to_be_bytes().to_vec())
    }
}

/// Group commits seen on the store's live feed.
#[derive(Default)]
struct GroupCommits {
    /// Per group seen, ms from its `recorded_at` (taken when the writer starts the group) to its
    /// publication (after the flush and the fsync).
    publish_ms: Vec<f64>,
    /// Groups the watcher fell too far behind to see.
    missed: u64,
}

impl GroupCommits {
    fn count(&self) -> usize {
        self.publish_ms.len() + self.missed as usize
    }
}

/// Follows the store's live feed on a thread of its own until position `last` is published
/// (one published batch is one group commit).
fn watch_group_commits(mut feed: broadcast::Receiver<CommittedBatch>, last: u64) -> JoinHandle<GroupCommits> {
    std::thread::spawn(move || {
        let mut groups = GroupCommits::default();
        loop {
            match feed.blocking_recv() {
                Ok(batch) => {
                    let Some(end) = batch.last() else { continue };
                    groups.publish_ms.push((Utc::now() - end.recorded_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
                    if end.position >= last {
                        return groups;
                    }
                }
                Err(RecvError::Lagged(missed)) => groups.missed += missed,
                Err(RecvError::Closed) => return groups,
            }
        }
    })
}

/// The watcher's result, once everything it waits for is published; an empty result if it
/// missed the last group and would wait for ever.
async fn groups_seen(watcher: JoinHandle<GroupCommits>) -> GroupCommits {
    for _ in 0..500 {
        if watcher.is_finished() {
            return watcher.join().expect("group commit watcher");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    GroupCommits::default()
}

pub async fn wait_for_read_models(runtime: &Runtime) {
    let head = runtime.store().head().await.expect("read the head");
    runtime.subscribers().wait_for(head, Duration::from_secs(120), WaitFor::ReadModels).await.expect("the read model catches up");
}

/// W1 and W3 on one durable store, then the store alone, then the raw sled ceilings.
pub async fn run(options: &Options) {
    let scale = options.scale;
    let dir = options.fresh_dir("w1-");
    let store = SledStore::open(dir.path(), SledStoreConfig::default()).expect("open the store");
    let local = store.database().clone();
    let probe = LagProbe::default();
    let runtime = Runtime::builder(Arc::new(store), local)
        .aggregate::<Account>(AggregateConfig::default())
        .read_model("lag", probe.clone())
        .start()
        .await
        .expect("start the runtime");
    let ids: Arc<Vec<Uuid>> = Arc::new((0..scale.aggregates).map(|_| Uuid::new_v4()).collect());
    let (took, _) = run_clients(&runtime, &ids, scale.clients, 1, open).await;
    let unit = "commands/s (Open: the first command of each aggregate, 64 clients)";
    emit("w1_open_commands_per_s", scale.aggregates as f64 / took.as_secs_f64(), unit);

    let single = Arc::new(ids.iter().cycle().take(scale.single_client_commands).copied().collect::<Vec<_>>());
    let (took, mut latencies) = run_clients(&runtime, &single, 1, 1, deposit).await;
    let unit = format!("commands/s (1 client, {} durable Deposit commands over the aggregates)", scale.single_client_commands);
    emit("w1_c1_commands_per_s", scale.single_client_commands as f64 / took.as_secs_f64(), &unit);
    emit("w1_c1_p50_ms", quantile(&mut latencies, 0.5), "ms per command (1 client)");
    wait_for_read_models(&runtime).await;

    let throughput = many_clients(&runtime, &probe, &ids, scale, ("w1", "w3")).await;
    let head = runtime.store().head().await.expect("read the head");
    let expected = scale.aggregates + scale.single_client_commands + scale.aggregates * scale.commands_per_aggregate;
    assert_eq!(head as usize, expected, "every command committed one event");
    let sample = runtime.store().read_all(head, 1, None).await.expect("read the last event").remove(0);
    runtime.shutdown().await;
    drop(runtime);
    baselines(options, &ids, throughput, &sample).await;
}

/// The 64-client run, with the read model's lag (W3) and the store's group commits; figures are
/// named `{w1}_c64_...` and `{w3}_lag_...`. Returns the commands per second.
pub async fn many_clients(runtime: &Runtime, probe: &LagProbe, ids: &Arc<Vec<Uuid>>, scale: Scale, (w1, w3): (&str, &str)) -> f64 {
    let commands = scale.aggregates * scale.commands_per_aggregate;
    let last = runtime.store().head().await.expect("read the head") + commands as u64;
    let groups = watch_group_commits(runtime.store().subscribe(), last);
    probe.recording.store(true, Ordering::Relaxed);
    let cpu = process_cpu_seconds();
    let (took, mut latencies) = run_clients(runtime, ids, scale.clients, scale.commands_per_aggregate, deposit).await;
    let cpu = process_cpu_seconds() - cpu;
    wait_for_read_models(runtime).await;
    probe.recording.store(false, Ordering::Relaxed);

    let throughput = commands as f64 / took.as_secs_f64();
    let (clients, aggregates, each) = (scale.clients, scale.aggregates, scale.commands_per_aggregate);
    emit(
        &format!("{w1}_c64_commands_per_s"),
        throughput,
        &format!("commands/s ({clients} clients, {aggregates} aggregates x {each} durable Deposit commands)"),
    );
    emit(&format!("{w1}_c64_p50_ms"), quantile(&mut latencies, 0.5), "ms per command (64 clients)");
    emit(&format!("{w1}_c64_p99_ms"), quantile(&mut latencies, 0.99), "ms per command (64 clients)");
    emit(&format!("{w1}_c64_cpu_us_per_command"), cpu * 1e6 / commands as f64, "CPU us (user + system, all threads) per command");
    emit(&format!("{w1}_c64_cpu_cores_busy"), cpu / took.as_secs_f64(), "cores busy on average during the 64-client run");
    let mut groups = groups_seen(groups).await;
    emit(
        &format!("{w1}_c64_events_per_group_commit"),
        commands as f64 / groups.count() as f64,
        "events per group commit (mean; at most 64)",
    );
    let unit = "ms from a group's start to its publication (write, flush, fsync)";
    emit(&format!("{w1}_c64_group_commit_p50_ms"), quantile(&mut groups.publish_ms, 0.5), unit);
    emit(&format!("{w1}_c64_group_commit_p99_ms"), quantile(&mut groups.publish_ms, 0.99), unit);
    let mut lags = std::mem::take(&mut *probe.lags_ms.lock());
    let unit = "ms from recorded_at (group start, before the fsync) to applied by the read model";
    emit(&format!("{w3}_lag_p50_ms"), quantile(&mut lags, 0.5), unit);
    emit(&format!("{w3}_lag_p99_ms"), quantile(&mut lags, 0.99), unit);
    throughput
}

/// What W1's throughput compares with: the store alone, and sled alone with the same records.
async fn baselines(options: &Options, ids: &Arc<Vec<Uuid>>, throughput: f64, sample: &RecordedEvent) {
    let scale = options.scale;
    let commands = scale.aggregates * scale.commands_per_aggregate;
    let (appends, groups) = store_appends(options, ids, scale.clients, scale.commands_per_aggregate).await;
    let unit = format!("appends/s of one event straight to a SledStore, {} tasks as in W1, no actors, no read model", scale.clients);
    emit("w1_store_only_appends_per_s", appends, &unit);
    emit("w1_store_only_events_per_group_commit", commands as f64 / groups as f64, "events per group commit (mean; at most 64)");

    let record = SledStore::stored_bytes(sample).expect("encode a recorded event");
    emit("w1_record_bytes", record.len() as f64, "bytes of one stored event, as the store writes it under its key");
    let ceiling = ceiling::records_per_second(options, &record, commands, scale.clients, Shape::EventOnly);
    emit("w1_ceiling_records_per_s", ceiling, &format!("records/s straight to sled, batches of {}, flush + fdatasync each", scale.clients));
    emit("w1_c64_ratio_to_ceiling", throughput / ceiling, "w1_c64_commands_per_s / w1_ceiling_records_per_s");
    let store_keys = ceiling::records_per_second(options, &record, commands, scale.clients, Shape::StoreKeys);
    let unit = format!(
        "records/s straight to sled with the store's keys (event and command per event, a position run per batch), batches of {}",
        scale.clients
    );
    emit("w1_ceiling_store_keys_records_per_s", store_keys, &unit);
    emit("w1_c64_ratio_to_store_keys_ceiling", throughput / store_keys, "w1_c64_commands_per_s / w1_ceiling_store_keys_records_per_s");
    let spread = Shape::ClientStreams { streams: &ids[..], clients: scale.clients };
    let client_keys = ceiling::records_per_second(options, &record, commands, scale.clients, spread);
    let unit = format!(
        "records/s straight to sled with the keys the store alone writes: its {} tasks' streams, one append of each per batch",
        scale.clients
    );
    emit("w1_ceiling_client_keys_records_per_s", client_keys, &unit);
    emit(
        "w1_store_only_ratio_to_client_keys_ceiling",
        appends / client_keys,
        "w1_store_only_appends_per_s / w1_ceiling_client_keys_records_per_s",
    );
    let wide = ceiling::records_per_second(options, &record, commands, 1_000, Shape::EventOnly);
    emit("w1_ceiling_batch1000_records_per_s", wide, "records/s straight to sled, batches of 1000, flush + fdatasync each");
}

/// The store alone: `clients` tasks append one `Deposited` at a time to streams of their own,
/// as W1's actors do. Returns appends per second and the number of group commits.
async fn store_appends(options: &Options, ids: &Arc<Vec<Uuid>>, clients: usize, rounds: usize) -> (f64, usize) {
    let dir = options.fresh_dir("store-");
    let store = Arc::new(SledStore::open(dir.path(), SledStoreConfig::default()).expect("open the store"));
    let groups = watch_group_commits(store.subscribe(), (ids.len() * rounds) as u64);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (store, ids) = (store.clone(), ids.clone());
            actix_rt::spawn(async move {
                let codec = EventCodec::<AccountEvent>::default();
                let mine: Vec<StreamId> = ids.iter().skip(client).step_by(clients).map(|id| StreamId::new("account", *id)).collect();
                for version in 0..rounds as u64 {
                    for stream in &mine {
                        let event = codec.encode(&AccountEvent::Deposited { amount: 1, note: None }).expect("encode");
                        let appended =
                            store.append(stream, ExpectedVersion::Exact(version), vec![event], &CommandContext::new_request()).await;
                        appended.expect("the store works").expect("no conflict");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("append task");
    }
    let appends = (ids.len() * rounds) as f64 / started.elapsed().as_secs_f64();
    (appends, groups_seen(groups).await.count())
}
