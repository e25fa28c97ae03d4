//! Every error code of the contract that a client can provoke, over real HTTP, and which code
//! wins when several apply. (INTERNAL cannot be provoked from outside.)

use serde_json::{json, Value};

use super::harness::{
    assert_code, code, text, TestServer, ADMIN, BOOKING, CANCEL_BOOKING, CREATE_COURSE, PASSWORD, PUBLISH_COURSE, REGISTER,
};

/// The contract's transport error shape: `{"errors": [{"message", "extensions": {"code"}}]}`.
#[track_caller]
fn assert_transport_error(status: u16, body: &Value, expected_status: u16, expected_code: &str) {
    assert_eq!(status, expected_status, "{body:#}");
    assert_code(body, expected_code);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body:#}");
}

fn course_input(title: &str, price_cents: i64, capacity: i64) -> Value {
    json!({ "input": { "title": title, "description": "d", "category": "c", "priceCents": price_cents, "capacity": capacity } })
}

/// `levels` nested selection sets, the root's included.
fn nested_query(levels: usize) -> String {
    let path =
        ["me", "teaching", "edges", "node", "teacher", "teaching", "edges", "node", "teacher", "teaching", "edges", "node", "teacher"];
    let fields = &path[..levels - 1];
    let mut query = String::from("{ ");
    for field in fields {
        query.push_str(field);
        query.push_str(" { ");
    }
    query.push_str(if fields.last() == Some(&"edges") { "cursor" } else { "__typename" });
    query.push_str(&" }".repeat(fields.len() + 1));
    query
}

#[actix_rt::test]
async fn unauthenticated_answers_a_bad_token_and_anonymous_calls_that_need_one() {
    let server = TestServer::start().await;
    for header in ["Bearer not-a-token", "Basic dXNlcjpwYXNz"] {
        let (status, body) = server
            .raw_post(r#"{"query":"{ stats { members } }"}"#, &[("content-type", "application/json"), ("authorization", header)])
            .await;
        assert_eq!(status, 200, "a GraphQL-level error");
        assert_code(&body, "UNAUTHENTICATED");
    }
    assert_code(&server.graphql("{ bookings { totalCount } }", json!({}), None).await, "UNAUTHENTICATED");
    let payment = "query($id: ID!) { payment(bookingId: $id) { status } }";
    assert_code(&server.graphql(payment, json!({ "id": uuid::Uuid::new_v4().to_string() }), None).await, "UNAUTHENTICATED");
    assert_code(&server.graphql(CREATE_COURSE, course_input("Title", 0, 1), None).await, "UNAUTHENTICATED");
    assert_code(&server.graphql("{ events { position } }", json!({}), None).await, "UNAUTHENTICATED");
    assert_eq!(server.data("{ me { id } }", json!({}), None).await["me"], Value::Null, "`me` is null without a token");
}

#[actix_rt::test]
async fn limits_on_body_size_depth_page_size_are_answered_with_limit() {
    let server = TestServer::start().await;
    let json = [("content-type", "application/json")];

    let oversized = format!(r#"{{"query":"{{ stats {{ members }} }}{}"}}"#, " ".repeat(64 * 1024));
    let (status, body) = server.raw_post(oversized, &json).await;
    assert_transport_error(status, &body, 413, "LIMIT");
    let (status, body) = server.raw_post(format!(r#"{{"query":"{{ stats {{ members }} }}{}"}}"#, " ".repeat(60 * 1024)), &json).await;
    assert_eq!((status, body["data"]["stats"]["members"].clone()), (200, json!(0)), "a body under the limit is served: {body:#}");

    assert_eq!(server.data(&nested_query(12), json!({}), None).await["me"], Value::Null, "12 levels are allowed");
    assert_code(&server.graphql(&nested_query(13), json!({}), None).await, "LIMIT");
    let through_fragments = "query { me { ...A } }
      fragment A on Member { teaching { edges { node { teacher { ...B } } } } }
      fragment B on Member { teaching { edges { node { teacher { teaching { edges { node { id } } } } } } } }";
    assert_code(&server.graphql(through_fragments, json!({}), None).await, "LIMIT");

    assert_code(&server.graphql("{ courses(first: 101) { totalCount } }", json!({}), None).await, "LIMIT");
    assert_eq!(server.data("{ courses(first: 100) { totalCount } }", json!({}), None).await["courses"]["totalCount"], 0);
    assert_code(&server.graphql("{ events(first: 101) { position } }", json!({}), Some(ADMIN)).await, "LIMIT");
    assert_code(&server.graphql("{ stats { topCourses(first: 101) { confirmedBookings } } }", json!({}), None).await, "LIMIT");
}

#[actix_rt::test]
async fn a_client_over_the_configured_rate_is_answered_with_limit_and_others_go_on() {
    let server = TestServer::start_with(|config| {
        config.server.rate_limit_per_second = 1;
        config.server.rate_limit_burst = 5;
    })
    .await;
    let query = "{ stats { bookingsConfirmed } }";
    // Registration is one anonymous request; the member's own bucket starts full.
    let (ada, _) = server.register("ada@example.com", "Ada").await;
    // The burst goes through; the bucket refills one a second, so a quick series runs dry.
    let mut answered = 0;
    let refused = loop {
        let response = server.graphql(query, json!({}), Some(&ada)).await;
        if response.get("errors").is_some() || answered == 50 {
            break response;
        }
        answered += 1;
    };
    assert!(answered >= 5, "the burst of 5 went through, then {answered}");
    assert_code(&refused, "LIMIT");
    assert!(text(&refused["errors"][0]["message"]).contains("requests per second"), "{refused}");
    let (bob, _) = server.register("bob@example.com", "Bob").await;
    assert!(server.graphql(query, json!({}), Some(&bob)).await.get("errors").is_none(), "each member has a bucket of its own");
    for _ in 0..10 {
        assert!(server.graphql(query, json!({}), Some(ADMIN)).await.get("errors").is_none(), "the admin is not limited");
    }
}

#[actix_rt::test]
async fn bad_input_answers_malformed_requests_and_out_of_range_values() {
    let server = TestServer::start().await;
    let (member, _) = server.register("member@example.org", "Member").await;
    let json = [("content-type", "application/json")];

    let (status, body) = server.raw_post(r#"{"query": "{ stats { members } }""#, &json).await;
    assert_transport_error(status, &body, 400, "BAD_INPUT");
    let (status, body) = server.raw_post(r#"{"variables": {}}"#, &json).await;
    assert_transport_error(status, &body, 400, "BAD_INPUT");

    let syntax = server.graphql("{ stats { members ", json!({}), None).await;
    assert_code(&syntax, "BAD_INPUT");
    assert_code(&server.graphql("{ stats { nonsense } }", json!({}), None).await, "BAD_INPUT");
    assert_code(&server.graphql("query($n: Int) { courses(first: $n) { totalCount } }", json!({ "n": "ten" }), None).await, "BAD_INPUT");
    assert_code(&server.graphql(r#"{ course(id: "not-a-uuid") { id } }"#, json!({}), None).await, "BAD_INPUT");
    assert_code(&server.graphql(r#"{ events(fromPosition: "minus one") { position } }"#, json!({}), Some(ADMIN)).await, "BAD_INPUT");

    for (input, what) in [
        (course_input("", 100, 5), "an empty title"),
        (course_input(&"t".repeat(121), 100, 5), "a title over 120 characters"),
        (course_input("Title", -1, 5), "a negative price"),
        (course_input("Title", 100_000_001, 5), "a price over the maximum"),
        (course_input("Title", 100, 0), "no seats"),
        (course_input("Title", 100, 10_001), "too many seats"),
    ] {
        let response = server.graphql(CREATE_COURSE, input, Some(&member)).await;
        assert_eq!(code(&response), "BAD_INPUT", "{what}: {response:#}");
    }
    let mut lower_currency = course_input("Title", 100, 5);
    lower_currency["input"]["currency"] = json!("eur");
    assert_code(&server.graphql(CREATE_COURSE, lower_currency, Some(&member)).await, "BAD_INPUT");

    for (email, name, password) in [("not-an-address", "N", PASSWORD), ("n@example.org", "", PASSWORD), ("n@example.org", "N", "short")] {
        let input = json!({ "input": { "email": email, "displayName": name, "password": password } });
        assert_code(&server.graphql(REGISTER, input, None).await, "BAD_INPUT");
    }
    let rebuild = "mutation { rebuildProjection(name: \"no-such-model\") { name } }";
    assert_code(&server.graphql(rebuild, json!({}), Some(ADMIN)).await, "BAD_INPUT");
}

#[actix_rt::test]
async fn not_found_and_forbidden_answer_unknown_targets_and_other_peoples_things() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let (other, _) = server.register("other@example.org", "Other").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;
    let booking = text(&server.request_booking(&learner, &course, "tok_visa").await["booking"]["id"]);
    let unknown = uuid::Uuid::new_v4().to_string();

    let request = "mutation($id: ID!) { requestBooking(input: { courseId: $id, paymentMethod: \"tok_visa\" }) { position } }";
    assert_code(&server.graphql(request, json!({ "id": unknown }), Some(&learner)).await, "NOT_FOUND");
    assert_code(&server.graphql(PUBLISH_COURSE, json!({ "input": { "id": unknown } }), Some(&teacher)).await, "NOT_FOUND");
    assert_code(&server.graphql(CANCEL_BOOKING, json!({ "input": { "id": unknown } }), Some(&learner)).await, "NOT_FOUND");
    let read = "query($id: ID!) { course(id: $id) { id } booking(id: $id) { id } member(id: $id) { id } }";
    let nothing = server.data(read, json!({ "id": unknown }), Some(ADMIN)).await;
    assert_eq!(nothing, json!({ "course": null, "booking": null, "member": null }), "root lookups answer null");

    let draft = server.create_course(&teacher, 3, 100).await;
    assert_code(&server.graphql(PUBLISH_COURSE, json!({ "input": { "id": draft } }), Some(&other)).await, "FORBIDDEN");
    assert_code(&server.graphql(BOOKING, json!({ "id": booking }), Some(&other)).await, "FORBIDDEN");
    let payment = "query($id: ID!) { payment(bookingId: $id) { status } }";
    assert_code(&server.graphql(payment, json!({ "id": booking }), Some(&other)).await, "FORBIDDEN");
    assert_code(&server.graphql(CANCEL_BOOKING, json!({ "input": { "id": booking } }), Some(&other)).await, "FORBIDDEN");
    assert_code(&server.graphql("{ events { position } }", json!({}), Some(&learner)).await, "FORBIDDEN");
    assert_code(&server.graphql("mutation { rebuildProjection(name: \"stats\") { name } }", json!({}), Some(&learner)).await, "FORBIDDEN");
    assert_code(&server.graphql(CREATE_COURSE, course_input("Title", 0, 1), Some(ADMIN)).await, "FORBIDDEN");
    assert_code(&server.graphql(request, json!({ "id": course }), Some(ADMIN)).await, "FORBIDDEN");
}

#[actix_rt::test]
async fn conflict_already_exists_and_rule_violation_answer_refused_commands() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("Teacher@Example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;

    let duplicate = json!({ "input": { "email": "  teacher@EXAMPLE.org ", "displayName": "Again", "password": PASSWORD } });
    assert_code(&server.graphql(REGISTER, duplicate, None).await, "ALREADY_EXISTS");

    let draft = server.create_course(&teacher, 2, 100).await;
    let stale = json!({ "input": { "id": draft, "expectedVersion": "5" } });
    assert_code(&server.graphql(PUBLISH_COURSE, stale, Some(&teacher)).await, "CONFLICT");
    let current = json!({ "input": { "id": draft, "expectedVersion": "1" } });
    assert_eq!(server.data(PUBLISH_COURSE, current, Some(&teacher)).await["publishCourse"]["course"]["version"], "2");

    let own = "mutation($id: ID!) { requestBooking(input: { courseId: $id, paymentMethod: \"tok_visa\" }) { position } }";
    assert_code(&server.graphql(own, json!({ "id": draft }), Some(&teacher)).await, "RULE_VIOLATION");
    assert_code(&server.graphql(PUBLISH_COURSE, json!({ "input": { "id": draft } }), Some(&teacher)).await, "RULE_VIOLATION");
    let archive = "mutation($id: ID!) { archiveCourse(input: { id: $id }) { course { status } } }";
    let archived = server.data(archive, json!({ "id": draft }), Some(&teacher)).await;
    assert_eq!(archived["archiveCourse"]["course"]["status"], "ARCHIVED");
    assert_code(&server.graphql(PUBLISH_COURSE, json!({ "input": { "id": draft } }), Some(&teacher)).await, "RULE_VIOLATION");

    let course = server.create_published_course(&teacher, 2, 100).await;
    let booking = text(&server.request_booking(&learner, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;
    let cancel = json!({ "input": { "id": booking } });
    assert_eq!(server.data(CANCEL_BOOKING, cancel.clone(), Some(&learner)).await["cancelBooking"]["booking"]["status"], "CANCELLED");
    assert_code(&server.graphql(CANCEL_BOOKING, cancel, Some(&learner)).await, "RULE_VIOLATION");
}

/// Where several codes apply, the first in the contract's list wins: UNAUTHENTICATED, LIMIT,
/// BAD_INPUT, NOT_FOUND, FORBIDDEN, CONFLICT, ALREADY_EXISTS, RULE_VIOLATION, TIMEOUT.
#[actix_rt::test]
async fn when_several_errors_apply_the_first_in_the_contracts_list_wins() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (other, _) = server.register("other@example.org", "Other").await;
    let draft = server.create_course(&teacher, 2, 100).await;
    let archived = server.create_published_course(&teacher, 2, 100).await;
    server.data("mutation($id: ID!) { archiveCourse(input: { id: $id }) { position } }", json!({ "id": archived }), Some(&teacher)).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let publish = |id: &str, version: &str| json!({ "input": { "id": id, "expectedVersion": version } });

    let cases: Vec<(&str, &str, Value, Option<&str>, &str)> = vec![
        ("anonymous, page too large", "{ events(first: 101) { position } }", json!({}), None, "UNAUTHENTICATED"),
        ("anonymous, malformed id", r#"{ booking(id: "nope") { id } }"#, json!({}), None, "UNAUTHENTICATED"),
        ("anonymous, malformed filter id", r#"{ bookings(learnerId: "nope") { totalCount } }"#, json!({}), None, "UNAUTHENTICATED"),
        ("anonymous mutation, malformed id", PUBLISH_COURSE, json!({ "input": { "id": "nope" } }), None, "UNAUTHENTICATED"),
        ("bad token, page too large", "{ courses(first: 101) { totalCount } }", json!({}), Some("forged"), "UNAUTHENTICATED"),
        ("member, page too large on an admin field", "{ events(first: 101) { position } }", json!({}), Some(&other), "LIMIT"),
        ("member, malformed id on an admin field", r#"{ flow(correlationId: "nope") { position } }"#, json!({}), Some(&other), "BAD_INPUT"),
        ("member, unknown read model", "mutation { rebuildProjection(name: \"nope\") { name } }", json!({}), Some(&other), "BAD_INPUT"),
        ("unknown course, stale version", PUBLISH_COURSE, publish(&unknown, "3"), Some(&teacher), "NOT_FOUND"),
        ("someone else's course, stale version", PUBLISH_COURSE, publish(&draft, "7"), Some(&other), "FORBIDDEN"),
        ("archived course, stale version", PUBLISH_COURSE, publish(&archived, "1"), Some(&teacher), "CONFLICT"),
    ];
    let mut wrong = Vec::new();
    for (what, query, variables, token, expected) in cases {
        let response = server.graphql(query, variables, token).await;
        if code(&response) != expected {
            wrong.push(format!("{what}: expected {expected}, got {} ({})", code(&response), response["errors"][0]["message"]));
        }
    }
    assert!(wrong.is_empty(), "wrong precedence:\n{}", wrong.join("\n"));
}

/// The admin is not a member, but what the contract ranks above FORBIDDEN still comes first.
#[actix_rt::test]
async fn the_admin_acting_as_a_member_hears_of_bad_input_and_unknown_targets_before_forbidden() {
    let server = TestServer::start().await;
    let request = "mutation($id: ID!, $method: String!) { requestBooking(input: { courseId: $id, paymentMethod: $method }) { position } }";
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("an empty title", CREATE_COURSE, course_input("", 0, 1), "BAD_INPUT"),
        ("an empty payment method", request, json!({ "id": unknown, "method": "" }), "BAD_INPUT"),
        ("an unknown course", request, json!({ "id": unknown, "method": "tok_visa" }), "NOT_FOUND"),
    ];
    let mut wrong = Vec::new();
    for (what, query, variables, expected) in cases {
        let response = server.graphql(query, variables, Some(ADMIN)).await;
        if code(&response) != expected {
            wrong.push(format!("{what}: expected {expected}, got {} ({})", code(&response), response["errors"][0]["message"]));
        }
    }
    assert!(wrong.is_empty(), "wrong precedence for the admin:\n{}", wrong.join("\n"));
}
