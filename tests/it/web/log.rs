//! What the console reads the log with: newest-first pages, filters by aggregate type and
//! stream, the head, and (contract version 2) camelCase keys in event data and state.

use serde_json::{json, Value};

use crate::api::harness::{assert_code, text, TestServer, ADMIN};

const PAGE: &str = "query Log($before: String, $first: Int, $aggregate: AggregateType, $id: ID, $types: [String!]) {
  head
  events(newestFirst: true, beforePosition: $before, first: $first, aggregate: $aggregate, aggregateId: $id, types: $types) {
    position type aggregate aggregateId
  }
}";

fn positions(page: &Value) -> Vec<u64> {
    page["events"].as_array().expect("a list").iter().map(|e| text(&e["position"]).parse().expect("a number")).collect()
}

#[actix_rt::test]
async fn the_log_pages_newest_first_and_filters_by_aggregate_type_and_stream() {
    let server = TestServer::start().await;
    let (teacher, teacher_id) = server.register("teacher@example.org", "Teacher").await;
    let course = server.create_published_course(&teacher, 3, 0).await;
    server.register("learner@example.org", "Learner").await;
    let total = server.event_count().await as u64;

    let newest = server.data(PAGE, json!({ "first": 2 }), Some(ADMIN)).await;
    assert_eq!(newest["head"], json!(total.to_string()));
    assert_eq!(positions(&newest), [total, total - 1]);
    let mut walked = positions(&newest);
    loop {
        let before = walked.last().copied().expect("a position").to_string();
        let page = server.data(PAGE, json!({ "first": 2, "before": before }), Some(ADMIN)).await;
        let page = positions(&page);
        if page.is_empty() {
            break;
        }
        walked.extend(page);
    }
    assert_eq!(walked, (1..=total).rev().collect::<Vec<_>>(), "the pages cover the log once, newest first");

    let courses = server.data(PAGE, json!({ "aggregate": "COURSE" }), Some(ADMIN)).await;
    let types: Vec<String> = courses["events"].as_array().expect("a list").iter().map(|e| text(&e["type"])).collect();
    assert_eq!(types, ["CoursePublished", "CourseCreated"]);
    let stream = server.data(PAGE, json!({ "aggregate": "MEMBER", "id": teacher_id }), Some(ADMIN)).await;
    assert!(stream["events"]
        .as_array()
        .expect("a list")
        .iter()
        .all(|e| e["aggregateId"] == json!(teacher_id) && e["aggregate"] == "MEMBER"));
    assert_eq!(stream["events"][0]["type"], "MemberRegistered");
    let by_type = server.data(PAGE, json!({ "types": ["MemberRegistered"], "first": 1 }), Some(ADMIN)).await;
    assert_eq!(by_type["events"].as_array().map(Vec::len), Some(1));
    let forward = server.data("query($id: ID) { events(aggregateId: $id) { aggregateId } }", json!({ "id": course }), Some(ADMIN)).await;
    assert_eq!(forward["events"].as_array().map(Vec::len), Some(2), "oldest first, one aggregate by id alone");

    assert_code(&server.graphql("{ head }", json!({}), Some(&teacher)).await, "FORBIDDEN");
    assert_code(&server.graphql(PAGE, json!({ "before": "soon" }), Some(ADMIN)).await, "BAD_INPUT");
}

#[actix_rt::test]
async fn event_data_and_state_have_camel_case_keys_and_events_show_their_metadata() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;
    let query = "query($id: ID!) {
      stream(aggregate: COURSE, id: $id) { state(atVersion: \"1\") events { data metadata } }
    }";
    let stream = server.data(query, json!({ "id": course }), Some(ADMIN)).await["stream"].clone();
    let created = &stream["events"][0]["data"];
    assert_eq!(created["priceCents"], 2_500, "{created:#}");
    assert!(created.get("price_cents").is_none() && created["teacherId"].is_string(), "{created:#}");
    assert!(stream["events"][0]["metadata"].is_object());
    let state = &stream["state"];
    assert_eq!(state["priceCents"], 2_500, "{state:#}");
    let keys = |value: &Value| value.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert!(keys(created).iter().chain(keys(state).iter()).all(|key| !key.contains('_')), "{created:#} {state:#}");
}
