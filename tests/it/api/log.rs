//! The event store seen from the API: one request's causal chain (`flow`), the global log
//! (`events`) and one stream with time travel (`stream`).

use serde_json::{json, Value};

use super::harness::{assert_code, text, TestServer, ADMIN};

const FLOW: &str = "query($id: ID!) {
  flow(correlationId: $id) { position eventId type aggregate aggregateId version correlationId causationId recordedAt data }
}";

#[actix_rt::test]
async fn flow_returns_the_whole_causal_chain_of_a_booking_in_position_order() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;
    let requested = server.request_booking(&learner, &course, "tok_visa").await;
    let booking = text(&requested["booking"]["id"]);
    let correlation = text(&requested["events"][0]["correlationId"]);
    assert_eq!(requested["events"][0]["type"], "BookingRequested");
    server.wait_settled().await;

    let flow = server.data(FLOW, json!({ "id": correlation }), Some(ADMIN)).await["flow"].as_array().expect("a list").clone();
    let types: Vec<&str> = flow.iter().map(|e| e["type"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        types,
        ["BookingRequested", "SeatReserved", "BookingSeatReserved", "ChargeRequested", "PaymentCaptured", "BookingConfirmed"]
    );
    let positions: Vec<u64> = flow.iter().map(|e| text(&e["position"]).parse().expect("a position")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in position order: {positions:?}");
    assert!(flow.iter().all(|e| e["correlationId"] == correlation.as_str()), "one correlation id: {flow:#?}");
    assert_eq!(flow[0]["eventId"], requested["events"][0]["eventId"], "the request's own event comes first");
    assert!(flow[0]["causationId"].is_null(), "the request's own event has no cause: {:#}", flow[0]);
    for (index, event) in flow.iter().enumerate().skip(1) {
        let cause = text(&event["causationId"]);
        assert!(flow[..index].iter().any(|earlier| earlier["eventId"] == cause.as_str()), "the cause of {event:#} is an earlier event");
    }
    let aggregates: Vec<(&str, &str)> =
        flow.iter().map(|e| (e["aggregate"].as_str().unwrap_or_default(), e["aggregateId"].as_str().unwrap_or_default())).collect();
    assert_eq!(
        aggregates,
        [
            ("BOOKING", booking.as_str()),
            ("COURSE", course.as_str()),
            ("BOOKING", booking.as_str()),
            ("PAYMENT", booking.as_str()),
            ("PAYMENT", booking.as_str()),
            ("BOOKING", booking.as_str())
        ]
    );
    assert!(flow.iter().all(|e| e["data"].is_object()), "each event's data is a JSON object: {flow:#?}");

    // The flow is admin-only; an unknown correlation has an empty flow.
    assert_code(&server.graphql(FLOW, json!({ "id": correlation }), Some(&learner)).await, "FORBIDDEN");
    assert_code(&server.graphql(FLOW, json!({ "id": correlation }), None).await, "UNAUTHENTICATED");
    let unknown = server.data(FLOW, json!({ "id": uuid::Uuid::new_v4().to_string() }), Some(ADMIN)).await;
    assert_eq!(unknown["flow"], json!([]));
}

#[actix_rt::test]
async fn the_log_numbers_events_from_one_without_gaps_and_filters_by_type() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    server.create_published_course(&teacher, 3, 0).await;

    let all = server.data("{ events { position version type } }", json!({}), Some(ADMIN)).await;
    let positions: Vec<String> = all["events"].as_array().expect("a list").iter().map(|e| text(&e["position"])).collect();
    let expected: Vec<String> = (1..=positions.len()).map(|p| p.to_string()).collect();
    assert_eq!(positions, expected, "gapless from 1");
    let types = r#"{ events(types: ["CoursePublished", "MemberRegistered"]) { type } }"#;
    let filtered = server.data(types, json!({}), Some(ADMIN)).await;
    assert_eq!(filtered["events"], json!([{ "type": "MemberRegistered" }, { "type": "CoursePublished" }]));
    let page = server.data(r#"{ events(fromPosition: "2", first: 1) { position } }"#, json!({}), Some(ADMIN)).await;
    assert_eq!(page["events"], json!([{ "position": "2" }]));
}

const STREAM: &str = "query($id: ID!) {
  stream(aggregate: COURSE, id: $id) {
    aggregate id version
    first: state(atVersion: \"1\")
    latest: state
    events { type version }
  }
}";

#[actix_rt::test]
async fn a_course_stream_travels_back_to_its_draft_and_only_its_teacher_and_the_admin_may_read_it() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (other, _) = server.register("other@example.org", "Other").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;

    for token in [teacher.as_str(), ADMIN] {
        let stream = server.data(STREAM, json!({ "id": course }), Some(token)).await["stream"].clone();
        assert_eq!(
            (stream["aggregate"].clone(), stream["id"].clone(), stream["version"].clone()),
            (json!("COURSE"), json!(course), json!("2"))
        );
        assert_eq!(stream["first"]["status"], "DRAFT", "version 1 is the draft: {stream:#}");
        assert_eq!(stream["latest"]["status"], "PUBLISHED");
        assert_eq!(stream["first"]["title"], "Sourdough basics");
        assert_eq!(stream["events"], json!([{ "type": "CourseCreated", "version": "1" }, { "type": "CoursePublished", "version": "2" }]));
    }
    assert_code(&server.graphql(STREAM, json!({ "id": course }), Some(&other)).await, "FORBIDDEN");
    assert_code(&server.graphql(STREAM, json!({ "id": course }), None).await, "UNAUTHENTICATED");

    let beyond = "query($id: ID!) { stream(aggregate: COURSE, id: $id) { state(atVersion: \"3\") } }";
    assert_code(&server.graphql(beyond, json!({ "id": course }), Some(&teacher)).await, "BAD_INPUT");
    let unknown = server.data(STREAM, json!({ "id": uuid::Uuid::new_v4().to_string() }), Some(ADMIN)).await;
    assert_eq!(unknown["stream"], Value::Null, "a stream without events is null");
}
