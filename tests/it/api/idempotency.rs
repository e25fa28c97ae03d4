//! Idempotency keys, and uniqueness of e-mail addresses under concurrency.

use serde_json::json;

use super::harness::{assert_code, code, text, TestServer, CREATE_COURSE, PASSWORD, REGISTER};

#[actix_rt::test]
async fn a_repeated_idempotency_key_returns_the_first_result_and_commits_nothing() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (other, _) = server.register("other@example.org", "Other").await;
    let input = json!({
        "title": "Pottery", "description": "Wheel throwing.", "category": "Crafts", "priceCents": 4_000, "capacity": 6,
        "idempotencyKey": "pottery-1",
    });

    let first = server.data(CREATE_COURSE, json!({ "input": input }), Some(&teacher)).await["createCourse"].clone();
    let events = server.event_count().await;
    let again = server.data(CREATE_COURSE, json!({ "input": input }), Some(&teacher)).await["createCourse"].clone();
    assert_eq!(again["course"]["id"], first["course"]["id"], "the same course");
    assert_eq!(again["position"], first["position"], "the same position");
    assert_eq!(server.event_count().await, events, "nothing new committed");
    let teaching = "{ me { teaching { totalCount } } }";
    assert_eq!(server.data(teaching, json!({}), Some(&teacher)).await["me"]["teaching"]["totalCount"], 1);

    let mut changed = input.clone();
    changed["priceCents"] = json!(4_500);
    assert_code(&server.graphql(CREATE_COURSE, json!({ "input": changed }), Some(&teacher)).await, "BAD_INPUT");
    assert_eq!(server.event_count().await, events, "nothing committed for the refused repeat");

    let theirs = server.data(CREATE_COURSE, json!({ "input": input }), Some(&other)).await["createCourse"].clone();
    assert_ne!(theirs["course"]["id"], first["course"]["id"], "another member's key is its own");
    assert_eq!(server.event_count().await, events + 1);

    // registerMember is scoped to the key alone.
    let member = json!({ "email": "keyed@example.org", "displayName": "Keyed", "password": PASSWORD, "idempotencyKey": "signup-1" });
    let registered = server.data(REGISTER, json!({ "input": member }), None).await["registerMember"].clone();
    let events = server.event_count().await;
    let repeated = server.data(REGISTER, json!({ "input": member }), None).await["registerMember"].clone();
    assert_eq!(repeated["member"]["id"], registered["member"]["id"]);
    assert_eq!(repeated["position"], registered["position"]);
    assert!(!text(&repeated["token"]).is_empty());
    assert_eq!(server.event_count().await, events, "nothing new committed");
    let mut renamed = member.clone();
    renamed["displayName"] = json!("Someone else");
    assert_code(&server.graphql(REGISTER, json!({ "input": renamed }), None).await, "BAD_INPUT");
}

#[actix_rt::test]
async fn of_fifty_concurrent_registrations_of_one_address_exactly_one_succeeds() {
    let server = TestServer::start().await;
    let registrations = (0..50).map(|n| {
        // The same address, spelled differently.
        let email = if n % 2 == 0 { "Same@Example.org".to_owned() } else { format!("  same@example.ORG{}", " ".repeat(n % 3)) };
        server.graphql(REGISTER, json!({ "input": { "email": email, "displayName": format!("Member {n}"), "password": PASSWORD } }), None)
    });
    let responses = futures::future::join_all(registrations).await;

    let succeeded: Vec<_> = responses.iter().filter(|r| r.get("errors").is_none()).collect();
    assert_eq!(succeeded.len(), 1, "{responses:#?}");
    assert_eq!(succeeded[0]["data"]["registerMember"]["member"]["email"], "same@example.org", "trimmed and lower-case");
    let codes: Vec<&str> = responses.iter().filter(|r| r.get("errors").is_some()).map(code).collect();
    assert!(codes.iter().all(|c| *c == "ALREADY_EXISTS"), "{codes:?}");
    server.wait_settled().await;
    assert_eq!(server.stats().await["members"], 1);
}
