//! The simulated payment provider through the whole flow over HTTP: every test token of the
//! contract, the lost answer with a cancellation in between, and `providerStatement`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::harness::{assert_code, text, TestServer, ADMIN, CANCEL_BOOKING};

const STATEMENT: &str = "query($booking: ID, $first: Int, $offset: Int) {
  providerStatement(bookingId: $booking, first: $first, offset: $offset) { kind bookingId reference amountCents currency at }
}";

const PAYMENT_EVENTS: &str = "query($id: ID!) { stream(aggregate: PAYMENT, id: $id) { events { type data } } }";

const PROJECTIONS: &str = "{ projections { name parked } }";

/// `tok_slow` answers after this many milliseconds here, not 2 s: the tests wait for it.
const SLOW_MS: u64 = 300;

/// Waits until `condition` holds, looking every few milliseconds; fails, naming `what`, after a
/// generous deadline.
async fn eventually(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if condition().await {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen in time");
}

async fn statement(server: &TestServer, booking: Option<&str>) -> Vec<Value> {
    let variables = json!({ "booking": booking });
    server.data(STATEMENT, variables, Some(ADMIN)).await["providerStatement"].as_array().expect("a list").clone()
}

fn kinds(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|entry| entry["kind"].as_str().expect("a kind")).collect()
}

async fn payment_events(server: &TestServer, booking: &str) -> Vec<String> {
    let data = server.data(PAYMENT_EVENTS, json!({ "id": booking }), Some(ADMIN)).await;
    data["stream"]["events"].as_array().expect("a list").iter().map(|event| text(&event["type"])).collect()
}

/// A teacher's published course of 2,500 cents and a learner; answers the learner's token and
/// the course id.
async fn market(server: &TestServer) -> (String, String) {
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 10, 2_500).await;
    (learner, course)
}

#[actix_rt::test]
async fn every_test_token_ends_as_the_contract_says_and_charges_at_most_once() {
    let server = TestServer::start_with(|config| config.payments.simulated_slow_ms = SLOW_MS).await;
    let (learner, course) = market(&server).await;
    let tokens = ["tok_visa", "tok_decline", "tok_timeout", "tok_unavailable", "tok_slow", "tok_anything_else"];
    let mut bookings = Vec::new();
    for token in tokens {
        let payload = server.request_booking(&learner, &course, token).await;
        bookings.push((token, text(&payload["booking"]["id"])));
    }
    server.wait_settled().await;

    for (token, booking) in &bookings {
        let view = server.booking(&learner, booking).await;
        let charges = statement(&server, Some(booking)).await;
        if *token == "tok_decline" {
            assert_eq!((view["status"].as_str(), view["payment"]["status"].as_str()), (Some("CANCELLED"), Some("FAILED")), "{token}");
            assert!(charges.is_empty(), "{token}: nothing charged, {charges:?}");
            assert_eq!(payment_events(&server, booking).await, ["ChargeRequested", "PaymentFailed"]);
            continue;
        }
        assert_eq!((view["status"].as_str(), view["payment"]["status"].as_str()), (Some("CONFIRMED"), Some("CAPTURED")), "{token}");
        assert_eq!(kinds(&charges), ["CHARGE"], "{token}: charged once");
        assert_eq!(
            (&charges[0]["bookingId"], &charges[0]["amountCents"], &charges[0]["currency"]),
            (&json!(booking), &json!(2_500), &json!("EUR"))
        );
        assert_eq!(payment_events(&server, booking).await, ["ChargeRequested", "PaymentCaptured"], "{token}");
    }
    let whole = statement(&server, None).await;
    assert_eq!(kinds(&whole), ["CHARGE"; 5], "one line per captured booking: {whole:#?}");
    let times: Vec<&str> = whole.iter().map(|entry| entry["at"].as_str().expect("a time")).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "oldest first: {times:?}");
    let page = server.data(STATEMENT, json!({ "first": 2, "offset": 1 }), Some(ADMIN)).await;
    assert_eq!(page["providerStatement"].as_array().expect("a list")[..], whole[1..3]);
    assert_eq!(server.mails().iter().filter(|mail| mail.contains("is confirmed")).count(), 5, "one confirmation per captured booking");
}

#[actix_rt::test]
async fn the_provider_statement_is_for_the_admin_only() {
    let server = TestServer::start().await;
    let (learner, _) = market(&server).await;
    assert_code(&server.graphql(STATEMENT, json!({}), None).await, "UNAUTHENTICATED");
    assert_code(&server.graphql(STATEMENT, json!({}), Some(&learner)).await, "FORBIDDEN");
    assert_code(&server.graphql(STATEMENT, json!({ "booking": "nope" }), Some(ADMIN)).await, "BAD_INPUT");
    assert_code(&server.graphql(STATEMENT, json!({ "offset": -1 }), Some(ADMIN)).await, "BAD_INPUT");
    assert_code(&server.graphql(STATEMENT, json!({ "first": 101 }), Some(ADMIN)).await, "LIMIT");
    assert_eq!(statement(&server, None).await, Vec::<Value>::new());
}

/// The money is taken, the answer lost, and the learner cancels before anything records the
/// capture. The payments handler gives up on its first failure here (no retries), so the
/// cancellation certainly comes in between: its refund must find out from the provider that
/// the money was taken, record it, and give it back.
#[actix_rt::test]
async fn a_charge_whose_answer_was_lost_is_recorded_and_refunded_when_the_booking_is_cancelled_meanwhile() {
    let server = TestServer::start_with(|config| config.runtime.handler_max_retries = 0).await;
    let (learner, course) = market(&server).await;
    let booking = text(&server.request_booking(&learner, &course, "tok_timeout").await["booking"]["id"]);
    eventually("the charge's lost answer to park its event", async || {
        let data = server.data(PROJECTIONS, json!({}), None).await;
        data["projections"].as_array().expect("a list").iter().any(|p| p["name"] == "payment-gateway" && p["parked"] == 1)
    })
    .await;
    assert_eq!(kinds(&statement(&server, Some(&booking)).await), ["CHARGE"], "the money is taken");
    assert_eq!(payment_events(&server, &booking).await, ["ChargeRequested"], "and nothing in the log says so yet");

    let cancelled = server.data(CANCEL_BOOKING, json!({ "input": { "id": booking } }), Some(&learner)).await;
    assert_eq!(cancelled["cancelBooking"]["booking"]["status"], "CANCELLED");
    eventually("the refund", async || payment_events(&server, &booking).await.len() == 3).await;
    // The charge's own event, retried now, finds the outcome recorded and does nothing more.
    let parked = server.data("{ parkedEvents { subscriber position } }", json!({}), Some(ADMIN)).await;
    let position = text(&parked["parkedEvents"][0]["position"]);
    let retry = "mutation($position: String!) { retryParkedEvent(subscriber: \"payment-gateway\", position: $position) { parked } }";
    server.data(retry, json!({ "position": position }), Some(ADMIN)).await;
    server.wait_settled().await;

    let view = server.booking(&learner, &booking).await;
    assert_eq!((view["status"].as_str(), view["payment"]["status"].as_str()), (Some("CANCELLED"), Some("REFUNDED")));
    let entries = statement(&server, Some(&booking)).await;
    assert_eq!(kinds(&entries), ["CHARGE", "REFUND"]);
    assert_eq!(entries[0]["reference"], entries[1]["reference"], "the refund names the charge");
    assert_eq!(payment_events(&server, &booking).await, ["ChargeRequested", "PaymentCaptured", "PaymentRefunded"]);
    assert_eq!(statement(&server, None).await.len(), 2, "nothing else moved");
}
