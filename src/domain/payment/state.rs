//! A payment as its events leave it: what decides commands and what time travel shows.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::PaymentEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// No outcome recorded yet: nothing happened (the state is `None`), or a charge was
    /// requested and the provider's answer is not recorded.
    Pending,
    Captured,
    Failed,
    Refunded,
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Refunded => "refunded",
        })
    }
}

/// A payment once something happened to it; the aggregate's state is `None` before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentState {
    pub booking_id: Uuid,
    /// The provider's idempotency key of the charge, once it was requested (payments captured
    /// before charges were requested first have none).
    pub charge_request_key: Option<String>,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    pub currency: String,
    pub payment_method: String,
    pub capture_reference: Option<String>,
    pub failure_reason: Option<String>,
    pub refund_reference: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl PaymentState {
    /// A charge was requested and its outcome is not recorded: only the provider knows it.
    pub fn outcome_unknown(&self) -> bool {
        self.status == PaymentStatus::Pending && self.charge_request_key.is_some()
    }
}

/// Folds one event into the payment: bookkeeping only, every decision was taken in `handle`.
pub(super) fn apply(state: Option<PaymentState>, event: &PaymentEvent) -> Option<PaymentState> {
    let charge_request_key = state.as_ref().and_then(|payment| payment.charge_request_key.clone());
    match event {
        PaymentEvent::ChargeRequested { booking_id, request_key, amount_cents, currency, payment_method, requested_at } => {
            Some(PaymentState {
                booking_id: *booking_id,
                charge_request_key: Some(request_key.clone()),
                status: PaymentStatus::Pending,
                amount_cents: *amount_cents,
                currency: currency.clone(),
                payment_method: payment_method.clone(),
                capture_reference: None,
                failure_reason: None,
                refund_reference: None,
                updated_at: *requested_at,
            })
        }
        PaymentEvent::PaymentCaptured { booking_id, amount_cents, currency, payment_method, provider_reference, captured_at } => {
            Some(PaymentState {
                booking_id: *booking_id,
                charge_request_key,
                status: PaymentStatus::Captured,
                amount_cents: *amount_cents,
                currency: currency.clone(),
                payment_method: payment_method.clone(),
                capture_reference: Some(provider_reference.clone()),
                failure_reason: None,
                refund_reference: None,
                updated_at: *captured_at,
            })
        }
        PaymentEvent::PaymentFailed { booking_id, amount_cents, currency, payment_method, reason, failed_at } => Some(PaymentState {
            booking_id: *booking_id,
            charge_request_key,
            status: PaymentStatus::Failed,
            amount_cents: *amount_cents,
            currency: currency.clone(),
            payment_method: payment_method.clone(),
            capture_reference: None,
            failure_reason: Some(reason.clone()),
            refund_reference: None,
            updated_at: *failed_at,
        }),
        PaymentEvent::PaymentRefunded { provider_reference, refunded_at, .. } => state.map(|payment| PaymentState {
            status: PaymentStatus::Refunded,
            refund_reference: Some(provider_reference.clone()),
            updated_at: *refunded_at,
            ..payment
        }),
    }
}
