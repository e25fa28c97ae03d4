//! The payment aggregate: the recorded outcome of charging a booking, and its refund.
//!
//! Calling the payment provider is a side effect done outside the domain; this aggregate records
//! the intent to charge (before the provider is called) and what the provider answered. Its
//! stream id is the booking's id. Outcomes are not validated again: they describe money that
//! already moved, for a booking whose price and currency were validated when it was requested,
//! and refusing to record one would lose a fact.
//!
//! Once a charge is requested its outcome is unknown until recorded: a refund waits for it
//! ([`PaymentError::OutcomeUnknown`]) instead of treating the payment as never charged.

mod commands;
mod events;
mod state;

#[cfg(test)]
mod tests;

use actors::Aggregate;
use thiserror::Error;

pub use self::commands::*;
pub use self::events::PaymentEvent;
pub use self::state::{PaymentState, PaymentStatus};
use super::{Refusal, RefusalKind};

/// The payment aggregate (stream type `payment`, id = the booking's id).
pub struct Payment;

impl Payment {
    /// The status of a payment, `Pending` before any outcome.
    pub fn status(state: &Option<PaymentState>) -> PaymentStatus {
        state.as_ref().map_or(PaymentStatus::Pending, |payment| payment.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    #[error("no payment has been recorded for this booking")]
    NotFound,
    #[error("this payment was already recorded as {recorded}")]
    OtherOutcomeRecorded { recorded: PaymentStatus },
    #[error("this payment failed, so there is nothing to refund")]
    NothingToRefund,
    #[error("a charge was requested for this payment and its outcome is not recorded yet: ask the provider first")]
    OutcomeUnknown,
    #[error("a charge with another request key ({requested}) was already requested for this payment")]
    OtherChargeRequested { requested: String },
    #[error("this payment's charge was already decided: it is {recorded}")]
    ChargeDecided { recorded: PaymentStatus },
}

impl Refusal for PaymentError {
    fn kind(&self) -> RefusalKind {
        match self {
            PaymentError::NotFound => RefusalKind::NotFound,
            PaymentError::OtherOutcomeRecorded { .. }
            | PaymentError::NothingToRefund
            | PaymentError::OutcomeUnknown
            | PaymentError::OtherChargeRequested { .. }
            | PaymentError::ChargeDecided { .. } => RefusalKind::RuleViolation,
        }
    }
}

type Decision = Result<Vec<PaymentEvent>, PaymentError>;

impl Aggregate for Payment {
    const TYPE: &'static str = "payment";

    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type State = Option<PaymentState>;

    fn handle(state: &Self::State, command: PaymentCommand) -> Decision {
        match command {
            PaymentCommand::RecordCapture(c) => record_outcome(
                state,
                PaymentStatus::Captured,
                PaymentEvent::PaymentCaptured {
                    booking_id: c.booking_id,
                    amount_cents: c.amount_cents,
                    currency: c.currency,
                    payment_method: c.payment_method,
                    provider_reference: c.provider_reference,
                    captured_at: c.at,
                },
            ),
            PaymentCommand::RecordFailure(c) => record_outcome(
                state,
                PaymentStatus::Failed,
                PaymentEvent::PaymentFailed {
                    booking_id: c.booking_id,
                    amount_cents: c.amount_cents,
                    currency: c.currency,
                    payment_method: c.payment_method,
                    reason: c.reason,
                    failed_at: c.at,
                },
            ),
            PaymentCommand::RefundPayment(c) => refund(state, c),
            PaymentCommand::RequestCharge(c) => request_charge(state, c),
        }
    }

    fn apply(state: Self::State, event: &PaymentEvent) -> Self::State {
        state::apply(state, event)
    }
}

/// Records the intent to charge; the same request again records nothing.
fn request_charge(state: &Option<PaymentState>, command: RequestCharge) -> Decision {
    match state {
        None => Ok(vec![PaymentEvent::ChargeRequested {
            booking_id: command.booking_id,
            request_key: command.request_key,
            amount_cents: command.amount_cents,
            currency: command.currency,
            payment_method: command.payment_method,
            requested_at: command.at,
        }]),
        Some(payment) if payment.status != PaymentStatus::Pending => Err(PaymentError::ChargeDecided { recorded: payment.status }),
        Some(payment) => match &payment.charge_request_key {
            Some(requested) if *requested != command.request_key => {
                Err(PaymentError::OtherChargeRequested { requested: requested.clone() })
            }
            _ => Ok(vec![]),
        },
    }
}

/// Records the first outcome, with or without a requested charge before it. The same outcome
/// again (a capture after a capture, also one since refunded) records nothing; the other outcome
/// is refused.
fn record_outcome(state: &Option<PaymentState>, outcome: PaymentStatus, event: PaymentEvent) -> Decision {
    let status = Payment::status(state);
    let recorded = match status {
        PaymentStatus::Pending => return Ok(vec![event]),
        PaymentStatus::Refunded => PaymentStatus::Captured,
        status => status,
    };
    if recorded == outcome {
        Ok(vec![])
    } else {
        Err(PaymentError::OtherOutcomeRecorded { recorded: status })
    }
}

/// Refunds a captured payment; refunding it again records nothing.
fn refund(state: &Option<PaymentState>, command: RefundPayment) -> Decision {
    let payment = state.as_ref().ok_or(PaymentError::NotFound)?;
    match payment.status {
        PaymentStatus::Captured => Ok(vec![PaymentEvent::PaymentRefunded {
            amount_cents: payment.amount_cents,
            currency: payment.currency.clone(),
            provider_reference: command.provider_reference,
            refunded_at: command.at,
        }]),
        PaymentStatus::Refunded => Ok(vec![]),
        PaymentStatus::Pending => Err(PaymentError::OutcomeUnknown),
        PaymentStatus::Failed => Err(PaymentError::NothingToRefund),
    }
}
