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

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::Bytes;
use futures::StreamExt;
use konnektid::app::App;
use konnektid::config::Config;
use serde_json::{json, Value};

#[path = "api_bench/nodes.rs"]
mod nodes;

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
    let catalogue = Arc::new(seed(&client, &graphql, options.courses).await);
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

// ---- seeding ------------------------------------------------------------------------------------

const TOPICS: [&str; 10] = [
    "Sourdough baking",
    "Jazz guitar",
    "Watercolour painting",
    "Python programming",
    "Urban sketching",
    "Italian cooking",
    "Chess openings",
    "Pottery",
    "Salsa dancing",
    "Street photography",
];
const SEARCHES: [&str; 10] = ["sourdough", "guitar", "Watercolour", "python", "sketch", "italian", "CHESS", "pottery", "salsa", "photo"];
const CITIES: [&str; 5] = ["Utrecht", "Amsterdam", "Rotterdam", "Eindhoven", "Groningen"];

struct Learner {
    id: String,
    bearer: Arc<str>,
}

/// What the load phases pick from: ids, tokens and pre-built request bodies.
struct Catalogue {
    courses: Vec<String>,
    learners: Vec<Learner>,
    search_bodies: Vec<Bytes>,
    course_bodies: Vec<Bytes>,
    /// One per learner, same index.
    booking_bodies: Vec<Bytes>,
    /// One per course, same index.
    request_bodies: Vec<Bytes>,
}

const SEARCH: &str = "query SearchCourses($text: String!) { courses(filter: {text: $text}, first: 20) { totalCount \
     edges { cursor node { id title priceCents currency seatsAvailable city teacher { id displayName } } } pageInfo { hasNextPage endCursor } } }";
const COURSE: &str = "query CourseById($id: ID!) { course(id: $id) { id title description category city priceCents currency \
     capacity seatsTaken seatsAvailable status publishedAt version teacher { id displayName city } } }";
const BOOKINGS: &str = "query LearnerBookings($learner: ID!) { bookings(learnerId: $learner, first: 20) { totalCount \
     edges { node { id status priceCents currency requestedAt updatedAt course { id title } payment { status } } } } }";
const REQUEST_BOOKING: &str =
    "mutation RequestBooking($course: ID!) { requestBooking(input: {courseId: $course, paymentMethod: \"tok_visa\"}) \
     { booking { id status } position } }";
const STATUS: &str = "query BenchStatus { projections { name position lag } stats { bookingsConfirmed bookingsCancelled } }";

fn body(query: &str, variables: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("a JSON body"))
}

/// One GraphQL request; panics on any error (seeding and polling must not fail).
async fn gql(client: &awc::Client, url: &str, bearer: Option<&str>, query: &str, variables: Value) -> Value {
    let payload = body(query, variables);
    let mut attempts = 0;
    let mut response = loop {
        let mut request = client.post(url).insert_header((CONTENT_TYPE, "application/json"));
        if let Some(token) = bearer {
            request = request.insert_header((AUTHORIZATION, format!("Bearer {token}")));
        }
        match request.send_body(payload.clone()).await {
            // A pooled connection the server closed after its keep-alive: nothing was sent.
            Err(awc::error::SendRequestError::Connect(_)) if attempts < 3 => attempts += 1,
            sent => break sent.expect("the server answers"),
        }
    };
    let answer: Value = response.json().limit(16 << 20).await.expect("a JSON answer");
    if let Some(errors) = answer.get("errors") {
        panic!("{query} failed: {errors}");
    }
    answer["data"].clone()
}

async fn register(client: &awc::Client, url: &str, email: String, name: String) -> (String, String) {
    let query = "mutation Register($input: RegisterMemberInput!) { registerMember(input: $input) { token member { id } } }";
    let input = json!({ "email": email, "displayName": name, "password": PASSWORD, "city": CITIES[email.len() % CITIES.len()] });
    let data = gql(client, url, None, query, json!({ "input": input })).await;
    let payload = &data["registerMember"];
    (payload["member"]["id"].as_str().expect("an id").to_owned(), payload["token"].as_str().expect("a token").to_owned())
}

async fn create_course(client: &awc::Client, url: &str, teacher_token: &str, index: usize) -> String {
    let topic = TOPICS[index % TOPICS.len()];
    let level = ["beginners", "improvers", "experts"][index % 3];
    let city = CITIES[index % CITIES.len()];
    let input = json!({
        "title": format!("{topic} for {level} #{index}"),
        "description": format!("Learn {} in {city}: a hands-on course in a small group, session {index}.", topic.to_lowercase()),
        "category": topic.split(' ').next_back().unwrap_or(topic).to_lowercase(),
        "city": city,
        "priceCents": 1500 + (index as i64 % 20) * 250,
        "capacity": 10_000,
    });
    let create = "mutation Create($input: CreateCourseInput!) { createCourse(input: $input) { course { id } } }";
    let data = gql(client, url, Some(teacher_token), create, json!({ "input": input })).await;
    let id = data["createCourse"]["course"]["id"].as_str().expect("a course id").to_owned();
    let publish = "mutation Publish($id: ID!) { publishCourse(input: {id: $id}) { course { status } } }";
    gql(client, url, Some(teacher_token), publish, json!({ "id": id })).await;
    id
}

async fn seed(client: &awc::Client, url: &str, course_count: usize) -> Catalogue {
    let concurrency = std::env::var("BENCH_SEED_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(SEED_CONCURRENCY);
    let started = Instant::now();
    let teachers: Vec<(String, String)> = futures::stream::iter(0..TEACHERS)
        .map(|i| register(client, url, format!("teacher{i}@bench.example"), format!("Teacher {i}")))
        .buffered(concurrency)
        .collect()
        .await;
    emit("seed_register_per_s", TEACHERS as f64 / started.elapsed().as_secs_f64(), "members/s");
    let started = Instant::now();
    let courses: Vec<String> = futures::stream::iter(0..course_count)
        .map(|i| create_course(client, url, &teachers[i % TEACHERS].1, i))
        .buffered(concurrency)
        .collect()
        .await;
    emit("seed_create_and_publish_per_s", course_count as f64 / started.elapsed().as_secs_f64(), "courses/s");
    let learners: Vec<Learner> = futures::stream::iter(0..LEARNERS)
        .map(|i| register(client, url, format!("learner{i}@bench.example"), format!("Learner {i}")))
        .buffered(concurrency)
        .map(|(id, token)| Learner { id, bearer: Arc::from(format!("Bearer {token}")) })
        .collect()
        .await;
    let mut catalogue = Catalogue {
        search_bodies: SEARCHES.iter().map(|text| body(SEARCH, json!({ "text": text }))).collect(),
        course_bodies: courses.iter().map(|id| body(COURSE, json!({ "id": id }))).collect(),
        booking_bodies: learners.iter().map(|l| body(BOOKINGS, json!({ "learner": l.id }))).collect(),
        request_bodies: courses.iter().map(|id| body(REQUEST_BOOKING, json!({ "course": id }))).collect(),
        courses,
        learners,
    };
    seed_bookings(client, url, &mut catalogue, concurrency).await;
    catalogue
}

/// Gives every learner a few bookings and waits until the flow has confirmed them all.
async fn seed_bookings(client: &awc::Client, url: &str, catalogue: &mut Catalogue, concurrency: usize) {
    let before = Status::read(client, url).await;
    let started = Instant::now();
    let requests = (0..LEARNERS * BOOKINGS_PER_LEARNER).map(|i| {
        let learner = &catalogue.learners[i % LEARNERS];
        let course = &catalogue.courses[(i * 7) % catalogue.courses.len()];
        let token = learner.bearer.trim_start_matches("Bearer ").to_owned();
        async move { gql(client, url, Some(&token), REQUEST_BOOKING, json!({ "course": course })).await }
    });
    futures::stream::iter(requests).buffer_unordered(concurrency).for_each(|_| async {}).await;
    let expected = (LEARNERS * BOOKINGS_PER_LEARNER) as u64;
    let Settled { status: settled, done, .. } = settle(client, url, &before, expected, Duration::from_secs(120)).await;
    let confirmed = settled.confirmed.saturating_sub(before.confirmed);
    emit("seed_bookings_confirmed", confirmed as f64, "bookings");
    emit("seed_bookings_confirmed_per_s", confirmed as f64 / started.elapsed().as_secs_f64(), "bookings/s (600 requested, light load)");
    if !done {
        eprintln!("api_bench: the seeded bookings had not settled after 120 s");
    }
}

// ---- the load driver ----------------------------------------------------------------------------

/// What each connection sends.
#[derive(Clone)]
enum Workload {
    /// Course search, course by id, a learner's bookings: equally often.
    Reads(Arc<Catalogue>),
    /// `requestBooking` by a random learner on a random course.
    Writes(Arc<Catalogue>),
    /// `GET /ping`.
    Ping,
}

/// One request: its kind (index into the workload's kinds), a body (`None`: GET) and a bearer.
struct Call {
    kind: usize,
    body: Option<Bytes>,
    bearer: Option<Arc<str>>,
}

impl Workload {
    fn next(&self, rng: &mut Rng) -> Call {
        match self {
            Workload::Reads(catalogue) => match rng.below(3) {
                0 => Call { kind: 0, body: Some(catalogue.search_bodies[rng.below(SEARCHES.len())].clone()), bearer: None },
                1 => Call { kind: 1, body: Some(catalogue.course_bodies[rng.below(catalogue.courses.len())].clone()), bearer: None },
                _ => {
                    let learner = rng.below(catalogue.learners.len());
                    let bearer = Some(catalogue.learners[learner].bearer.clone());
                    Call { kind: 2, body: Some(catalogue.booking_bodies[learner].clone()), bearer }
                }
            },
            Workload::Writes(catalogue) => {
                let learner = &catalogue.learners[rng.below(catalogue.learners.len())];
                let body = catalogue.request_bodies[rng.below(catalogue.courses.len())].clone();
                Call { kind: 0, body: Some(body), bearer: Some(learner.bearer.clone()) }
            }
            Workload::Ping => Call { kind: 0, body: None, bearer: None },
        }
    }
}

/// xorshift64*: enough to spread requests, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What a phase measured: latencies in ms per kind, failures, wall time.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Vec<f64>>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// CPU time of the whole process (client and server) during the phase.
    cpu: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        if self.latencies.len() < other.latencies.len() {
            self.latencies.resize(other.latencies.len(), Vec::new());
        }
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }

    fn count(&self) -> usize {
        self.latencies.iter().map(Vec::len).sum()
    }

    fn per_second(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64()
    }

    /// `<prefix>_requests_per_s`, `_p50_ms`, `_p99_ms`, `_errors`, and per kind when there are several.
    fn report(&self, prefix: &str, kinds: &[&str]) {
        emit(&format!("{prefix}_requests_per_s"), self.per_second(), "requests/s");
        let mut all: Vec<f64> = self.latencies.iter().flatten().copied().collect();
        emit(&format!("{prefix}_p50_ms"), quantile(&mut all, 0.5), "ms");
        emit(&format!("{prefix}_p99_ms"), quantile(&mut all, 0.99), "ms");
        emit(&format!("{prefix}_errors"), self.errors as f64, "requests");
        if !self.cpu.is_zero() {
            emit(&format!("{prefix}_cpu_cores"), self.cpu.as_secs_f64() / self.elapsed.as_secs_f64(), "cores busy (client + server)");
            emit(&format!("{prefix}_cpu_us_per_request"), self.cpu.as_secs_f64() * 1e6 / self.count() as f64, "us (client + server)");
        }
        if kinds.len() > 1 {
            for (kind, samples) in kinds.iter().zip(&self.latencies) {
                let mut samples = samples.clone();
                emit(&format!("{prefix}_{kind}_requests_per_s"), samples.len() as f64 / self.elapsed.as_secs_f64(), "requests/s");
                emit(&format!("{prefix}_{kind}_p50_ms"), quantile(&mut samples, 0.5), "ms");
                emit(&format!("{prefix}_{kind}_p99_ms"), quantile(&mut samples, 0.99), "ms");
            }
        }
        if let Some(error) = &self.first_error {
            eprintln!("{prefix}: {} failed requests, the first: {error}", self.errors);
        }
    }
}

/// Runs `workload` on `options.connections` connections for `duration` (or until `max_requests`
/// have been sent), from client threads of their own (each an actix system), so the server's
/// runtime thread is left to the server.
async fn load(options: &Options, workload: Workload, url: &str, duration: Duration, max_requests: usize) -> Outcome {
    let (options, url) = (options.clone(), url.to_owned());
    let sent = Arc::new(AtomicUsize::new(0));
    actix_rt::task::spawn_blocking(move || {
        let cpu = process_cpu();
        let started = Instant::now();
        let deadline = started + duration;
        let threads: Vec<_> = (0..options.client_threads)
            .map(|thread| {
                let (workload, url, sent) = (workload.clone(), url.clone(), sent.clone());
                let ids: Vec<usize> = (0..options.connections).filter(|c| c % options.client_threads == thread).collect();
                std::thread::spawn(move || {
                    actix_rt::System::new().block_on(async move {
                        let budget = Budget { deadline, sent: &sent, max_requests };
                        let connections = ids.into_iter().map(|id| connection(workload.clone(), &url, id as u64 + 1, budget));
                        let mut outcome = Outcome::default();
                        for finished in futures::future::join_all(connections).await {
                            outcome.merge(finished);
                        }
                        outcome
                    })
                })
            })
            .collect();
        let mut outcome = Outcome::default();
        for thread in threads {
            outcome.merge(thread.join().expect("a client thread"));
        }
        outcome.elapsed = started.elapsed();
        outcome.cpu = process_cpu().saturating_sub(cpu);
        outcome
    })
    .await
    .expect("the load ran")
}

/// When the connections of one phase stop: at the deadline or after `max_requests` in all.
#[derive(Clone, Copy)]
struct Budget<'a> {
    deadline: Instant,
    sent: &'a AtomicUsize,
    max_requests: usize,
}

impl Budget<'_> {
    fn take(&self) -> bool {
        Instant::now() < self.deadline && self.sent.fetch_add(1, Ordering::Relaxed) < self.max_requests
    }
}

/// One keep-alive connection sending one request after the other while the budget lasts.
async fn connection(workload: Workload, url: &str, seed: u64, budget: Budget<'_>) -> Outcome {
    let client = awc::Client::builder().connector(awc::Connector::new().limit(1)).timeout(Duration::from_secs(30)).finish();
    let mut rng = Rng::new(seed);
    let mut outcome = Outcome { latencies: vec![Vec::new(); 3], ..Outcome::default() };
    while budget.take() {
        let call = workload.next(&mut rng);
        let started = Instant::now();
        let result = send(&client, url, &call).await;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(()) => outcome.latencies[call.kind].push(elapsed),
            Err(error) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(error);
            }
        }
    }
    outcome
}

async fn send(client: &awc::Client, url: &str, call: &Call) -> Result<(), String> {
    let mut response = match &call.body {
        Some(body) => {
            let mut request = client.post(url).insert_header((CONTENT_TYPE, "application/json"));
            if let Some(bearer) = &call.bearer {
                request = request.insert_header((AUTHORIZATION, &**bearer));
            }
            request.send_body(body.clone()).await
        }
        None => client.get(url).send().await,
    }
    .map_err(|e| e.to_string())?;
    let bytes = response.body().limit(16 << 20).await.map_err(|e| e.to_string())?;
    let failed = bytes.windows(9).any(|w| w == b"\"errors\"");
    if !response.status().is_success() || failed {
        return Err(format!("HTTP {}: {}", response.status(), String::from_utf8_lossy(&bytes[..bytes.len().min(300)])));
    }
    Ok(())
}

// ---- the phases ---------------------------------------------------------------------------------

/// Subscribers' lags and the booking counts, as the API shows them.
struct Status {
    /// Name, position, lag of every subscriber.
    lags: Vec<(String, u64, u64)>,
    confirmed: u64,
    cancelled: u64,
}

impl Status {
    async fn read(client: &awc::Client, graphql: &str) -> Self {
        let data = gql(client, graphql, None, STATUS, json!({})).await;
        let number = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()).unwrap_or(0);
        let lags = data["projections"].as_array().into_iter().flatten();
        let lags = lags.map(|p| (p["name"].as_str().unwrap_or("?").to_owned(), number(&p["position"]), number(&p["lag"])));
        Self {
            lags: lags.collect(),
            confirmed: data["stats"]["bookingsConfirmed"].as_u64().unwrap_or(0),
            cancelled: data["stats"]["bookingsCancelled"].as_u64().unwrap_or(0),
        }
    }

    fn settled(&self) -> bool {
        self.lags.iter().all(|(_, _, lag)| *lag == 0)
    }

    fn position(&self, subscriber: &str) -> u64 {
        self.lags.iter().find(|(name, _, _)| name == subscriber).map_or(0, |(_, position, _)| *position)
    }
}

/// Bookings confirmed or cancelled since `before`.
fn finished_since(status: &Status, before: &Status) -> u64 {
    (status.confirmed + status.cancelled).saturating_sub(before.confirmed + before.cancelled)
}

/// What `settle` saw: the last status, when every expected booking was first seen decided, and
/// whether everything settled in time.
struct Settled {
    status: Status,
    decided_at: Option<Instant>,
    done: bool,
}

/// Polls until every subscriber is at lag 0 and `expected` more bookings than in `before` are
/// decided (or lag 0 twice in a row, for bookings that end otherwise); not done after `timeout`.
async fn settle(client: &awc::Client, graphql: &str, before: &Status, expected: u64, timeout: Duration) -> Settled {
    let deadline = Instant::now() + timeout;
    let mut settled_polls = 0;
    let mut decided_at = None;
    loop {
        let status = Status::read(client, graphql).await;
        if decided_at.is_none() && finished_since(&status, before) >= expected {
            decided_at = Some(Instant::now());
        }
        settled_polls = if status.settled() { settled_polls + 1 } else { 0 };
        if settled_polls >= 2 || (settled_polls == 1 && decided_at.is_some()) {
            return Settled { status, decided_at, done: true };
        }
        if Instant::now() > deadline {
            return Settled { status, decided_at, done: false };
        }
        // The poll's period bounds how late the last confirmation is seen (the flow figure's
        // clock stops there): 50 ms overstated a 1.5 s flow by up to 3%.
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The booking flow end to end: `flow_bookings` requests as fast as the connections go, then the
/// wait until every one is decided; confirmed bookings per second from first request to last
/// confirmation.
async fn flow(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
    let graphql = format!("{base}/graphql");
    let before = Status::read(client, &graphql).await;
    let before_metrics = Metrics::scrape(client, base).await;
    let started = Instant::now();
    let cpu_before = process_cpu();
    let workload = Workload::Writes(catalogue.clone());
    let outcome = load(options, workload, &graphql, options.durations.settle_timeout, options.durations.flow_bookings).await;
    let requested = outcome.count() as u64;
    let at_end = Status::read(client, &graphql).await;
    let metrics_at_end = Metrics::scrape(client, base).await;
    emit("api_flow_bookings_requested", requested as f64, "bookings");
    emit("api_flow_requesting_s", outcome.elapsed.as_secs_f64(), "s");
    emit("api_flow_confirmed_while_requesting", at_end.confirmed.saturating_sub(before.confirmed) as f64, "bookings");

    let flow_at_end = at_end.position("booking-flow");
    let Settled { status: last, decided_at, done } = settle(client, &graphql, &before, requested, options.durations.settle_timeout).await;
    if !done {
        eprintln!("api_bench: the booking flow had not settled {} s after the requests", options.durations.settle_timeout.as_secs());
    }
    let total = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let settle_time = total.saturating_sub(outcome.elapsed);
    let confirmed = last.confirmed.saturating_sub(before.confirmed);
    // Independent of the disk's fsync latency, unlike the rate: what a booking costs end to end.
    emit("api_flow_cpu_us_per_booking", cpu.as_secs_f64() * 1e6 / confirmed.max(1) as f64, "us (client + server, whole flow)");
    emit("api_flow_bookings_confirmed", confirmed as f64, "bookings");
    emit("api_flow_bookings_undecided_at_end", requested.saturating_sub(finished_since(&last, &before)) as f64, "bookings");
    emit("api_flow_settle_s", settle_time.as_secs_f64(), "s after the last request");
    let flow_events = last.position("booking-flow").saturating_sub(flow_at_end);
    emit("diag_booking_flow_events_per_s", flow_events as f64 / settle_time.as_secs_f64(), "log events/s (the booking-flow subscriber)");
    // Confirmed is the end of a booking's flow; the e-mails and the other subscribers finish
    // after it, and the settled rate includes them.
    let decided = decided_at.map_or(total, |at| at.duration_since(started));
    emit("api_bookings_confirmed_per_s", confirmed as f64 / decided.as_secs_f64(), "bookings/s (first request to last confirmation)");
    emit("api_flow_settled_per_s", confirmed as f64 / total.as_secs_f64(), "bookings/s (first request to every subscriber at lag 0)");
    let metrics_settled = Metrics::scrape(client, base).await;
    if let (Some(before), Some(at_end), Some(settled)) = (before_metrics, metrics_at_end, metrics_settled) {
        at_end.report_writes(&before, outcome.elapsed, "diag_flow_requesting");
        settled.report_writes(&at_end, settle_time, "diag_flow_settling");
    }
}

/// `requestBooking` for a fixed time: the rate and latency of durable writes. The flow is left
/// to catch up after the benchmark ends (its backlog is reported).
async fn writes(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
    let graphql = format!("{base}/graphql");
    let before_metrics = Metrics::scrape(client, base).await;
    let outcome = load(options, Workload::Writes(catalogue.clone()), &graphql, options.durations.writes, usize::MAX).await;
    outcome.report("api_write", &["request_booking"]);
    let at_end = Status::read(client, &graphql).await;
    for (name, _, lag) in &at_end.lags {
        emit(&format!("diag_lag_at_writes_end_{}", name.replace('-', "_")), *lag as f64, "events");
    }
    if let (Some(before), Some(after)) = (before_metrics, Metrics::scrape(client, base).await) {
        after.report_writes(&before, outcome.elapsed, "diag_writing");
    }
}

/// Connections writing bookings during the mixed phase, beside the usual 64 readers.
const MIXED_WRITERS: usize = 8;

/// The read mix while bookings are being written: every commit moves the read models, so this
/// is what kept answers are worth under writes (`api_mixed_read_answers_reused_share`).
async fn mixed(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
    let graphql = format!("{base}/graphql");
    let before = Metrics::scrape(client, base).await;
    let writers = Options { connections: MIXED_WRITERS, client_threads: 1, ..options.clone() };
    let duration = options.durations.reads;
    let (mut reads, mut writes) = futures::join!(
        load(options, Workload::Reads(catalogue.clone()), &graphql, duration, usize::MAX),
        load(&writers, Workload::Writes(catalogue.clone()), &graphql, duration, usize::MAX),
    );
    // Both loads ran in one process at once: their CPU figures would count each other.
    (reads.cpu, writes.cpu) = (Duration::ZERO, Duration::ZERO);
    reads.report("api_mixed_read", &["search", "course", "bookings"]);
    writes.report("api_mixed_write", &["request_booking"]);
    if let (Some(before), Some(after)) = (before, Metrics::scrape(client, base).await) {
        let reused: f64 = ["SearchCourses", "CourseById", "LearnerBookings"]
            .iter()
            .map(|operation| {
                let labels = format!("operation=\"{operation}\"");
                after.value("graphql_answers_reused_total", &labels) - before.value("graphql_answers_reused_total", &labels)
            })
            .sum();
        emit("api_mixed_read_answers_reused_share", reused / reads.count().max(1) as f64, "share of reads answered from kept answers");
    }
}

/// The read mix against the server at `base`; figures named `prefix`_...; returns the read rate.
async fn reads(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>, prefix: &str) -> f64 {
    let graphql = format!("{base}/graphql");
    let before = Metrics::scrape(client, base).await;
    let outcome = load(options, Workload::Reads(catalogue.clone()), &graphql, options.durations.reads, usize::MAX).await;
    outcome.report(prefix, &["search", "course", "bookings"]);
    if let (Some(before), Some(after)) = (before, Metrics::scrape(client, base).await) {
        for operation in ["SearchCourses", "CourseById", "LearnerBookings"] {
            after.report_mean(
                &before,
                "http_request_duration_seconds",
                &format!("operation=\"{operation}\""),
                &format!("diag_{prefix}_server_{operation}"),
            );
        }
    }
    // The same mix on one connection: latency without queueing.
    let single = Options { connections: 1, client_threads: 1, ..options.clone() };
    let unloaded = load(&single, Workload::Reads(catalogue.clone()), &graphql, options.durations.ceiling, usize::MAX).await;
    for (kind, samples) in ["search", "course", "bookings"].iter().zip(&unloaded.latencies) {
        emit(&format!("diag_{prefix}_1conn_{kind}_p50_ms"), quantile(&mut samples.clone(), 0.5), "ms (one connection)");
    }
    outcome.per_second()
}

/// What the read models alone cost per query, in process, without GraphQL or HTTP.
fn read_model_costs(app: &App, catalogue: &Catalogue) {
    use konnektid::read_models::{BookingFilter, Caller, CourseFilter, PageRequest};
    const ROUNDS: usize = 300;
    let time = |figure: &str, run: &mut dyn FnMut(usize)| {
        let started = Instant::now();
        for round in 0..ROUNDS {
            run(round);
        }
        emit(figure, started.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64, "us per query (read model only)");
    };
    let read_models = app.read_models();
    let page = PageRequest::first(20);
    time("diag_readmodel_search_us", &mut |round| {
        let filter = CourseFilter { text: Some(SEARCHES[round % SEARCHES.len()].to_owned()), ..CourseFilter::default() };
        read_models.courses.list(&filter, &page).expect("search the courses");
    });
    let courses: Vec<uuid::Uuid> = catalogue.courses.iter().map(|id| id.parse().expect("a UUID")).collect();
    time("diag_readmodel_course_us", &mut |round| {
        read_models.courses.get(courses[round % courses.len()]).expect("read a course");
    });
    let learners: Vec<uuid::Uuid> = catalogue.learners.iter().map(|l| l.id.parse().expect("a UUID")).collect();
    time("diag_readmodel_bookings_us", &mut |round| {
        let learner = learners[round % learners.len()];
        let filter = BookingFilter { learner_id: Some(learner), visible_to: Caller::Member(learner), ..BookingFilter::default() };
        read_models.bookings.list(&filter, &page).expect("list bookings");
    });
}

/// What GraphQL execution (parse, validate, resolve) and serializing the answer cost per query,
/// in process, without HTTP.
async fn graphql_costs(app: &Arc<App>, catalogue: &Catalogue) {
    const ROUNDS: usize = 300;
    let schema = konnektid::api::schema();
    let kinds: [(&str, &[Bytes], bool); 3] = [
        ("search", &catalogue.search_bodies, false),
        ("course", &catalogue.course_bodies, false),
        ("bookings", &catalogue.booking_bodies, true),
    ];
    for (kind, bodies, signed_in) in kinds {
        let (mut executing, mut serializing) = (Duration::ZERO, Duration::ZERO);
        for round in 0..ROUNDS {
            let index = round % bodies.len();
            let request: juniper::http::GraphQLRequest = serde_json::from_slice(&bodies[index]).expect("a GraphQL request");
            let bearer = signed_in.then(|| &*catalogue.learners[index].bearer);
            let caller = app.authenticate(bearer).expect("a valid token");
            let context = konnektid::api::Context::new(app.clone(), caller);
            let started = Instant::now();
            let response = request.execute(&schema, &context).await;
            executing += started.elapsed();
            let started = Instant::now();
            let bytes = serde_json::to_vec(&response).expect("serialize the answer");
            serializing += started.elapsed();
            assert!(response.is_ok() && !bytes.is_empty(), "the {kind} query failed in process");
        }
        emit(&format!("diag_graphql_{kind}_us"), executing.as_secs_f64() * 1e6 / ROUNDS as f64, "us per query (juniper, in process)");
        emit(&format!("diag_graphql_{kind}_serialize_us"), serializing.as_secs_f64() * 1e6 / ROUNDS as f64, "us per answer");
    }
}

// ---- server-side figures from /metrics ------------------------------------------------------------

/// A scrape of the Prometheus text the server serves on `/metrics` (absent on older servers).
struct Metrics(String);

impl Metrics {
    async fn scrape(client: &awc::Client, base: &str) -> Option<Self> {
        let mut response = client.get(format!("{base}/metrics")).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.body().limit(16 << 20).await.ok()?;
        Some(Self(String::from_utf8_lossy(&body).into_owned()))
    }

    /// The value of the first sample named `name` whose labels contain `labels`.
    fn value(&self, name: &str, labels: &str) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find(|line| {
                let (metric, rest) = line.split_once(['{', ' ']).unwrap_or((line, ""));
                metric == name && (labels.is_empty() || rest.contains(labels))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }

    /// Count and sum of a summary or histogram since `before`.
    fn delta(&self, before: &Metrics, name: &str, labels: &str) -> (f64, f64) {
        let part = |suffix: &str| {
            let name = format!("{name}_{suffix}");
            self.value(&name, labels) - before.value(&name, labels)
        };
        (part("count"), part("sum"))
    }

    /// `<figure>_count` and the mean in ms of a duration metric since `before`.
    fn report_mean(&self, before: &Metrics, name: &str, labels: &str, figure: &str) {
        let (count, sum) = self.delta(before, name, labels);
        if count > 0.0 {
            emit(&format!("{figure}_ms_mean"), sum / count * 1e3, "ms (server side)");
        }
    }

    /// Group commits and commands between `before` and this scrape, `elapsed` apart.
    fn report_writes(&self, before: &Metrics, elapsed: Duration, prefix: &str) {
        let (commits, appends) = self.delta(before, "actors_group_commit_appends", "");
        if commits > 0.0 {
            emit(&format!("{prefix}_group_commits_per_s"), commits / elapsed.as_secs_f64(), "commits/s");
            emit(&format!("{prefix}_group_commit_appends_mean"), appends / commits, "appends per commit");
            self.report_mean(before, "actors_group_commit_flush_seconds", "", &format!("{prefix}_group_commit_flush"));
        }
        self.report_mean(
            before,
            "http_request_duration_seconds",
            "operation=\"RequestBooking\"",
            &format!("{prefix}_server_RequestBooking"),
        );
        for aggregate in ["booking", "course", "payment"] {
            let labels = format!("aggregate=\"{aggregate}\"");
            let (count, sum) = self.delta(before, "actors_command_duration_seconds", &labels);
            if count > 0.0 {
                emit(&format!("{prefix}_commands_{aggregate}_per_s"), count / elapsed.as_secs_f64(), "commands/s");
                emit(&format!("{prefix}_command_{aggregate}_ms_mean"), sum / count * 1e3, "ms");
            }
        }
    }
}
