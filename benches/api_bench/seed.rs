//! Seeding the server over HTTP: teachers, published courses, learners and their bookings, and the
//! request bodies the load phases pick from.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::web::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use super::settle::{settle, Settled, Status};
use super::{emit, BOOKINGS_PER_LEARNER, LEARNERS, PASSWORD, SEED_CONCURRENCY, TEACHERS};

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
pub(super) const SEARCHES: [&str; 10] =
    ["sourdough", "guitar", "Watercolour", "python", "sketch", "italian", "CHESS", "pottery", "salsa", "photo"];
const CITIES: [&str; 5] = ["Utrecht", "Amsterdam", "Rotterdam", "Eindhoven", "Groningen"];

pub(super) struct Learner {
    pub(super) id: String,
    pub(super) bearer: Arc<str>,
}

/// What the load phases pick from: ids, tokens and pre-built request bodies.
pub(super) struct Catalogue {
    pub(super) courses: Vec<String>,
    pub(super) learners: Vec<Learner>,
    pub(super) search_bodies: Vec<Bytes>,
    pub(super) course_bodies: Vec<Bytes>,
    /// One per learner, same index.
    pub(super) booking_bodies: Vec<Bytes>,
    /// One per course, same index.
    pub(super) request_bodies: Vec<Bytes>,
}

const SEARCH: &str = "query SearchCourses($text: String!) { courses(filter: {text: $text}, first: 20) { totalCount \
     edges { cursor node { id title priceCents currency seatsAvailable city teacher { id displayName } } } pageInfo { hasNextPage endCursor } } }";
const COURSE: &str = "query CourseById($id: ID!) { course(id: $id) { id title description category city priceCents currency \
     capacity seatsTaken seatsAvailable status publishedAt version teacher { id displayName city } } }";
const BOOKINGS: &str = "query LearnerBookings($learner: ID!) { bookings(learnerId: $learner, first: 20) { totalCount \
     edges { node { id status priceCents currency requestedAt updatedAt course { id title } payment { status } } } } }";
pub(super) const REQUEST_BOOKING: &str =
    "mutation RequestBooking($course: ID!) { requestBooking(input: {courseId: $course, paymentMethod: \"tok_visa\"}) \
     { booking { id status } position } }";
pub(super) const STATUS: &str = "query BenchStatus { projections { name position lag } stats { bookingsConfirmed bookingsCancelled } }";

pub(super) fn body(query: &str, variables: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&json!({ "query": query, "variables": variables })).expect("a JSON body"))
}

/// One GraphQL request; panics on any error (seeding and polling must not fail).
pub(super) async fn gql(client: &awc::Client, url: &str, bearer: Option<&str>, query: &str, variables: Value) -> Value {
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

pub(super) async fn register(client: &awc::Client, url: &str, email: String, name: String) -> (String, String) {
    let query = "mutation Register($input: RegisterMemberInput!) { registerMember(input: $input) { token member { id } } }";
    let input = json!({ "email": email, "displayName": name, "password": PASSWORD, "city": CITIES[email.len() % CITIES.len()] });
    let data = gql(client, url, None, query, json!({ "input": input })).await;
    let payload = &data["registerMember"];
    (payload["member"]["id"].as_str().expect("an id").to_owned(), payload["token"].as_str().expect("a token").to_owned())
}

pub(super) async fn create_course(client: &awc::Client, url: &str, teacher_token: &str, index: usize) -> String {
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

pub(super) async fn seed(client: &awc::Client, url: &str, course_count: usize) -> Catalogue {
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
