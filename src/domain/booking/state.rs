//! A booking as its events leave it: what decides commands and what time travel shows.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::BookingEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BookingStatus {
    /// Accepted by the market; the course has not answered yet.
    Requested,
    /// The course holds a seat; the payment is pending.
    SeatReserved,
    /// The payment was captured.
    Confirmed,
    /// The course refused the seat; nothing was charged.
    Rejected,
    /// Cancelled by the learner or the system.
    Cancelled,
}

impl fmt::Display for BookingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BookingStatus::Requested => "requested",
            BookingStatus::SeatReserved => "holding a seat",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Rejected => "rejected",
            BookingStatus::Cancelled => "cancelled",
        })
    }
}

/// A requested booking; the aggregate's state is `None` until `BookingRequested`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingState {
    pub learner_id: Uuid,
    pub course_id: Uuid,
    pub teacher_id: Uuid,
    pub price_cents: i64,
    pub currency: String,
    pub payment_method: String,
    pub status: BookingStatus,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Folds one event into the booking: bookkeeping only, every decision was taken in `handle`.
pub(super) fn apply(state: Option<BookingState>, event: &BookingEvent) -> Option<BookingState> {
    if let BookingEvent::BookingRequested { learner_id, course_id, teacher_id, price_cents, currency, payment_method, requested_at } = event
    {
        return Some(BookingState {
            learner_id: *learner_id,
            course_id: *course_id,
            teacher_id: *teacher_id,
            price_cents: *price_cents,
            currency: currency.clone(),
            payment_method: payment_method.clone(),
            status: BookingStatus::Requested,
            reason: None,
            requested_at: *requested_at,
            updated_at: *requested_at,
        });
    }
    let mut booking = state?;
    let (status, at) = match event {
        BookingEvent::BookingRequested { .. } => return Some(booking),
        BookingEvent::BookingSeatReserved { reserved_at } => (BookingStatus::SeatReserved, reserved_at),
        BookingEvent::BookingConfirmed { confirmed_at } => (BookingStatus::Confirmed, confirmed_at),
        BookingEvent::BookingRejected { reason, rejected_at } => {
            booking.reason = Some(reason.clone());
            (BookingStatus::Rejected, rejected_at)
        }
        BookingEvent::BookingCancelled { reason, cancelled_at, .. } => {
            booking.reason = reason.clone();
            (BookingStatus::Cancelled, cancelled_at)
        }
    };
    booking.status = status;
    booking.updated_at = *at;
    Some(booking)
}
