//! What an operator watches: metrics that move with the traffic, readiness, and dead letters.

use serde_json::{json, Value};

use super::harness::{assert_code, text, TestServer, ADMIN};

/// The value of one sample (`name{labels} value`) of a Prometheus text page, whatever other
/// labels it carries (every sample also names its node); 0 if absent.
fn sample(page: &str, wanted: &str) -> f64 {
    page.lines().find(|line| is_sample(line, wanted)).and_then(|line| line.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Whether `line` is a sample of `wanted`'s metric carrying at least `wanted`'s labels.
fn is_sample(line: &str, wanted: &str) -> bool {
    let (name, labels) = wanted.split_once('{').unwrap_or((wanted, ""));
    let Some(rest) = line.strip_prefix(name) else { return false };
    if !rest.starts_with(['{', ' ']) {
        return false;
    }
    let labels = labels.trim_end_matches('}');
    labels.split(',').filter(|label| !label.is_empty()).all(|label| rest.split_once(' ').is_some_and(|(found, _)| found.contains(label)))
}

#[actix_rt::test]
async fn the_metrics_move_with_a_booking_flow() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("metrics-teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("metrics-learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, 1500).await;
    server.wait_settled().await;
    let (status, content_type, before) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");

    let booking = server.request_booking(&learner, &course, "tok_visa").await;
    server.wait_settled().await;
    assert_eq!(server.booking(&learner, &text(&booking["booking"]["id"])).await["status"], "CONFIRMED");
    let bad = server.graphql("{ course(id: \"not-a-uuid\") { id } }", json!({}), None).await;
    assert_code(&bad, "BAD_INPUT");
    let (_, _, after) = server.get("/metrics").await;

    // Metrics are process-wide and tests run in parallel: counters only ever grow.
    for counter in [
        "actors_commands_total{aggregate=\"booking\",outcome=\"ok\"}",
        "actors_commands_total{aggregate=\"course\",outcome=\"ok\"}",
        "actors_commands_total{aggregate=\"payment\",outcome=\"ok\"}",
        "actors_events_appended_total",
        "actors_group_commit_appends_count",
        "actors_command_duration_seconds_count{aggregate=\"booking\"}",
        "graphql_errors_total{code=\"BAD_INPUT\"}",
    ] {
        assert!(sample(&after, counter) > sample(&before, counter), "{counter} did not move");
    }
    // Gauges are process-wide too, and any server starting beside this one sets them back: only
    // their presence is this test's to check.
    for present in [
        "actors_live_actors{aggregate=\"booking\"}",
        "actors_subscriber_lag{subscriber=\"bookings\"}",
        "actors_subscriber_position{subscriber=\"booking-flow\"}",
        "http_requests_total",
    ] {
        assert!(after.lines().any(|line| is_sample(line, present)), "{present} is missing");
    }
}

#[actix_rt::test]
async fn ready_answers_when_every_subscriber_has_caught_up() {
    let server = TestServer::start().await;
    server.wait_settled().await;
    let (status, content_type, body) = server.get("/ready").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/json"));
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], "ready");
    let (status, _, body) = server.get("/health").await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["status"].clone()), (200, json!("ok")));
}

#[actix_rt::test]
async fn dead_letters_are_admin_only_and_answer_for_unknown_ones() {
    let server = TestServer::start().await;
    let (member, _) = server.register("dead-letters@example.org", "Member").await;
    let list = "{ parkedEvents { subscriber position eventId error event { type } } }";
    assert_eq!(server.data(list, json!({}), Some(ADMIN)).await["parkedEvents"], json!([]));
    assert_code(&server.graphql(list, json!({}), Some(&member)).await, "FORBIDDEN");
    assert_code(&server.graphql(list, json!({}), None).await, "UNAUTHENTICATED");

    let retry = "mutation($s: String!, $p: String!) { retryParkedEvent(subscriber: $s, position: $p) { name parked } }";
    let skip = "mutation($s: String!, $p: String!) { skipParkedEvent(subscriber: $s, position: $p) { name parked } }";
    assert_code(&server.graphql(retry, json!({ "s": "email", "p": "1" }), Some(ADMIN)).await, "NOT_FOUND");
    assert_code(&server.graphql(skip, json!({ "s": "email", "p": "1" }), Some(ADMIN)).await, "NOT_FOUND");
    assert_code(&server.graphql(retry, json!({ "s": "nobody", "p": "1" }), Some(ADMIN)).await, "BAD_INPUT");
    assert_code(&server.graphql(retry, json!({ "s": "email", "p": "one" }), Some(ADMIN)).await, "BAD_INPUT");
    assert_code(&server.graphql(skip, json!({ "s": "email", "p": "1" }), Some(&member)).await, "FORBIDDEN");
}
