//! W4: resident memory after touching many aggregates with a cap on live actors. Runs in a
//! child process of this binary, so the memory of the other workloads is not counted.

use std::sync::Arc;
use std::time::Duration;

use actors::{AggregateConfig, Runtime, SledStore, SledStoreConfig};
use uuid::Uuid;

use crate::account::Account;
use crate::commands::{open, run_clients};
use crate::report::{emit, proc_status_mib};
use crate::Options;

/// The `--only` name the child process is started with.
pub const CHILD: &str = "w4-child";

/// Runs W4 in a fresh process of this binary, its figures going to the same stdout.
pub fn run_in_child(options: &Options) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("the benchmark's path"));
    child.args(["--only", CHILD]);
    if options.quick {
        child.arg("--quick");
    }
    let status = child.status().expect("run W4");
    assert!(status.success(), "W4 failed: {status}");
}

/// Opens `touched` aggregates (one `Open` each, 64 clients) with at most `live_cap` live
/// actors. fsync is off: this measures memory, not durability.
pub async fn run(options: &Options) {
    let scale = options.scale;
    let dir = options.fresh_dir("w4-");
    let store = SledStore::open(dir.path(), SledStoreConfig { fsync: false, ..SledStoreConfig::default() }).expect("open the store");
    let local = store.database().clone();
    let config = AggregateConfig { max_live_actors: scale.live_cap, ..AggregateConfig::default() };
    let runtime = Runtime::builder(Arc::new(store), local).aggregate::<Account>(config).start().await.expect("start the runtime");
    emit("w4_rss_baseline_mib", proc_status_mib("VmRSS:"), "MiB resident once the runtime started");

    let ids: Arc<Vec<Uuid>> = Arc::new((0..scale.touched).map(|_| Uuid::new_v4()).collect());
    let (took, _) = run_clients(&runtime, &ids, scale.clients, 1, open).await;
    emit("w4_open_commands_per_s", scale.touched as f64 / took.as_secs_f64(), "commands/s (Open, 64 clients, fsync off)");
    // A passivated actor stops once its mailbox is empty: give the last ones a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = runtime.registry_stats::<Account>().await.expect("the Account registry");
    let unit = format!("MiB resident after touching {} aggregates, at most {} live (store with fsync off)", scale.touched, scale.live_cap);
    emit("w4_rss_mib", proc_status_mib("VmRSS:"), &unit);
    emit("w4_peak_rss_mib", proc_status_mib("VmHWM:"), "MiB resident at the peak");
    emit("w4_live_actors", stats.live as f64, "actors live at the end");
    emit("w4_started_actors", stats.started as f64, "actors started");
    emit("w4_passivated_actors", stats.passivated as f64, "actors passivated");
    runtime.shutdown().await;
}
