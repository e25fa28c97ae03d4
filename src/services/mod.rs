//! The choreography: the process manager and the side-effect handlers that move a booking from
//! request to confirmation (or rejection, cancellation, refund) by reacting to events.
//!
//! No aggregate calls another: each one decides alone and the reactions below carry its events
//! to the next one as commands. Every command a reaction sends is built with
//! [`CommandContext::caused_by`](actors::CommandContext::caused_by), so it carries the request's
//! correlation id, the triggering event as its causation id, and a command id derived from both:
//! a redelivered event never applies a command twice.
//!
//! ```text
//!  learner ── RequestBooking ──▶ booking: BookingRequested
//!                                   │ booking-flow: ReserveSeat
//!                                   ▼
//!                                course: SeatReserved ───────────── or SeatReservationRejected
//!                                   │ booking-flow: MarkSeatReserved        │ booking-flow: RejectBooking
//!                                   ▼                                       ▼
//!                                booking: BookingSeatReserved            booking: BookingRejected
//!                                   │ payments: RequestCharge, gateway charge, then RecordCapture / RecordFailure
//!                                   ▼
//!                                payment: PaymentCaptured ───────────── or PaymentFailed
//!                                   │ booking-flow: ConfirmBooking          │ booking-flow: CancelBooking (system)
//!                                   ▼                                       ▼
//!                                booking: BookingConfirmed               booking: BookingCancelled
//!                                   │ email: learner + teacher              │ booking-flow: ReleaseSeat if seat_held
//!                                                                           │ payments: refund if captured
//!                                                                           │ email: learner
//! ```
//!
//! Races are settled by the aggregates' answers: a seat reserved for a booking cancelled
//! meanwhile is released again, and a payment captured for a booking cancelled meanwhile is
//! refunded by the payments handler, which looks at both the booking and the payment whenever
//! either changes.
//!
//! | module | subscriber | kind | starts from |
//! |---|---|---|---|
//! | [`booking_flow`] | `booking-flow` | process manager (commands only, replayable) | the beginning |
//! | [`payments`] | `payment-gateway` | side effect (payment provider) | now |
//! | [`email`] | `email` | side effect (mailer) | now |
//!
//! Side-effect handlers start from "now" so that adding them to an existing log does not charge
//! or mail anyone for history.

pub mod booking_flow;
pub mod email;
pub mod mailer;
pub mod payments;
mod reaction;

use std::sync::Arc;

use actors::{EventStore, RuntimeBuilder, StartFrom, StoreError};

pub use booking_flow::{BookingFlow, BOOKING_FLOW};
pub use email::{EmailError, EmailNotifier, EMAIL, SENT_TABLE};
pub use mailer::{build_mailer, EmailMessage, MailConfig, MailError, MailKind, Mailer, OutboxMailer, Recipient, SmtpMailer};
pub use payments::{
    build_gateway, ChargeOutcome, ChargeRequest, EntryKind, GatewayError, PaymentGateway, Payments, PaymentsConfig, ProviderEntry,
    RefundRequest, SimulatedGateway, DECLINED_METHOD, PAYMENTS,
};

/// What the services need from the outside world.
#[derive(Clone)]
pub struct ServiceDeps {
    /// Read to load aggregates' current state (always consistent, unlike the read models).
    pub store: Arc<dyn EventStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub mailer: Arc<dyn Mailer>,
}

/// Registers the choreography's process manager and handlers. The aggregates they send commands
/// to or read in their actors (member, course, booking, payment) must be registered on the same
/// builder. Fails when the store cannot open the e-mail handler's records.
pub fn register(builder: RuntimeBuilder, deps: ServiceDeps) -> Result<RuntimeBuilder, StoreError> {
    let sent = deps.store.records(SENT_TABLE)?;
    Ok(builder
        .process_manager(BOOKING_FLOW, BookingFlow, StartFrom::Beginning)
        .handler(PAYMENTS, Payments::new(deps.store.clone(), deps.gateway), StartFrom::Now)
        .handler(EMAIL, EmailNotifier::new(deps.mailer, sent), StartFrom::Now))
}
