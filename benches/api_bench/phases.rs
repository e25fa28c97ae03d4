//! The phases after seeding: the flow, writes, the mixed load, reads, and what a read costs inside
//! the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use konnektid::app::App;

use super::driver::{load, Workload};
use super::metrics::Metrics;
use super::seed::{Catalogue, SEARCHES};
use super::settle::{finished_since, settle, Settled, Status};
use super::{emit, process_cpu, quantile, Options};

/// The booking flow end to end: `flow_bookings` requests as fast as the connections go, then the
/// wait until every one is decided; confirmed bookings per second from first request to last
/// confirmation.
pub(super) async fn flow(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
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
pub(super) async fn writes(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
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
pub(super) async fn mixed(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>) {
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
pub(super) async fn reads(options: &Options, client: &awc::Client, base: &str, catalogue: &Arc<Catalogue>, prefix: &str) -> f64 {
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
pub(super) fn read_model_costs(app: &App, catalogue: &Catalogue) {
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
pub(super) async fn graphql_costs(app: &Arc<App>, catalogue: &Catalogue) {
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
