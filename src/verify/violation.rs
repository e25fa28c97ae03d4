//! What the checker reports: a broken invariant, the events that show it, and the compensating
//! command that repairs it, if one can.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::model::EventRef;

/// Which invariant is broken, and in which direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ViolationKind {
    /// A course holds a seat for a booking that is not holding a seat or confirmed (or is unknown,
    /// or a booking of another course).
    SeatWithoutBooking,
    /// A booking holding a seat or confirmed has no seat in its course.
    BookingWithoutSeat,
    /// A confirmed booking whose payment is not captured.
    ConfirmedWithoutPayment,
    /// A cancelled booking whose payment was captured and never refunded.
    UnrefundedCancellation,
    /// An open booking whose course was never created.
    MissingCourse,
    /// An open booking whose learner never registered.
    MissingLearner,
    /// One e-mail address registered by several members.
    DuplicateEmail,
    /// The provider charged a booking whose payment records no capture.
    ChargeNotRecorded,
    /// A capture of a requested charge whose reference the provider's statement does not show.
    CaptureUnknownToProvider,
    /// The provider charged one booking more than once.
    ChargedTwice,
    /// A cancelled booking charged on the statement, with no refund of that charge.
    ChargeNotRefunded,
    /// A charge was requested and no outcome recorded, and the provider shows no charge.
    ChargeUnresolved,
}

impl ViolationKind {
    /// The stable name that starts a violation's id.
    pub fn code(self) -> &'static str {
        match self {
            ViolationKind::SeatWithoutBooking => "seat-without-booking",
            ViolationKind::BookingWithoutSeat => "booking-without-seat",
            ViolationKind::ConfirmedWithoutPayment => "confirmed-without-payment",
            ViolationKind::UnrefundedCancellation => "unrefunded-cancellation",
            ViolationKind::MissingCourse => "missing-course",
            ViolationKind::MissingLearner => "missing-learner",
            ViolationKind::DuplicateEmail => "duplicate-email",
            ViolationKind::ChargeNotRecorded => "charge-not-recorded",
            ViolationKind::CaptureUnknownToProvider => "capture-unknown-to-provider",
            ViolationKind::ChargedTwice => "charged-twice",
            ViolationKind::ChargeNotRefunded => "charge-not-refunded",
            ViolationKind::ChargeUnresolved => "charge-unresolved",
        }
    }
}

/// A compensating command: sent through the normal command path, so a repair is events too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Repair {
    /// Course `ReleaseSeat` for the booking.
    ReleaseSeat { course_id: Uuid, booking_id: Uuid },
    /// Booking `CancelBooking` by the system; the choreography then releases its seat and refunds
    /// a captured payment.
    CancelBooking { booking_id: Uuid, reason: &'static str },
    /// Refund through the payment provider, then payment `RefundPayment` (an outcome only the
    /// provider knows is recorded first).
    Refund { booking_id: Uuid },
    /// Payment `RecordCapture` of a charge the provider's statement shows; the choreography then
    /// confirms the booking, or refunds it if it was cancelled.
    RecordCapture { booking_id: Uuid, reference: String, amount_cents: i64, currency: String, payment_method: String, at: DateTime<Utc> },
    /// Ask the provider what became of the requested charge (charge under the same key if it
    /// never got it) and record the outcome.
    ResolveCharge { booking_id: Uuid },
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repair::ReleaseSeat { course_id, booking_id } => write!(f, "release the seat of booking {booking_id} in course {course_id}"),
            Repair::CancelBooking { booking_id, reason } => write!(f, "cancel booking {booking_id} ({reason})"),
            Repair::Refund { booking_id } => write!(f, "refund the payment of booking {booking_id}"),
            Repair::RecordCapture { booking_id, reference, .. } => {
                write!(f, "record the provider's charge {reference} as the capture of booking {booking_id}")
            }
            Repair::ResolveCharge { booking_id } => {
                write!(f, "ask the provider for the outcome of booking {booking_id}'s charge and record it")
            }
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Stable across runs: the kind and the ids it is about (e.g. `missing-course/<booking id>`).
    pub id: String,
    pub kind: ViolationKind,
    pub message: String,
    /// The events that show it, in position order.
    pub events: Vec<EventRef>,
    /// `None` when no command can repair it.
    pub repair: Option<Repair>,
}

impl Violation {
    pub(super) fn new(kind: ViolationKind, subject: impl fmt::Display, message: String, events: Vec<Option<&EventRef>>) -> Self {
        let mut events: Vec<EventRef> = events.into_iter().flatten().cloned().collect();
        events.sort_by_key(|event| event.position);
        events.dedup();
        Self { id: format!("{}/{subject}", kind.code()), kind, message, events, repair: None }
    }

    pub(super) fn repaired_by(mut self, repair: Repair) -> Self {
        self.repair = Some(repair);
        self
    }

    /// The violation as one JSON object (a line of `konnektid verify --json`).
    pub fn to_json(&self) -> serde_json::Value {
        let events: Vec<serde_json::Value> = self
            .events
            .iter()
            .map(|event| json!({ "position": event.position, "type": event.event_type, "stream": event.stream.to_string(), "version": event.version }))
            .collect();
        json!({
            "id": self.id,
            "kind": self.kind.code(),
            "message": self.message,
            "events": events,
            "repair": self.repair.as_ref().map(ToString::to_string),
        })
    }
}

/// One line: id, what is wrong, the events, and the repair.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [", self.id, self.message)?;
        for (index, event) in self.events.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(f, "{separator}{event}")?;
        }
        match &self.repair {
            Some(repair) => write!(f, "]; repair: {repair}"),
            None => write!(f, "]; cannot be repaired automatically"),
        }
    }
}
