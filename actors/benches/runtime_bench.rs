//! Benchmarks of the runtime on the example `Account` aggregate; one JSON object per line.
//!
//! - W1: durable commands (fsync on) with 1 and with 64 concurrent clients, against the raw
//!   ceiling of the same records written straight to sled with the same durability step.
//! - W2: cold rehydration of one 100,000-event aggregate, without and with a snapshot.
//! - W3: projection lag (event recorded to read model applied) during W1 at 64 clients.
//! - W4: resident memory after touching 100,000 aggregates with 10,000 live actors at most
//!   (run in a child process, so nothing of W1-W3 is counted).
//!
//! `cargo bench -p actors --bench runtime_bench [-- --quick] [-- --only w1,w2,w4]`.
//! `BENCH_DIR` picks where the databases go (default: the system temp dir); fsync figures only
//! mean something on a real disk, not on tmpfs.

#[allow(dead_code)] // the benchmark never sends `Withdraw`
#[path = "../examples/account/domain.rs"]
mod account;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::actor::load_state;
use actors::codec::encode_bytes;
use actors::registry::RegistryStats;
use actors::{
    AggregateConfig, CommandContext, EventCodec, EventStore, ExpectedVersion, ProjectionError, ReadModel, ReadModelTx, RecordedEvent,
    Runtime, SledStore, SledStoreConfig, Snapshot, StreamId, WaitFor,
};
use chrono::Utc;
use parking_lot::Mutex;
use uuid::Uuid;

use account::{Account, AccountCommand, AccountEvent};

/// How much work each workload does; `--quick` shrinks everything about tenfold.
#[derive(Clone, Copy)]
struct Scale {
    aggregates: usize,
    commands_per_aggregate: usize,
    clients: usize,
    single_client_commands: usize,
    long_stream: usize,
    touched: usize,
    live_cap: usize,
}

const FULL: Scale = Scale {
    aggregates: 1_000,
    commands_per_aggregate: 100,
    clients: 64,
    single_client_commands: 2_000,
    long_stream: 100_000,
    touched: 100_000,
    live_cap: 10_000,
};
const QUICK: Scale = Scale {
    aggregates: 200,
    commands_per_aggregate: 20,
    clients: 64,
    single_client_commands: 200,
    long_stream: 10_000,
    touched: 10_000,
    live_cap: 1_000,
};

struct Options {
    quick: bool,
    scale: Scale,
    only: Vec<String>,
    dir: PathBuf,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1))
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| ["w1", "w2", "w4"].map(str::to_owned).to_vec());
        let dir = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        Self { quick, scale: if quick { QUICK } else { FULL }, only, dir }
    }

    fn runs(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }
}

fn emit(figure: &str, value: f64, unit: &str) {
    let value = (value * 1000.0).round() / 1000.0;
    println!("{}", serde_json::json!({ "figure": figure, "value": value, "unit": unit }));
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The `q` quantile of `samples` (sorted in place), in the samples' unit.
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let options = Options::parse();
    let system = actix_rt::System::new();
    if options.runs("w1") {
        system.block_on(w1_commands(&options));
    }
    if options.runs("w2") {
        system.block_on(w2_rehydration(&options));
    }
    if options.runs("w4-child") {
        system.block_on(w4_memory(&options));
    } else if options.runs("w4") {
        w4_in_child(&options);
    }
}

fn fresh_dir(options: &Options, name: &str) -> tempfile::TempDir {
    std::fs::create_dir_all(&options.dir).expect("create BENCH_DIR");
    tempfile::Builder::new().prefix(name).tempdir_in(&options.dir).expect("create a temporary directory")
}

/// Opens a sled store, waiting for a previous instance's writer thread to let go of the files.
async fn open_store(dir: &Path, config: SledStoreConfig) -> SledStore {
    for _ in 0..500 {
        match SledStore::open(dir, config.clone()) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    SledStore::open(dir, config).expect("open the store")
}

fn deposit() -> AccountCommand {
    AccountCommand::Deposit { amount: 1, note: None }
}

fn open() -> AccountCommand {
    AccountCommand::Open { owner: "bench".into() }
}

/// Runs `clients` tasks; client `k` owns the aggregates `ids[k], ids[k + clients], ...`, so two
/// clients never write to one aggregate, and sends each of them `rounds` commands, round-robin
/// over its own, one at a time. Returns the wall time and every command's latency in ms.
async fn run_clients(
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
                        runtime.send::<Account>(*id, command(), CommandContext::new_request()).await.expect("command accepted");
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

/// W3's probe: how long after `recorded_at` each event reaches the read model.
#[derive(Clone, Default)]
struct LagProbe {
    recording: Arc<AtomicBool>,
    lags_ms: Arc<Mutex<Vec<f64>>>,
}

impl ReadModel for LagProbe {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if self.recording.load(Ordering::Relaxed) {
            let lag = Utc::now() - event.recorded_at;
            self.lags_ms.lock().push(lag.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        }
        tx.insert(event.stream.aggregate_id.as_bytes().to_vec(), event.position.to_be_bytes().to_vec())
    }
}

/// Watches the store's live feed on its own thread until position `last` is published: one
/// batch is one group commit. Returns each group's time from `recorded_at` to its publication.
fn watch_group_commits(
    mut feed: tokio::sync::broadcast::Receiver<actors::store::CommittedBatch>,
    last: u64,
) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut groups = Vec::new();
        loop {
            match feed.blocking_recv() {
                Ok(batch) => {
                    let Some(end) = batch.last() else { continue };
                    groups.push((Utc::now() - end.recorded_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
                    if end.position >= last {
                        return groups;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return groups,
            }
        }
    })
}

async fn wait_for_projection(runtime: &Runtime) {
    let head = runtime.store().head().await.expect("read the head");
    runtime.projections().wait_for(head, Duration::from_secs(120), WaitFor::ReadModels).await.expect("read model catches up");
}

/// W1 and W3 on one durable store, then the raw sled ceiling for the same records.
async fn w1_commands(options: &Options) {
    let scale = options.scale;
    let dir = fresh_dir(options, "w1-");
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
    emit(
        "w1_open_commands_per_s",
        scale.aggregates as f64 / took.as_secs_f64(),
        "commands/s (Open, first command of each aggregate, 64 clients)",
    );

    let single = Arc::new(ids.iter().cycle().take(scale.single_client_commands).copied().collect::<Vec<_>>());
    let (took, mut latencies) = run_clients(&runtime, &single, 1, 1, deposit).await;
    let unit = format!("commands/s (1 client, {} durable Deposit commands)", scale.single_client_commands);
    emit("w1_c1_commands_per_s", scale.single_client_commands as f64 / took.as_secs_f64(), &unit);
    emit("w1_c1_p50_ms", quantile(&mut latencies, 0.5), "ms per command (1 client)");
    wait_for_projection(&runtime).await;

    probe.recording.store(true, Ordering::Relaxed);
    let commands = scale.aggregates * scale.commands_per_aggregate;
    let last = runtime.store().head().await.expect("read the head") + commands as u64;
    let groups = watch_group_commits(runtime.store().subscribe(), last);
    let cpu_before = thread_cpu();
    let (took, mut latencies) = run_clients(&runtime, &ids, scale.clients, scale.commands_per_aggregate, deposit).await;
    let cpu_after = thread_cpu();
    if std::env::var_os("W1_EXP").is_some() {
        let mut by: std::collections::BTreeMap<String, f64> = Default::default();
        for (tid, (name, t)) in &cpu_after {
            let b = cpu_before.get(tid).map_or(0.0, |x| x.1);
            *by.entry(name.clone()).or_default() += t - b;
        }
        for (name, t) in by {
            eprintln!("cpu {name}: {:.1} us/command", t * 1e6 / commands as f64);
        }
    }
    wait_for_projection(&runtime).await;
    probe.recording.store(false, Ordering::Relaxed);
    let unit = format!(
        "commands/s ({} clients, {} aggregates x {} durable Deposit commands)",
        scale.clients, scale.aggregates, scale.commands_per_aggregate
    );
    let throughput = commands as f64 / took.as_secs_f64();
    emit("w1_c64_commands_per_s", throughput, &unit);
    emit("w1_c64_p50_ms", quantile(&mut latencies, 0.5), "ms per command (64 clients)");
    emit("w1_c64_p99_ms", quantile(&mut latencies, 0.99), "ms per command (64 clients)");
    let mut lags = std::mem::take(&mut *probe.lags_ms.lock());
    emit("w3_lag_p50_ms", quantile(&mut lags, 0.5), "ms from recorded_at to read model applied (W1, 64 clients)");
    emit("w3_lag_p99_ms", quantile(&mut lags, 0.99), "ms from recorded_at to read model applied (W1, 64 clients)");
    emit("w3_lag_samples", lags.len() as f64, "events");
    let mut groups = groups.join().expect("group commit watcher");
    emit("w1_c64_group_commits", groups.len() as f64, "group commits (batches published by the store)");
    emit("w1_c64_events_per_group_commit", commands as f64 / groups.len() as f64, "events (mean)");
    emit(
        "w1_c64_group_commit_p50_ms",
        quantile(&mut groups, 0.5),
        "ms from recorded_at (group start) to the batch published (written, flushed, synced)",
    );
    emit("w1_c64_group_commit_p99_ms", quantile(&mut groups, 0.99), "ms from recorded_at (group start) to the batch published");

    let head = runtime.store().head().await.expect("read the head");
    let expected = scale.aggregates + scale.single_client_commands + commands;
    assert_eq!(head as usize, expected, "every command committed exactly one event");
    let sample = runtime.store().read_all(head, 1, None).await.expect("read the last event").remove(0);
    runtime.shutdown().await;
    drop(runtime);

    let record = encode_bytes(&sample).expect("encode a recorded event");
    emit(
        "w1_record_bytes",
        record.len() as f64,
        "bytes per encoded RecordedEvent (the store also writes a position and a command key per event)",
    );
    let ceiling = sled_ceiling(options, &record, commands, scale.clients);
    emit("w1_ceiling_records_per_s", ceiling, &format!("records/s straight to sled, batches of {}, flush + fdatasync each", scale.clients));
    emit("w1_c64_ratio_to_ceiling", throughput / ceiling, "ratio");
    let shaped = sled_store_shaped(options, &record, commands, scale.clients);
    emit(
        "w1_ceiling_store_keys_records_per_s",
        shaped,
        &format!("records/s straight to sled with the store's 3 keys per event, batches of {}", scale.clients),
    );
    let wide = sled_ceiling(options, &record, commands, 1_000);
    emit("w1_ceiling_1000_records_per_s", wide, "records/s straight to sled, batches of 1000, flush + fdatasync each");
}

/// Writes `count` records of `record`'s size to a fresh sled tree, `batch` per write, each write
/// made durable as the store does it. Returns records per second.
fn sled_ceiling(options: &Options, record: &[u8], count: usize, batch: usize) -> f64 {
    sled_writes(options, record, count, batch, false)
}

/// Like [`sled_ceiling`], with every key the store writes per event: the event, its position
/// and its command record.
fn sled_store_shaped(options: &Options, record: &[u8], count: usize, batch: usize) -> f64 {
    sled_writes(options, record, count, batch, true)
}

fn sled_writes(options: &Options, record: &[u8], count: usize, batch: usize, store_shaped: bool) -> f64 {
    let dir = fresh_dir(options, "ceiling-");
    let db = sled::Config::new().path(dir.path()).cache_capacity(SledStoreConfig::default().cache_capacity).open().expect("open sled");
    let tree = db.open_tree("log").expect("open a tree");
    let sync_file = File::open(dir.path().join("db")).expect("open the database file");
    let prefix = Uuid::new_v4();
    let started = Instant::now();
    let cpu0: f64 = thread_cpu().values().map(|v| v.1).sum();
    let mut written = 0;
    while written < count {
        let mut writes = sled::Batch::default();
        for n in written..count.min(written + batch) {
            let mut key = b"E\x07account".to_vec();
            key.extend_from_slice(prefix.as_bytes());
            key.extend_from_slice(&(n as u64).to_be_bytes());
            let shape = std::env::var("SHAPE").unwrap_or("pc".into());
            if store_shaped && shape.contains('p') {
                let mut position = b"P".to_vec();
                position.extend_from_slice(&(n as u64).to_be_bytes());
                writes.insert(position, key.clone());
            }
            if store_shaped && shape.contains('c') {
                let mut command = b"C".to_vec();
                command.extend_from_slice(Uuid::new_v4().as_bytes());
                writes.insert(command, &[0u8; 12][..]);
            }
            if store_shaped && shape.contains('s') {
                let mut command = b"C".to_vec();
                command.extend_from_slice(&(n as u128).to_be_bytes());
                writes.insert(command, &[0u8; 12][..]);
            }
            writes.insert(key, record);
        }
        written = count.min(written + batch);
        tree.apply_batch(writes).expect("write a batch");
        db.flush().expect("flush");
        sync_file.sync_data().expect("fdatasync");
    }
    let cpu1: f64 = thread_cpu().values().map(|v| v.1).sum();
    eprintln!("sled_writes shaped={store_shaped} batch={batch}: cpu {:.1} us/record, wall {:.1} us/record", (cpu1 - cpu0) * 1e6 / count as f64, started.elapsed().as_secs_f64() * 1e6 / count as f64);
    count as f64 / started.elapsed().as_secs_f64()
}

/// W2: one long stream, loaded without and with a snapshot, each time from a freshly opened
/// store (sled's cache is cold; the OS page cache is not).
async fn w2_rehydration(options: &Options) {
    let events = options.scale.long_stream;
    let dir = fresh_dir(options, "w2-");
    let id = Uuid::new_v4();
    let stream = StreamId::new(<Account as actors::Aggregate>::TYPE, id);
    let codec = EventCodec::<AccountEvent>::default();
    let store = SledStore::open(dir.path(), SledStoreConfig::default()).expect("open the store");
    let started = Instant::now();
    let mut version = 0;
    while (version as usize) < events {
        let chunk = (events - version as usize).min(1_000);
        let batch = (0..chunk)
            .map(|n| {
                let event = if version == 0 && n == 0 {
                    AccountEvent::Opened { owner: "bench".into() }
                } else {
                    AccountEvent::Deposited { amount: 1, note: None }
                };
                codec.encode(&event).expect("encode")
            })
            .collect();
        let appended = store.append(&stream, ExpectedVersion::Exact(version), batch, &CommandContext::new_request()).await.expect("append");
        version = appended.expect("no conflict").version;
    }
    emit("w2_append_events_per_s", events as f64 / started.elapsed().as_secs_f64(), "events/s (appends of 1000 events, durable)");
    drop(store);

    let store = open_store(dir.path(), SledStoreConfig::default()).await;
    if std::env::var_os("W2_EXP").is_some() {
        for _ in 0..3 {
            let t = Instant::now();
            let tree = store.database().open_tree("log").unwrap();
            let n = tree.iter().count();
            let scan = ms(t.elapsed());
            let t = Instant::now();
            let mut all = Vec::new();
            let mut v = 1;
            loop {
                let page = store.read_stream(&stream, v, 10_000).await.unwrap();
                if page.is_empty() {
                    break;
                }
                v = page.last().unwrap().version + 1;
                all.extend(page);
            }
            let read = ms(t.elapsed());
            let t = Instant::now();
            let mut st = account::AccountState::default();
            for r in &all {
                let e = codec.decode(r).unwrap();
                st = <Account as actors::Aggregate>::apply(st, &e);
            }
            let fold = ms(t.elapsed());
            let t = Instant::now();
            let mut st = account::AccountState::default();
            for r in &all {
                let e: AccountEvent = actors::codec::decode_bytes(&r.payload).unwrap();
                st = <Account as actors::Aggregate>::apply(st, &e);
            }
            let fold_raw = ms(t.elapsed());
            let t = Instant::now();
            let vals: Vec<sled::IVec> = tree.scan_prefix(b"E").map(|e| e.unwrap().1).collect();
            let scan_e = ms(t.elapsed());
            let t = Instant::now();
            let dec: Vec<RecordedEvent> = vals.iter().map(|v| actors::codec::decode_bytes(v).unwrap()).collect();
            let decode = ms(t.elapsed());
            let t = Instant::now();
            drop(dec);
            let dropt = ms(t.elapsed());
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            struct Mirror {
                position: u64,
                stream: StreamId,
                version: u64,
                event_id: Uuid,
                event_type: String,
                schema_version: u32,
                payload: Vec<u8>,
                recorded_at: String,
                correlation_id: Uuid,
                causation_id: Option<Uuid>,
                metadata: actors::Metadata,
            }
            let t = Instant::now();
            let m: Vec<Mirror> = vals.iter().map(|v| actors::codec::decode_bytes(v).unwrap()).collect();
            let mirror = ms(t.elapsed());
            let t = Instant::now();
            let parsed: Vec<chrono::DateTime<Utc>> = m.iter().map(|m| m.recorded_at.parse().unwrap()).collect();
            let parse = ms(t.elapsed());
            eprintln!("mirror(no date parse) {mirror:.1}ms parse dates {parse:.1}ms {}", parsed.len());
            eprintln!("scan E {} {scan_e:.1}ms decode RecordedEvent {decode:.1}ms drop {dropt:.1}ms", vals.len());
            eprintln!(
                "scan {n} keys {scan:.1}ms; read_stream {read:.1}ms; decode+apply {fold:.1}ms; decode(no upcast)+apply {fold_raw:.1}ms {}",
                st.balance
            );
        }
    }
    let started = Instant::now();
    let (state, loaded) = load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_no_snapshot_ms", ms(started.elapsed()), &format!("ms to load {events} events, freshly opened store"));
    assert_eq!((loaded as usize, state.deposits as usize), (events, events - 1));
    let started = Instant::now();
    load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_no_snapshot_warm_ms", ms(started.elapsed()), &format!("ms to load {events} events again, sled cache warm"));
    let store: Arc<dyn EventStore> = Arc::new(store);
    emit(
        "w2_cold_command_no_snapshot_ms",
        cold_command(&store, id).await,
        "ms for the first command to the aggregate through a new runtime, no snapshot",
    );

    let (state, head) = load_state::<Account>(store.as_ref(), &stream, &codec, None).await.expect("load");
    let snapshot = Snapshot { version: head, state: encode_bytes(&state).expect("encode the state") };
    store.save_snapshot(&stream, snapshot).await.expect("save a snapshot");
    drop(store);

    let store = open_store(dir.path(), SledStoreConfig::default()).await;
    let started = Instant::now();
    let (_, loaded) = load_state::<Account>(&store, &stream, &codec, None).await.expect("load");
    emit("w2_rehydrate_snapshot_ms", ms(started.elapsed()), "ms to load from a snapshot at the head, freshly opened store");
    assert_eq!(loaded, head);
    let store: Arc<dyn EventStore> = Arc::new(store);
    emit(
        "w2_cold_command_snapshot_ms",
        cold_command(&store, id).await,
        "ms for the first command to the aggregate through a new runtime, snapshot at the head",
    );
}

/// Starts a runtime on `store`, times the first command to `id` (its actor loads the stream),
/// and shuts the runtime down again.
async fn cold_command(store: &Arc<dyn EventStore>, id: Uuid) -> f64 {
    let local = sled::Config::new().temporary(true).open().expect("open a local database");
    let runtime =
        Runtime::builder(store.clone(), local).aggregate::<Account>(AggregateConfig::default()).start().await.expect("start the runtime");
    let started = Instant::now();
    runtime.send::<Account>(id, deposit(), CommandContext::new_request()).await.expect("command accepted");
    let took = ms(started.elapsed());
    runtime.shutdown().await;
    took
}

/// Runs W4 in a fresh process of this binary, so its resident memory is W4's alone.
fn w4_in_child(options: &Options) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("the benchmark's path"));
    child.args(["--only", "w4-child"]);
    if options.quick {
        child.arg("--quick");
    }
    let status = child.status().expect("run W4");
    assert!(status.success(), "W4 failed: {status}");
}

/// Kibibytes of a line of `/proc/self/status` (`VmRSS`, `VmHWM`), in MiB.
fn proc_status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    let kib: f64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    kib / 1024.0
}

/// W4: opens `touched` aggregates with at most `live_cap` live actors. fsync is off: this
/// measures memory, not durability.
async fn w4_memory(options: &Options) {
    let scale = options.scale;
    let dir = fresh_dir(options, "w4-");
    let store = SledStore::open(dir.path(), SledStoreConfig { fsync: false, ..SledStoreConfig::default() }).expect("open the store");
    let local = store.database().clone();
    let config = AggregateConfig { max_live_actors: scale.live_cap, ..AggregateConfig::default() };
    let runtime = Runtime::builder(Arc::new(store), local).aggregate::<Account>(config).start().await.expect("start the runtime");
    emit("w4_rss_baseline_mib", proc_status_mib("VmRSS:"), "MiB resident after the runtime started");

    let ids: Arc<Vec<Uuid>> = Arc::new((0..scale.touched).map(|_| Uuid::new_v4()).collect());
    let (took, _) = run_clients(&runtime, &ids, scale.clients, 1, open).await;
    emit("w4_open_commands_per_s", scale.touched as f64 / took.as_secs_f64(), "commands/s (Open, 64 clients, fsync off)");
    // Passivated actors stop once their mailbox is empty: give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats: RegistryStats = runtime.registry_stats::<Account>().await.expect("the Account registry");
    let unit = format!("MiB resident after touching {} aggregates, at most {} live (fsync off)", scale.touched, scale.live_cap);
    emit("w4_rss_mib", proc_status_mib("VmRSS:"), &unit);
    emit("w4_peak_rss_mib", proc_status_mib("VmHWM:"), "MiB peak resident");
    emit("w4_live_actors", stats.live as f64, "actors");
    emit("w4_started_actors", stats.started as f64, "actors");
    emit("w4_passivated_actors", stats.passivated as f64, "actors");
    runtime.shutdown().await;
}

fn thread_cpu() -> std::collections::HashMap<String, (String, f64)> {
    let mut out = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = entry.unwrap().path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        let name = stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()].to_string();
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: f64 = rest[11].parse::<f64>().unwrap() + rest[12].parse::<f64>().unwrap();
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), (name, ticks / 100.0));
    }
    out
}
