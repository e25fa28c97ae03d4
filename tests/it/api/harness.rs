//! A real server on port 0 and a temporary data directory, and a client that speaks to it over
//! HTTP the way the frontend does. Nothing here reaches into the application: every check goes
//! through the API, except the e-mail outbox, which is a directory by design.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::dev::ServerHandle;
use konnektid::app::App;
use konnektid::config::Config;
use serde_json::{json, Value};

/// The admin's bearer token in every test server.
pub const ADMIN: &str = "test-admin";
/// The password every test member registers with.
pub const PASSWORD: &str = "correct horse battery";
/// How long a test waits for something eventual before it fails.
const DEADLINE: Duration = Duration::from_secs(15);
/// How often it looks meanwhile.
const POLL: Duration = Duration::from_millis(10);

/// One running server and what it needs to be stopped and started again.
struct Running {
    app: Arc<App>,
    handle: ServerHandle,
    task: actix_rt::task::JoinHandle<std::io::Result<()>>,
    base: String,
}

/// The server under test. Start it inside `#[actix_rt::test]`.
pub struct TestServer {
    data: tempfile::TempDir,
    /// Changes a test makes to the harness's configuration, on every (re)start.
    adjust: fn(&mut Config),
    running: Option<Running>,
    client: awc::Client,
    _watchdog: Watchdog,
}

/// How long one test may run before the whole run is aborted.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Aborts the test run if a test outlives [`WATCHDOG`]. A server stuck in a deadlock can block the
/// test's own thread (the application's actors run on it), where no async timeout fires: better a
/// loud, quick failure than a CI run that hangs until it is killed.
struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn arm() -> Self {
        let (disarm, disarmed) = std::sync::mpsc::channel::<()>();
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = disarmed.recv_timeout(WATCHDOG) {
                // Straight to stderr: the test harness would capture `eprintln!` and lose it.
                let message = format!("\n{test} is still running after {WATCHDOG:?}: the server is stuck (deadlock?); aborting\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), message.as_bytes());
                std::process::abort();
            }
        });
        Self { _disarm: disarm }
    }
}

fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(60)).finish()
}

fn config(data_dir: PathBuf) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = data_dir;
    config.storage.fsync = false;
    config.storage.cache_mib = 16;
    config.auth.admin_token = ADMIN.to_owned();
    config.auth.password_memory_kib = 64;
    config.auth.password_iterations = 1;
    config.server.workers = 2;
    config.server.shutdown_timeout_secs = 5;
    config
}

/// Opens the application on `config`'s directory, retrying while the previous instance's
/// database lock is still held.
async fn open(config: &Config) -> Arc<App> {
    let started = Instant::now();
    loop {
        match App::open(config).await {
            Ok(app) => return app,
            Err(error) if started.elapsed() < Duration::from_secs(5) => {
                tracing::debug!(%error, "the data directory is still busy; retrying");
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the application did not start: {error}"),
        }
    }
}

async fn serve(config: &Config) -> Running {
    let app = open(config).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let server = konnektid::server::build(app.clone(), listener).expect("the server builds");
    let handle = server.handle();
    let task = actix_rt::spawn(server);
    Running { app, handle, task, base }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server on the harness's configuration as changed by `adjust`.
    pub async fn start_with(adjust: fn(&mut Config)) -> Self {
        let watchdog = Watchdog::arm();
        let data = tempfile::tempdir().expect("a temporary directory");
        let running = serve(&Self::config(data.path().to_owned(), adjust)).await;
        Self { data, adjust, running: Some(running), client: client(), _watchdog: watchdog }
    }

    fn config(data_dir: PathBuf, adjust: fn(&mut Config)) -> Config {
        let mut config = config(data_dir);
        adjust(&mut config);
        config
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the server is running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running().base)
    }

    /// The WebSocket address of the API.
    pub fn ws_url(&self) -> String {
        self.url("/graphql").replacen("http://", "ws://", 1)
    }

    pub fn client(&self) -> &awc::Client {
        &self.client
    }

    /// Stops the server gracefully and the application with it, then opens both again on the
    /// same data directory (on another port).
    pub async fn restart(&mut self) {
        // Idle keep-alive connections would hold the graceful stop up.
        self.client = client();
        let Running { app, handle, task, .. } = self.running.take().expect("the server is running");
        handle.stop(true).await;
        task.await.expect("the server task finished").expect("the server stopped cleanly");
        app.shutdown().await;
        drop(app);
        self.running = Some(serve(&Self::config(self.data.path().to_owned(), self.adjust)).await);
    }

    /// POSTs a GraphQL request; answers the whole response body (`data` and `errors`).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self.client.post(self.url("/graphql"));
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = request.send_json(&json!({ "query": query, "variables": variables })).await.expect("the server answers");
        assert_eq!(response.status().as_u16(), 200, "GraphQL requests are answered with HTTP 200");
        response.json::<Value>().limit(16 << 20).await.expect("a JSON response")
    }

    /// Like [`graphql`](Self::graphql), for requests that must succeed: answers `data`.
    pub async fn data(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let response = self.graphql(query, variables, token).await;
        assert!(response.get("errors").is_none(), "unexpected errors for {query}: {response:#}");
        response["data"].clone()
    }

    /// POSTs `body` as it is, with `headers`; answers the HTTP status and the body as JSON.
    pub async fn raw_post(&self, body: impl Into<Vec<u8>>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.client.post(self.url("/graphql"));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let mut response = request.send_body(body.into()).await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.body().limit(16 << 20).await.expect("a body");
        let json = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
        (status, json)
    }

    /// GETs `path`; answers the HTTP status, the content type and the body.
    pub async fn get(&self, path: &str) -> (u16, String, String) {
        let mut response = self.client.get(self.url(path)).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = response.body().limit(16 << 20).await.expect("a body");
        (status, content_type, String::from_utf8_lossy(&body).into_owned())
    }

    /// Registers a member `email`; answers its token and id.
    pub async fn register(&self, email: &str, name: &str) -> (String, String) {
        let data = self.data(REGISTER, json!({ "input": { "email": email, "displayName": name, "password": PASSWORD } }), None).await;
        let payload = &data["registerMember"];
        (text(&payload["token"]), text(&payload["member"]["id"]))
    }

    /// Registers `count` members at once, `<prefix>-<n>@example.org`; answers their tokens.
    pub async fn register_many(&self, prefix: &str, count: usize) -> Vec<String> {
        let emails: Vec<String> = (0..count).map(|n| format!("{prefix}-{n}@example.org")).collect();
        let members = futures::future::join_all(emails.iter().map(|email| self.register(email, prefix))).await;
        members.into_iter().map(|(token, _)| token).collect()
    }

    /// A draft course of the member behind `token`; answers its id.
    pub async fn create_course(&self, token: &str, capacity: i32, price_cents: i32) -> String {
        let input = json!({
            "title": "Sourdough basics", "description": "Bake your first loaf.", "category": "Cooking",
            "city": "Utrecht", "priceCents": price_cents, "capacity": capacity,
        });
        let data = self.data(CREATE_COURSE, json!({ "input": input }), Some(token)).await;
        text(&data["createCourse"]["course"]["id"])
    }

    /// A published course of the member behind `token`; answers its id.
    pub async fn create_published_course(&self, token: &str, capacity: i32, price_cents: i32) -> String {
        let id = self.create_course(token, capacity, price_cents).await;
        let data = self.data(PUBLISH_COURSE, json!({ "input": { "id": id } }), Some(token)).await;
        assert_eq!(data["publishCourse"]["course"]["status"], "PUBLISHED");
        id
    }

    /// Requests a booking of `course_id` as the member behind `token`; answers the payload
    /// (`booking { id status }`, `position`, `events { correlationId }`).
    pub async fn request_booking(&self, token: &str, course_id: &str, payment_method: &str) -> Value {
        let input = json!({ "courseId": course_id, "paymentMethod": payment_method });
        self.data(REQUEST_BOOKING, json!({ "input": input }), Some(token)).await["requestBooking"].clone()
    }

    /// A booking as `token` sees it, with its course's seats and its payment.
    pub async fn booking(&self, token: &str, booking_id: &str) -> Value {
        self.data(BOOKING, json!({ "id": booking_id }), Some(token)).await["booking"].clone()
    }

    pub async fn stats(&self) -> Value {
        let query = "{ stats { members coursesPublished bookingsConfirmed bookingsCancelled revenue { amountCents currency } } }";
        self.data(query, json!({}), None).await["stats"].clone()
    }

    /// How many events the log holds, asked as the admin.
    pub async fn event_count(&self) -> usize {
        let mut count = 0;
        loop {
            let from = (count + 1).to_string();
            let page = self
                .data("query($from: String) { events(fromPosition: $from, first: 100) { position } }", json!({ "from": from }), Some(ADMIN))
                .await;
            let length = page["events"].as_array().expect("a list").len();
            count += length;
            if length < 100 {
                return count;
            }
        }
    }

    /// Waits until everything has settled: every subscriber of the log (read models, process
    /// managers, e-mail) has applied the head, twice in a row with the head unchanged. Fails on
    /// a parked (dead-lettered) event.
    pub async fn wait_settled(&self) {
        let mut settled_at: Option<String> = None;
        let mut last = Value::Null;
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            let data = self.data("{ projections { name position lag state parked } }", json!({}), None).await;
            let statuses = data["projections"].as_array().expect("a list").clone();
            assert!(!statuses.is_empty(), "no subscribers are listed");
            assert!(statuses.iter().all(|s| s["parked"] == 0), "a subscriber parked an event: {statuses:#?}");
            let position = statuses[0]["position"].as_str().expect("a position").to_owned();
            let caught_up = statuses.iter().all(|s| s["lag"] == "0" && s["position"] == position.as_str());
            if caught_up && settled_at.as_deref() == Some(position.as_str()) {
                return;
            }
            settled_at = caught_up.then_some(position);
            last = Value::Array(statuses);
            actix_rt::time::sleep(POLL).await;
        }
        panic!("the subscribers did not settle within {DEADLINE:?}: {last:#}");
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The outbox's messages: file name and last modification.
    pub fn outbox(&self) -> BTreeMap<String, SystemTime> {
        let Ok(entries) = std::fs::read_dir(self.data.path().join("outbox")) else { return BTreeMap::new() };
        entries
            .map(|entry| entry.expect("an outbox entry"))
            .map(|entry| (entry.file_name().to_string_lossy().into_owned(), entry))
            .filter(|(name, _)| name.ends_with(".eml") && !name.starts_with('.'))
            .map(|(name, entry)| (name, entry.metadata().and_then(|m| m.modified()).expect("a modification time")))
            .collect()
    }

    /// The text of each outbox message.
    pub fn mails(&self) -> Vec<String> {
        let dir = self.data.path().join("outbox");
        self.outbox().keys().map(|name| std::fs::read_to_string(dir.join(name)).expect("a readable message")).collect()
    }
}

/// A JSON string's text.
pub fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_owned()
}

/// `errors[0].extensions.code` of a response, or "" without errors.
pub fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

/// Asserts that `response` failed with `expected` (and, as every error must, a message).
#[track_caller]
pub fn assert_code(response: &Value, expected: &str) {
    assert_eq!(code(response), expected, "expected {expected}: {response:#}");
    let message = response["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error without a message: {response:#}");
}

pub const REGISTER: &str = "mutation($input: RegisterMemberInput!) {
  registerMember(input: $input) { token position member { id email displayName } }
}";

pub const CREATE_COURSE: &str = "mutation($input: CreateCourseInput!) {
  createCourse(input: $input) { position course { id status version title } events { position type } }
}";

pub const PUBLISH_COURSE: &str = "mutation($input: CourseCommandInput!) {
  publishCourse(input: $input) { position course { id status version } }
}";

pub const REQUEST_BOOKING: &str = "mutation($input: RequestBookingInput!) {
  requestBooking(input: $input) { position booking { id status } events { eventId type correlationId } }
}";

pub const CANCEL_BOOKING: &str = "mutation($input: CancelBookingInput!) {
  cancelBooking(input: $input) { position booking { id status reason } }
}";

pub const BOOKING: &str = "query($id: ID!) {
  booking(id: $id) {
    id status reason priceCents currency version
    course { id seatsTaken seatsAvailable }
    learner { id }
    payment { bookingId status amountCents currency failureReason }
  }
}";
