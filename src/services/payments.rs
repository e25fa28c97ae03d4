//! Payments: the provider behind a [`PaymentGateway`], a [`SimulatedGateway`], and the `payments`
//! side-effect handler that charges a booking once it holds a seat and refunds a captured payment
//! once its booking is cancelled, recording each outcome on the payment aggregate.
//!
//! Money must not move twice. The handler asks the payment aggregate first and skips the provider
//! when an outcome is already recorded; the booking id is the provider's idempotency key for the
//! window between a charge and its record (a crash there makes the charge run again); and the
//! record's command id derives from the triggering event, so a redelivery appends nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actors::{CommandBus, CommandContext, EventHandler, Executed, RecordedEvent, SubscriberError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::reaction::{decode, inspect, load, send};
use crate::domain::booking::{Booking, BookingEvent, BookingStatus};
use crate::domain::payment::{
    Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentState, PaymentStatus, RecordCapture, RecordFailure, RefundPayment,
};

/// The subscriber name of [`Payments`].
pub const PAYMENTS: &str = "payment-gateway";

/// What the provider answered to a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money was taken; `reference` is the provider's id of the charge.
    Captured { reference: String },
    /// The provider refused the charge; `reason` is for the learner.
    Declined { reason: String },
}

/// The provider could not give an answer: the handler retries, then parks the event.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("the payment provider is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the payment provider refused to refund charge {reference}: {reason}")]
    RefundRefused { reference: String, reason: String },
}

/// A payment provider. Implementations use the booking id as the idempotency key, so charging or
/// refunding the same booking again moves no more money.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    async fn charge(
        &self,
        booking_id: Uuid,
        amount_cents: i64,
        currency: &str,
        payment_method: &str,
    ) -> Result<ChargeOutcome, GatewayError>;

    /// Refunds the charge `reference` in full; answers the refund's reference.
    async fn refund(&self, booking_id: Uuid, reference: &str, amount_cents: i64, currency: &str) -> Result<String, GatewayError>;
}

/// The payment method the simulated provider declines; it captures any other.
pub const DECLINED_METHOD: &str = "tok_decline";

/// A provider for development and tests: declines [`DECLINED_METHOD`], captures anything else,
/// and derives its references from the booking id, so answers are deterministic. Counts its calls.
#[derive(Debug, Default)]
pub struct SimulatedGateway {
    captures: AtomicU64,
    declines: AtomicU64,
    refunds: AtomicU64,
}

impl SimulatedGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Charges answered with `Captured` so far.
    pub fn captures(&self) -> u64 {
        self.captures.load(Ordering::Relaxed)
    }

    /// Charges answered with `Declined` so far.
    pub fn declines(&self) -> u64 {
        self.declines.load(Ordering::Relaxed)
    }

    /// Refunds made so far.
    pub fn refunds(&self) -> u64 {
        self.refunds.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn charge(
        &self,
        booking_id: Uuid,
        _amount_cents: i64,
        _currency: &str,
        payment_method: &str,
    ) -> Result<ChargeOutcome, GatewayError> {
        if payment_method == DECLINED_METHOD {
            self.declines.fetch_add(1, Ordering::Relaxed);
            return Ok(ChargeOutcome::Declined { reason: "the card was declined".to_owned() });
        }
        self.captures.fetch_add(1, Ordering::Relaxed);
        Ok(ChargeOutcome::Captured { reference: format!("sim_ch_{}", booking_id.simple()) })
    }

    async fn refund(&self, booking_id: Uuid, _reference: &str, _amount_cents: i64, _currency: &str) -> Result<String, GatewayError> {
        self.refunds.fetch_add(1, Ordering::Relaxed);
        Ok(format!("sim_re_{}", booking_id.simple()))
    }
}

/// The `payments` side-effect handler.
pub struct Payments {
    gateway: Arc<dyn PaymentGateway>,
}

impl Payments {
    pub fn new(gateway: Arc<dyn PaymentGateway>) -> Self {
        Self { gateway }
    }

    /// Charges a booking that holds a seat, unless an outcome is recorded or it moved on.
    async fn charge(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let booking_id = event.stream.aggregate_id;
        // Read in the live actors: a stale payment at worst asks the provider again, which
        // charges a booking once, and the booking is read at least as of this very event.
        let payment_status = inspect::<Payment, _>(commands, booking_id, 0, Payment::status).await?;
        if payment_status != PaymentStatus::Pending {
            tracing::debug!(%booking_id, "payment outcome already recorded; not charging again");
            return Ok(());
        }
        let Some(booking) = inspect::<Booking, _>(commands, booking_id, event.version, Clone::clone).await? else {
            tracing::warn!(%booking_id, "a booking holding a seat has no stream; not charging");
            return Ok(());
        };
        if booking.status != BookingStatus::SeatReserved {
            // Cancelled before we got to it: nothing to charge, and its flow releases the seat.
            tracing::info!(%booking_id, status = %booking.status, "the booking moved on; not charging");
            return Ok(());
        }
        let outcome = self
            .gateway
            .charge(booking_id, booking.price_cents, &booking.currency, &booking.payment_method)
            .await
            .map_err(SubscriberError::failed)?;
        tracing::info!(%booking_id, ?outcome, "charged");
        let (amount_cents, currency, payment_method, at) =
            (booking.price_cents, booking.currency, booking.payment_method, event.recorded_at);
        let record: PaymentCommand = match outcome {
            ChargeOutcome::Captured { reference } => {
                RecordCapture { booking_id, amount_cents, currency, payment_method, provider_reference: reference, at }.into()
            }
            ChargeOutcome::Declined { reason } => RecordFailure { booking_id, amount_cents, currency, payment_method, reason, at }.into(),
        };
        if let Err(refusal) = send::<Payment>(commands, booking_id, record, CommandContext::caused_by(event, PAYMENTS, 0)).await? {
            tracing::error!(%booking_id, %refusal, "the payment refused the provider's outcome");
        }
        Ok(())
    }

    /// Refunds the payment of a cancelled booking if it is captured. Runs on the booking's
    /// cancellation and on the payment's capture, so whichever of the two comes last finds both.
    async fn refund_if_owed(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let booking_id = event.stream.aggregate_id;
        let booking = load::<Booking>(commands, booking_id).await?;
        if booking.map(|booking| booking.status) != Some(BookingStatus::Cancelled) {
            return Ok(());
        }
        let Some(payment) = load::<Payment>(commands, booking_id).await? else {
            return Ok(());
        };
        if payment.status != PaymentStatus::Captured {
            return Ok(());
        }
        let context = CommandContext::caused_by(event, PAYMENTS, 0);
        if let Err(refusal) = refund_captured(self.gateway.as_ref(), commands, booking_id, &payment, event.recorded_at, context).await? {
            tracing::error!(%booking_id, %refusal, "the payment refused the provider's refund");
        }
        Ok(())
    }
}

/// Refunds the captured payment of `booking_id` in full through the provider, then records the
/// refund on the payment aggregate with `context`. The provider refunds a booking once however
/// often it is asked, so a crash between the two steps is mended by running this again. Shared by
/// the `payments` handler and `konnektid verify --repair`.
pub async fn refund_captured(
    gateway: &dyn PaymentGateway,
    commands: &CommandBus,
    booking_id: Uuid,
    payment: &PaymentState,
    at: DateTime<Utc>,
    context: CommandContext,
) -> Result<Result<Executed<Payment>, PaymentError>, SubscriberError> {
    let reference = payment.capture_reference.as_deref().unwrap_or_default();
    let refund_reference =
        gateway.refund(booking_id, reference, payment.amount_cents, &payment.currency).await.map_err(SubscriberError::failed)?;
    tracing::info!(%booking_id, %refund_reference, "refunded");
    let record = RefundPayment { provider_reference: refund_reference, at };
    send::<Payment>(commands, booking_id, record.into(), context).await
}

#[async_trait]
impl EventHandler for Payments {
    fn event_types(&self) -> &[&'static str] {
        &["BookingSeatReserved", "BookingCancelled", "PaymentCaptured"]
    }

    /// The booking (its payment shares the id): a charge and a refund of one booking never run
    /// side by side, whichever requests their events came from.
    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        event.stream.aggregate_id
    }

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        match decode::<Booking>(event)? {
            Some(BookingEvent::BookingSeatReserved { .. }) => return self.charge(event, commands).await,
            Some(BookingEvent::BookingCancelled { .. }) => return self.refund_if_owed(event, commands).await,
            Some(_) => return Ok(()),
            None => {}
        }
        match decode::<Payment>(event)? {
            Some(PaymentEvent::PaymentCaptured { .. }) => self.refund_if_owed(event, commands).await,
            _ => Ok(()),
        }
    }
}
