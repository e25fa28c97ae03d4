//! Given/when/then tests of the course aggregate: its lifecycle here, its seats in `seats`.

mod seats;

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::{assert_round_trips, at};
use crate::domain::values::Field;

const TEACHER: Uuid = Uuid::from_u128(1);
const LEARNER: Uuid = Uuid::from_u128(2);
const STRANGER: Uuid = Uuid::from_u128(3);
const BOOKING: Uuid = Uuid::from_u128(10);
const OTHER_BOOKING: Uuid = Uuid::from_u128(11);

fn create() -> CreateCourse {
    CreateCourse {
        teacher_id: TEACHER,
        title: " Sourdough basics ".into(),
        description: "Bake your first loaf.".into(),
        category: "Cooking".into(),
        city: Some("Utrecht".into()),
        price_cents: 2_500,
        currency: "EUR".into(),
        capacity: 1,
        created_at: at(0),
    }
}

fn created() -> CourseEvent {
    CourseEvent::CourseCreated {
        teacher_id: TEACHER,
        title: "Sourdough basics".into(),
        description: "Bake your first loaf.".into(),
        category: "Cooking".into(),
        city: Some("Utrecht".into()),
        price_cents: 2_500,
        currency: "EUR".into(),
        capacity: 1,
        created_at: at(0),
    }
}

fn update() -> UpdateCourse {
    UpdateCourse {
        actor_id: TEACHER,
        title: None,
        description: None,
        category: None,
        city: None,
        price_cents: None,
        capacity: None,
        at: at(5),
    }
}

fn published() -> CourseEvent {
    CourseEvent::CoursePublished { published_at: at(1) }
}

fn archived() -> CourseEvent {
    CourseEvent::CourseArchived { archived_at: at(2) }
}

fn reserve(booking_id: Uuid, learner_id: Uuid) -> CourseCommand {
    ReserveSeat { booking_id, learner_id, at: at(3) }.into()
}

fn seat_reserved() -> CourseEvent {
    CourseEvent::SeatReserved { booking_id: BOOKING, learner_id: LEARNER, reserved_at: at(3) }
}

fn rejected(booking_id: Uuid, reason: RejectionReason) -> CourseEvent {
    CourseEvent::SeatReservationRejected { booking_id, reason, rejected_at: at(3) }
}

fn released() -> CourseEvent {
    CourseEvent::SeatReleased { booking_id: BOOKING, released_at: at(4) }
}

#[test]
fn it_should_create_a_draft_course() {
    AggregateTest::<Course>::given_no_previous_events().when(create().into()).then_expect_events([created()]);
}

#[test]
fn it_should_not_create_a_course_with_an_empty_title() {
    AggregateTest::<Course>::given_no_previous_events()
        .when(CreateCourse { title: "  ".into(), ..create() }.into())
        .then_expect_error(CourseError::Invalid(ValueError::Empty(Field::Title)));
}

#[test]
fn it_should_not_create_a_course_with_a_lower_case_currency() {
    AggregateTest::<Course>::given_no_previous_events()
        .when(CreateCourse { currency: "eur".into(), ..create() }.into())
        .then_expect_error(CourseError::Invalid(ValueError::Currency("eur".into())));
}

#[test]
fn it_should_not_create_a_course_twice() {
    AggregateTest::<Course>::given([created()]).when(create().into()).then_expect_error(CourseError::AlreadyExists);
}

#[test]
fn it_should_update_a_course() {
    AggregateTest::<Course>::given([created(), published()])
        .when(UpdateCourse { title: Some("Rye".into()), city: Some(None), capacity: Some(3), ..update() }.into())
        .then_expect_events([CourseEvent::CourseUpdated {
            title: "Rye".into(),
            description: "Bake your first loaf.".into(),
            category: "Cooking".into(),
            city: None,
            price_cents: 2_500,
            capacity: 3,
            updated_at: at(5),
        }]);
}

#[test]
fn it_should_record_nothing_when_an_update_changes_nothing() {
    AggregateTest::<Course>::given([created()])
        .when(UpdateCourse { title: Some("Sourdough basics".into()), ..update() }.into())
        .then_expect_events([]);
}

#[test]
fn it_should_not_update_when_archived() {
    AggregateTest::<Course>::given([created(), archived()])
        .when(UpdateCourse { title: Some("Rye".into()), ..update() }.into())
        .then_expect_error(CourseError::Archived);
}

/// The course grown to two seats.
fn two_seats() -> CourseEvent {
    CourseEvent::CourseUpdated {
        title: "Sourdough basics".into(),
        description: "Bake your first loaf.".into(),
        category: "Cooking".into(),
        city: Some("Utrecht".into()),
        price_cents: 2_500,
        capacity: 2,
        updated_at: at(2),
    }
}

#[test]
fn it_should_lower_the_capacity_down_to_the_seats_taken() {
    AggregateTest::<Course>::given([created(), published(), two_seats(), seat_reserved()])
        .when(UpdateCourse { capacity: Some(1), ..update() }.into())
        .then_expect_events([CourseEvent::CourseUpdated {
            title: "Sourdough basics".into(),
            description: "Bake your first loaf.".into(),
            category: "Cooking".into(),
            city: Some("Utrecht".into()),
            price_cents: 2_500,
            capacity: 1,
            updated_at: at(5),
        }]);
}

#[test]
fn it_should_not_lower_the_capacity_below_the_seats_taken() {
    let second = CourseEvent::SeatReserved { booking_id: OTHER_BOOKING, learner_id: STRANGER, reserved_at: at(4) };
    AggregateTest::<Course>::given([created(), published(), two_seats(), seat_reserved(), second])
        .when(UpdateCourse { capacity: Some(1), ..update() }.into())
        .then_expect_error(CourseError::CapacityBelowSeatsTaken { capacity: 1, seats_taken: 2 });
}

#[test]
fn it_should_not_update_someone_elses_course() {
    AggregateTest::<Course>::given([created()])
        .when(UpdateCourse { actor_id: STRANGER, title: Some("Mine".into()), ..update() }.into())
        .then_expect_error(CourseError::NotTeacher);
}

#[test]
fn it_should_not_update_a_missing_course() {
    AggregateTest::<Course>::given_no_previous_events().when(update().into()).then_expect_error(CourseError::NotFound);
}

#[test]
fn it_should_report_bad_input_before_a_missing_course() {
    AggregateTest::<Course>::given_no_previous_events()
        .when(UpdateCourse { price_cents: Some(-1), ..update() }.into())
        .then_expect_error(CourseError::Invalid(ValueError::Price { actual: -1, max: values::PRICE_MAX_CENTS }));
}

#[test]
fn it_should_publish_a_draft() {
    AggregateTest::<Course>::given([created()])
        .when(PublishCourse { actor_id: TEACHER, at: at(1) }.into())
        .then_expect_events([published()]);
}

#[test]
fn it_should_not_publish_twice() {
    AggregateTest::<Course>::given([created(), published()])
        .when(PublishCourse { actor_id: TEACHER, at: at(2) }.into())
        .then_expect_error(CourseError::NotDraft { status: CourseStatus::Published });
}

#[test]
fn it_should_not_publish_when_archived() {
    AggregateTest::<Course>::given([created(), archived()])
        .when(PublishCourse { actor_id: TEACHER, at: at(3) }.into())
        .then_expect_error(CourseError::NotDraft { status: CourseStatus::Archived });
}

#[test]
fn it_should_not_publish_someone_elses_course() {
    AggregateTest::<Course>::given([created()])
        .when(PublishCourse { actor_id: STRANGER, at: at(1) }.into())
        .then_expect_error(CourseError::NotTeacher);
}

#[test]
fn it_should_not_publish_a_missing_course() {
    AggregateTest::<Course>::given_no_previous_events()
        .when(PublishCourse { actor_id: TEACHER, at: at(1) }.into())
        .then_expect_error(CourseError::NotFound);
}

#[test]
fn it_should_archive_a_published_course() {
    AggregateTest::<Course>::given([created(), published()])
        .when(ArchiveCourse { actor_id: TEACHER, at: at(2) }.into())
        .then_expect_events([archived()]);
}

#[test]
fn it_should_archive_a_draft() {
    AggregateTest::<Course>::given([created()])
        .when(ArchiveCourse { actor_id: TEACHER, at: at(2) }.into())
        .then_expect_events([archived()]);
}

#[test]
fn it_should_not_archive_twice() {
    AggregateTest::<Course>::given([created(), archived()])
        .when(ArchiveCourse { actor_id: TEACHER, at: at(3) }.into())
        .then_expect_error(CourseError::AlreadyArchived);
}

#[test]
fn it_should_not_archive_someone_elses_course() {
    AggregateTest::<Course>::given([created()])
        .when(ArchiveCourse { actor_id: STRANGER, at: at(2) }.into())
        .then_expect_error(CourseError::NotTeacher);
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[created(), published(), archived(), seat_reserved(), rejected(BOOKING, RejectionReason::Full), released()]);
}

#[test]
fn it_should_map_refusals_to_kinds() {
    assert_eq!(CourseError::NotFound.kind(), RefusalKind::NotFound);
    assert_eq!(CourseError::NotTeacher.kind(), RefusalKind::Forbidden);
    assert_eq!(CourseError::AlreadyArchived.kind(), RefusalKind::RuleViolation);
    assert_eq!(CourseError::Invalid(ValueError::Currency("x".into())).kind(), RefusalKind::BadInput);
}
