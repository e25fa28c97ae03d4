//! Benchmarks of the runtime on the example `Account` aggregate; prints one JSON object per line,
//! `{"figure": NAME, "value": NUMBER, "unit": "..."}`.
//!
//! - W1 (`commands`): durable commands (fsync on) from 1 and from 64 concurrent clients, next to
//!   the raw ceiling of the same records written straight to sled with the same durability step.
//! - W2 (`rehydration`): cold load of one 100,000-event aggregate, without and with a snapshot.
//! - W3 (in `commands`): projection lag, event recorded to read model applied, during W1 at 64
//!   clients.
//! - W4 (`memory`): resident memory after touching 100,000 aggregates with at most 10,000 live
//!   actors, in a child process so nothing of W1-W3 is counted.
//! - `pg` (`postgres`, only when named): W1 and W3 on the PostgreSQL store, next to PostgreSQL's
//!   ceiling for the same rows (transactions of 64 one-row inserts, synchronous commit).
//!
//! ```text
//! cargo bench -p actors --bench runtime_bench                   # everything (a few minutes)
//! cargo bench -p actors --bench runtime_bench -- --quick        # about a tenth of the work
//! cargo bench -p actors --bench runtime_bench -- --only w1,w4   # some workloads
//! cargo bench -p actors --bench runtime_bench -- --only pg      # W1 on PostgreSQL
//! ```
//!
//! `BENCH_DIR` picks where the databases go (default: the system temp dir): fsync figures only
//! mean something on a real disk, not on tmpfs.

/// The allocator of the `konnektid` binary, so the runtime is measured as it runs there (the
/// raw sled ceilings run in this process too, on the same allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(dead_code)] // the benchmark never sends `Withdraw`
#[path = "../examples/account/domain.rs"]
mod account;
#[path = "runtime_bench/ceiling.rs"]
mod ceiling;
#[path = "runtime_bench/commands.rs"]
mod commands;
#[path = "runtime_bench/memory.rs"]
mod memory;
#[path = "runtime_bench/postgres.rs"]
mod postgres;
#[path = "runtime_bench/rehydration.rs"]
mod rehydration;
#[path = "runtime_bench/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::{SledStore, SledStoreConfig};

/// How much work each workload does.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// W1: aggregates, and commands sent to each by the 64 clients.
    pub aggregates: usize,
    pub commands_per_aggregate: usize,
    pub clients: usize,
    /// W1: commands of the single client (each waits for its fsync, so fewer).
    pub single_client_commands: usize,
    /// W2: events of the long stream.
    pub long_stream: usize,
    /// W4: aggregates touched, and live actors at most.
    pub touched: usize,
    pub live_cap: usize,
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

/// About a tenth of the work, for a smoke run.
const QUICK: Scale = Scale {
    aggregates: 200,
    commands_per_aggregate: 20,
    clients: 64,
    single_client_commands: 200,
    long_stream: 10_000,
    touched: 10_000,
    live_cap: 1_000,
};

pub struct Options {
    pub quick: bool,
    pub scale: Scale,
    only: Vec<String>,
    dir: PathBuf,
}

impl Options {
    /// `--quick` (or `BENCH_QUICK`), `--only w1,w2,w4`; other arguments (cargo's `--bench`) are ignored.
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick = args.iter().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
        let only = match args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)) {
            Some(list) => list.split(',').map(str::to_owned).collect(),
            None => vec!["w1".into(), "w2".into(), "w4".into()],
        };
        let dir = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        Self { quick, scale: if quick { QUICK } else { FULL }, only, dir }
    }

    fn runs(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }

    /// A fresh directory for one database, removed when dropped.
    pub fn fresh_dir(&self, name: &str) -> tempfile::TempDir {
        std::fs::create_dir_all(&self.dir).expect("create BENCH_DIR");
        tempfile::Builder::new().prefix(name).tempdir_in(&self.dir).expect("create a temporary directory")
    }
}

fn main() {
    // As the `konnektid` binary does (`konnektid::memory::prefer_small_pages`): with huge pages,
    // mimalloc's refaulted pages zero 2 MiB each, and W1's group commit p99 went from 3.5 to 9 ms.
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
    let options = Options::parse();
    let system = actix_rt::System::new();
    if options.runs("w1") {
        system.block_on(commands::run(&options));
    }
    if options.runs("pg") {
        system.block_on(postgres::run(&options));
    }
    if options.runs("w2") {
        system.block_on(rehydration::run(&options));
    }
    if options.runs(memory::CHILD) {
        system.block_on(memory::run(&options));
    } else if options.runs("w4") {
        memory::run_in_child(&options);
    }
}

/// Opens a sled store, waiting for a previous instance's writer thread to let go of the files.
pub async fn open_store(dir: &Path, config: SledStoreConfig) -> SledStore {
    for _ in 0..500 {
        match SledStore::open(dir, config.clone()) {
            Ok(store) => return store,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    SledStore::open(dir, config).expect("open the store")
}
