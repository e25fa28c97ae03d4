//! Given/when/then tests of the review aggregate.

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::{assert_round_trips, at};
use crate::domain::values::{Field, COMMENT_MAX};

const BOOKING: Uuid = Uuid::from_u128(20);
const COURSE: Uuid = Uuid::from_u128(21);
const LEARNER: Uuid = Uuid::from_u128(22);
const SOMEONE: Uuid = Uuid::from_u128(23);

fn booking(status: BookingStatus) -> Option<ReviewedBooking> {
    Some(ReviewedBooking { booking_id: BOOKING, learner_id: LEARNER, course_id: COURSE, status })
}

fn write(rating: i64, comment: &str) -> WriteReview {
    WriteReview { author_id: LEARNER, booking: booking(BookingStatus::Confirmed), rating, comment: comment.into(), at: at(1) }
}

fn update(rating: Option<i64>, comment: Option<&str>) -> UpdateReview {
    UpdateReview { actor_id: LEARNER, rating, comment: comment.map(Into::into), at: at(2) }
}

fn written() -> ReviewEvent {
    ReviewEvent::ReviewWritten {
        booking_id: BOOKING,
        course_id: COURSE,
        author_id: LEARNER,
        rating: 4,
        comment: "Lovely bread".into(),
        written_at: at(1),
    }
}

#[test]
fn it_should_write_the_review_of_a_confirmed_booking() {
    AggregateTest::<Review>::given_no_previous_events().when(write(4, "  Lovely bread ").into()).then_expect_events([written()]);
}

#[test]
fn it_should_accept_an_empty_comment() {
    let event = ReviewEvent::ReviewWritten {
        booking_id: BOOKING,
        course_id: COURSE,
        author_id: LEARNER,
        rating: 5,
        comment: String::new(),
        written_at: at(1),
    };
    AggregateTest::<Review>::given_no_previous_events().when(write(5, "").into()).then_expect_events([event]);
}

#[test]
fn it_should_not_write_a_rating_outside_one_to_five() {
    for rating in [0, 6] {
        AggregateTest::<Review>::given_no_previous_events()
            .when(write(rating, "x").into())
            .then_expect_error(ReviewError::Invalid(ValueError::Rating(rating)));
    }
}

#[test]
fn it_should_not_write_a_comment_over_the_limit() {
    let long = "c".repeat(COMMENT_MAX + 1);
    AggregateTest::<Review>::given_no_previous_events()
        .when(write(3, &long).into())
        .then_expect_error(ReviewError::Invalid(ValueError::TooLong { field: Field::Comment, max: COMMENT_MAX, actual: COMMENT_MAX + 1 }));
}

#[test]
fn it_should_not_write_the_review_of_a_missing_booking() {
    let command = WriteReview { booking: None, ..write(4, "x") };
    AggregateTest::<Review>::given_no_previous_events().when(command.into()).then_expect_error(ReviewError::BookingNotFound);
}

#[test]
fn it_should_not_write_the_review_of_someone_elses_booking() {
    let command = WriteReview { author_id: SOMEONE, ..write(4, "x") };
    AggregateTest::<Review>::given_no_previous_events().when(command.into()).then_expect_error(ReviewError::NotYourBooking);
}

#[test]
fn it_should_not_write_a_second_review_of_a_booking() {
    AggregateTest::<Review>::given([written()]).when(write(2, "again").into()).then_expect_error(ReviewError::AlreadyWritten);
}

#[test]
fn it_should_not_write_the_review_of_a_booking_that_is_not_confirmed() {
    for status in [BookingStatus::Requested, BookingStatus::SeatReserved, BookingStatus::Rejected, BookingStatus::Cancelled] {
        let command = WriteReview { booking: booking(status), ..write(4, "x") };
        AggregateTest::<Review>::given_no_previous_events().when(command.into()).then_expect_error(ReviewError::NotConfirmed { status });
    }
}

#[test]
fn it_should_rank_bad_input_before_a_missing_booking_and_forbidden_before_already_written() {
    let command = WriteReview { booking: None, ..write(9, "x") };
    AggregateTest::<Review>::given_no_previous_events().when(command.into()).then_expect_error(ReviewError::Invalid(ValueError::Rating(9)));
    let command = WriteReview { author_id: SOMEONE, ..write(4, "x") };
    AggregateTest::<Review>::given([written()]).when(command.into()).then_expect_error(ReviewError::NotYourBooking);
}

#[test]
fn it_should_update_what_was_sent_and_keep_the_rest() {
    let event = ReviewEvent::ReviewUpdated { rating: 2, comment: "Lovely bread".into(), updated_at: at(2) };
    AggregateTest::<Review>::given([written()]).when(update(Some(2), None).into()).then_expect_events([event]);
    let event = ReviewEvent::ReviewUpdated { rating: 4, comment: "Burnt".into(), updated_at: at(2) };
    AggregateTest::<Review>::given([written()]).when(update(None, Some(" Burnt ")).into()).then_expect_events([event]);
}

#[test]
fn it_should_record_nothing_when_an_update_changes_nothing() {
    AggregateTest::<Review>::given([written()]).when(update(Some(4), Some("Lovely bread")).into()).then_expect_events([]);
    AggregateTest::<Review>::given([written()]).when(update(None, None).into()).then_expect_events([]);
}

#[test]
fn it_should_not_update_a_missing_review() {
    AggregateTest::<Review>::given_no_previous_events().when(update(Some(3), None).into()).then_expect_error(ReviewError::NotFound);
}

#[test]
fn it_should_not_update_someone_elses_review() {
    let command = UpdateReview { actor_id: SOMEONE, ..update(Some(3), None) };
    AggregateTest::<Review>::given([written()]).when(command.into()).then_expect_error(ReviewError::NotYourReview);
}

#[test]
fn it_should_not_update_to_a_bad_rating() {
    AggregateTest::<Review>::given([written()])
        .when(update(Some(0), None).into())
        .then_expect_error(ReviewError::Invalid(ValueError::Rating(0)));
}

#[test]
fn it_should_show_the_review_in_its_state() {
    let updated = ReviewEvent::ReviewUpdated { rating: 1, comment: "Changed my mind".into(), updated_at: at(3) };
    let review = Review::replay(&[written(), updated]).expect("a review");
    assert_eq!((review.rating, review.comment.as_str(), review.written_at, review.updated_at), (1, "Changed my mind", at(1), at(3)));
}

#[test]
fn it_should_give_one_review_id_per_booking() {
    assert_eq!(review_id(BOOKING), review_id(BOOKING));
    assert_ne!(review_id(BOOKING), review_id(COURSE));
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[written(), ReviewEvent::ReviewUpdated { rating: 1, comment: String::new(), updated_at: at(3) }]);
}

#[test]
fn it_should_map_refusals_to_kinds() {
    assert_eq!(ReviewError::NotYourReview.kind(), RefusalKind::Forbidden);
    assert_eq!(ReviewError::AlreadyWritten.kind(), RefusalKind::AlreadyExists);
    assert_eq!(ReviewError::NotConfirmed { status: BookingStatus::Cancelled }.kind(), RefusalKind::RuleViolation);
}
