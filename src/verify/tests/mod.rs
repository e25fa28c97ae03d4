//! The checker over hand-built logs: per invariant, a clean log and a broken one.

use std::collections::BTreeMap;

use actors::{Aggregate, EventCodec, RecordedEvent, StreamId};
use uuid::Uuid;

use super::*;
use crate::domain::booking::{Booking, BookingEvent};
use crate::domain::course::{Course, CourseEvent, RejectionReason};
use crate::domain::member::{Member, MemberEvent};
use crate::domain::payment::{Payment, PaymentEvent};
use crate::domain::testing::at;

const TEACHER: Uuid = Uuid::from_u128(1);
const LEARNER: Uuid = Uuid::from_u128(2);
const OTHER_LEARNER: Uuid = Uuid::from_u128(3);
const COURSE: Uuid = Uuid::from_u128(10);
const OTHER_COURSE: Uuid = Uuid::from_u128(11);
const BOOKING: Uuid = Uuid::from_u128(20);
const NOBODY: Uuid = Uuid::from_u128(99);

/// A log being written by hand: positions and stream versions are assigned as events are added.
#[derive(Default)]
struct Log {
    events: Vec<RecordedEvent>,
    versions: BTreeMap<StreamId, u64>,
}

impl Log {
    fn add<A: Aggregate>(&mut self, id: Uuid, event: A::Event) -> &mut Self {
        let stream = StreamId::new(A::TYPE, id);
        let version = self.versions.entry(stream.clone()).or_default();
        *version += 1;
        let encoded = EventCodec::<A::Event>::default().encode(&event).expect("the event encodes");
        self.events.push(RecordedEvent {
            position: self.events.len() as u64 + 1,
            stream,
            version: *version,
            event_id: encoded.event_id,
            event_type: encoded.event_type,
            schema_version: encoded.schema_version,
            payload: encoded.payload,
            recorded_at: at(self.events.len() as i64),
            correlation_id: Uuid::nil(),
            causation_id: None,
            metadata: Default::default(),
        });
        self
    }

    fn member(&mut self, id: Uuid, email: &str) -> &mut Self {
        let event = MemberEvent::MemberRegistered {
            member_id: id,
            email: email.to_owned(),
            display_name: "Someone".to_owned(),
            city: None,
            joined_at: at(0),
        };
        self.add::<Member>(id, event)
    }

    fn course(&mut self, id: Uuid) -> &mut Self {
        let created = CourseEvent::CourseCreated {
            teacher_id: TEACHER,
            title: "Bread baking".to_owned(),
            description: "Sourdough".to_owned(),
            category: "cooking".to_owned(),
            city: None,
            price_cents: 2_500,
            currency: "EUR".to_owned(),
            capacity: 5,
            created_at: at(0),
        };
        self.add::<Course>(id, created).add::<Course>(id, CourseEvent::CoursePublished { published_at: at(0) })
    }

    /// Teacher, learner and a published course: what every booking below needs.
    fn market() -> Self {
        let mut log = Log::default();
        log.member(TEACHER, "teacher@example.org").member(LEARNER, "learner@example.org").course(COURSE);
        log
    }

    fn requested(&mut self, booking: Uuid, course: Uuid, learner: Uuid) -> &mut Self {
        let event = BookingEvent::BookingRequested {
            learner_id: learner,
            course_id: course,
            teacher_id: TEACHER,
            price_cents: 2_500,
            currency: "EUR".to_owned(),
            payment_method: "tok_visa".to_owned(),
            requested_at: at(1),
        };
        self.add::<Booking>(booking, event)
    }

    fn seat_reserved(&mut self, booking: Uuid, learner: Uuid) -> &mut Self {
        self.add::<Course>(COURSE, CourseEvent::SeatReserved { booking_id: booking, learner_id: learner, reserved_at: at(2) })
            .add::<Booking>(booking, BookingEvent::BookingSeatReserved { reserved_at: at(2) })
    }

    fn captured(&mut self, booking: Uuid) -> &mut Self {
        let event = PaymentEvent::PaymentCaptured {
            booking_id: booking,
            amount_cents: 2_500,
            currency: "EUR".to_owned(),
            payment_method: "tok_visa".to_owned(),
            provider_reference: "sim_ch".to_owned(),
            captured_at: at(3),
        };
        self.add::<Payment>(booking, event)
    }

    fn refunded(&mut self, booking: Uuid) -> &mut Self {
        let event = PaymentEvent::PaymentRefunded {
            amount_cents: 2_500,
            currency: "EUR".to_owned(),
            provider_reference: "sim_re".to_owned(),
            refunded_at: at(5),
        };
        self.add::<Payment>(booking, event)
    }

    fn confirmed_booking(&mut self, booking: Uuid, learner: Uuid) -> &mut Self {
        self.requested(booking, COURSE, learner)
            .seat_reserved(booking, learner)
            .captured(booking)
            .add::<Booking>(booking, BookingEvent::BookingConfirmed { confirmed_at: at(3) })
    }

    fn cancelled(&mut self, booking: Uuid, seat_held: bool, was_confirmed: bool) -> &mut Self {
        let event = BookingEvent::BookingCancelled {
            course_id: COURSE,
            reason: Some("I am ill".to_owned()),
            by_learner: true,
            seat_held,
            was_confirmed,
            cancelled_at: at(4),
        };
        self.add::<Booking>(booking, event)
    }

    fn seat_released(&mut self, booking: Uuid) -> &mut Self {
        self.add::<Course>(COURSE, CourseEvent::SeatReleased { booking_id: booking, released_at: at(4) })
    }

    fn violations(&self) -> Vec<Violation> {
        check(&self.events).expect("the log decodes")
    }

    /// The ids of the violations, in the checker's order.
    fn ids(&self) -> Vec<String> {
        self.violations().into_iter().map(|violation| violation.id).collect()
    }
}

fn only(violations: Vec<Violation>) -> Violation {
    assert_eq!(violations.len(), 1, "expected one violation: {violations:#?}");
    violations.into_iter().next().expect("one violation")
}

fn positions(violation: &Violation) -> Vec<u64> {
    violation.events.iter().map(|event| event.position).collect()
}

#[test]
fn it_should_find_nothing_wrong_with_a_consistent_market() {
    let mut log = Log::market();
    log.member(OTHER_LEARNER, "other@example.org").confirmed_booking(BOOKING, LEARNER);
    // Cancelled after the charge: seat released, payment refunded.
    let cancelled = Uuid::from_u128(21);
    log.confirmed_booking(cancelled, OTHER_LEARNER).cancelled(cancelled, true, true).seat_released(cancelled).refunded(cancelled);
    // Refused a seat: rejected, never charged.
    let rejected = Uuid::from_u128(22);
    log.requested(rejected, COURSE, OTHER_LEARNER)
        .add::<Course>(
            COURSE,
            CourseEvent::SeatReservationRejected { booking_id: rejected, reason: RejectionReason::Full, rejected_at: at(2) },
        )
        .add::<Booking>(rejected, BookingEvent::BookingRejected { reason: "the course is full".to_owned(), rejected_at: at(2) });
    assert_eq!(log.violations(), vec![]);
}

#[test]
fn it_should_find_a_seat_held_by_a_cancelled_booking() {
    let mut log = Log::market();
    log.confirmed_booking(BOOKING, LEARNER).cancelled(BOOKING, true, true).refunded(BOOKING);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("seat-without-booking/{COURSE}/{BOOKING}"));
    assert_eq!(violation.message, format!("course {COURSE} holds a seat for booking {BOOKING}, which is cancelled"));
    let types: Vec<&str> = violation.events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(types, ["SeatReserved", "BookingCancelled"]);
    assert_eq!(violation.repair, Some(Repair::ReleaseSeat { course_id: COURSE, booking_id: BOOKING }));
}

#[test]
fn it_should_find_a_seat_held_by_an_unknown_booking() {
    let mut log = Log::market();
    log.add::<Course>(COURSE, CourseEvent::SeatReserved { booking_id: BOOKING, learner_id: LEARNER, reserved_at: at(2) });
    let violation = only(log.violations());
    assert_eq!((violation.kind, positions(&violation)), (ViolationKind::SeatWithoutBooking, vec![5]));
    assert!(violation.message.ends_with("which does not exist"), "{}", violation.message);
}

#[test]
fn it_should_find_a_confirmed_booking_without_a_seat() {
    let mut log = Log::market();
    log.confirmed_booking(BOOKING, LEARNER).seat_released(BOOKING);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("booking-without-seat/{BOOKING}"));
    assert_eq!(positions(&violation), vec![9, 10], "the confirmation and the release");
    assert_eq!(violation.repair, Some(Repair::CancelBooking { booking_id: BOOKING, reason: "repair: no seat held" }));
}

#[test]
fn it_should_accept_a_booking_holding_a_seat_whose_payment_is_pending() {
    let mut log = Log::market();
    log.requested(BOOKING, COURSE, LEARNER).seat_reserved(BOOKING, LEARNER);
    assert_eq!(log.violations(), vec![]);
}

#[test]
fn it_should_find_a_confirmed_booking_whose_payment_was_refunded() {
    let mut log = Log::market();
    log.confirmed_booking(BOOKING, LEARNER).refunded(BOOKING);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("confirmed-without-payment/{BOOKING}"));
    assert_eq!(violation.message, format!("booking {BOOKING} is confirmed but its payment is refunded"));
    assert_eq!(violation.repair, Some(Repair::CancelBooking { booking_id: BOOKING, reason: "repair: no captured payment" }));
}

#[test]
fn it_should_find_a_confirmed_booking_with_no_payment_at_all() {
    let mut log = Log::market();
    log.requested(BOOKING, COURSE, LEARNER)
        .seat_reserved(BOOKING, LEARNER)
        .add::<Booking>(BOOKING, BookingEvent::BookingConfirmed { confirmed_at: at(3) });
    assert_eq!(log.ids(), [format!("confirmed-without-payment/{BOOKING}")]);
}

#[test]
fn it_should_find_a_cancelled_booking_charged_but_not_refunded() {
    let mut log = Log::market();
    log.confirmed_booking(BOOKING, LEARNER).cancelled(BOOKING, true, true).seat_released(BOOKING);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("unrefunded-cancellation/{BOOKING}"));
    let types: Vec<&str> = violation.events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(types, ["PaymentCaptured", "BookingCancelled"]);
    assert_eq!(violation.repair, Some(Repair::Refund { booking_id: BOOKING }));
}

#[test]
fn it_should_accept_a_cancelled_booking_that_was_never_charged() {
    let mut log = Log::market();
    let failed = PaymentEvent::PaymentFailed {
        booking_id: BOOKING,
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_decline".to_owned(),
        reason: "the card was declined".to_owned(),
        failed_at: at(3),
    };
    log.requested(BOOKING, COURSE, LEARNER)
        .seat_reserved(BOOKING, LEARNER)
        .add::<Payment>(BOOKING, failed)
        .cancelled(BOOKING, true, false)
        .seat_released(BOOKING);
    assert_eq!(log.violations(), vec![]);
}

#[test]
fn it_should_find_an_open_booking_of_a_course_that_does_not_exist() {
    let mut log = Log::market();
    log.requested(BOOKING, OTHER_COURSE, LEARNER);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("missing-course/{BOOKING}"));
    assert_eq!(violation.message, format!("booking {BOOKING} is requested but its course {OTHER_COURSE} does not exist"));
    assert_eq!(violation.repair, Some(Repair::CancelBooking { booking_id: BOOKING, reason: "repair: the course does not exist" }));
}

#[test]
fn it_should_find_an_open_booking_of_a_learner_who_is_not_a_member() {
    let mut log = Log::market();
    log.requested(BOOKING, COURSE, NOBODY);
    let violation = only(log.violations());
    assert_eq!(violation.id, format!("missing-learner/{BOOKING}"));
    assert_eq!(positions(&violation), vec![5], "the request");
}

#[test]
fn it_should_accept_a_closed_booking_of_a_course_that_does_not_exist() {
    let mut log = Log::market();
    log.requested(BOOKING, OTHER_COURSE, NOBODY)
        .add::<Booking>(BOOKING, BookingEvent::BookingRejected { reason: "the course does not exist".to_owned(), rejected_at: at(2) });
    assert_eq!(log.violations(), vec![]);
}

#[test]
fn it_should_find_an_email_address_held_by_two_members() {
    let mut log = Log::market();
    log.member(OTHER_LEARNER, " Learner@Example.org ");
    let violation = only(log.violations());
    assert_eq!(violation.id, "duplicate-email/learner@example.org");
    assert_eq!((positions(&violation), violation.repair), (vec![2, 5], None), "both registrations, and nothing to send");
}

#[test]
fn it_should_accept_members_with_different_addresses() {
    let mut log = Log::market();
    log.member(OTHER_LEARNER, "learner@example.com");
    assert_eq!(log.violations(), vec![]);
}

#[test]
fn it_should_print_a_violation_on_one_line_with_its_events_and_repair() {
    let mut log = Log::market();
    log.confirmed_booking(BOOKING, LEARNER).refunded(BOOKING);
    let line = only(log.violations()).to_string();
    assert_eq!(
        line,
        format!(
            "confirmed-without-payment/{BOOKING}: booking {BOOKING} is confirmed but its payment is refunded \
             [#9 BookingConfirmed booking:{BOOKING}, #10 PaymentRefunded payment:{BOOKING}]; \
             repair: cancel booking {BOOKING} (repair: no captured payment)"
        )
    );
}

#[test]
fn it_should_refuse_an_event_it_cannot_decode() {
    let mut log = Log::market();
    log.requested(BOOKING, COURSE, LEARNER);
    log.events[4].payload.truncate(3);
    assert!(check(&log.events).is_err());
}

mod provider;
