//! The load driver: keep-alive connections sending a workload's requests for a time or up to a
//! count, and what they measured.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::Bytes;

use super::seed::{Catalogue, SEARCHES};
use super::{emit, process_cpu, quantile, Options};

/// What each connection sends.
#[derive(Clone)]
pub(super) enum Workload {
    /// Course search, course by id, a learner's bookings: equally often.
    Reads(Arc<Catalogue>),
    /// `requestBooking` by a random learner on a random course.
    Writes(Arc<Catalogue>),
    /// `GET /ping`.
    Ping,
}

/// One request: its kind (index into the workload's kinds), a body (`None`: GET) and a bearer.
struct Call {
    pub(super) kind: usize,
    pub(super) body: Option<Bytes>,
    pub(super) bearer: Option<Arc<str>>,
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
    pub(super) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What a phase measured: latencies in ms per kind, failures, wall time.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) latencies: Vec<Vec<f64>>,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
    pub(super) elapsed: Duration,
    /// CPU time of the whole process (client and server) during the phase.
    pub(super) cpu: Duration,
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

    pub(super) fn count(&self) -> usize {
        self.latencies.iter().map(Vec::len).sum()
    }

    pub(super) fn per_second(&self) -> f64 {
        self.count() as f64 / self.elapsed.as_secs_f64()
    }

    /// `<prefix>_requests_per_s`, `_p50_ms`, `_p99_ms`, `_errors`, and per kind when there are several.
    pub(super) fn report(&self, prefix: &str, kinds: &[&str]) {
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
pub(super) async fn load(options: &Options, workload: Workload, url: &str, duration: Duration, max_requests: usize) -> Outcome {
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
    pub(super) deadline: Instant,
    pub(super) sent: &'a AtomicUsize,
    pub(super) max_requests: usize,
}

impl Budget<'_> {
    pub(super) fn take(&self) -> bool {
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
