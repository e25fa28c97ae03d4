//! The cross-service invariants, each a function from the folded log to its violations.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::model::{EventRef, Model};
use super::violation::{Repair, Violation, ViolationKind};
use crate::domain::booking::BookingStatus;
use crate::domain::payment::PaymentStatus;
use crate::domain::values;

/// Every violation, invariant by invariant, each in id order.
pub(super) fn check(model: &Model) -> Vec<Violation> {
    let mut violations = seats_without_bookings(model);
    violations.extend(bookings_without_seats(model));
    violations.extend(confirmed_without_payment(model));
    violations.extend(unrefunded_cancellations(model));
    violations.extend(orphan_bookings(model));
    violations.extend(duplicate_emails(model));
    violations
}

fn holds_seat(status: BookingStatus) -> bool {
    matches!(status, BookingStatus::SeatReserved | BookingStatus::Confirmed)
}

fn is_open(status: BookingStatus) -> bool {
    matches!(status, BookingStatus::Requested | BookingStatus::SeatReserved | BookingStatus::Confirmed)
}

/// Invariant 1a: every seat a course holds belongs to one of its bookings that holds a seat or is
/// confirmed.
fn seats_without_bookings(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&course_id, course) in &model.courses {
        let Some(state) = &course.state else { continue };
        for &booking_id in &state.seat_holders {
            let facts = model.bookings.get(&booking_id);
            let why = match model.booking(booking_id) {
                None => "which does not exist".to_owned(),
                Some(booking) if booking.course_id != course_id => format!("which is a booking of course {}", booking.course_id),
                Some(booking) if !holds_seat(booking.status) => format!("which is {}", booking.status),
                Some(_) => continue,
            };
            let message = format!("course {course_id} holds a seat for booking {booking_id}, {why}");
            let events = vec![course.seat_events.get(&booking_id), facts.and_then(|facts| facts.last.as_ref())];
            violations.push(
                Violation::new(ViolationKind::SeatWithoutBooking, format!("{course_id}/{booking_id}"), message, events)
                    .repaired_by(Repair::ReleaseSeat { course_id, booking_id }),
            );
        }
    }
    violations
}

/// Invariant 1b: every booking holding a seat or confirmed has its seat in its course. A booking
/// whose course does not exist is left to [`orphan_bookings`].
fn bookings_without_seats(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.bookings {
        let Some(booking) = facts.state.as_ref().filter(|booking| holds_seat(booking.status)) else { continue };
        let Some(course) = model.course(booking.course_id) else { continue };
        if course.seat_holders.contains(&booking_id) {
            continue;
        }
        let message = format!("booking {booking_id} is {} but course {} holds no seat for it", booking.status, booking.course_id);
        let seat_event = model.courses.get(&booking.course_id).and_then(|course| course.seat_events.get(&booking_id));
        violations.push(
            Violation::new(ViolationKind::BookingWithoutSeat, booking_id, message, vec![facts.last.as_ref(), seat_event])
                .repaired_by(Repair::CancelBooking { booking_id, reason: "repair: no seat held" }),
        );
    }
    violations
}

/// Invariant 2: every confirmed booking has a captured payment.
fn confirmed_without_payment(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.bookings {
        if facts.state.as_ref().map(|booking| booking.status) != Some(BookingStatus::Confirmed) {
            continue;
        }
        let payment = model.payments.get(&booking_id);
        let status = model.payment(booking_id).map_or(PaymentStatus::Pending, |payment| payment.status);
        if status == PaymentStatus::Captured {
            continue;
        }
        let message = format!("booking {booking_id} is confirmed but its payment is {status}");
        let events = vec![facts.last.as_ref(), payment.and_then(|payment| payment.last.as_ref())];
        violations.push(
            Violation::new(ViolationKind::ConfirmedWithoutPayment, booking_id, message, events)
                .repaired_by(Repair::CancelBooking { booking_id, reason: "repair: no captured payment" }),
        );
    }
    violations
}

/// Invariant 3: every cancelled booking that was charged is refunded.
fn unrefunded_cancellations(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.bookings {
        if facts.state.as_ref().map(|booking| booking.status) != Some(BookingStatus::Cancelled) {
            continue;
        }
        let Some(payment) = model.payments.get(&booking_id) else { continue };
        let (Some(captured), Some(state)) = (&payment.captured, &payment.state) else { continue };
        if state.status == PaymentStatus::Refunded {
            continue;
        }
        let message = match state.status {
            PaymentStatus::Captured => format!("booking {booking_id} is cancelled but its captured payment was never refunded"),
            status => format!("booking {booking_id} is cancelled but its payment, once captured, is {status}, not refunded"),
        };
        violations.push(
            Violation::new(ViolationKind::UnrefundedCancellation, booking_id, message, vec![facts.last.as_ref(), Some(captured)])
                .repaired_by(Repair::Refund { booking_id }),
        );
    }
    violations
}

/// Invariant 4: every open booking's course and learner exist. A rejected or cancelled booking is
/// history: closing it is the compensation, so it is not reported again.
fn orphan_bookings(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.bookings {
        let Some(booking) = facts.state.as_ref().filter(|booking| is_open(booking.status)) else { continue };
        if model.course(booking.course_id).is_none() {
            let message = format!("booking {booking_id} is {} but its course {} does not exist", booking.status, booking.course_id);
            violations.push(
                Violation::new(ViolationKind::MissingCourse, booking_id, message, vec![facts.requested.as_ref(), facts.last.as_ref()])
                    .repaired_by(Repair::CancelBooking { booking_id, reason: "repair: the course does not exist" }),
            );
        }
        if !model.member_exists(booking.learner_id) {
            let message = format!("booking {booking_id} is {} but its learner {} is not a member", booking.status, booking.learner_id);
            violations.push(
                Violation::new(ViolationKind::MissingLearner, booking_id, message, vec![facts.requested.as_ref(), facts.last.as_ref()])
                    .repaired_by(Repair::CancelBooking { booking_id, reason: "repair: the learner does not exist" }),
            );
        }
    }
    violations
}

/// Invariant 5: no e-mail address is held by two members. Not repairable: which member keeps the
/// address, and how the other signs in, is a person's decision.
fn duplicate_emails(model: &Model) -> Vec<Violation> {
    let mut holders: BTreeMap<String, Vec<(Uuid, &EventRef)>> = BTreeMap::new();
    for (&member_id, facts) in &model.members {
        let (Some(member), Some(registered)) = (&facts.state, &facts.registered) else { continue };
        let email = values::normalize_email(&member.email).unwrap_or_else(|_| member.email.trim().to_lowercase());
        holders.entry(email).or_default().push((member_id, registered));
    }
    holders
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(email, members)| {
            let ids: Vec<String> = members.iter().map(|(id, _)| id.to_string()).collect();
            let message = format!("the e-mail address {email} is held by {} members: {}", members.len(), ids.join(", "));
            let events = members.iter().map(|(_, registered)| Some(*registered)).collect();
            Violation::new(ViolationKind::DuplicateEmail, &email, message, events)
        })
        .collect()
}
