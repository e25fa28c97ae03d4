//! What the payment side effect reports back to the payment aggregate.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::command_from_structs;

/// Records the intent to charge, before the provider is called. `request_key` is the provider's
/// idempotency key: the same for every attempt at this charge, on any node.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestCharge {
    pub booking_id: Uuid,
    pub request_key: String,
    pub amount_cents: i64,
    pub currency: String,
    pub payment_method: String,
    pub at: DateTime<Utc>,
}

/// The provider captured the money.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordCapture {
    pub booking_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub payment_method: String,
    pub provider_reference: String,
    pub at: DateTime<Utc>,
}

/// The provider declined or failed the charge.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFailure {
    pub booking_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    pub payment_method: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The provider refunded the captured amount in full.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundPayment {
    pub provider_reference: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PaymentCommand {
    RecordCapture(RecordCapture),
    RecordFailure(RecordFailure),
    RefundPayment(RefundPayment),
    RequestCharge(RequestCharge),
}

command_from_structs!(PaymentCommand { RecordCapture, RecordFailure, RefundPayment, RequestCharge });
