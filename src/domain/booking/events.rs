//! What happened to a booking.

use actors::DomainEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A booking's events. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BookingEvent {
    BookingRequested {
        learner_id: Uuid,
        course_id: Uuid,
        teacher_id: Uuid,
        price_cents: i64,
        currency: String,
        payment_method: String,
        requested_at: DateTime<Utc>,
    },
    BookingSeatReserved {
        reserved_at: DateTime<Utc>,
    },
    BookingConfirmed {
        confirmed_at: DateTime<Utc>,
    },
    BookingRejected {
        reason: String,
        rejected_at: DateTime<Utc>,
    },
    /// Carries what the reactions need: release the seat in `course_id` if `seat_held`, and
    /// refund the payment if it `was_confirmed`.
    BookingCancelled {
        course_id: Uuid,
        reason: Option<String>,
        by_learner: bool,
        seat_held: bool,
        was_confirmed: bool,
        cancelled_at: DateTime<Utc>,
    },
}

impl DomainEvent for BookingEvent {
    fn event_type(&self) -> &'static str {
        match self {
            BookingEvent::BookingRequested { .. } => "BookingRequested",
            BookingEvent::BookingSeatReserved { .. } => "BookingSeatReserved",
            BookingEvent::BookingConfirmed { .. } => "BookingConfirmed",
            BookingEvent::BookingRejected { .. } => "BookingRejected",
            BookingEvent::BookingCancelled { .. } => "BookingCancelled",
        }
    }
}
