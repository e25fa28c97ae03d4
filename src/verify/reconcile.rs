//! The checks that reconcile the log with the payment provider's statement: money the provider
//! moved that the log does not show, captures the provider does not know, and charges left
//! without an outcome or a refund.

use super::model::Model;
use super::violation::{Repair, Violation, ViolationKind};
use crate::domain::booking::BookingStatus;
use crate::domain::payment::{Payment, PaymentStatus};
use crate::services::payments::{EntryKind, ProviderEntry};

/// Every difference between the log and the statement, check by check, each in booking order.
pub(super) fn check(model: &Model) -> Vec<Violation> {
    let mut violations = charges_not_recorded(model);
    violations.extend(captures_unknown_to_provider(model));
    violations.extend(charged_twice(model));
    violations.extend(charges_not_refunded(model));
    violations.extend(unresolved_charges(model));
    violations
}

fn charges(entries: &[ProviderEntry]) -> impl Iterator<Item = &ProviderEntry> {
    entries.iter().filter(|entry| entry.kind == EntryKind::Charge)
}

fn describe(entry: &ProviderEntry) -> String {
    format!("{} of {} cents {}", entry.reference, entry.amount_cents, entry.currency)
}

/// The provider charged a booking and its payment never recorded a capture: the money is taken
/// and the log does not say so.
fn charges_not_recorded(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, entries) in &model.statement {
        let Some(charge) = charges(entries).next() else { continue };
        let facts = model.payments.get(&booking_id);
        if facts.is_some_and(|facts| facts.captured.is_some()) {
            continue;
        }
        let status = Payment::status(&facts.and_then(|facts| facts.state.clone()));
        let message = format!("the provider charged booking {booking_id} ({}) but its payment is {status}", describe(charge));
        let payment_method = model
            .payment(booking_id)
            .map(|payment| payment.payment_method.clone())
            .or_else(|| model.booking(booking_id).map(|booking| booking.payment_method.clone()))
            .unwrap_or_default();
        let events = vec![
            facts.and_then(|facts| facts.requested.as_ref()),
            facts.and_then(|facts| facts.last.as_ref()),
            model.bookings.get(&booking_id).and_then(|booking| booking.last.as_ref()),
        ];
        let repair = Repair::RecordCapture {
            booking_id,
            reference: charge.reference.clone(),
            amount_cents: charge.amount_cents,
            currency: charge.currency.clone(),
            payment_method,
            at: charge.at,
        };
        violations.push(Violation::new(ViolationKind::ChargeNotRecorded, booking_id, message, events).repaired_by(repair));
    }
    violations
}

/// A capture recorded for a charge that went through a request, whose reference the statement
/// does not show. Captures from before requests were recorded predate the statement.
fn captures_unknown_to_provider(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.payments {
        let (Some(state), Some(captured), Some(_)) = (&facts.state, &facts.captured, &facts.requested) else { continue };
        let reference = state.capture_reference.as_deref().unwrap_or_default();
        let entries = model.statement.get(&booking_id).map(Vec::as_slice).unwrap_or_default();
        if charges(entries).any(|charge| charge.reference == reference) {
            continue;
        }
        let message = format!("the payment of booking {booking_id} records the capture {reference}, which the provider does not show");
        violations.push(Violation::new(ViolationKind::CaptureUnknownToProvider, booking_id, message, vec![Some(captured)]));
    }
    violations
}

/// More than one charge for one booking. Which to refund is a person's call.
fn charged_twice(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, entries) in &model.statement {
        let references: Vec<String> = charges(entries).map(describe).collect();
        if references.len() < 2 {
            continue;
        }
        let message = format!("the provider charged booking {booking_id} {} times: {}", references.len(), references.join(", "));
        let last = model.payments.get(&booking_id).and_then(|facts| facts.last.as_ref());
        violations.push(Violation::new(ViolationKind::ChargedTwice, booking_id, message, vec![last]));
    }
    violations
}

/// A cancelled booking whose charge the statement shows without a refund of it.
fn charges_not_refunded(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, entries) in &model.statement {
        let Some(booking) = model.bookings.get(&booking_id) else { continue };
        if booking.state.as_ref().map(|booking| booking.status) != Some(BookingStatus::Cancelled) {
            continue;
        }
        let refunded =
            |charge: &&ProviderEntry| entries.iter().any(|entry| entry.kind == EntryKind::Refund && entry.reference == charge.reference);
        let Some(charge) = charges(entries).find(|charge| !refunded(charge)) else { continue };
        let message = format!("booking {booking_id} is cancelled but the provider shows its charge {} not refunded", describe(charge));
        let payment = model.payments.get(&booking_id).and_then(|facts| facts.last.as_ref());
        violations.push(
            Violation::new(ViolationKind::ChargeNotRefunded, booking_id, message, vec![booking.last.as_ref(), payment])
                .repaired_by(Repair::Refund { booking_id }),
        );
    }
    violations
}

/// A requested charge with no outcome recorded, which the provider does not show either: it was
/// never sent, or its answer never came back.
fn unresolved_charges(model: &Model) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (&booking_id, facts) in &model.payments {
        let Some(state) = facts.state.as_ref().filter(|state| state.outcome_unknown()) else { continue };
        if model.statement.get(&booking_id).is_some_and(|entries| charges(entries).next().is_some()) {
            continue;
        }
        let key = state.charge_request_key.as_deref().unwrap_or_default();
        let message = format!("a charge of booking {booking_id} was requested (key {key}) and its outcome is {}", PaymentStatus::Pending);
        violations.push(
            Violation::new(ViolationKind::ChargeUnresolved, booking_id, message, vec![facts.requested.as_ref()])
                .repaired_by(Repair::ResolveCharge { booking_id }),
        );
    }
    violations
}
