//! HTTP load benchmark of the GraphQL server; one JSON object per line (`{"figure", "value", "unit"}`).
//!
//! In one process: the real server (`server::build`) on 127.0.0.1:0 over a temporary data
//! directory with durable commits (`fsync` on), seeded over HTTP with teachers, published courses
//! and learners (plus a few settled bookings each). Then 64 keep-alive connections (one awc client each, spread over a few client
//! threads) drive, one phase after the other:
//! - the ceiling: `GET /ping` answered by a bare actix-web server on another port, same client;
//! - reads: a mix of course search, course by id and a learner's bookings (with its token), once
//!   as served (identical requests reuse kept answers while nothing is written) and once on a
//!   second port of the same application that executes every query (`api_read_executed_*`);
//! - the flow: a fixed number of `requestBooking`s by random learners on random courses, then the
//!   wait until the choreography has decided every one (every subscriber at lag 0), which gives
//!   confirmed bookings per second end to end;
//! - writes: `requestBooking` for a fixed time, for the rate and latency of durable writes;
//! - mixed: the read mix on 64 connections while 8 more request bookings, so the read models
//!   move under the readers.
//!
//! Client and server share the machine's cores (figure `cores`): every rate is what both together
//! reach, and ratios (reads to ceiling) are taken within one run. When the server serves
//! `/metrics`, the server-side figures (`diag_*`) show where the time goes.
//!
//! - nodes (only when named in `--only`: it needs PostgreSQL): the flow on one sled node, one
//!   PostgreSQL node and two PostgreSQL nodes both taking requests, see `api_bench/nodes.rs`.
//!
//! `cargo bench -p konnektid --bench api_bench [-- --quick] [-- --connections N] [-- --client-threads N]
//! [-- --courses N] [-- --only PHASE[,PHASE]]` (phases: ceiling, reads, flow, writes, mixed, nodes).
//! `--courses` sets the catalogue's size (default 500), which the course search's cost follows.
//! `BENCH_DIR` picks where the data directory goes (default: the system temp dir); fsync figures
//! only mean something on a real disk, not on tmpfs. `BENCH_LOG` (a tracing filter) shows the
//! server's logs on stderr. `BENCH_SEED_CONCURRENCY` sets the requests in flight while seeding.
//!
//! The parts: seeding in `api_bench/seed.rs`, the load driver in `driver.rs`, waiting for the
//! choreography in `settle.rs`, the phases in `phases.rs`, the server-side figures in `metrics.rs`, the nodes phase in `nodes.rs`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use konnektid::app::App;
use konnektid::config::Config;
use serde_json::json;

#[path = "api_bench/driver.rs"]
mod driver;
#[path = "api_bench/metrics.rs"]
mod metrics;
#[path = "api_bench/nodes.rs"]
mod nodes;
#[path = "api_bench/phases.rs"]
mod phases;
#[path = "api_bench/seed.rs"]
mod seed;
#[path = "api_bench/settle.rs"]
mod settle;

use driver::{load, Workload};
use phases::{flow, graphql_costs, mixed, read_model_costs, reads, writes};

/// The allocator of the `konnektid` binary, so the server measured here is the one that ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long each phase runs; `--quick` shortens them.
#[derive(Clone, Copy)]
struct Durations {
    writes: Duration,
    /// Bookings requested (as fast as the connections go) for the end-to-end flow measurement.
    flow_bookings: usize,
    reads: Duration,
    ceiling: Duration,
    settle_timeout: Duration,
}

const FULL: Durations = Durations {
    writes: Duration::from_secs(10),
    flow_bookings: 3_000,
    reads: Duration::from_secs(10),
    ceiling: Duration::from_secs(5),
    settle_timeout: Duration::from_secs(120),
};
const QUICK: Durations = Durations {
    writes: Duration::from_secs(3),
    flow_bookings: 1_000,
    reads: Duration::from_secs(3),
    ceiling: Duration::from_secs(2),
    settle_timeout: Duration::from_secs(60),
};

const TEACHERS: usize = 50;
/// The catalogue's size unless `--courses` says otherwise.
const COURSES: usize = 500;
const LEARNERS: usize = 200;
/// Bookings each learner has before the read phase (so `bookings` lists are not empty).
const BOOKINGS_PER_LEARNER: usize = 3;
/// Requests in flight while seeding.
const SEED_CONCURRENCY: usize = 32;
const PASSWORD: &str = "benchmark password";
const ADMIN_TOKEN: &str = "api-bench-admin-token";

#[derive(Clone)]
struct Options {
    durations: Durations,
    connections: usize,
    client_threads: usize,
    /// Courses seeded (each published by one of the teachers).
    courses: usize,
    dir: PathBuf,
    /// `--only PHASE[,PHASE]` (ceiling, reads, flow, writes, mixed): run those phases alone, e.g. under a
    /// profiler.
    only: Option<String>,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<usize>().ok());
        let quick = args.iter().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
        let connections = value("--connections").unwrap_or(64).max(1);
        Self {
            durations: if quick { QUICK } else { FULL },
            connections,
            client_threads: value("--client-threads").unwrap_or(2).clamp(1, connections),
            courses: value("--courses").unwrap_or(COURSES).max(1),
            dir: std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
            only: args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned(),
        }
    }

    fn runs(&self, phase: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only.split(',').any(|one| one == phase))
    }
}

fn emit(figure: &str, value: f64, unit: &str) {
    let value = (value * 1000.0).round() / 1000.0;
    println!("{}", json!({ "figure": figure, "value": value, "unit": unit }));
}

/// The `q` quantile of `samples` (sorted in place).
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// CPU time this process (client and server together) has used so far.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn main() {
    // As the `konnektid` binary does, so the server measured is the one that ships.
    konnektid::memory::prefer_small_pages();
    let options = Options::parse();
    // `BENCH_LOG=actors=debug` (a tracing filter) shows the server's logs on stderr; off by default.
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).with_writer(std::io::stderr).init();
    }
    let dir = {
        std::fs::create_dir_all(&options.dir).expect("create BENCH_DIR");
        tempfile::Builder::new().prefix("api-bench").tempdir_in(&options.dir).expect("create a temporary directory")
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    emit("cores", cores as f64, "cores shared by client and server");
    emit("connections", options.connections as f64, "connections");
    emit("courses", options.courses as f64, "courses in the catalogue");
    emit("client_threads", options.client_threads as f64, "threads");
    emit("load_avg_1m_at_start", load_average(), "load");
    let only_nodes = options.only.as_deref() == Some("nodes");
    actix_rt::System::new().block_on(async {
        // The nodes phase brings its own servers: the seeded one below is not needed for it.
        if !only_nodes {
            run(options.clone(), dir.path().to_owned()).await;
        }
        if options.only.as_deref().is_some_and(|only| only.split(',').any(|phase| phase == "nodes")) {
            nodes::run(&options, dir.path()).await;
            emit("load_avg_1m_at_end", load_average(), "load");
        }
    });
}

async fn run(options: Options, data_dir: PathBuf) {
    let mut config = Config::default();
    config.storage.data_dir = data_dir;
    config.storage.fsync = true;
    config.auth.admin_token = ADMIN_TOKEN.to_owned();
    config.auth.password_memory_kib = 64;
    config.auth.password_iterations = 1;
    let app = App::open(&config).await.expect("open the application");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the API port");
    let base = format!("http://{}", listener.local_addr().expect("the API address"));
    let server = konnektid::server::build(app.clone(), listener).expect("build the server");
    let server_handle = server.handle();
    actix_rt::spawn(server);
    // The same application behind a second port that executes every query: reads without kept
    // answers, measured in the same run.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the second API port");
    let executing_base = format!("http://{}", listener.local_addr().expect("the second API address"));
    let state = konnektid::api::ApiState::new(app.clone(), Arc::new(konnektid::api::schema())).keeping_no_answers();
    let executing = konnektid::server::build_with(state, listener).expect("build the executing server");
    let executing_handle = executing.handle();
    actix_rt::spawn(executing);
    let (ping_url, ping_handle) = start_ping_server();
    let graphql = format!("{base}/graphql");
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();

    let started = Instant::now();
    let catalogue = Arc::new(seed::seed(&client, &graphql, options.courses).await);
    emit("seed_s", started.elapsed().as_secs_f64(), "s");

    // Quiet phases first: nothing is settling in the background while they run.
    let ceiling_per_s = if options.runs("ceiling") {
        let ceiling = load(&options, Workload::Ping, &ping_url, options.durations.ceiling, usize::MAX).await;
        ceiling.report("ceiling", &["ping"]);
        Some(ceiling.per_second())
    } else {
        None
    };
    if options.runs("reads") {
        let reads_per_s = reads(&options, &client, &base, &catalogue, "api_read").await;
        let executed_per_s = reads(&options, &client, &executing_base, &catalogue, "api_read_executed").await;
        if let Some(ceiling_per_s) = ceiling_per_s {
            emit("api_read_ratio_to_ceiling", reads_per_s / ceiling_per_s, "ratio (answers kept while the read models hold)");
            emit("api_read_executed_ratio_to_ceiling", executed_per_s / ceiling_per_s, "ratio (every query executed)");
        }
        read_model_costs(&app, &catalogue);
        graphql_costs(&app, &catalogue).await;
    }
    if options.runs("flow") {
        flow(&options, &client, &base, &catalogue).await;
    }
    if options.runs("writes") {
        writes(&options, &client, &base, &catalogue).await;
    }
    if options.runs("mixed") {
        mixed(&options, &client, &base, &catalogue).await;
    }
    emit("load_avg_1m_at_end", load_average(), "load");

    ping_handle.stop(true).await;
    server_handle.stop(true).await;
    executing_handle.stop(true).await;
    app.shutdown().await;
}

/// The trivial endpoint the ceiling is measured on: as many workers as the API server.
fn start_ping_server() -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the ping port");
    let url = format!("http://{}/ping", listener.local_addr().expect("the ping address"));
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().route("/ping", actix_web::web::get().to(|| async { actix_web::HttpResponse::Ok().body("pong") }))
    })
    .listen(listener)
    .expect("listen for pings")
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (url, handle)
}
