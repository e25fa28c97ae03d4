//! Given/when/then tests of the payment aggregate.

use actors::testing::AggregateTest;
use uuid::Uuid;

use super::*;
use crate::domain::testing::{assert_round_trips, at};

const BOOKING: Uuid = Uuid::from_u128(10);

fn capture() -> RecordCapture {
    RecordCapture {
        booking_id: BOOKING,
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        provider_reference: "ch_1".into(),
        at: at(1),
    }
}

fn failure() -> RecordFailure {
    RecordFailure {
        booking_id: BOOKING,
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_decline".into(),
        reason: "card declined".into(),
        at: at(1),
    }
}

const KEY: &str = "charge-10";

fn request() -> RequestCharge {
    RequestCharge {
        booking_id: BOOKING,
        request_key: KEY.into(),
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        at: at(0),
    }
}

fn requested() -> PaymentEvent {
    PaymentEvent::ChargeRequested {
        booking_id: BOOKING,
        request_key: KEY.into(),
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        requested_at: at(0),
    }
}

fn refund() -> RefundPayment {
    RefundPayment { provider_reference: "re_1".into(), at: at(2) }
}

fn captured() -> PaymentEvent {
    PaymentEvent::PaymentCaptured {
        booking_id: BOOKING,
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_visa".into(),
        provider_reference: "ch_1".into(),
        captured_at: at(1),
    }
}

fn failed() -> PaymentEvent {
    PaymentEvent::PaymentFailed {
        booking_id: BOOKING,
        amount_cents: 2_500,
        currency: "EUR".into(),
        payment_method: "tok_decline".into(),
        reason: "card declined".into(),
        failed_at: at(1),
    }
}

fn refunded() -> PaymentEvent {
    PaymentEvent::PaymentRefunded { amount_cents: 2_500, currency: "EUR".into(), provider_reference: "re_1".into(), refunded_at: at(2) }
}

#[test]
fn it_should_record_a_capture() {
    AggregateTest::<Payment>::given_no_previous_events().when(capture().into()).then_expect_events([captured()]);
}

#[test]
fn it_should_record_nothing_when_the_capture_is_recorded_twice() {
    AggregateTest::<Payment>::given([captured()]).when(capture().into()).then_expect_events([]);
    AggregateTest::<Payment>::given([captured(), refunded()]).when(capture().into()).then_expect_events([]);
}

#[test]
fn it_should_not_record_a_capture_after_a_failure() {
    AggregateTest::<Payment>::given([failed()])
        .when(capture().into())
        .then_expect_error(PaymentError::OtherOutcomeRecorded { recorded: PaymentStatus::Failed });
}

#[test]
fn it_should_record_a_failure() {
    AggregateTest::<Payment>::given_no_previous_events().when(failure().into()).then_expect_events([failed()]);
}

#[test]
fn it_should_record_nothing_when_the_failure_is_recorded_twice() {
    AggregateTest::<Payment>::given([failed()]).when(failure().into()).then_expect_events([]);
}

#[test]
fn it_should_not_record_a_failure_after_a_capture() {
    AggregateTest::<Payment>::given([captured()])
        .when(failure().into())
        .then_expect_error(PaymentError::OtherOutcomeRecorded { recorded: PaymentStatus::Captured });
    AggregateTest::<Payment>::given([captured(), refunded()])
        .when(failure().into())
        .then_expect_error(PaymentError::OtherOutcomeRecorded { recorded: PaymentStatus::Refunded });
}

#[test]
fn it_should_refund_a_captured_payment() {
    AggregateTest::<Payment>::given([captured()]).when(refund().into()).then_expect_events([refunded()]);
}

#[test]
fn it_should_record_nothing_when_refunded_twice() {
    AggregateTest::<Payment>::given([captured(), refunded()]).when(refund().into()).then_expect_events([]);
}

#[test]
fn it_should_not_refund_a_failed_payment() {
    AggregateTest::<Payment>::given([failed()]).when(refund().into()).then_expect_error(PaymentError::NothingToRefund);
}

#[test]
fn it_should_not_refund_a_missing_payment() {
    AggregateTest::<Payment>::given_no_previous_events().when(refund().into()).then_expect_error(PaymentError::NotFound);
}

#[test]
fn it_should_show_its_status_in_its_state() {
    assert_eq!(Payment::status(&None), PaymentStatus::Pending);
    let state = Payment::replay(&[captured(), refunded()]);
    assert_eq!(Payment::status(&state), PaymentStatus::Refunded);
    let payment = state.expect("a payment");
    assert_eq!((payment.capture_reference.as_deref(), payment.refund_reference.as_deref()), (Some("ch_1"), Some("re_1")));
    let payment = Payment::replay(&[failed()]).expect("a payment");
    assert_eq!(payment.failure_reason.as_deref(), Some("card declined"));
}

#[test]
fn it_should_record_a_charge_request() {
    AggregateTest::<Payment>::given_no_previous_events().when(request().into()).then_expect_events([requested()]);
}

#[test]
fn it_should_record_nothing_when_the_same_charge_is_requested_again() {
    AggregateTest::<Payment>::given([requested()]).when(request().into()).then_expect_events([]);
}

#[test]
fn it_should_not_request_a_charge_under_another_key() {
    let other = RequestCharge { request_key: "charge-11".into(), ..request() };
    AggregateTest::<Payment>::given([requested()])
        .when(other.into())
        .then_expect_error(PaymentError::OtherChargeRequested { requested: KEY.into() });
}

#[test]
fn it_should_not_request_a_charge_once_its_outcome_is_recorded() {
    AggregateTest::<Payment>::given([requested(), captured()])
        .when(request().into())
        .then_expect_error(PaymentError::ChargeDecided { recorded: PaymentStatus::Captured });
    AggregateTest::<Payment>::given([failed()])
        .when(request().into())
        .then_expect_error(PaymentError::ChargeDecided { recorded: PaymentStatus::Failed });
}

#[test]
fn it_should_record_the_outcome_of_a_requested_charge() {
    AggregateTest::<Payment>::given([requested()]).when(capture().into()).then_expect_events([captured()]);
    AggregateTest::<Payment>::given([requested()]).when(failure().into()).then_expect_events([failed()]);
}

#[test]
fn it_should_not_refund_a_charge_whose_outcome_is_unknown() {
    AggregateTest::<Payment>::given([requested()]).when(refund().into()).then_expect_error(PaymentError::OutcomeUnknown);
}

#[test]
fn it_should_refund_a_requested_charge_once_captured() {
    AggregateTest::<Payment>::given([requested(), captured()]).when(refund().into()).then_expect_events([refunded()]);
}

#[test]
fn it_should_keep_the_request_key_and_show_the_outcome_unknown_until_recorded() {
    let pending = Payment::replay(&[requested()]).expect("a payment");
    assert_eq!((pending.status, pending.outcome_unknown()), (PaymentStatus::Pending, true));
    let refunded = Payment::replay(&[requested(), captured(), refunded()]).expect("a payment");
    assert_eq!((refunded.charge_request_key.as_deref(), refunded.outcome_unknown()), (Some(KEY), false));
    assert_eq!(Payment::replay(&[captured()]).expect("a payment").charge_request_key, None, "captured before requests were recorded");
}

#[test]
fn it_should_round_trip_its_events() {
    assert_round_trips(&[captured(), failed(), refunded(), requested()]);
}

#[test]
fn it_should_map_refusals_to_kinds() {
    assert_eq!(PaymentError::NotFound.kind(), RefusalKind::NotFound);
    assert_eq!(PaymentError::NothingToRefund.kind(), RefusalKind::RuleViolation);
    assert_eq!(PaymentError::OutcomeUnknown.kind(), RefusalKind::RuleViolation);
}
