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
//! | every charge on the provider's statement is recorded as a capture | `charge-not-recorded` | payment `RecordCapture` of what the provider did |
//! | every capture of a requested charge is on the statement | `capture-unknown-to-provider` | none: a person asks the provider |
//! | a booking is charged at most once | `charged-twice` | none: a person decides which charge to refund |
//! | a cancelled booking's charge is refunded on the statement | `charge-not-refunded` | provider refund, then payment `RefundPayment` |
//! | a requested charge has a recorded outcome | `charge-unresolved` | ask the provider (charge under the same key if it never got it), record the outcome |
//!
//! The last five reconcile the log with the payment provider's own statement
//! ([`Checker::observe_provider`]). Captures recorded before charges were requested first (no
//! `ChargeRequested`) predate the statement and are not looked for on it.
//!
//! A booking's flow in progress looks like a violation (a seat reserved, the booking not told
//! yet), so the checker is meant for a quiet log: the server stopped, every subscriber at the
//! head. It is pure: events in, violations out; reading the store and sending the repairs is the
//! command line's and the application's job (`cli::verify`, `App::repair`).

mod invariants;
mod model;
mod reconcile;
mod violation;

#[cfg(test)]
mod tests;

use actors::{CodecError, RecordedEvent};

use crate::services::payments::ProviderEntry;

pub use model::EventRef;
pub use violation::{Repair, Violation, ViolationKind};

/// Folds the log, event by event in position order, then answers its violations.
#[derive(Default)]
pub struct Checker {
    model: model::Model,
    /// Whether the provider's statement is folded in too, and compared with the log.
    reconciling: bool,
}

impl Checker {
    /// A checker of the log alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// A checker of the log and the payment provider's statement (every line of it, given to
    /// [`Checker::observe_provider`]).
    pub fn reconciling() -> Self {
        Self { reconciling: true, ..Self::default() }
    }

    /// Folds one event in, decoded with its aggregate's codec. Events must come in position
    /// order; streams of aggregate types the invariants do not need are skipped.
    pub fn observe(&mut self, event: &RecordedEvent) -> Result<(), CodecError> {
        self.model.apply(event)
    }

    /// Folds one line of the payment provider's statement in, in statement order (oldest first).
    pub fn observe_provider(&mut self, entry: ProviderEntry) {
        self.model.apply_provider(entry);
    }

    /// How many events were folded in.
    pub fn events_seen(&self) -> u64 {
        self.model.events
    }

    /// How many lines of the provider's statement were folded in.
    pub fn provider_entries_seen(&self) -> u64 {
        self.model.provider_entries
    }

    /// Every broken invariant of the log (and the statement) seen so far.
    pub fn violations(&self) -> Vec<Violation> {
        let mut violations = invariants::check(&self.model);
        if self.reconciling {
            violations.extend(reconcile::check(&self.model));
        }
        violations
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
