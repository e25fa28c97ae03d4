//! Given/when/then tests of the course's seats: reserving, rejecting, releasing.

use actors::testing::AggregateTest;

use super::*;

#[test]
fn it_should_reserve_a_seat() {
    AggregateTest::<Course>::given([created(), published()]).when(reserve(BOOKING, LEARNER)).then_expect_events([seat_reserved()]);
}

#[test]
fn it_should_record_nothing_when_the_booking_already_holds_a_seat() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved()]).when(reserve(BOOKING, LEARNER)).then_expect_events([]);
}

#[test]
fn it_should_record_nothing_when_a_released_booking_asks_again() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved(), released()])
        .when(reserve(BOOKING, LEARNER))
        .then_expect_events([]);
}

#[test]
fn it_should_reject_a_seat_when_not_published() {
    AggregateTest::<Course>::given([created()])
        .when(reserve(BOOKING, LEARNER))
        .then_expect_events([rejected(BOOKING, RejectionReason::NotPublished)]);
}

#[test]
fn it_should_reject_a_seat_when_archived() {
    AggregateTest::<Course>::given([created(), published(), archived()])
        .when(reserve(BOOKING, LEARNER))
        .then_expect_events([rejected(BOOKING, RejectionReason::Archived)]);
}

#[test]
fn it_should_reject_a_seat_for_the_teacher() {
    AggregateTest::<Course>::given([created(), published()])
        .when(reserve(BOOKING, TEACHER))
        .then_expect_events([rejected(BOOKING, RejectionReason::OwnCourse)]);
}

#[test]
fn it_should_reject_a_seat_when_full() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved()])
        .when(reserve(OTHER_BOOKING, STRANGER))
        .then_expect_events([rejected(OTHER_BOOKING, RejectionReason::Full)]);
}

#[test]
fn it_should_not_reserve_a_seat_in_a_missing_course() {
    AggregateTest::<Course>::given_no_previous_events().when(reserve(BOOKING, LEARNER)).then_expect_error(CourseError::NotFound);
}

#[test]
fn it_should_release_a_seat() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved()])
        .when(ReleaseSeat { booking_id: BOOKING, at: at(4) }.into())
        .then_expect_events([released()]);
}

#[test]
fn it_should_record_nothing_when_releasing_a_seat_never_reserved() {
    AggregateTest::<Course>::given([created(), published()])
        .when(ReleaseSeat { booking_id: BOOKING, at: at(4) }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_record_nothing_when_releasing_a_seat_twice() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved(), released()])
        .when(ReleaseSeat { booking_id: BOOKING, at: at(5) }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_not_release_a_seat_of_a_missing_course() {
    AggregateTest::<Course>::given_no_previous_events()
        .when(ReleaseSeat { booking_id: BOOKING, at: at(4) }.into())
        .then_expect_error(CourseError::NotFound);
}

#[test]
fn it_should_give_a_released_seat_to_the_next_learner() {
    AggregateTest::<Course>::given([created(), published(), seat_reserved(), released()])
        .when(reserve(OTHER_BOOKING, STRANGER))
        .then_expect_events([CourseEvent::SeatReserved { booking_id: OTHER_BOOKING, learner_id: STRANGER, reserved_at: at(3) }]);
}

#[test]
fn it_should_count_the_seats_in_its_state() {
    let course = Course::replay(&[created(), published(), seat_reserved()]).expect("a course");
    assert_eq!((course.status, course.seats_taken(), course.seats_available()), (CourseStatus::Published, 1, 0));
    let course = Course::replay(&[created(), published(), seat_reserved(), released()]).expect("a course");
    assert_eq!((course.seats_taken(), course.seats_available()), (0, 1));
}
