//! Reading your own writes: a mutation's `position` and `consistent(minPosition:)`, and the
//! bounds of that wait.

use serde_json::json;

use super::harness::{assert_code, text, TestServer, CREATE_COURSE, PASSWORD, PUBLISH_COURSE};

const READ_COURSE: &str = "query($at: String!, $id: ID!) {
  consistent(minPosition: $at) { course(id: $id) { title status version seatsAvailable } }
}";

#[actix_rt::test]
async fn a_read_wrapped_in_consistent_shows_the_mutation_that_returned_its_position() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let input = json!({ "title": "Knitting", "description": "Socks.", "category": "Crafts", "priceCents": 0, "capacity": 4 });
    let created = server.data(CREATE_COURSE, json!({ "input": input }), Some(&teacher)).await["createCourse"].clone();
    let course = text(&created["course"]["id"]);
    assert_eq!((created["course"]["status"].clone(), created["course"]["version"].clone()), (json!("DRAFT"), json!("1")));
    let read = server.data(READ_COURSE, json!({ "at": created["position"], "id": course }), Some(&teacher)).await;
    assert_eq!(read["consistent"]["course"]["title"], "Knitting");

    let update = "mutation($input: UpdateCourseInput!) { updateCourse(input: $input) { position course { title } } }";
    let updated = server.data(update, json!({ "input": { "id": course, "title": "Knitting socks" } }), Some(&teacher)).await;
    assert_eq!(updated["updateCourse"]["course"]["title"], "Knitting socks", "the payload shows the change");
    let read = server.data(READ_COURSE, json!({ "at": updated["updateCourse"]["position"], "id": course }), Some(&teacher)).await;
    assert_eq!(
        (read["consistent"]["course"]["title"].clone(), read["consistent"]["course"]["version"].clone()),
        (json!("Knitting socks"), json!("2"))
    );

    let published = server.data(PUBLISH_COURSE, json!({ "input": { "id": course } }), Some(&teacher)).await;
    let at = published["publishCourse"]["position"].clone();
    let query = "query($at: String!) { consistent(minPosition: $at) { stats { coursesPublished } courses(filter: { status: PUBLISHED }) { totalCount } } }";
    let read = server.data(query, json!({ "at": at }), None).await;
    assert_eq!(read["consistent"]["stats"]["coursesPublished"], 1, "{read:#}");
    assert_eq!(read["consistent"]["courses"]["totalCount"], 1, "anyone sees a published course at once");

    // A mutation that commits nothing answers the head of the log.
    let login = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { position member { id } } }";
    let logged_in = server.data(login, json!({ "email": "teacher@example.org", "password": PASSWORD }), None).await;
    assert_eq!(text(&logged_in["login"]["position"]), server.event_count().await.to_string());
    assert_eq!(logged_in["login"]["position"], at, "nothing was committed since the publication");
}

#[actix_rt::test]
async fn consistent_times_out_on_a_position_never_reached_and_refuses_a_wait_over_the_limit() {
    let server = TestServer::start().await;
    server.register("member@example.org", "Member").await;
    server.wait_settled().await;

    let query = "query($at: String!, $ms: Int) { consistent(minPosition: $at, timeoutMs: $ms) { stats { members } } }";
    let started = std::time::Instant::now();
    let response = server.graphql(query, json!({ "at": "1000000", "ms": 50 }), None).await;
    assert_code(&response, "TIMEOUT");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it waited about timeoutMs, not longer");

    assert_code(&server.graphql(query, json!({ "at": "1", "ms": 30_001 }), None).await, "LIMIT");
    let at_limit = server.graphql(query, json!({ "at": "1", "ms": 30_000 }), None).await;
    assert_eq!(at_limit["data"]["consistent"]["stats"]["members"], 1, "30000 ms is allowed: {at_limit:#}");
    assert_code(&server.graphql(query, json!({ "at": "one", "ms": 50 }), None).await, "BAD_INPUT");
}
