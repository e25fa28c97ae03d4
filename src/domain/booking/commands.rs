//! What can be asked of a booking: one request from the learner, then the choreography's steps.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::command_from_structs;

/// Starts a booking. The application looks the course up first, so the command carries its
/// teacher and price as they were when the learner asked.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBooking {
    pub learner_id: Uuid,
    pub course_id: Uuid,
    pub teacher_id: Uuid,
    pub price_cents: i64,
    pub currency: String,
    /// The payment provider's token for the learner's card, never card data.
    pub payment_method: String,
    pub requested_at: DateTime<Utc>,
}

/// The course reserved a seat for this booking (reaction to `SeatReserved`).
#[derive(Debug, Clone, PartialEq)]
pub struct MarkSeatReserved {
    pub at: DateTime<Utc>,
}

/// The payment was captured (reaction to `PaymentCaptured`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmBooking {
    pub at: DateTime<Utc>,
}

/// The course refused the seat (reaction to `SeatReservationRejected`); `reason` is for display.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectBooking {
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Cancels the booking, by its learner or by the system (e.g. after a failed payment).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelBooking {
    pub actor: Canceller,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Who cancels a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canceller {
    /// A member; only the booking's learner may cancel it.
    Learner(Uuid),
    /// The application reacting to an event, such as a failed payment.
    System,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BookingCommand {
    RequestBooking(RequestBooking),
    MarkSeatReserved(MarkSeatReserved),
    ConfirmBooking(ConfirmBooking),
    RejectBooking(RejectBooking),
    CancelBooking(CancelBooking),
}

command_from_structs!(BookingCommand { RequestBooking, MarkSeatReserved, ConfirmBooking, RejectBooking, CancelBooking });
