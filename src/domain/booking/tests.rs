//! Given/when/then tests of the booking aggregate.

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::{assert_round_trips, at};

const LEARNER: Uuid = Uuid::from_u128(1);
const TEACHER: Uuid = Uuid::from_u128(2);
const STRANGER: Uuid = Uuid::from_u128(3);
const COURSE: Uuid = Uuid::from_u128(20);

fn request() -> RequestBooking {
    RequestBooking {
        learner_id: LEARNER,
        course_id: COURSE,
        teacher_id: TEACHER,
        price_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        requested_at: at(0),
    }
}

fn requested() -> BookingEvent {
    BookingEvent::BookingRequested {
        learner_id: LEARNER,
        course_id: COURSE,
        teacher_id: TEACHER,
        price_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        requested_at: at(0),
    }
}

fn seat_reserved() -> BookingEvent {
    BookingEvent::BookingSeatReserved { reserved_at: at(1) }
}

fn confirmed() -> BookingEvent {
    BookingEvent::BookingConfirmed { confirmed_at: at(2) }
}

fn rejected() -> BookingEvent {
    BookingEvent::BookingRejected { reason: "the course is full".into(), rejected_at: at(1) }
}

fn cancel(actor: Canceller) -> CancelBooking {
    CancelBooking { actor, reason: Some("I am ill".into()), at: at(3) }
}

fn cancelled(by_learner: bool, seat_held: bool, was_confirmed: bool) -> BookingEvent {
    BookingEvent::BookingCancelled {
        course_id: COURSE,
        reason: Some("I am ill".into()),
        by_learner,
        seat_held,
        was_confirmed,
        cancelled_at: at(3),
    }
}

#[test]
fn it_should_request_a_booking() {
    AggregateTest::<Booking>::given_no_previous_events().when(request().into()).then_expect_events([requested()]);
}

#[test]
fn it_should_not_book_your_own_course() {
    AggregateTest::<Booking>::given_no_previous_events()
        .when(RequestBooking { learner_id: TEACHER, ..request() }.into())
        .then_expect_error(BookingError::OwnCourse);
}

#[test]
fn it_should_not_request_a_booking_twice() {
    AggregateTest::<Booking>::given([requested()]).when(request().into()).then_expect_error(BookingError::AlreadyRequested);
}

#[test]
fn it_should_not_request_a_booking_without_a_payment_method() {
    AggregateTest::<Booking>::given_no_previous_events()
        .when(RequestBooking { payment_method: " ".into(), ..request() }.into())
        .then_expect_error(BookingError::Invalid(ValueError::Empty(values::Field::PaymentMethod)));
}

#[test]
fn it_should_mark_the_seat_reserved() {
    AggregateTest::<Booking>::given([requested()]).when(MarkSeatReserved { at: at(1) }.into()).then_expect_events([seat_reserved()]);
}

#[test]
fn it_should_record_nothing_when_the_seat_is_marked_twice() {
    AggregateTest::<Booking>::given([requested(), seat_reserved()]).when(MarkSeatReserved { at: at(2) }.into()).then_expect_events([]);
}

#[test]
fn it_should_not_mark_the_seat_reserved_when_cancelled() {
    AggregateTest::<Booking>::given([requested(), cancelled(true, false, false)])
        .when(MarkSeatReserved { at: at(4) }.into())
        .then_expect_error(BookingError::StepNoLongerApplies { step: BookingStep::MarkSeatReserved, status: BookingStatus::Cancelled });
}

#[test]
fn it_should_not_mark_the_seat_of_a_missing_booking() {
    AggregateTest::<Booking>::given_no_previous_events()
        .when(MarkSeatReserved { at: at(1) }.into())
        .then_expect_error(BookingError::NotFound);
}

#[test]
fn it_should_confirm_a_booking_holding_a_seat() {
    AggregateTest::<Booking>::given([requested(), seat_reserved()])
        .when(ConfirmBooking { at: at(2) }.into())
        .then_expect_events([confirmed()]);
}

#[test]
fn it_should_record_nothing_when_confirmed_twice() {
    AggregateTest::<Booking>::given([requested(), seat_reserved(), confirmed()])
        .when(ConfirmBooking { at: at(3) }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_not_confirm_when_the_learner_already_cancelled() {
    AggregateTest::<Booking>::given([requested(), seat_reserved(), cancelled(true, true, false)])
        .when(ConfirmBooking { at: at(4) }.into())
        .then_expect_error(BookingError::StepNoLongerApplies { step: BookingStep::Confirm, status: BookingStatus::Cancelled });
}

#[test]
fn it_should_not_confirm_before_a_seat_is_reserved() {
    AggregateTest::<Booking>::given([requested()])
        .when(ConfirmBooking { at: at(2) }.into())
        .then_expect_error(BookingError::StepNoLongerApplies { step: BookingStep::Confirm, status: BookingStatus::Requested });
}

#[test]
fn it_should_reject_a_requested_booking() {
    AggregateTest::<Booking>::given([requested()])
        .when(RejectBooking { reason: "the course is full".into(), at: at(1) }.into())
        .then_expect_events([rejected()]);
}

#[test]
fn it_should_record_nothing_when_rejected_twice() {
    AggregateTest::<Booking>::given([requested(), rejected()])
        .when(RejectBooking { reason: "the course is full".into(), at: at(2) }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_not_reject_a_booking_holding_a_seat() {
    AggregateTest::<Booking>::given([requested(), seat_reserved()])
        .when(RejectBooking { reason: "the course is full".into(), at: at(2) }.into())
        .then_expect_error(BookingError::StepNoLongerApplies { step: BookingStep::Reject, status: BookingStatus::SeatReserved });
}

#[test]
fn it_should_cancel_a_confirmed_booking_for_its_learner() {
    AggregateTest::<Booking>::given([requested(), seat_reserved(), confirmed()])
        .when(cancel(Canceller::Learner(LEARNER)).into())
        .then_expect_events([cancelled(true, true, true)]);
}

#[test]
fn it_should_cancel_a_requested_booking_that_holds_no_seat() {
    AggregateTest::<Booking>::given([requested()])
        .when(cancel(Canceller::Learner(LEARNER)).into())
        .then_expect_events([cancelled(true, false, false)]);
}

#[test]
fn it_should_cancel_for_the_system_after_a_failed_payment() {
    AggregateTest::<Booking>::given([requested(), seat_reserved()])
        .when(CancelBooking { reason: Some("  ".into()), ..cancel(Canceller::System) }.into())
        .then_expect_events([BookingEvent::BookingCancelled {
            course_id: COURSE,
            reason: None,
            by_learner: false,
            seat_held: true,
            was_confirmed: false,
            cancelled_at: at(3),
        }]);
}

#[test]
fn it_should_not_cancel_someone_elses_booking() {
    AggregateTest::<Booking>::given([requested()])
        .when(cancel(Canceller::Learner(TEACHER)).into())
        .then_expect_error(BookingError::NotYourBooking);
    AggregateTest::<Booking>::given([requested()])
        .when(cancel(Canceller::Learner(STRANGER)).into())
        .then_expect_error(BookingError::NotYourBooking);
}

#[test]
fn it_should_not_cancel_twice() {
    AggregateTest::<Booking>::given([requested(), cancelled(true, false, false)])
        .when(cancel(Canceller::Learner(LEARNER)).into())
        .then_expect_error(BookingError::AlreadyCancelled);
}

#[test]
fn it_should_not_cancel_a_rejected_booking() {
    AggregateTest::<Booking>::given([requested(), rejected()])
        .when(cancel(Canceller::Learner(LEARNER)).into())
        .then_expect_error(BookingError::AlreadyRejected);
}

#[test]
fn it_should_not_cancel_a_missing_booking() {
    AggregateTest::<Booking>::given_no_previous_events()
        .when(cancel(Canceller::Learner(LEARNER)).into())
        .then_expect_error(BookingError::NotFound);
}

#[test]
fn it_should_show_status_and_reason_in_its_state() {
    let booking = Booking::replay(&[requested(), rejected()]).expect("a booking");
    assert_eq!(booking.status, BookingStatus::Rejected);
    assert_eq!(booking.reason.as_deref(), Some("the course is full"));
    assert_eq!((booking.requested_at, booking.updated_at), (at(0), at(1)));
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[requested(), seat_reserved(), confirmed(), rejected(), cancelled(true, true, true)]);
}

#[test]
fn it_should_map_refusals_to_kinds() {
    assert_eq!(BookingError::NotYourBooking.kind(), RefusalKind::Forbidden);
    assert_eq!(BookingError::OwnCourse.kind(), RefusalKind::RuleViolation);
    assert_eq!(BookingError::AlreadyCancelled.kind(), RefusalKind::RuleViolation);
    assert_eq!(BookingError::NotFound.kind(), RefusalKind::NotFound);
}
