//! `konnektid verify` end to end: a market built by the application on a temporary data
//! directory, violations planted by appending raw events to its store while nothing runs, then
//! the real binary to find them, repair them, and find nothing left.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::{
    Aggregate, CommandContext, EventCodec, EventStore, ExpectedVersion, RecordedEvent, SledStore, SledStoreConfig, StreamId, WaitFor,
};
use chrono::Utc;
use konnektid::app::{App, Caller, NewCourse, NewMember, OpenOptions};
use konnektid::config::Config;
use konnektid::domain::booking::{Booking, BookingEvent};
use konnektid::domain::course::{Course, CourseEvent};
use konnektid::domain::member::{Member, MemberEvent};
use konnektid::domain::payment::{Payment, PaymentEvent};
use konnektid::services::payments::simulated::{SimulatedGateway, TABLE};
use konnektid::services::{ChargeRequest, PaymentGateway};
use uuid::Uuid;

fn config(data_dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = data_dir.to_owned();
    config.storage.fsync = false;
    config.storage.cache_mib = 16;
    config.auth.password_memory_kib = 64;
    config.auth.password_iterations = 1;
    config.log.level = "warn".to_owned();
    config
}

/// Opens the application, retrying while the previous holder's database lock is released.
async fn open(config: &Config, options: OpenOptions) -> Arc<App> {
    let started = Instant::now();
    loop {
        match App::open_with(config, options).await {
            Ok(app) => return app,
            Err(_) if started.elapsed() < Duration::from_secs(5) => actix_rt::time::sleep(Duration::from_millis(20)).await,
            Err(error) => panic!("the application did not start: {error}"),
        }
    }
}

async fn close(app: Arc<App>) {
    app.shutdown().await;
    drop(app);
}

/// Opens the store alone (nothing reacts to what is appended), with the same retry.
async fn open_store(data_dir: &Path) -> SledStore {
    let started = Instant::now();
    loop {
        match SledStore::open(data_dir.join("db"), SledStoreConfig { fsync: false, ..SledStoreConfig::default() }) {
            Ok(store) => return store,
            Err(_) if started.elapsed() < Duration::from_secs(5) => actix_rt::time::sleep(Duration::from_millis(20)).await,
            Err(error) => panic!("the store did not open: {error}"),
        }
    }
}

/// Waits until every subscriber is at the head and the head stopped moving.
async fn settle(app: &App) {
    loop {
        let head = app.head().await.expect("the head");
        app.runtime().subscribers().wait_for(head, Duration::from_secs(10), WaitFor::All).await.expect("the subscribers settle");
        if app.head().await.expect("the head") == head {
            return;
        }
    }
}

async fn member(app: &App, name: &str) -> Uuid {
    let input = NewMember {
        email: format!("{name}@example.org"),
        display_name: name.to_owned(),
        password: "correct horse battery".to_owned(),
        city: None,
    };
    app.register_member(input, None).await.expect("registered").1.id
}

async fn course(app: &App, teacher: Uuid) -> Uuid {
    let input = NewCourse {
        title: "Bread baking".to_owned(),
        description: "Sourdough from scratch".to_owned(),
        category: "cooking".to_owned(),
        city: None,
        price_cents: 2_500,
        currency: "EUR".to_owned(),
        capacity: 10,
    };
    let course = app.create_course(Caller::Member(teacher), input, None).await.expect("created").id;
    app.publish_course(Caller::Member(teacher), course, None, None).await.expect("published");
    course
}

async fn book(app: &App, learner: Uuid, course: Uuid) -> Uuid {
    app.request_booking(Caller::Member(learner), course, "tok_visa".to_owned(), None).await.expect("requested").id
}

/// Appends one domain event to aggregate `id`'s stream, at its current version.
async fn plant<A: Aggregate>(store: &SledStore, id: Uuid, event: A::Event) {
    let stream = StreamId::new(A::TYPE, id);
    let version = store.stream_version(&stream).await.expect("the stream's version");
    let encoded = EventCodec::<A::Event>::default().encode(&event).expect("the event encodes");
    let appended = store.append(&stream, ExpectedVersion::Exact(version), vec![encoded], &CommandContext::new_request()).await;
    appended.expect("the store works").expect("no concurrent writer");
}

fn requested(learner_id: Uuid, course_id: Uuid, teacher_id: Uuid) -> BookingEvent {
    BookingEvent::BookingRequested {
        learner_id,
        course_id,
        teacher_id,
        price_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
        requested_at: Utc::now(),
    }
}

/// Runs the real binary on the data directory; answers its exit code and standard output. Sled
/// lets go of the directory's lock a moment after the last handle is dropped: while the binary
/// finds the directory in use, it runs again.
fn konnektid(data_dir: &Path, args: &[&str]) -> (i32, String) {
    let started = Instant::now();
    loop {
        let Output { status, stdout, stderr } = std::process::Command::new(env!("CARGO_BIN_EXE_konnektid"))
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            // No config.toml there: built-in defaults, overridden below.
            .current_dir(data_dir)
            .env("KONNEKTID_STORAGE_FSYNC", "false")
            .env("KONNEKTID_STORAGE_CACHE_MIB", "16")
            .env("KONNEKTID_LOG_LEVEL", "warn")
            .output()
            .expect("the binary runs");
        let (stdout, stderr) = (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr));
        if stderr.contains("is in use") && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        eprintln!("$ konnektid {}\n{stdout}{stderr}", args.join(" "));
        return (status.code().expect("an exit code"), stdout);
    }
}

/// Every event of the log.
async fn all_events(data_dir: &Path) -> Vec<RecordedEvent> {
    let store = open_store(data_dir).await;
    store.read_all(1, 100_000, None).await.expect("the log")
}

#[actix_rt::test]
async fn it_should_find_and_repair_each_kind_of_violation() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path();
    let config = config(dir);

    let app = open(&config, OpenOptions::default()).await;
    let teacher = member(&app, "teacher").await;
    let course = course(&app, teacher).await;
    let mut bookings = Vec::new();
    for name in ["ann", "bob", "cem", "dana"] {
        let learner = member(&app, name).await;
        bookings.push((book(&app, learner, course).await, learner));
    }
    settle(&app).await;
    close(app).await;
    let (unseated, unpaid, rejected, cancelled) = (bookings[0].0, bookings[1].0, bookings[2].0, bookings[3].0);
    let (no_learner, no_course) = (Uuid::new_v4(), Uuid::new_v4());

    let store = open_store(dir).await;
    // A confirmed booking loses its seat, another its payment; a third is rejected while its
    // seat stays taken; a fourth is cancelled but neither released nor refunded.
    plant::<Course>(&store, course, CourseEvent::SeatReleased { booking_id: unseated, released_at: Utc::now() }).await;
    let refund = PaymentEvent::PaymentRefunded {
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        provider_reference: "lost".to_owned(),
        refunded_at: Utc::now(),
    };
    plant::<Payment>(&store, unpaid, refund).await;
    plant::<Booking>(&store, rejected, BookingEvent::BookingRejected { reason: "planted".to_owned(), rejected_at: Utc::now() }).await;
    let cancel = BookingEvent::BookingCancelled {
        course_id: course,
        reason: None,
        by_learner: true,
        seat_held: true,
        was_confirmed: true,
        cancelled_at: Utc::now(),
    };
    plant::<Booking>(&store, cancelled, cancel).await;
    // Bookings of a learner and of a course that never existed.
    plant::<Booking>(&store, no_learner, requested(Uuid::new_v4(), course, teacher)).await;
    plant::<Booking>(&store, no_course, requested(bookings[0].1, Uuid::new_v4(), teacher)).await;
    drop(store);
    // As if the choreography's reactions to the planted events were lost: it starts at the head.
    close(open(&config, OpenOptions { skip_history_reactions: true }).await).await;
    drop(open_store(dir).await);

    let expected = [
        format!("booking-without-seat/{unseated}"),
        format!("confirmed-without-payment/{unpaid}"),
        format!("seat-without-booking/{course}/{rejected}"),
        format!("seat-without-booking/{course}/{cancelled}"),
        format!("unrefunded-cancellation/{cancelled}"),
        format!("missing-learner/{no_learner}"),
        format!("missing-course/{no_course}"),
        // The provider's statement agrees: it charged the cancelled booking and never refunded.
        format!("charge-not-refunded/{cancelled}"),
    ];
    let (code, found) = konnektid(dir, &["verify"]);
    assert_eq!(code, 1);
    for id in &expected {
        assert!(found.lines().any(|line| line.starts_with(&format!("{id}: "))), "{id} is not reported:\n{found}");
    }
    assert_eq!(found.lines().count(), expected.len(), "one line per violation, nothing else");

    let (code, repaired) = konnektid(dir, &["verify", "--repair"]);
    assert_eq!(code, 0, "every violation is repaired:\n{repaired}");
    assert!(repaired.contains("no violations:"), "{repaired}");
    // The refund planted for the confirmed booking never reached the provider: once the repair
    // cancelled that booking, a second round refunds its charge there.
    assert!(repaired.contains(&format!("repair done: charge-not-refunded/{unpaid}")), "{repaired}");
    let (code, after) = konnektid(dir, &["verify"]);
    assert_eq!((code, after.lines().count()), (0, 1), "{after}");

    // The repairs are events, marked with the violation they repair.
    let events = all_events(dir).await;
    let repair_of = |id: &str| -> Vec<&str> {
        events.iter().filter(|event| event.metadata.get("repair").map(String::as_str) == Some(id)).map(|e| e.event_type.as_str()).collect()
    };
    assert_eq!(repair_of(&expected[3]), ["SeatReleased"]);
    assert_eq!(repair_of(&expected[4]), ["PaymentRefunded"]);
    let mut cancelled_then = repair_of(&expected[0]);
    cancelled_then.sort_unstable();
    assert_eq!(cancelled_then, ["BookingCancelled", "PaymentRefunded"], "the choreography refunds the cancelled booking");
}

#[actix_rt::test]
async fn it_should_report_an_email_address_held_by_two_members_and_leave_it() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path();
    let app = open(&config(dir), OpenOptions::default()).await;
    member(&app, "ann").await;
    close(app).await;

    let store = open_store(dir).await;
    let twin = Uuid::new_v4();
    let registered = MemberEvent::MemberRegistered {
        member_id: twin,
        email: "Ann@Example.org".to_owned(),
        display_name: "Twin".to_owned(),
        city: None,
        joined_at: Utc::now(),
    };
    plant::<Member>(&store, twin, registered).await;
    drop(store);
    drop(open_store(dir).await);

    let (code, found) = konnektid(dir, &["verify"]);
    assert_eq!(code, 1);
    assert!(found.starts_with("duplicate-email/ann@example.org: "), "{found}");
    assert!(found.contains("cannot be repaired automatically"), "{found}");
    let (code, repaired) = konnektid(dir, &["verify", "--repair", "--json"]);
    assert_eq!(code, 1, "nothing can repair it");
    let lines: Vec<serde_json::Value> = repaired.lines().map(|line| serde_json::from_str(line).expect("NDJSON")).collect();
    assert_eq!(lines.len(), 1, "{repaired}");
    assert_eq!((lines[0]["kind"].as_str(), lines[0]["repair"].is_null()), (Some("duplicate-email"), true));
}

/// Appends a booking holding a seat of `course` whose charge was requested, as the payments
/// handler leaves it just before it calls the provider; answers the request it would send.
async fn charging(store: &SledStore, learner: Uuid, course: Uuid, teacher: Uuid) -> ChargeRequest {
    let booking = Uuid::new_v4();
    plant::<Booking>(store, booking, requested(learner, course, teacher)).await;
    plant::<Course>(store, course, CourseEvent::SeatReserved { booking_id: booking, learner_id: learner, reserved_at: Utc::now() }).await;
    plant::<Booking>(store, booking, BookingEvent::BookingSeatReserved { reserved_at: Utc::now() }).await;
    let request = ChargeRequest {
        key: konnektid::services::payments::charge_key(booking),
        booking_id: booking,
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
    };
    let intent = PaymentEvent::ChargeRequested {
        booking_id: booking,
        request_key: request.key.clone(),
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
        requested_at: Utc::now(),
    };
    plant::<Payment>(store, booking, intent).await;
    request
}

#[actix_rt::test]
async fn it_should_reconcile_the_log_with_the_providers_statement_and_record_what_the_provider_did() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let dir = data.path();
    let config = config(dir);
    let app = open(&config, OpenOptions::default()).await;
    let teacher = member(&app, "teacher").await;
    let course = course(&app, teacher).await;
    let learner = member(&app, "ann").await;
    let confirmed = book(&app, learner, course).await;
    settle(&app).await;
    close(app).await;

    let store = open_store(dir).await;
    let provider = SimulatedGateway::new(store.records(TABLE).expect("the provider's records"), Duration::ZERO);
    // Charged, then the process died before anything recorded it.
    let unrecorded = charging(&store, learner, course, teacher).await;
    provider.charge(&unrecorded).await.expect("charged");
    // Requested, then the process died before the provider heard of it.
    let unsent = charging(&store, learner, course, teacher).await;
    // A capture the provider never made, and a booking charged under two keys.
    let invented = charging(&store, learner, course, teacher).await;
    let capture = PaymentEvent::PaymentCaptured {
        booking_id: invented.booking_id,
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
        provider_reference: "ch_invented".to_owned(),
        captured_at: Utc::now(),
    };
    plant::<Payment>(&store, invented.booking_id, capture).await;
    let twice = ChargeRequest { key: "another key".to_owned(), ..provider_charge_of(&store, confirmed).await };
    provider.charge(&twice).await.expect("charged again");
    drop(provider);
    drop(store);
    close(open(&config, OpenOptions { skip_history_reactions: true }).await).await;
    drop(open_store(dir).await);

    let (code, found) = konnektid(dir, &["verify"]);
    assert_eq!(code, 1);
    let ids: Vec<&str> = found.lines().map(|line| line.split(": ").next().unwrap_or_default()).collect();
    let (unrecorded, unsent, invented) = (unrecorded.booking_id, unsent.booking_id, invented.booking_id);
    assert_eq!(
        ids,
        [
            format!("charge-not-recorded/{unrecorded}"),
            format!("capture-unknown-to-provider/{invented}"),
            format!("charged-twice/{confirmed}"),
            format!("charge-unresolved/{unsent}"),
        ],
        "{found}"
    );

    let (code, repaired) = konnektid(dir, &["verify", "--repair"]);
    assert_eq!(code, 1, "two differences need a person:\n{repaired}");
    let (_, after) = konnektid(dir, &["verify"]);
    let remaining: Vec<&str> = after.lines().map(|line| line.split(": ").next().unwrap_or_default()).collect();
    assert_eq!(remaining, [format!("capture-unknown-to-provider/{invented}"), format!("charged-twice/{confirmed}")], "{after}");

    // What the provider did is now in the log, and the choreography took it from there.
    let app = open(&config, OpenOptions::default()).await;
    for booking in [unrecorded, unsent] {
        let view = app.read_models().bookings.get(booking).expect("the read model").expect("the booking");
        assert_eq!(view.status, konnektid::domain::booking::BookingStatus::Confirmed, "{booking}");
    }
    close(app).await;
    let events = all_events(dir).await;
    let captures_of =
        |booking: Uuid| events.iter().filter(|event| event.event_type == "PaymentCaptured" && event.stream.aggregate_id == booking).count();
    assert_eq!((captures_of(unrecorded), captures_of(unsent)), (1, 1));
    let provider = SimulatedGateway::new(open_store(dir).await.records(TABLE).expect("the provider's records"), Duration::ZERO);
    assert_eq!(provider.statement(Some(unsent), 0, 10).await.expect("the statement").len(), 1, "charged once, by the repair");
}

/// The charge the provider made for `booking`, as a request.
async fn provider_charge_of(store: &SledStore, booking: Uuid) -> ChargeRequest {
    let provider = SimulatedGateway::new(store.records(TABLE).expect("the provider's records"), Duration::ZERO);
    let entry = provider.statement(Some(booking), 0, 1).await.expect("the statement").pop().expect("a charge");
    ChargeRequest {
        key: konnektid::services::payments::charge_key(booking),
        booking_id: booking,
        amount_cents: entry.amount_cents,
        currency: entry.currency,
        payment_method: "tok_visa".to_owned(),
    }
}
