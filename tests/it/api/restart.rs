//! A restart on the same data directory keeps everything and repeats no side effect.

use serde_json::json;

use super::harness::{text, TestServer, CREATE_COURSE, PASSWORD};

#[actix_rt::test]
async fn after_a_restart_everything_is_still_there_new_mutations_work_and_no_mail_is_sent_twice() {
    let mut server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, 2_500).await;
    let booking = text(&server.request_booking(&learner, &course, "tok_visa").await["booking"]["id"]);
    let input = json!({ "title": "Rye", "description": "Darker.", "category": "Cooking", "priceCents": 100, "capacity": 2, "idempotencyKey": "rye" });
    let keyed = server.data(CREATE_COURSE, json!({ "input": input }), Some(&teacher)).await["createCourse"].clone();
    server.wait_settled().await;
    let stats = server.stats().await;
    let mails = server.outbox();
    assert_eq!(mails.len(), 2);
    let events = server.event_count().await;

    server.restart().await;

    assert_eq!(server.booking(&learner, &booking).await["status"], "CONFIRMED", "tokens and read models survive");
    assert_eq!(server.stats().await, stats);
    server.wait_settled().await;
    assert_eq!(server.outbox(), mails, "no e-mail was sent again (nor rewritten)");
    assert_eq!(server.event_count().await, events, "nothing was committed by the restart");

    // An idempotency key survives the restart: same course, same position, nothing new.
    let again = server.data(CREATE_COURSE, json!({ "input": input }), Some(&teacher)).await["createCourse"].clone();
    assert_eq!((again["course"]["id"].clone(), again["position"].clone()), (keyed["course"]["id"].clone(), keyed["position"].clone()));
    assert_eq!(server.event_count().await, events);

    // New work goes through the whole choreography.
    let login = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token } }";
    let (second, _) = server.register("second@example.org", "Second").await;
    let logged_in = server.data(login, json!({ "email": "learner@example.org", "password": PASSWORD }), None).await;
    assert!(!text(&logged_in["login"]["token"]).is_empty(), "credentials survive");
    let second_booking = text(&server.request_booking(&second, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;
    let booked = server.booking(&second, &second_booking).await;
    assert_eq!((booked["status"].clone(), booked["course"]["seatsTaken"].clone()), (json!("CONFIRMED"), json!(2)));
    let after = server.outbox();
    assert_eq!(after.len(), 4, "two new messages for the new booking only");
    assert!(mails.iter().all(|(name, modified)| after.get(name) == Some(modified)), "the old messages are untouched");
    assert_eq!(server.stats().await["members"], 3);
}
