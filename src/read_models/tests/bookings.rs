//! The `bookings` read model: a status that follows three aggregates, never backwards, and lists per learner and course.

use std::sync::Arc;

use uuid::Uuid;

use super::{at, cancelled, captured, confirmed_booking, failed, requested, seat_reserved, Log};
use crate::domain::booking::BookingEvent;
use crate::domain::course::{CourseEvent, RejectionReason};
use crate::read_models::bookings::{self, BookingStatus};
use crate::read_models::{BookingFilter, BookingView, Caller, PageRequest};

fn ids(items: &[(String, Arc<BookingView>)]) -> Vec<Uuid> {
    items.iter().map(|(_, booking)| booking.id).collect()
}

#[actix_rt::test]
async fn it_should_follow_the_choreography_across_course_and_payment() {
    let log = Log::start().await;
    let (booking, course, learner, teacher) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(learner, course, teacher)]).await;
    let view = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((view.status, view.course_id, view.learner_id, view.teacher_id), (BookingStatus::Requested, course, learner, teacher));
    assert_eq!((view.price_cents, view.currency.as_str(), view.requested_at, view.version), (2500, "EUR", at(3), 1));

    // The course's answer comes first and already moves the booking; its version stays the booking stream's.
    log.course(course, [seat_reserved(booking, learner)]).await;
    let seated = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((seated.status, seated.version), (BookingStatus::SeatReserved, 1));
    assert!(seated.updated_at >= view.updated_at);

    log.booking(booking, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;
    log.payment(booking, [captured(booking, 2500, "EUR")]).await;
    log.booking(booking, [BookingEvent::BookingConfirmed { confirmed_at: at(6) }]).await;
    let view = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((view.status, view.reason.clone(), view.version), (BookingStatus::Confirmed, None, 3));
}

#[actix_rt::test]
async fn it_should_know_a_new_booking_view_from_its_first_event_as_it_will_store_it() {
    let log = Log::start().await;
    let (booking, course, learner, teacher) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(learner, course, teacher)]).await;
    let events = log.events().await;
    let first = events.last().expect("the event just appended");
    let known = bookings::view_of_new_booking(first).expect("the event decodes").expect("a new booking");
    let stored = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!(known, *stored);

    // Only a booking's first event says what a new booking looks like.
    log.booking(booking, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;
    let events = log.events().await;
    let later = events.last().expect("the event just appended");
    assert_eq!(bookings::view_of_new_booking(later).expect("the event decodes"), None);
    log.course(course, [seat_reserved(booking, learner)]).await;
    let events = log.events().await;
    assert_eq!(bookings::view_of_new_booking(events.last().expect("an event")).expect("the event decodes"), None);
}

#[actix_rt::test]
async fn it_should_be_rejected_with_the_reason_of_the_course() {
    let log = Log::start().await;
    let (booking, course) = (Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(Uuid::new_v4(), course, Uuid::new_v4())]).await;
    log.course(course, [CourseEvent::SeatReservationRejected { booking_id: booking, reason: RejectionReason::Full, rejected_at: at(4) }])
        .await;
    let view = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((view.status, view.reason.as_deref()), (BookingStatus::Rejected, Some("the course is full")));

    log.booking(booking, [BookingEvent::BookingRejected { reason: "FULL".to_owned(), rejected_at: at(5) }]).await;
    let view = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((view.status, view.reason.as_deref(), view.version), (BookingStatus::Rejected, Some("FULL"), 2));
}

#[actix_rt::test]
async fn it_should_keep_the_payment_failure_as_the_reason_of_the_cancellation() {
    let log = Log::start().await;
    let (booking, course, learner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(learner, course, Uuid::new_v4())]).await;
    log.course(course, [seat_reserved(booking, learner)]).await;
    log.payment(booking, [failed(booking, "card declined")]).await;
    log.booking(booking, [cancelled(course, None, false)]).await;

    let view = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!((view.status, view.reason.as_deref()), (BookingStatus::Cancelled, Some("card declined")));
}

#[actix_rt::test]
async fn it_should_not_move_a_final_status_back_on_a_late_event() {
    let log = Log::start().await;
    let (booking, course, learner) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    log.booking(booking, [requested(learner, course, Uuid::new_v4()), cancelled(course, None, false)]).await;
    let before = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    log.course(course, [seat_reserved(booking, learner)]).await;
    log.payment(booking, [failed(booking, "card declined")]).await;

    let after = log.read().await.bookings.get(booking).expect("the read model answers").expect("the booking is known");
    assert_eq!(after, before);
}

#[actix_rt::test]
async fn it_should_list_by_learner_course_status_and_viewer() {
    let log = Log::start().await;
    let (course_a, course_b, teacher_a, teacher_b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (ada, grace) = (Uuid::new_v4(), Uuid::new_v4());
    let first = confirmed_booking(&log, course_a, ada, teacher_a).await;
    let second = Uuid::new_v4();
    log.booking(second, [requested(grace, course_a, teacher_a)]).await;
    let third = Uuid::new_v4();
    log.booking(third, [requested(ada, course_b, teacher_b)]).await;
    let bookings = log.read().await.bookings;
    let list = |filter: BookingFilter| bookings.list(&filter, &PageRequest::first(10)).expect("the read model answers");
    let admin = BookingFilter { visible_to: Caller::Admin, ..BookingFilter::default() };

    assert_eq!(ids(&list(admin.clone()).items), vec![third, second, first]);
    assert_eq!(ids(&list(BookingFilter { learner_id: Some(ada), ..admin.clone() }).items), vec![third, first]);
    assert_eq!(ids(&list(BookingFilter { course_id: Some(course_a), ..admin.clone() }).items), vec![second, first]);
    assert_eq!(ids(&list(BookingFilter { status: Some(BookingStatus::Confirmed), ..admin.clone() }).items), vec![first]);
    // A teacher sees the bookings of its course, a learner its own, nobody anything else.
    let teacher_view = list(BookingFilter { visible_to: Caller::Member(teacher_a), ..BookingFilter::default() });
    assert_eq!((ids(&teacher_view.items), teacher_view.total_count), (vec![second, first], 2));
    assert_eq!(ids(&list(BookingFilter { visible_to: Caller::Member(grace), ..BookingFilter::default() }).items), vec![second]);
    assert_eq!(list(BookingFilter::default()).total_count, 0);
    let paged = bookings.list(&admin, &PageRequest::first(1)).expect("the read model answers");
    let next = bookings.list(&admin, &PageRequest::after(5, paged.end_cursor.expect("a cursor"))).expect("the read model answers");
    assert_eq!((ids(&next.items), next.has_next_page, next.total_count), (vec![second, first], false, 3));

    assert_eq!(bookings.count_by_status(BookingStatus::Requested).expect("the read model answers"), 2);
    assert_eq!(bookings.count_by_status(BookingStatus::Confirmed).expect("the read model answers"), 1);
    assert_eq!(bookings.count_by_status(BookingStatus::SeatReserved).expect("the read model answers"), 0);
}
