//! Answers kept for read-model queries (`server.response_cache_mib`): reused only for the same
//! request of the same caller, and never once a read model has moved on.

use serde_json::{json, Value};

use super::harness::{text, TestServer};

/// How many answers to `operation` were reused, from `/metrics`.
async fn reused(server: &TestServer, operation: &str) -> u64 {
    let (_, _, metrics) = server.get("/metrics").await;
    let label = format!("operation=\"{operation}\"");
    metrics
        .lines()
        .find(|line| line.starts_with("graphql_answers_reused_total") && line.contains(&label))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

const COURSE: &str = "query KeptCourseTitle($id: ID!) { course(id: $id) { title seatsAvailable } }";
const MEMBER: &str = "query KeptMemberEmail($id: ID!) { member(id: $id) { email displayName } }";

#[actix_rt::test]
async fn a_kept_answer_serves_the_same_request_until_a_read_model_moves() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let course = server.create_published_course(&teacher, 3, 0).await;
    server.wait_settled().await;
    let title = |data: &Value| text(&data["course"]["title"]);

    let first = server.data(COURSE, json!({ "id": course }), None).await;
    for _ in 0..3 {
        assert_eq!(server.data(COURSE, json!({ "id": course }), None).await, first);
    }
    assert_eq!(reused(&server, "KeptCourseTitle").await, 3, "the repeats were answered from the kept answer");

    let update = "mutation($input: UpdateCourseInput!) { updateCourse(input: $input) { position } }";
    server.data(update, json!({ "input": { "id": course, "title": "Rye, too" } }), Some(&teacher)).await;
    server.wait_settled().await;
    let after = server.data(COURSE, json!({ "id": course }), None).await;
    assert_eq!((title(&first), title(&after)), ("Sourdough basics".to_owned(), "Rye, too".to_owned()), "never the old title");
    assert_eq!(reused(&server, "KeptCourseTitle").await, 3);

    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let booked = server.request_booking(&learner, &course, "tok_visa").await;
    server.wait_settled().await;
    assert_eq!(server.booking(&learner, &text(&booked["booking"]["id"])).await["status"], "CONFIRMED");
    assert_eq!(server.data(COURSE, json!({ "id": course }), None).await["course"]["seatsAvailable"], 2, "nor the old seats");
}

#[actix_rt::test]
async fn a_kept_answer_goes_only_to_the_caller_it_was_computed_for() {
    let server = TestServer::start().await;
    let (ada, ada_id) = server.register("ada@example.org", "Ada").await;
    let (bob, _) = server.register("bob@example.org", "Bob").await;
    server.wait_settled().await;
    let variables = json!({ "id": ada_id });
    for _ in 0..2 {
        assert_eq!(server.data(MEMBER, variables.clone(), Some(&ada)).await["member"]["email"], "ada@example.org");
        assert_eq!(server.data(MEMBER, variables.clone(), Some(&bob)).await["member"]["email"], Value::Null);
        assert_eq!(server.data(MEMBER, variables.clone(), None).await["member"]["email"], Value::Null);
    }
    assert_eq!(reused(&server, "KeptMemberEmail").await, 3, "each caller's repeat, from its own answer");
    let bad_token = server.graphql(MEMBER, variables, Some("not-a-token")).await;
    assert_eq!(bad_token["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "a kept answer never skips authentication");
}

#[actix_rt::test]
async fn nothing_is_kept_without_a_budget_nor_for_the_log_or_errors() {
    let server = TestServer::start_with(|config| config.server.response_cache_mib = 0).await;
    for _ in 0..3 {
        server.data("query KeptNothingStats { stats { members } }", json!({}), None).await;
    }
    assert_eq!(reused(&server, "KeptNothingStats").await, 0);

    let server = TestServer::start().await;
    for _ in 0..3 {
        server.data("query KeptNothingProjections { projections { name lag } }", json!({}), None).await;
        server.graphql("query KeptNothingErrors { courses(first: 101) { totalCount } }", json!({}), None).await;
    }
    assert_eq!(reused(&server, "KeptNothingProjections").await, 0, "`projections` reads the subscribers, not the read models");
    assert_eq!(reused(&server, "KeptNothingErrors").await, 0, "answers with errors are not kept");
}
