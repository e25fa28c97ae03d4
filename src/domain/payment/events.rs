//! What happened to a payment.

use actors::DomainEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a payment. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PaymentEvent {
    PaymentCaptured {
        booking_id: Uuid,
        amount_cents: i64,
        currency: String,
        payment_method: String,
        provider_reference: String,
        captured_at: DateTime<Utc>,
    },
    PaymentFailed {
        booking_id: Uuid,
        amount_cents: i64,
        currency: String,
        payment_method: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    /// Carries the amount so revenue can be summed from events alone.
    PaymentRefunded { amount_cents: i64, currency: String, provider_reference: String, refunded_at: DateTime<Utc> },
    /// The charge is about to be sent to the provider under `request_key`: from here on its
    /// outcome is the provider's to tell, never decided again from the booking.
    ChargeRequested {
        booking_id: Uuid,
        request_key: String,
        amount_cents: i64,
        currency: String,
        payment_method: String,
        requested_at: DateTime<Utc>,
    },
}

impl DomainEvent for PaymentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PaymentEvent::PaymentCaptured { .. } => "PaymentCaptured",
            PaymentEvent::PaymentFailed { .. } => "PaymentFailed",
            PaymentEvent::PaymentRefunded { .. } => "PaymentRefunded",
            PaymentEvent::ChargeRequested { .. } => "ChargeRequested",
        }
    }
}
