//! HTTP load benchmark of the GraphQL server; one JSON object per line (`{"figure", "value", "unit"}`).
//!
//! In one process: the real server (`server::build`) on 127.0.0.1:0 over a temporary data
//! directory with durable commits (`fsync` on), seeded over HTTP with teachers, published courses
//! and learners. Then 64 keep-alive connections (one awc client each, spread over a few client
//! threads) drive, one phase after the other:
//! - writes: `requestBooking` by random learners on random courses for a fixed time, then the
//!   wait until the choreography has settled (every subscriber at lag 0), which gives confirmed
//!   bookings per second end to end;
//! - reads: a mix of course search, course by id and a learner's bookings (with its token);
//! - the ceiling: `GET /ping` answered by a bare actix-web server on another port, same client.
//!
//! Client and server share the machine's cores (figure `cores`): every rate is what both together
//! reach, and ratios (reads to ceiling) are taken within one run. When the server serves
//! `/metrics`, the server-side figures (`diag_*`) show where the time goes.
//!
//! `cargo bench -p konnektid --bench api_bench [-- --quick] [-- --connections N] [-- --client-threads N]`.
//! `BENCH_DIR` picks where the data directory goes (default: the system temp dir); fsync figures
//! only mean something on a real disk, not on tmpfs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::Bytes;
use futures::StreamExt;
use konnektid::app::App;
use konnektid::config::Config;
use serde_json::{json, Value};

/// How long each phase runs; `--quick` shortens them.
#[derive(Clone, Copy)]
struct Durations {
    writes: Duration,
    reads: Duration,
    ceiling: Duration,
    settle_timeout: Duration,
}

const FULL: Durations = Durations {
    writes: Duration::from_secs(10),
    reads: Duration::from_secs(10),
    ceiling: Duration::from_secs(5),
    settle_timeout: Duration::from_secs(180),
};
const QUICK: Durations = Durations {
    writes: Duration::from_secs(3),
    reads: Duration::from_secs(3),
    ceiling: Duration::from_secs(2),
    settle_timeout: Duration::from_secs(60),
};

const TEACHERS: usize = 50;
const COURSES: usize = 500;
const LEARNERS: usize = 200;
/// Requests in flight while seeding.
const SEED_CONCURRENCY: usize = 32;
const PASSWORD: &str = "benchmark password";
const ADMIN_TOKEN: &str = "api-bench-admin-token";

#[derive(Clone)]
struct Options {
    durations: Durations,
    connections: usize,
    client_threads: usize,
    dir: PathBuf,
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
            dir: std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        }
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

fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

fn main() {
    let options = Options::parse();
    let dir = {
        std::fs::create_dir_all(&options.dir).expect("create BENCH_DIR");
        tempfile::Builder::new().prefix("api-bench").tempdir_in(&options.dir).expect("create a temporary directory")
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    emit("cores", cores as f64, "cores shared by client and server");
    emit("connections", options.connections as f64, "connections");
    emit("client_threads", options.client_threads as f64, "threads");
    emit("load_avg_1m_at_start", load_average(), "load");
    actix_rt::System::new().block_on(run(options, dir.path().to_owned()));
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
    let (ping_url, ping_handle) = start_ping_server();
    let graphql = format!("{base}/graphql");
    let client = awc::Client::builder().timeout(Duration::from_secs(60)).finish();

    let started = Instant::now();
    let catalogue = Arc::new(seed(&client, &graphql).await);
    emit("seed_s", started.elapsed().as_secs_f64(), "s");

    writes(&options, &client, &base, &catalogue).await;
    let reads_per_s = reads(&options, &client, &base, &catalogue).await;
    let ceiling = load(&options, Workload::Ping, &ping_url, options.durations.ceiling).await;
    ceiling.report("ceiling", &["ping"]);
    emit("api_read_ratio_to_ceiling", reads_per_s / ceiling.per_second(), "ratio");
    emit("load_avg_1m_at_end", load_average(), "load");

    ping_handle.stop(true).await;
    server_handle.stop(true).await;
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
const STATUS: &str = "query BenchStatus { projections { name lag } stats { bookingsConfirmed bookingsCancelled } }";

fn body(query: &str, variables: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("a JSON body"))
}

/// One GraphQL request; panics on any error (seeding and polling must not fail).
async fn gql(client: &awc::Client, url: &str, bearer: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = client.post(url).insert_header((CONTENT_TYPE, "application/json"));
    if let Some(token) = bearer {
        request = request.insert_header((AUTHORIZATION, format!("Bearer {token}")));
    }
    let mut response = request.send_body(body(query, variables)).await.expect("the server answers");
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

async fn seed(client: &awc::Client, url: &str) -> Catalogue {
    let teachers: Vec<(String, String)> = futures::stream::iter(0..TEACHERS)
        .map(|i| register(client, url, format!("teacher{i}@bench.example"), format!("Teacher {i}")))
        .buffered(SEED_CONCURRENCY)
        .collect()
        .await;
    let courses: Vec<String> = futures::stream::iter(0..COURSES)
        .map(|i| create_course(client, url, &teachers[i % TEACHERS].1, i))
        .buffered(SEED_CONCURRENCY)
        .collect()
        .await;
    let learners: Vec<Learner> = futures::stream::iter(0..LEARNERS)
        .map(|i| register(client, url, format!("learner{i}@bench.example"), format!("Learner {i}")))
        .buffered(SEED_CONCURRENCY)
        .map(|(id, token)| Learner { id, bearer: Arc::from(format!("Bearer {token}")) })
        .collect()
        .await;
    Catalogue {
        search_bodies: SEARCHES.iter().map(|text| body(SEARCH, json!({ "text": text }))).collect(),
        course_bodies: courses.iter().map(|id| body(COURSE, json!({ "id": id }))).collect(),
        booking_bodies: learners.iter().map(|l| body(BOOKINGS, json!({ "learner": l.id }))).collect(),
        request_bodies: courses.iter().map(|id| body(REQUEST_BOOKING, json!({ "course": id }))).collect(),
        courses,
        learners,
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

/// Runs `workload` on `options.connections` connections for `duration`, from client threads of
/// their own (each an actix system), so the server's runtime thread is left to the server.
async fn load(options: &Options, workload: Workload, url: &str, duration: Duration) -> Outcome {
    let (options, url) = (options.clone(), url.to_owned());
    actix_rt::task::spawn_blocking(move || {
        let started = Instant::now();
        let deadline = started + duration;
        let threads: Vec<_> = (0..options.client_threads)
            .map(|thread| {
                let (workload, url) = (workload.clone(), url.clone());
                let ids: Vec<usize> = (0..options.connections).filter(|c| c % options.client_threads == thread).collect();
                std::thread::spawn(move || {
                    actix_rt::System::new().block_on(async move {
                        let connections = ids.into_iter().map(|id| connection(workload.clone(), &url, id as u64 + 1, deadline));
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
        outcome
    })
    .await
    .expect("the load ran")
}

/// One keep-alive connection sending one request after the other until `deadline`.
async fn connection(workload: Workload, url: &str, seed: u64, deadline: Instant) -> Outcome {
    let client = awc::Client::builder().connector(awc::Connector::new().limit(1)).timeout(Duration::from_secs(30)).finish();
    let mut rng = Rng::new(seed);
    let mut outcome = Outcome { latencies: vec![Vec::new(); 3], ..Outcome::default() };
    while Instant::now() < deadline {
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
    lags: Vec<(String, u64)>,
    confirmed: u64,
    cancelled: u64,
}

impl Status {
    async fn read(client: &awc::Client, graphql: &str) -> Self {
        let data = gql(client, graphql, None, STATUS, json!({})).await;
        let number = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()).unwrap_or(0);
        let lags =
            data["projections"].as_array().into_iter().flatten().map(|p| (p["name"].as_str().unwrap_or("?").to_owned(), number(&p["lag"])));
        Self {
            lags: lags.collect(),
            confirmed: data["stats"]["bookingsConfirmed"].as_u64().unwrap_or(0),
            cancelled: data["stats"]["bookingsCancelled"].as_u64().unwrap_or(0),
        }
    }

    fn settled(&self) -> bool {
        self.lags.iter().all(|(_, lag)| *lag == 0)
    }
}

async fn writes(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
    let graphql = format!("{base}/graphql");
    let before_status = Status::read(client, &graphql).await;
    let before_metrics = Metrics::scrape(client, base).await;
    let started = Instant::now();
    let outcome = load(options, Workload::Writes(catalogue.clone()), &graphql, options.durations.writes).await;
    outcome.report("api_write", &["request_booking"]);
    let at_end = Status::read(client, &graphql).await;
    let requested = outcome.count() as u64;
    let confirmed_at_end = at_end.confirmed.saturating_sub(before_status.confirmed);
    emit("api_bookings_requested", requested as f64, "bookings");
    emit("api_bookings_confirmed_while_writing_per_s", confirmed_at_end as f64 / outcome.elapsed.as_secs_f64(), "bookings/s");
    for (name, lag) in &at_end.lags {
        emit(&format!("diag_lag_at_writes_end_{}", name.replace('-', "_")), *lag as f64, "events");
    }

    let settled_by = started + outcome.elapsed + options.durations.settle_timeout;
    let finished =
        |status: &Status| (status.confirmed + status.cancelled).saturating_sub(before_status.confirmed + before_status.cancelled);
    let mut last = at_end;
    let mut settled_polls = 0;
    loop {
        // Settled: every subscriber at lag 0 and every booking decided (or lag 0 twice in a row,
        // for bookings that end otherwise, e.g. rejected).
        settled_polls = if last.settled() { settled_polls + 1 } else { 0 };
        if settled_polls >= 2 || (settled_polls == 1 && finished(&last) >= requested) {
            break;
        }
        if Instant::now() > settled_by {
            eprintln!("api_bench: the booking flow had not settled {} s after the writes", options.durations.settle_timeout.as_secs());
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        last = Status::read(client, &graphql).await;
    }
    let total = started.elapsed();
    let confirmed = last.confirmed.saturating_sub(before_status.confirmed);
    emit("api_bookings_confirmed", confirmed as f64, "bookings");
    emit("api_settle_after_writes_s", (total - outcome.elapsed).as_secs_f64(), "s");
    emit("api_bookings_confirmed_per_s", confirmed as f64 / total.as_secs_f64(), "bookings/s (first request to last confirmation)");
    if let (Some(before), Some(after)) = (before_metrics, Metrics::scrape(client, base).await) {
        after.report_writes(&before, total);
    }
}

/// Returns the read rate.
async fn reads(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) -> f64 {
    let graphql = format!("{base}/graphql");
    let before = Metrics::scrape(client, base).await;
    let outcome = load(options, Workload::Reads(catalogue.clone()), &graphql, options.durations.reads).await;
    outcome.report("api_read", &["search", "course", "bookings"]);
    if let (Some(before), Some(after)) = (before, Metrics::scrape(client, base).await) {
        for operation in ["SearchCourses", "CourseById", "LearnerBookings"] {
            after.report_mean(
                &before,
                "http_request_duration_seconds",
                &format!("operation=\"{operation}\""),
                &format!("diag_server_{operation}"),
            );
        }
    }
    outcome.per_second()
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

    fn report_writes(&self, before: &Metrics, elapsed: Duration) {
        let (commits, appends) = self.delta(before, "actors_group_commit_appends", "");
        if commits > 0.0 {
            emit("diag_group_commits_per_s", commits / elapsed.as_secs_f64(), "commits/s");
            emit("diag_group_commit_appends_mean", appends / commits, "appends per commit");
            self.report_mean(before, "actors_group_commit_flush_seconds", "", "diag_group_commit_flush");
        }
        self.report_mean(before, "http_request_duration_seconds", "operation=\"RequestBooking\"", "diag_server_RequestBooking");
        for aggregate in ["booking", "course", "payment"] {
            let labels = format!("aggregate=\"{aggregate}\"");
            let (count, sum) = self.delta(before, "actors_command_duration_seconds", &labels);
            if count > 0.0 {
                emit(&format!("diag_commands_{aggregate}_per_s"), count / elapsed.as_secs_f64(), "commands/s");
                emit(&format!("diag_command_{aggregate}_ms_mean"), sum / count * 1e3, "ms");
            }
        }
    }
}
