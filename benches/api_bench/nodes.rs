//! `--only nodes`: the booking flow on several nodes. In one run, each setup on a fresh store:
//! one node on the embedded sled store, one node on PostgreSQL, and two nodes on one PostgreSQL
//! log with both taking requests (half the connections each). Each is seeded alike (teachers,
//! courses, learners over HTTP), then `flow_bookings` bookings on random courses (bookings
//! confirmed per second, first request to last confirmation), then as many on one single course
//! requested through every node at once: conflicts and course reloads per booking, from
//! `/metrics`; then the teacher's `updateCourse`s of that course through every node at once,
//! where two nodes' live copies of one course do write it concurrently. The nodes are servers in this process, so they share its metrics: the figures
//! are the cluster's. Skipped, with one line, where no database answers at
//! `KONNEKTID_TEST_POSTGRES_URL` (default: the local test database).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use actors::testing::postgres::{test_url, TestSchema};
use futures::StreamExt;
use konnektid::app::App;
use konnektid::config::Config;
use serde_json::json;

use super::driver::{load, Workload};
use super::metrics::Metrics;
use super::seed::{body, create_course, register, Catalogue, Learner, REQUEST_BOOKING};
use super::settle::{settle, Status};
use super::{emit, Options};

const TEACHERS: usize = 10;
const COURSES: usize = 100;
const LEARNERS: usize = 100;

/// The nodes of one setup, serving.
struct Setup {
    label: &'static str,
    apps: Vec<Arc<App>>,
    bases: Vec<String>,
    servers: Vec<actix_web::dev::ServerHandle>,
    _schema: Option<TestSchema>,
}

impl Setup {
    async fn start(label: &'static str, nodes: usize, schema: Option<TestSchema>, dir: &Path) -> Self {
        let mut setup = Setup { label, apps: Vec::new(), bases: Vec::new(), servers: Vec::new(), _schema: None };
        for node in 0..nodes {
            let mut config = Config::default();
            config.storage.data_dir = dir.join(format!("{label}-{node}"));
            config.storage.fsync = true;
            config.auth.admin_token = super::ADMIN_TOKEN.to_owned();
            config.auth.password_memory_kib = 64;
            config.auth.password_iterations = 1;
            config.node.id = format!("{label}-{node}");
            if let Some(schema) = &schema {
                config.store.url = test_url();
                config.store.schema = schema.name().to_owned();
            }
            let app = App::open(&config).await.expect("open a node");
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a node's port");
            setup.bases.push(format!("http://{}", listener.local_addr().expect("the node's address")));
            let server = konnektid::server::build(app.clone(), listener).expect("build a node's server");
            setup.servers.push(server.handle());
            actix_rt::spawn(server);
            setup.apps.push(app);
        }
        setup._schema = schema;
        setup
    }

    fn graphql(&self, node: usize) -> String {
        format!("{}/graphql", self.bases[node])
    }

    async fn stop(self) {
        for server in &self.servers {
            server.stop(true).await;
        }
        for app in &self.apps {
            app.shutdown().await;
        }
    }
}

pub async fn run(options: &Options, dir: &Path) {
    let Some(first) = TestSchema::create("api_bench_nodes").await else { return };
    let second = TestSchema::create("api_bench_nodes").await.expect("the database answered a moment ago");
    for (label, nodes, schema) in [("nodes_sled_1", 1, None), ("nodes_pg_1", 1, Some(first)), ("nodes_pg_2", 2, Some(second))] {
        let setup = Setup::start(label, nodes, schema, dir).await;
        let client = awc::Client::builder().timeout(std::time::Duration::from_secs(60)).finish();
        let (catalogue, teachers) = seed(&client, &setup).await;
        let bookings = options.durations.flow_bookings;
        flow(options, &client, &setup, catalogue.clone(), bookings, "").await;
        let one_course = Arc::new(Catalogue {
            courses: catalogue.courses[..1].to_vec(),
            request_bodies: catalogue.request_bodies[..1].to_vec(),
            learners: catalogue.learners.iter().map(|l| Learner { id: l.id.clone(), bearer: l.bearer.clone() }).collect(),
            search_bodies: Vec::new(),
            course_bodies: Vec::new(),
            booking_bodies: Vec::new(),
        });
        flow(options, &client, &setup, one_course, bookings / 2, "_one_course").await;
        course_race(&client, &setup, &teachers[0], &catalogue.courses[0], bookings / 2).await;
        setup.stop().await;
    }
}

/// Teachers, courses and learners, registered and created through the nodes in turn; answers
/// the catalogue and the teachers' tokens (course `i` is teacher `i % TEACHERS`'s).
async fn seed(client: &awc::Client, setup: &Setup) -> (Arc<Catalogue>, Vec<String>) {
    let url = |i: usize| setup.graphql(i % setup.bases.len());
    let teachers: Vec<(String, String)> = futures::stream::iter(0..TEACHERS)
        .map(|i| {
            let url = url(i);
            async move { register(client, &url, format!("teacher{i}@bench.example"), format!("Teacher {i}")).await }
        })
        .buffered(16)
        .collect()
        .await;
    let courses: Vec<String> = futures::stream::iter(0..COURSES)
        .map(|i| {
            let (url, teacher) = (url(i), &teachers[i % TEACHERS].1);
            async move { create_course(client, &url, teacher, i).await }
        })
        .buffered(16)
        .collect()
        .await;
    let learners: Vec<Learner> = futures::stream::iter(0..LEARNERS)
        .map(|i| {
            let url = url(i);
            async move { register(client, &url, format!("learner{i}@bench.example"), format!("Learner {i}")).await }
        })
        .buffered(16)
        .map(|(id, token)| Learner { id, bearer: Arc::from(format!("Bearer {token}")) })
        .collect()
        .await;
    let catalogue = Arc::new(Catalogue {
        request_bodies: courses.iter().map(|id| body(REQUEST_BOOKING, json!({ "course": id }))).collect(),
        courses,
        learners,
        search_bodies: Vec::new(),
        course_bodies: Vec::new(),
        booking_bodies: Vec::new(),
    });
    (catalogue, teachers.into_iter().map(|(_, token)| token).collect())
}

/// `updates` renames of one course by its teacher, 32 at a time, through the nodes in turn:
/// updates per second and how often a node's live course was behind the other's commit.
async fn course_race(client: &awc::Client, setup: &Setup, teacher: &str, course: &str, updates: usize) {
    const UPDATE: &str = "mutation Update($input: UpdateCourseInput!) { updateCourse(input: $input) { position } }";
    let prefix = format!("{}_course_updates", setup.label);
    let before = Metrics::scrape(client, &setup.bases[0]).await;
    let started = Instant::now();
    let sent = futures::stream::iter(0..updates)
        .map(|i| {
            let (url, bearer) = (setup.graphql(i % setup.bases.len()), format!("Bearer {teacher}"));
            let input = body(UPDATE, json!({ "input": { "id": course, "title": format!("Sourdough, take {i}") } }));
            async move {
                let request = client.post(url).insert_header(("Authorization", bearer)).insert_header(("Content-Type", "application/json"));
                let mut response = request.send_body(input).await.ok()?;
                let answer = response.body().limit(1 << 20).await.ok()?;
                (!answer.windows(9).any(|w| w == b"\"errors\"")).then_some(())
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<Option<()>>>()
        .await;
    let elapsed = started.elapsed();
    let done = sent.iter().flatten().count();
    emit(&format!("{prefix}_per_s"), done as f64 / elapsed.as_secs_f64(), "updateCourse/s (all nodes, 32 in flight)");
    emit(&format!("{prefix}_errors"), (updates - done) as f64, "requests");
    if let (Some(before), Some(after)) = (before, Metrics::scrape(client, &setup.bases[0]).await) {
        let course = "aggregate=\"course\"";
        let per_update = |name: &str| (after.value(name, course) - before.value(name, course)) / done.max(1) as f64;
        emit(&format!("{prefix}_conflict_retries_per_update"), per_update("actors_conflict_retries_total"), "reload-and-retry per update");
        emit(&format!("{prefix}_course_reloads_per_update"), per_update("actors_reloads_total"), "course reloads per update");
    }
}

/// `bookings` requests split over the nodes (half the connections each for two), then the wait
/// until every one is decided and every subscriber is at lag 0 on the first node.
async fn flow(options: &Options, client: &awc::Client, setup: &Setup, catalogue: Arc<Catalogue>, bookings: usize, suffix: &str) {
    let prefix = format!("{}{suffix}", setup.label);
    let first = setup.graphql(0);
    let before = Status::read(client, &first).await;
    let metrics_before = Metrics::scrape(client, &setup.bases[0]).await;
    let nodes = setup.bases.len();
    let share = Options { connections: (options.connections / nodes).max(1), ..options.clone() };
    let started = Instant::now();
    let loads = (0..nodes).map(|node| {
        let (share, workload, url) = (&share, Workload::Writes(catalogue.clone()), setup.graphql(node));
        async move { load(share, workload, &url, options.durations.settle_timeout, bookings / nodes).await }
    });
    let outcomes = futures::future::join_all(loads).await;
    let requested: usize = outcomes.iter().map(|outcome| outcome.count()).sum();
    let errors: u64 = outcomes.iter().map(|outcome| outcome.errors).sum();
    let settled = settle(client, &first, &before, requested as u64, options.durations.settle_timeout).await;
    if !settled.done {
        eprintln!("api_bench: {prefix} had not settled after {} s", options.durations.settle_timeout.as_secs());
    }
    let decided = settled.decided_at.unwrap_or_else(Instant::now).duration_since(started);
    let confirmed = settled.status.confirmed.saturating_sub(before.confirmed);
    emit(&format!("{prefix}_bookings_requested"), requested as f64, "bookings");
    emit(&format!("{prefix}_request_errors"), errors as f64, "requests");
    emit(&format!("{prefix}_bookings_confirmed"), confirmed as f64, "bookings");
    emit(
        &format!("{prefix}_bookings_confirmed_per_s"),
        confirmed as f64 / decided.as_secs_f64(),
        "bookings/s (first request to last confirmation)",
    );
    let requesting = outcomes.iter().map(|outcome| outcome.elapsed).max().unwrap_or_default();
    emit(&format!("{prefix}_requests_per_s"), requested as f64 / requesting.as_secs_f64(), "requestBooking/s (all nodes)");
    if let (Some(before), Some(after)) = (metrics_before, Metrics::scrape(client, &setup.bases[0]).await) {
        let per_booking = |name: &str, labels: &str| (after.value(name, labels) - before.value(name, labels)) / confirmed.max(1) as f64;
        let conflicts = ["booking", "course", "payment", "member"]
            .iter()
            .map(|aggregate| per_booking("actors_conflict_retries_total", &format!("aggregate=\"{aggregate}\"")))
            .sum::<f64>();
        emit(&format!("{prefix}_conflict_retries_per_booking"), conflicts, "reload-and-retry after another writer's commit");
        let loads =
            per_booking("actors_rehydrations_total", "aggregate=\"course\"") + per_booking("actors_reloads_total", "aggregate=\"course\"");
        emit(&format!("{prefix}_course_loads_per_booking"), loads, "course state read from the store (actor starts and reloads)");
    }
}
