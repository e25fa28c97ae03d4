//! The consistency checker behind `konnektid verify`: folds the whole log into a small model and
//! checks the invariants that hold *across* aggregates, which no single aggregate can enforce.
//!
//! | invariant | violation kind | repair |
//! |---|---|---|
//! | a course's seats are held by its bookings that hold a seat or are confirmed | `seat-without-booking` | course `ReleaseSeat` |
//! | … and every such booking holds one | `booking-without-seat` | booking `CancelBooking` (system) |
//! | a confirmed booking's payment is captured | `confirmed-without-payment` | booking `CancelBooking` (system) |
//! | a cancelled booking that was charged is refunded | `unrefunded-cancellation` | provider refund, then payment `RefundPayment` |
//! | an open booking's course and learner exist | `missing-course`, `missing-learner` | booking `CancelBooking` (system) |
//! | an e-mail address has one member | `duplicate-email` | none: a person decides |
//!
//! A booking's flow in progress looks like a violation (a seat reserved, the booking not told
//! yet), so the checker is meant for a quiet log: the server stopped, every subscriber at the
//! head. It is pure: events in, violations out; reading the store and sending the repairs is the
//! command line's and the application's job (`cli::verify`, `App::repair`).

mod invariants;
mod model;
mod violation;

#[cfg(test)]
mod tests;

use actors::{CodecError, RecordedEvent};

pub use model::EventRef;
pub use violation::{Repair, Violation, ViolationKind};

/// Folds the log, event by event in position order, then answers its violations.
#[derive(Default)]
pub struct Checker {
    model: model::Model,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one event in, decoded with its aggregate's codec. Events must come in position
    /// order; streams of aggregate types the invariants do not need are skipped.
    pub fn observe(&mut self, event: &RecordedEvent) -> Result<(), CodecError> {
        self.model.apply(event)
    }

    /// How many events were folded in.
    pub fn events_seen(&self) -> u64 {
        self.model.events
    }

    /// Every broken invariant of the log seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        invariants::check(&self.model)
    }
}

/// The violations of a whole log given in position order.
pub fn check<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Result<Vec<Violation>, CodecError> {
    let mut checker = Checker::new();
    for event in events {
        checker.observe(event)?;
    }
    Ok(checker.violations())
}
