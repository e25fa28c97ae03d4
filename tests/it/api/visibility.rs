//! Who may see what: e-mail addresses, draft courses and bookings.

use serde_json::{json, Value};

use super::harness::{assert_code, text, TestServer, ADMIN};

fn ids(connection: &Value) -> Vec<String> {
    let mut ids: Vec<String> = connection["edges"].as_array().expect("a list").iter().map(|e| text(&e["node"]["id"])).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[actix_rt::test]
async fn a_members_email_is_shown_only_to_itself_and_the_admin() {
    let server = TestServer::start().await;
    let (alice, alice_id) = server.register("  Alice@Example.org ", "Alice").await;
    let (bob, _) = server.register("bob@example.org", "Bob").await;

    let me = server.data("{ me { id email displayName } }", json!({}), Some(&alice)).await;
    assert_eq!(me["me"], json!({ "id": alice_id, "email": "alice@example.org", "displayName": "Alice" }), "trimmed and lower-case");
    let query = "query($id: ID!) { member(id: $id) { id email displayName } }";
    for (token, expected) in [
        (Some(alice.as_str()), json!("alice@example.org")),
        (Some(ADMIN), json!("alice@example.org")),
        (Some(&bob), Value::Null),
        (None, Value::Null),
    ] {
        let member = server.data(query, json!({ "id": alice_id }), token).await;
        assert_eq!(member["member"]["email"], expected, "{token:?}");
        assert_eq!(member["member"]["displayName"], "Alice", "a profile is public");
    }
    let teacher = "query($id: ID!) { course(id: $id) { teacher { email } } }";
    let course = server.create_published_course(&alice, 2, 100).await;
    assert_eq!(server.data(teacher, json!({ "id": course }), Some(&bob)).await["course"]["teacher"]["email"], Value::Null);
}

#[actix_rt::test]
async fn a_draft_course_is_seen_only_by_its_teacher_and_the_admin() {
    let server = TestServer::start().await;
    let (teacher, teacher_id) = server.register("teacher@example.org", "Teacher").await;
    let (other, _) = server.register("other@example.org", "Other").await;
    let draft = server.create_course(&teacher, 2, 100).await;
    let published = server.create_published_course(&teacher, 2, 100).await;

    let list = "query($teacher: ID!) {
      courses(first: 50) { totalCount edges { node { id } } }
      member(id: $teacher) { teaching { edges { node { id } } } }
    }";
    let variables = json!({ "teacher": teacher_id });
    for token in [Some(teacher.as_str()), Some(ADMIN)] {
        let seen = server.data(list, variables.clone(), token).await;
        assert_eq!(ids(&seen["courses"]), sorted(vec![draft.clone(), published.clone()]), "{token:?}");
        assert_eq!(ids(&seen["member"]["teaching"]), sorted(vec![draft.clone(), published.clone()]), "{token:?}");
    }
    for token in [Some(other.as_str()), None] {
        let seen = server.data(list, variables.clone(), token).await;
        assert_eq!((ids(&seen["courses"]), seen["courses"]["totalCount"].clone()), (vec![published.clone()], json!(1)), "{token:?}");
        assert_eq!(ids(&seen["member"]["teaching"]), vec![published.clone()], "{token:?}");
    }

    let one = "query($id: ID!) { course(id: $id) { id status } }";
    assert_eq!(server.data(one, json!({ "id": draft }), Some(&teacher)).await["course"]["status"], "DRAFT");
    assert_eq!(server.data(one, json!({ "id": draft }), Some(ADMIN)).await["course"]["status"], "DRAFT");
    assert_code(&server.graphql(one, json!({ "id": draft }), Some(&other)).await, "FORBIDDEN");
    assert_code(&server.graphql(one, json!({ "id": draft }), None).await, "UNAUTHENTICATED");
    assert_eq!(server.data(one, json!({ "id": published }), None).await["course"]["status"], "PUBLISHED");
}

#[actix_rt::test]
async fn bookings_lists_only_what_the_caller_may_see() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (first, first_id) = server.register("first@example.org", "First").await;
    let (second, second_id) = server.register("second@example.org", "Second").await;
    let (bystander, _) = server.register("bystander@example.org", "Bystander").await;
    let course = server.create_published_course(&teacher, 5, 100).await;
    let first_booking = text(&server.request_booking(&first, &course, "tok_visa").await["booking"]["id"]);
    let second_booking = text(&server.request_booking(&second, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;

    assert_eq!(ids(&list(&server, &first, None).await), vec![first_booking.clone()]);
    assert_eq!(ids(&list(&server, &second, None).await), vec![second_booking.clone()]);
    assert_eq!(ids(&list(&server, &first, Some(&second_id)).await), Vec::<String>::new(), "another's bookings are left out");
    assert_eq!(list(&server, &bystander, None).await["totalCount"], 0);
    let both = sorted(vec![first_booking.clone(), second_booking.clone()]);
    assert_eq!(ids(&list(&server, &teacher, None).await), both, "the teacher sees the bookings of its course");
    assert_eq!(ids(&list(&server, ADMIN, None).await), both);
    assert_eq!(ids(&list(&server, ADMIN, Some(&first_id)).await), vec![first_booking.clone()]);
}

async fn list(server: &TestServer, token: &str, learner: Option<&str>) -> Value {
    let query = "query($learner: ID) { bookings(learnerId: $learner, first: 50) { totalCount edges { node { id learner { id } } } } }";
    server.data(query, json!({ "learner": learner }), Some(token)).await["bookings"].clone()
}
