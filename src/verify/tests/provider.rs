//! The log reconciled with the payment provider's statement: per check, a log and statement that
//! agree, and one that shows the difference.

use super::*;
use crate::services::payments::{EntryKind, ProviderEntry};

/// The reference the log's captures carry (see `Log::captured`).
const REFERENCE: &str = "sim_ch";

fn entry(kind: EntryKind, booking: Uuid, reference: &str, minute: i64) -> ProviderEntry {
    ProviderEntry {
        kind,
        booking_id: booking,
        reference: reference.to_owned(),
        refund_reference: (kind == EntryKind::Refund).then(|| "sim_re".to_owned()),
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        at: at(minute),
    }
}

fn charge(booking: Uuid, reference: &str) -> ProviderEntry {
    entry(EntryKind::Charge, booking, reference, 3)
}

fn refund(booking: Uuid) -> ProviderEntry {
    entry(EntryKind::Refund, booking, REFERENCE, 5)
}

impl Log {
    fn charge_requested(&mut self, booking: Uuid) -> &mut Self {
        let event = PaymentEvent::ChargeRequested {
            booking_id: booking,
            request_key: format!("{booking}/charge"),
            amount_cents: 2_500,
            currency: "EUR".to_owned(),
            payment_method: "tok_visa".to_owned(),
            requested_at: at(2),
        };
        self.add::<Payment>(booking, event)
    }

    /// A booking holding its seat whose charge was requested; its outcome not recorded.
    fn charging(&mut self, booking: Uuid, learner: Uuid) -> &mut Self {
        self.requested(booking, COURSE, learner).seat_reserved(booking, learner).charge_requested(booking)
    }

    fn reconciled(&self, statement: &[ProviderEntry]) -> Vec<Violation> {
        let mut checker = Checker::reconciling();
        self.events.iter().for_each(|event| checker.observe(event).expect("the log decodes"));
        statement.iter().cloned().for_each(|entry| checker.observe_provider(entry));
        assert_eq!(checker.provider_entries_seen(), statement.len() as u64);
        checker.violations()
    }
}

fn booking(id: u128) -> Uuid {
    Uuid::from_u128(id)
}

#[test]
fn it_should_find_nothing_wrong_when_the_log_and_the_statement_agree() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).captured(BOOKING).add::<Booking>(BOOKING, BookingEvent::BookingConfirmed { confirmed_at: at(3) });
    let cancelled = booking(21);
    log.charging(cancelled, LEARNER).captured(cancelled).cancelled(cancelled, true, false).seat_released(cancelled).refunded(cancelled);
    let declined = booking(22);
    let failed = PaymentEvent::PaymentFailed {
        booking_id: declined,
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_decline".to_owned(),
        reason: "the card was declined".to_owned(),
        failed_at: at(3),
    };
    log.charging(declined, LEARNER).add::<Payment>(declined, failed).cancelled(declined, true, false).seat_released(declined);
    // Captured before charges were requested first: from before the statement, not looked for.
    log.confirmed_booking(booking(23), LEARNER);
    let statement = [charge(BOOKING, REFERENCE), charge(cancelled, REFERENCE), refund(cancelled)];
    assert_eq!(log.reconciled(&statement), vec![]);
}

#[test]
fn it_should_find_a_charge_the_log_does_not_record_and_record_it() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER);
    let violation = only(log.reconciled(&[charge(BOOKING, "ch_1")]));
    assert_eq!(violation.id, format!("charge-not-recorded/{BOOKING}"));
    assert_eq!(violation.message, format!("the provider charged booking {BOOKING} (ch_1 of 2500 cents EUR) but its payment is pending"));
    let types: Vec<&str> = violation.events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(types, ["BookingSeatReserved", "ChargeRequested"]);
    let repair = Repair::RecordCapture {
        booking_id: BOOKING,
        reference: "ch_1".to_owned(),
        amount_cents: 2_500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
        at: at(3),
    };
    assert_eq!(violation.repair, Some(repair));
}

#[test]
fn it_should_find_a_cancelled_booking_charged_behind_the_logs_back_and_refund_it() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).cancelled(BOOKING, true, false).seat_released(BOOKING);
    let ids = log.reconciled(&[charge(BOOKING, "ch_1")]).into_iter().map(|violation| (violation.id, violation.repair));
    let ids: Vec<(String, Option<Repair>)> = ids.collect();
    assert_eq!(ids[0].0, format!("charge-not-recorded/{BOOKING}"));
    assert_eq!(ids[1], (format!("charge-not-refunded/{BOOKING}"), Some(Repair::Refund { booking_id: BOOKING })));
    assert_eq!(ids.len(), 2);
}

#[test]
fn it_should_find_a_capture_the_provider_does_not_know() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).captured(BOOKING);
    let violation = only(log.reconciled(&[charge(BOOKING, "ch_other")]));
    assert_eq!(violation.id, format!("capture-unknown-to-provider/{BOOKING}"));
    assert_eq!((positions(&violation), violation.repair), (vec![9], None), "the capture, and no command can mend it");
}

#[test]
fn it_should_find_a_booking_charged_twice() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).captured(BOOKING);
    let violation = only(log.reconciled(&[charge(BOOKING, REFERENCE), charge(BOOKING, "ch_again")]));
    assert_eq!(violation.id, format!("charged-twice/{BOOKING}"));
    assert!(violation.message.contains("2 times: sim_ch of 2500 cents EUR, ch_again of 2500 cents EUR"), "{}", violation.message);
    assert_eq!(violation.repair, None, "which charge to give back is a person's call");
}

#[test]
fn it_should_find_a_cancelled_booking_whose_charge_the_provider_never_refunded() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).captured(BOOKING).cancelled(BOOKING, true, false).seat_released(BOOKING).refunded(BOOKING);
    let violation = only(log.reconciled(&[charge(BOOKING, REFERENCE)]));
    assert_eq!(violation.id, format!("charge-not-refunded/{BOOKING}"));
    assert_eq!(violation.repair, Some(Repair::Refund { booking_id: BOOKING }));
}

#[test]
fn it_should_find_a_requested_charge_without_an_outcome_and_ask_the_provider() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER);
    let violation = only(log.reconciled(&[]));
    assert_eq!(violation.id, format!("charge-unresolved/{BOOKING}"));
    assert_eq!((positions(&violation), violation.repair), (vec![8], Some(Repair::ResolveCharge { booking_id: BOOKING })));
}

#[test]
fn it_should_not_compare_with_the_provider_unless_asked_to() {
    let mut log = Log::market();
    log.charging(BOOKING, LEARNER).captured(BOOKING).add::<Booking>(BOOKING, BookingEvent::BookingConfirmed { confirmed_at: at(3) });
    assert_eq!(log.violations(), vec![], "the log alone is consistent");
    assert_eq!(log.reconciled(&[]).len(), 1, "the statement does not show the capture");
}

#[test]
fn it_should_print_a_repair_that_records_what_the_provider_did() {
    let repair = Repair::RecordCapture {
        booking_id: BOOKING,
        reference: "ch_1".to_owned(),
        amount_cents: 1,
        currency: "EUR".to_owned(),
        payment_method: String::new(),
        at: at(0),
    };
    assert_eq!(repair.to_string(), format!("record the provider's charge ch_1 as the capture of booking {BOOKING}"));
}
