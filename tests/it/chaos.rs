//! Chaos: the real server binary under a booking load that mixes every test token of the
//! simulated provider with cancellations, killed with SIGKILL at random moments and restarted on
//! the same data directory, round after round. Once it has settled, money and mail must add up:
//! `verify` finds nothing, every charge on the provider's statement is recorded exactly once, no
//! booking is charged twice, every cancelled booking that was charged is refunded, every
//! confirmation went out once to each recipient, and nothing acknowledged is missing.
//!
//! The moments are drawn from a seed printed at the start; `CHAOS_SEED=<n>` replays a run.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use actors::{EventCodec, EventStore, SledStore, SledStoreConfig};
use futures::future::join_all;
use konnektid::domain::booking::BookingEvent;
use konnektid::domain::payment::PaymentEvent;
use konnektid::services::payments::simulated::{SimulatedGateway, TABLE};
use konnektid::services::{EntryKind, PaymentGateway};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::process::{serve, whole_log};

const ADMIN: &str = "chaos-admin";
const ROUNDS: usize = 6;
const WORKERS: usize = 6;
const TOKENS: [&str; 5] = ["tok_visa", "tok_decline", "tok_timeout", "tok_unavailable", "tok_slow"];
/// How long the whole test may wait for a server to start or the system to settle.
const DEADLINE: Duration = Duration::from_secs(60);

/// A small xorshift generator: the moments and the mix need no more than that.
struct Dice(Cell<u64>);

impl Dice {
    fn below(&self, n: u64) -> u64 {
        let mut x = self.0.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.set(x);
        x % n
    }
}

/// A running server process and the address it serves on.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(work: &Path, data_dir: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_konnektid"));
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .current_dir(work)
            .env("KONNEKTID_AUTH_ADMIN_TOKEN", ADMIN)
            .env("KONNEKTID_AUTH_PASSWORD_MEMORY_KIB", "64")
            .env("KONNEKTID_AUTH_PASSWORD_ITERATIONS", "1")
            .env("KONNEKTID_STORAGE_FSYNC", "false")
            .env("KONNEKTID_STORAGE_CACHE_MIB", "16")
            .env("KONNEKTID_SERVER_WORKERS", "1")
            .env("KONNEKTID_PAYMENTS_SIMULATED_SLOW_MS", "100")
            .env("KONNEKTID_RUNTIME_HANDLER_FIRST_BACKOFF_MS", "10")
            .env("KONNEKTID_LOG_LEVEL", "warn,konnektid::server=info");
        let (child, address) = serve(&mut command, "server", DEADLINE);
        Self { child, base: format!("http://{address}/graphql") }
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the server is gone");
    }
}

/// What the server acknowledged: requested bookings and their token, acknowledged cancellations.
#[derive(Default)]
struct Acknowledged {
    bookings: BTreeMap<Uuid, &'static str>,
    cancelled: BTreeSet<Uuid>,
}

fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(20)).finish()
}

/// `data` of a GraphQL request; `None` when the server did not answer or answered with errors.
async fn graphql(client: &awc::Client, base: &str, query: &str, variables: Value, token: Option<&str>) -> Option<Value> {
    let mut request = client.post(base);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send_json(&json!({ "query": query, "variables": variables })).await.ok()?;
    let body: Value = response.json().limit(16 << 20).await.ok()?;
    body.get("errors").is_none().then(|| body["data"].clone())
}

async fn must(client: &awc::Client, base: &str, query: &str, variables: Value, token: Option<&str>) -> Value {
    graphql(client, base, query, variables, token).await.unwrap_or_else(|| panic!("{query} failed"))
}

/// A teacher with two published courses and a few learners; answers the courses and the
/// learners' tokens.
async fn market(client: &awc::Client, base: &str) -> (Vec<String>, Vec<String>) {
    let register = "mutation($input: RegisterMemberInput!) { registerMember(input: $input) { token } }";
    let mut tokens = Vec::new();
    for name in ["teacher", "ann", "bob", "cem", "dana"] {
        let input = json!({ "email": format!("{name}@example.org"), "displayName": name, "password": "correct horse battery" });
        let data = must(client, base, register, json!({ "input": input }), None).await;
        tokens.push(data["registerMember"]["token"].as_str().expect("a token").to_owned());
    }
    let teacher = tokens.remove(0);
    let create = "mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } } }";
    let publish = "mutation($id: ID!) { publishCourse(input: { id: $id }) { position } }";
    let mut courses = Vec::new();
    for title in ["Sourdough", "Rye"] {
        let input = json!({ "title": title, "description": "Bread.", "category": "Cooking", "priceCents": 2_500, "capacity": 10_000 });
        let data = must(client, base, create, json!({ "input": input }), Some(&teacher)).await;
        let id = data["createCourse"]["course"]["id"].as_str().expect("an id").to_owned();
        must(client, base, publish, json!({ "id": id }), Some(&teacher)).await;
        courses.push(id);
    }
    (courses, tokens)
}

/// Books and cancels until told to stop; remembers what the server acknowledged.
async fn load(base: &str, courses: &[String], learners: &[String], dice: &Dice, stop: &Cell<bool>, acked: &RefCell<Acknowledged>) {
    let client = client();
    let book = "mutation($input: RequestBookingInput!) { requestBooking(input: $input) { booking { id } } }";
    let cancel = "mutation($id: ID!) { cancelBooking(input: { id: $id }) { booking { status } } }";
    while !stop.get() {
        let token = TOKENS[dice.below(TOKENS.len() as u64) as usize];
        let learner = &learners[dice.below(learners.len() as u64) as usize];
        let course = &courses[dice.below(courses.len() as u64) as usize];
        let input = json!({ "courseId": course, "paymentMethod": token });
        let Some(data) = graphql(&client, base, book, json!({ "input": input }), Some(learner)).await else {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let id: Uuid = data["requestBooking"]["booking"]["id"].as_str().and_then(|id| id.parse().ok()).expect("a booking id");
        acked.borrow_mut().bookings.insert(id, token);
        if dice.below(4) == 0 && graphql(&client, base, cancel, json!({ "id": id }), Some(learner)).await.is_some() {
            acked.borrow_mut().cancelled.insert(id);
        }
    }
}

/// Waits until every subscriber has applied the head, twice in a row with the head unchanged,
/// and nothing is parked.
async fn settle(base: &str) {
    let client = client();
    let (started, mut settled_at) = (Instant::now(), None::<String>);
    loop {
        assert!(started.elapsed() < DEADLINE, "the system did not settle");
        let data = must(&client, base, "{ projections { name position lag parked } }", json!({}), None).await;
        let statuses = data["projections"].as_array().expect("a list").clone();
        assert!(statuses.iter().all(|s| s["parked"] == 0), "a subscriber parked an event: {statuses:#?}");
        let position = statuses[0]["position"].as_str().unwrap_or_default().to_owned();
        let caught_up = statuses.iter().all(|s| s["lag"] == "0" && s["position"] == position.as_str());
        if caught_up && settled_at.as_deref() == Some(position.as_str()) {
            return;
        }
        settled_at = caught_up.then_some(position);
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn money_and_mail_add_up_after_a_server_is_killed_again_and_again_under_load() {
    let started = Instant::now();
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |elapsed| elapsed.as_nanos() as u64) | 1
    });
    eprintln!("chaos seed {seed} (CHAOS_SEED={seed} replays it)");
    let dice = Dice(Cell::new(seed));
    let work = tempfile::tempdir().expect("a temporary directory");
    let data_dir: PathBuf = work.path().join("data");
    let acked = RefCell::new(Acknowledged::default());

    let server = Server::start(work.path(), &data_dir);
    let (courses, learners) = market(&client(), &server.base).await;
    let mut server = Some(server);
    for _ in 0..ROUNDS {
        let mut running = server.take().unwrap_or_else(|| Server::start(work.path(), &data_dir));
        let (stop, base) = (Cell::new(false), running.base.clone());
        let workers = join_all((0..WORKERS).map(|_| load(&base, &courses, &learners, &dice, &stop, &acked)));
        let kill_after = Duration::from_millis(150 + dice.below(600));
        let killer = async {
            actix_rt::time::sleep(kill_after).await;
            running.kill();
            stop.set(true);
        };
        futures::future::join(workers, killer).await;
    }
    let mut running = Server::start(work.path(), &data_dir);
    settle(&running.base).await;
    running.kill();
    let acked = acked.into_inner();
    eprintln!("{} bookings and {} cancellations acknowledged over {ROUNDS} kills", acked.bookings.len(), acked.cancelled.len());
    assert!(acked.bookings.len() >= ROUNDS, "the load got through between the kills");

    let verified = Command::new(env!("CARGO_BIN_EXE_konnektid"))
        .args(["verify", "--data-dir"])
        .arg(&data_dir)
        .current_dir(work.path())
        .env("KONNEKTID_STORAGE_FSYNC", "false")
        .env("KONNEKTID_LOG_LEVEL", "warn")
        .output()
        .expect("verify runs");
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && report.starts_with("no violations"), "verify found: {report}");

    let store = SledStore::open(data_dir.join("db"), SledStoreConfig { fsync: false, ..SledStoreConfig::default() }).expect("the store");
    let events = whole_log(&store).await;
    let provider = SimulatedGateway::new(store.records(TABLE).expect("the provider's records"), Duration::ZERO);
    let statement = provider.statement(None, 0, usize::MAX).await.expect("the statement");
    let (bookings, payments) = (EventCodec::<BookingEvent>::default(), EventCodec::<PaymentEvent>::default());
    let mut captures: BTreeMap<String, usize> = BTreeMap::new();
    let mut refunded = BTreeSet::new();
    let mut requested = BTreeSet::new();
    let mut cancelled = BTreeSet::new();
    let mut confirmations = Vec::new();
    for event in &events {
        let id = event.stream.aggregate_id;
        if event.stream.aggregate_type == "booking" {
            match bookings.decode(event).expect("a booking event") {
                BookingEvent::BookingRequested { .. } => {
                    requested.insert(id);
                }
                BookingEvent::BookingCancelled { .. } => {
                    cancelled.insert(id);
                }
                BookingEvent::BookingConfirmed { .. } => confirmations.push(event.event_id),
                _ => {}
            }
        } else if event.stream.aggregate_type == "payment" {
            match payments.decode(event).expect("a payment event") {
                PaymentEvent::PaymentCaptured { provider_reference, .. } => *captures.entry(provider_reference).or_default() += 1,
                PaymentEvent::PaymentRefunded { .. } => {
                    refunded.insert(id);
                }
                _ => {}
            }
        }
    }
    let charges: Vec<_> = statement.iter().filter(|entry| entry.kind == EntryKind::Charge).collect();
    let mut charged: BTreeMap<Uuid, usize> = BTreeMap::new();
    for charge in &charges {
        assert_eq!(captures.get(&charge.reference), Some(&1), "the charge {} is recorded exactly once", charge.reference);
        *charged.entry(charge.booking_id).or_default() += 1;
    }
    assert!(charged.values().all(|&count| count == 1), "no booking is charged twice: {charged:?}");
    for booking in cancelled.iter().filter(|booking| charged.contains_key(booking)) {
        let refund = statement.iter().any(|entry| entry.kind == EntryKind::Refund && entry.booking_id == *booking);
        assert!(refund && refunded.contains(booking), "the cancelled booking {booking} got its money back");
    }
    for booking in acked.bookings.keys() {
        assert!(requested.contains(booking), "the acknowledged booking {booking} is in the log");
    }
    for booking in &acked.cancelled {
        assert!(cancelled.contains(booking), "the acknowledged cancellation of {booking} is in the log");
    }
    let outbox = data_dir.join("outbox");
    let sent: BTreeSet<String> = std::fs::read_dir(&outbox)
        .expect("the outbox")
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml") && !name.starts_with('.'))
        .collect();
    for confirmation in &confirmations {
        for role in ["learner", "teacher"] {
            let name = format!("{}.eml", Uuid::new_v5(confirmation, role.as_bytes()));
            assert!(sent.contains(&name), "the {role} was told of the confirmation {confirmation}");
        }
    }
    let confirmation_mails = sent
        .iter()
        .filter(|name| {
            std::fs::read_to_string(outbox.join(name)).is_ok_and(|mail| mail.contains("is confirmed") || mail.contains("New booking"))
        })
        .count();
    assert_eq!(confirmation_mails, 2 * confirmations.len(), "one confirmation per recipient, no more");
    eprintln!("{} charges, {} confirmations checked in {:?}", charges.len(), confirmations.len(), started.elapsed());
}
