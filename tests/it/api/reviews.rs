//! Reviews: the learner of a confirmed booking reviews it once, edits it, and the course shows
//! the reviews newest first with its rating; every refusal with the contract's code.

use serde_json::{json, Value};

use super::harness::{assert_code, text, TestServer, ADMIN, CANCEL_BOOKING};

const WRITE: &str = "mutation($input: WriteReviewInput!) {
  writeReview(input: $input) { position review { id rating comment bookingId version author { id } course { id } } events { type } }
}";
const UPDATE: &str = "mutation($input: UpdateReviewInput!) {
  updateReview(input: $input) { position review { id rating comment version createdAt updatedAt } }
}";
const REVIEWS: &str = "query($course: ID!, $after: String) {
  course(id: $course) { rating reviewCount }
  reviews(courseId: $course, first: 1, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id rating author { displayName } } } }
}";

struct Market {
    server: TestServer,
    teacher: String,
    course: String,
}

impl Market {
    async fn open() -> Self {
        let server = TestServer::start().await;
        let (teacher, _) = server.register("teacher@example.org", "Teacher").await;
        let course = server.create_published_course(&teacher, 5, 2_500).await;
        Self { server, teacher, course }
    }

    /// A learner with a booking of the course that has settled (confirmed, or cancelled for `tok_decline`).
    async fn learner_with_booking(&self, email: &str, payment_method: &str) -> (String, String, String) {
        let (token, id) = self.server.register(email, email).await;
        let booking = text(&self.server.request_booking(&token, &self.course, payment_method).await["booking"]["id"]);
        self.server.wait_settled().await;
        (token, id, booking)
    }

    async fn write(&self, token: &str, booking: &str, rating: i32, comment: &str) -> Value {
        let input = json!({ "input": { "bookingId": booking, "rating": rating, "comment": comment } });
        self.server.graphql(WRITE, input, Some(token)).await
    }
}

#[actix_rt::test]
async fn the_learner_of_a_confirmed_booking_reviews_it_and_the_course_shows_it() {
    let market = Market::open().await;
    let (ada, ada_id, ada_booking) = market.learner_with_booking("ada@example.org", "tok_visa").await;
    let (bob, _, bob_booking) = market.learner_with_booking("bob@example.org", "tok_visa").await;

    let written = market.write(&ada, &ada_booking, 5, " Lovely bread ").await;
    let review = &written["data"]["writeReview"]["review"];
    assert_eq!(
        (review["rating"].clone(), review["comment"].clone(), review["version"].clone()),
        (json!(5), json!("Lovely bread"), json!("1"))
    );
    assert_eq!((review["bookingId"].clone(), review["author"]["id"].clone()), (json!(ada_booking), json!(ada_id)));
    assert_eq!(review["course"]["id"], market.course.as_str());
    assert_eq!(written["data"]["writeReview"]["events"][0]["type"], "ReviewWritten");
    market.write(&bob, &bob_booking, 2, "").await;

    let page = market.server.data(REVIEWS, json!({ "course": market.course }), None).await;
    assert_eq!((page["course"]["rating"].clone(), page["course"]["reviewCount"].clone()), (json!(3.5), json!(2)));
    assert_eq!((page["reviews"]["totalCount"].clone(), page["reviews"]["pageInfo"]["hasNextPage"].clone()), (json!(2), json!(true)));
    assert_eq!(page["reviews"]["edges"][0]["node"]["author"]["displayName"], "bob@example.org", "newest first");
    let after = page["reviews"]["pageInfo"]["endCursor"].clone();
    let next = market.server.data(REVIEWS, json!({ "course": market.course, "after": after }), None).await;
    assert_eq!(next["reviews"]["edges"][0]["node"]["id"], review["id"]);
}

#[actix_rt::test]
async fn its_author_edits_a_review_and_only_the_fields_sent_change() {
    let market = Market::open().await;
    let (ada, _, booking) = market.learner_with_booking("ada@example.org", "tok_visa").await;
    let id = text(&market.write(&ada, &booking, 4, "Good").await["data"]["writeReview"]["review"]["id"]);

    let input = json!({ "input": { "id": id, "rating": 2, "expectedVersion": "1" } });
    let updated = market.server.data(UPDATE, input, Some(&ada)).await["updateReview"]["review"].clone();
    assert_eq!((updated["rating"].clone(), updated["comment"].clone(), updated["version"].clone()), (json!(2), json!("Good"), json!("2")));
    assert!(updated["updatedAt"].as_str() >= updated["createdAt"].as_str(), "{updated:#}");
    let page = market.server.data(REVIEWS, json!({ "course": market.course }), None).await;
    assert_eq!(page["course"]["rating"], 2.0);

    let stale = market.server.graphql(UPDATE, json!({ "input": { "id": id, "comment": "x", "expectedVersion": "1" } }), Some(&ada)).await;
    assert_code(&stale, "CONFLICT");
    let (bob, _) = market.server.register("bob@example.org", "Bob").await;
    let theirs = market.server.graphql(UPDATE, json!({ "input": { "id": id, "rating": 1 } }), Some(&bob)).await;
    assert_code(&theirs, "FORBIDDEN");
    let missing = market.server.graphql(UPDATE, json!({ "input": { "id": uuid::Uuid::new_v4(), "rating": 1 } }), Some(&bob)).await;
    assert_code(&missing, "NOT_FOUND");
}

#[actix_rt::test]
async fn a_review_is_refused_with_the_contracts_codes() {
    let market = Market::open().await;
    let (ada, _, booking) = market.learner_with_booking("ada@example.org", "tok_visa").await;
    let (cy, _, declined) = market.learner_with_booking("cy@example.org", "tok_decline").await;

    assert_code(&market.write(&ada, &booking, 6, "").await, "BAD_INPUT");
    assert_code(&market.write(&ada, &booking, 3, &"c".repeat(2_001)).await, "BAD_INPUT");
    assert_code(&market.write(&ada, &uuid::Uuid::new_v4().to_string(), 3, "").await, "NOT_FOUND");
    assert_code(&market.write(&cy, &booking, 3, "").await, "FORBIDDEN");
    assert_code(&market.write(&cy, &declined, 3, "").await, "RULE_VIOLATION");
    assert_code(&market.write(ADMIN, &booking, 3, "").await, "FORBIDDEN");
    let anonymous = market.server.graphql(WRITE, json!({ "input": { "bookingId": booking, "rating": 3 } }), None).await;
    assert_code(&anonymous, "UNAUTHENTICATED");

    assert!(market.write(&ada, &booking, 3, "").await.get("errors").is_none());
    assert_code(&market.write(&ada, &booking, 4, "again").await, "ALREADY_EXISTS");
}

#[actix_rt::test]
async fn a_booking_cancelled_after_its_review_keeps_it_and_a_key_repeats_the_first_answer() {
    let market = Market::open().await;
    let (ada, _, booking) = market.learner_with_booking("ada@example.org", "tok_visa").await;
    let input = json!({ "input": { "bookingId": booking, "rating": 4, "idempotencyKey": "k1" } });
    let first = market.server.data(WRITE, input.clone(), Some(&ada)).await;
    let again = market.server.data(WRITE, input, Some(&ada)).await;
    assert_eq!(first["writeReview"]["position"], again["writeReview"]["position"]);
    assert_eq!(first["writeReview"]["review"]["id"], again["writeReview"]["review"]["id"]);

    market.server.data(CANCEL_BOOKING, json!({ "input": { "id": booking } }), Some(&ada)).await;
    market.server.wait_settled().await;
    let page = market.server.data(REVIEWS, json!({ "course": market.course }), Some(&market.teacher)).await;
    assert_eq!((page["reviews"]["totalCount"].clone(), page["course"]["reviewCount"].clone()), (json!(1), json!(1)));
}
