//! The booking choreography seen from the API: confirmation, a declined card, a full course, a
//! cancellation with refund, and many learners racing for few seats.

use serde_json::json;

use super::harness::{text, TestServer, ADMIN, CANCEL_BOOKING};

const PRICE: i32 = 2_500;

/// The revenue in euro cents the stats show (none counts as zero).
fn euro_revenue(stats: &serde_json::Value) -> i64 {
    let revenue = stats["revenue"].as_array().expect("a list");
    revenue.iter().filter(|m| m["currency"] == "EUR").map(|m| text(&m["amountCents"]).parse::<i64>().expect("cents")).sum()
}

#[actix_rt::test]
async fn a_booking_becomes_confirmed_with_its_payment_captured_and_both_parties_mailed() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, learner_id) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, PRICE).await;

    let requested = server.request_booking(&learner, &course, "tok_visa").await;
    let booking_id = text(&requested["booking"]["id"]);
    assert!(["REQUESTED", "SEAT_RESERVED", "CONFIRMED"].contains(&requested["booking"]["status"].as_str().unwrap_or_default()));
    server.wait_settled().await;

    let booking = server.booking(&learner, &booking_id).await;
    assert_eq!(booking["status"], "CONFIRMED", "{booking:#}");
    assert_eq!(booking["learner"]["id"], learner_id.as_str());
    assert_eq!((booking["priceCents"].clone(), booking["currency"].clone()), (json!(PRICE), json!("EUR")));
    assert_eq!(booking["payment"]["status"], "CAPTURED");
    assert_eq!(booking["payment"]["bookingId"], booking_id.as_str(), "a payment's id is its booking's");
    assert_eq!(booking["payment"]["amountCents"], PRICE);
    assert_eq!((booking["course"]["seatsTaken"].clone(), booking["course"]["seatsAvailable"].clone()), (json!(1), json!(2)));
    assert_eq!(server.booking(&teacher, &booking_id).await["status"], "CONFIRMED", "the teacher sees it too");

    let stats = server.stats().await;
    assert_eq!((stats["bookingsConfirmed"].clone(), euro_revenue(&stats)), (json!(1), i64::from(PRICE)));
    let mails = server.mails();
    assert_eq!(mails.len(), 2, "one to the learner, one to the teacher");
    assert!(mails.iter().any(|mail| mail.contains("learner@example.org")));
    assert!(mails.iter().any(|mail| mail.contains("teacher@example.org")));
}

#[actix_rt::test]
async fn a_declined_payment_cancels_the_booking_releases_the_seat_and_tells_the_learner() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, PRICE).await;

    let booking_id = text(&server.request_booking(&learner, &course, "tok_decline").await["booking"]["id"]);
    server.wait_settled().await;

    let booking = server.booking(&learner, &booking_id).await;
    assert_eq!(booking["status"], "CANCELLED", "{booking:#}");
    assert!(booking["reason"].as_str().is_some_and(|r| !r.is_empty()), "a cancelled booking says why: {booking:#}");
    assert_eq!(booking["course"]["seatsTaken"], 0, "the seat is released");
    assert_eq!(booking["payment"]["status"], "FAILED");
    assert!(booking["payment"]["failureReason"].as_str().is_some_and(|r| !r.is_empty()), "{booking:#}");
    let stats = server.stats().await;
    assert_eq!((stats["bookingsConfirmed"].clone(), euro_revenue(&stats)), (json!(0), 0));
    let mails = server.mails();
    assert_eq!(mails.len(), 1, "only the learner hears of it");
    assert!(mails[0].contains("learner@example.org") && !mails[0].contains("teacher@example.org"));
}

#[actix_rt::test]
async fn a_booking_of_a_full_course_is_rejected_and_nothing_is_charged() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (first, _) = server.register("first@example.org", "First").await;
    let (second, _) = server.register("second@example.org", "Second").await;
    let course = server.create_published_course(&teacher, 1, PRICE).await;

    let first_booking = text(&server.request_booking(&first, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;
    let second_booking = text(&server.request_booking(&second, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;

    assert_eq!(server.booking(&first, &first_booking).await["status"], "CONFIRMED");
    let rejected = server.booking(&second, &second_booking).await;
    assert_eq!(rejected["status"], "REJECTED", "{rejected:#}");
    assert!(rejected["reason"].as_str().is_some_and(|r| !r.is_empty()), "a rejection says why: {rejected:#}");
    assert!(rejected["payment"].is_null() || rejected["payment"]["status"] != "CAPTURED", "nothing charged: {rejected:#}");
    assert_eq!(rejected["course"]["seatsTaken"], 1);
    assert_eq!(euro_revenue(&server.stats().await), i64::from(PRICE), "only the first booking was charged");
}

#[actix_rt::test]
async fn a_confirmed_booking_cancelled_by_its_learner_releases_the_seat_and_refunds() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let (learner, _) = server.register("learner@example.org", "Learner").await;
    let course = server.create_published_course(&teacher, 3, PRICE).await;
    let booking_id = text(&server.request_booking(&learner, &course, "tok_visa").await["booking"]["id"]);
    server.wait_settled().await;
    assert_eq!(server.booking(&learner, &booking_id).await["status"], "CONFIRMED");

    let input = json!({ "id": booking_id, "reason": "I cannot make it" });
    let cancelled = server.data(CANCEL_BOOKING, json!({ "input": input }), Some(&learner)).await;
    assert_eq!(cancelled["cancelBooking"]["booking"]["status"], "CANCELLED", "the payload shows what it did");
    server.wait_settled().await;

    let booking = server.booking(&learner, &booking_id).await;
    assert_eq!(booking["status"], "CANCELLED", "{booking:#}");
    assert_eq!(booking["course"]["seatsTaken"], 0, "the seat is released");
    assert_eq!(booking["payment"]["status"], "REFUNDED");
    let stats = server.stats().await;
    assert_eq!(euro_revenue(&stats), 0, "captured minus refunded: {stats:#}");
    assert_eq!((stats["bookingsConfirmed"].clone(), stats["bookingsCancelled"].clone()), (json!(0), json!(1)), "{stats:#}");
}

#[actix_rt::test]
async fn twenty_learners_racing_for_five_seats_get_exactly_five_confirmed_bookings() {
    let server = TestServer::start().await;
    let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
    let course = server.create_published_course(&teacher, 5, PRICE).await;
    let learners = server.register_many("racer", 20).await;

    let requests = learners.iter().map(|learner| server.request_booking(learner, &course, "tok_visa"));
    let requested = futures::future::join_all(requests).await;
    assert_eq!(requested.len(), 20);
    server.wait_settled().await;

    let query = "query($course: ID!) {
      bookings(courseId: $course, first: 100) { totalCount edges { node { status reason payment { status } } } }
      course(id: $course) { seatsTaken seatsAvailable }
    }";
    let data = server.data(query, json!({ "course": course }), Some(&teacher)).await;
    let bookings: Vec<&serde_json::Value> = data["bookings"]["edges"].as_array().expect("a list").iter().map(|e| &e["node"]).collect();
    assert_eq!((data["bookings"]["totalCount"].clone(), bookings.len()), (json!(20), 20));
    let confirmed: Vec<_> = bookings.iter().filter(|b| b["status"] == "CONFIRMED").collect();
    let rejected: Vec<_> = bookings.iter().filter(|b| b["status"] == "REJECTED").collect();
    assert_eq!((confirmed.len(), rejected.len()), (5, 15), "{bookings:#?}");
    assert!(confirmed.iter().all(|b| b["payment"]["status"] == "CAPTURED"));
    assert!(rejected.iter().all(|b| b["payment"].is_null() || b["payment"]["status"] != "CAPTURED"));
    assert_eq!((data["course"]["seatsTaken"].clone(), data["course"]["seatsAvailable"].clone()), (json!(5), json!(0)));
    let stats = server.stats().await;
    assert_eq!((stats["bookingsConfirmed"].clone(), euro_revenue(&stats)), (json!(5), 5 * i64::from(PRICE)));
    let all = server.data("{ bookings(first: 100) { totalCount } }", json!({}), Some(ADMIN)).await;
    assert_eq!(all["bookings"]["totalCount"], 20);
}
