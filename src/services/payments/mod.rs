//! Payments: the provider behind a [`PaymentGateway`] (the [`SimulatedGateway`] by default), and
//! the `payments` side-effect handler that charges a booking once it holds a seat and refunds a
//! captured payment once its booking is cancelled, recording each outcome on the payment
//! aggregate.
//!
//! Money must not move twice, nor move unrecorded. So the intent comes first: before the
//! provider is called the payment records `ChargeRequested` with the charge's request key, which
//! derives from the booking ([`charge_key`]) and so is the same on every attempt and every node.
//! From then on the outcome is the provider's to tell: an attempt whose answer was lost (a
//! timeout, a crash, a failed record) is followed by a status look-up by that key, never by a
//! decision from the booking's status, and a refund of a cancelled booking first resolves an
//! unknown outcome. Refunds are idempotent by a key derived from the charge ([`refund_key`]).
//! Record commands' ids derive from the triggering event, so a redelivery appends nothing.

mod config;
mod gateway;
pub mod simulated;

use std::sync::Arc;

use actors::{Aggregate, CommandBus, CommandContext, EventHandler, EventStore, Executed, RecordedEvent, StreamId, SubscriberError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use self::config::{build_gateway, PaymentsConfig, ProviderKind};
pub use self::gateway::{Bounded, ChargeOutcome, ChargeRequest, EntryKind, GatewayError, PaymentGateway, ProviderEntry, RefundRequest};
pub use self::simulated::SimulatedGateway;
use super::reaction::{decode, inspect, load, send};
use crate::domain::booking::{Booking, BookingEvent, BookingState, BookingStatus};
use crate::domain::payment::{
    Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentState, PaymentStatus, RecordCapture, RecordFailure, RefundPayment,
    RequestCharge,
};

/// The subscriber name of [`Payments`].
pub const PAYMENTS: &str = "payment-gateway";

/// The payment method the simulated provider declines.
pub const DECLINED_METHOD: &str = simulated::tokens::DECLINE;

/// The provider's idempotency key of a booking's charge.
pub fn charge_key(booking_id: Uuid) -> String {
    format!("{booking_id}/charge")
}

/// The provider's idempotency key of the refund of the charge `charge_reference`.
pub fn refund_key(charge_reference: &str) -> String {
    format!("{charge_reference}/refund")
}

/// The charge a payment requested, as the provider is sent it; `None` before any request.
pub fn charge_request(payment: &PaymentState) -> Option<ChargeRequest> {
    Some(ChargeRequest {
        key: payment.charge_request_key.clone()?,
        booking_id: payment.booking_id,
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
        payment_method: payment.payment_method.clone(),
    })
}

/// The full refund of a captured payment's charge, as the provider is sent it.
pub fn refund_request(payment: &PaymentState) -> RefundRequest {
    let charge_reference = payment.capture_reference.clone().unwrap_or_default();
    RefundRequest {
        key: refund_key(&charge_reference),
        booking_id: payment.booking_id,
        charge_reference,
        amount_cents: payment.amount_cents,
        currency: payment.currency.clone(),
    }
}

/// The `payments` side-effect handler.
pub struct Payments {
    store: Arc<dyn EventStore>,
    gateway: Arc<dyn PaymentGateway>,
}

impl Payments {
    pub fn new(store: Arc<dyn EventStore>, gateway: Arc<dyn PaymentGateway>) -> Self {
        Self { store, gateway }
    }

    /// Charges a booking that holds a seat, unless an outcome is recorded or, before the charge
    /// was requested, the booking moved on.
    async fn charge(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let booking_id = event.stream.aggregate_id;
        let Some(booking) = inspect::<Booking, _>(commands, booking_id, event.version, Clone::clone).await? else {
            tracing::warn!(%booking_id, "a booking holding a seat has no stream; not charging");
            return Ok(());
        };
        if booking.status == BookingStatus::SeatReserved {
            return self.request_and_charge(event, commands, booking).await;
        }
        // The booking moved on. Only a charge requested before it did is still charged: its
        // outcome is the provider's to tell now. Read in the live actor: a stale answer at worst
        // asks the provider about a charge it already answered.
        let payment = inspect::<Payment, _>(commands, booking_id, 0, Clone::clone).await?;
        let Some(request) = payment.as_ref().filter(|payment| payment.outcome_unknown()).and_then(charge_request) else {
            // Cancelled before we got to it: nothing to charge, and its flow releases the seat.
            tracing::info!(%booking_id, status = %booking.status, "the booking moved on; not charging");
            return Ok(());
        };
        self.settle(event, commands, &request, true).await
    }

    /// Records the intent to charge a booking that holds its seat, then charges it. The payment
    /// answers a repeated request with what it recorded the first time, and refuses once an
    /// outcome is recorded.
    async fn request_and_charge(&self, event: &RecordedEvent, commands: &CommandBus, booking: BookingState) -> Result<(), SubscriberError> {
        let booking_id = event.stream.aggregate_id;
        let request = ChargeRequest {
            key: charge_key(booking_id),
            booking_id,
            amount_cents: booking.price_cents,
            currency: booking.currency,
            payment_method: booking.payment_method,
        };
        let intent = RequestCharge {
            booking_id,
            request_key: request.key.clone(),
            amount_cents: request.amount_cents,
            currency: request.currency.clone(),
            payment_method: request.payment_method.clone(),
            at: event.recorded_at,
        };
        let executed = match send::<Payment>(commands, booking_id, intent.into(), CommandContext::caused_by(event, PAYMENTS, 0)).await? {
            Ok(executed) => executed,
            Err(refusal) => {
                tracing::debug!(%booking_id, %refusal, "the payment refused the charge request; not charging");
                return Ok(());
            }
        };
        if Payment::status(&executed.state) != PaymentStatus::Pending {
            tracing::debug!(%booking_id, "payment outcome already recorded; not charging again");
            return Ok(());
        }
        // Requested before (a retry): an earlier attempt may have reached the provider.
        let asked_before = executed.already_committed || executed.events.is_empty();
        self.settle(event, commands, &request, asked_before).await
    }

    async fn settle(
        &self,
        event: &RecordedEvent,
        commands: &CommandBus,
        request: &ChargeRequest,
        asked_before: bool,
    ) -> Result<(), SubscriberError> {
        let context = CommandContext::caused_by(event, PAYMENTS, 1);
        if let Err(refusal) = settle_charge(self.gateway.as_ref(), commands, request, asked_before, event.recorded_at, context).await? {
            tracing::error!(booking_id = %request.booking_id, %refusal, "the payment refused the provider's outcome");
        }
        Ok(())
    }

    /// Refunds the payment of a cancelled booking once it is captured; an outcome that only the
    /// provider knows is asked for and recorded first, and its capture comes back here as a
    /// `PaymentCaptured`. Runs on the booking's cancellation and on the payment's capture, so
    /// whichever of the two comes last finds both.
    async fn refund_if_owed(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let booking_id = event.stream.aggregate_id;
        // The booking as of everything the store holds for it, read in its live actor: a
        // cancellation committed before this read is in it, and one committed after it comes
        // here on its own event. Every captured payment passes here, so this is kept cheap.
        let version = self.store.stream_version(&StreamId::new(Booking::TYPE, booking_id)).await?;
        let status = inspect::<Booking, _>(commands, booking_id, version, |booking| booking.as_ref().map(|booking| booking.status)).await?;
        if status != Some(BookingStatus::Cancelled) {
            return Ok(());
        }
        // Replayed from the store: where money is to be given back, nothing may be missing.
        let Some(payment) = load::<Payment>(commands, booking_id).await? else {
            return Ok(());
        };
        let context = CommandContext::caused_by(event, PAYMENTS, 1);
        let outcome = match payment.status {
            PaymentStatus::Captured => refund_captured(self.gateway.as_ref(), commands, &payment, event.recorded_at, context).await?,
            PaymentStatus::Pending => match resolve_outcome(self.gateway.as_ref(), commands, &payment, event.recorded_at, context).await? {
                Some(recorded) => recorded,
                None => {
                    // In flight or never sent: once captured, its PaymentCaptured brings us back.
                    tracing::info!(%booking_id, "the provider has not taken the charge of this cancelled booking (yet)");
                    return Ok(());
                }
            },
            PaymentStatus::Failed | PaymentStatus::Refunded => return Ok(()),
        };
        if let Err(refusal) = outcome {
            tracing::error!(%booking_id, %refusal, "the payment refused the provider's answer");
        }
        Ok(())
    }
}

type Recorded = Result<Executed<Payment>, PaymentError>;

/// Finds out what became of the requested `charge` and records it: asks the provider first when
/// an earlier attempt may have reached it (`asked_before`), and sends the charge (idempotent by
/// its key) when it has not taken it. Shared by the `payments` handler and `verify --repair`.
pub async fn settle_charge(
    gateway: &dyn PaymentGateway,
    commands: &CommandBus,
    charge: &ChargeRequest,
    asked_before: bool,
    at: DateTime<Utc>,
    context: CommandContext,
) -> Result<Recorded, SubscriberError> {
    let known = if asked_before { gateway.charge_status(&charge.key).await.map_err(SubscriberError::failed)? } else { None };
    let outcome = match known {
        Some(outcome) => outcome,
        None => gateway.charge(charge).await.map_err(SubscriberError::failed)?,
    };
    tracing::info!(booking_id = %charge.booking_id, ?outcome, "charged");
    record_outcome(commands, charge, outcome, at, context).await
}

/// Asks the provider what became of the payment's requested charge and records it; `None` when
/// the provider has not taken it (nothing recorded then).
pub async fn resolve_outcome(
    gateway: &dyn PaymentGateway,
    commands: &CommandBus,
    payment: &PaymentState,
    at: DateTime<Utc>,
    context: CommandContext,
) -> Result<Option<Recorded>, SubscriberError> {
    let Some(charge) = charge_request(payment) else { return Ok(None) };
    let Some(outcome) = gateway.charge_status(&charge.key).await.map_err(SubscriberError::failed)? else { return Ok(None) };
    tracing::info!(booking_id = %charge.booking_id, ?outcome, "the provider told the outcome of an unanswered charge");
    Ok(Some(record_outcome(commands, &charge, outcome, at, context).await?))
}

async fn record_outcome(
    commands: &CommandBus,
    charge: &ChargeRequest,
    outcome: ChargeOutcome,
    at: DateTime<Utc>,
    context: CommandContext,
) -> Result<Recorded, SubscriberError> {
    let (booking_id, amount_cents, currency, payment_method) =
        (charge.booking_id, charge.amount_cents, charge.currency.clone(), charge.payment_method.clone());
    let record: PaymentCommand = match outcome {
        ChargeOutcome::Captured { reference } => {
            RecordCapture { booking_id, amount_cents, currency, payment_method, provider_reference: reference, at }.into()
        }
        ChargeOutcome::Declined { reason } => RecordFailure { booking_id, amount_cents, currency, payment_method, reason, at }.into(),
    };
    send::<Payment>(commands, booking_id, record, context).await
}

/// Refunds the captured `payment` in full through the provider, then records the refund with
/// `context`. The provider refunds a charge once per key however often it is asked, so a crash
/// between the two steps is mended by running this again. Shared by the `payments` handler and
/// `konnektid verify --repair`.
pub async fn refund_captured(
    gateway: &dyn PaymentGateway,
    commands: &CommandBus,
    payment: &PaymentState,
    at: DateTime<Utc>,
    context: CommandContext,
) -> Result<Recorded, SubscriberError> {
    let refund_reference = gateway.refund(&refund_request(payment)).await.map_err(SubscriberError::failed)?;
    tracing::info!(booking_id = %payment.booking_id, %refund_reference, "refunded");
    let record = RefundPayment { provider_reference: refund_reference, at };
    send::<Payment>(commands, payment.booking_id, record.into(), context).await
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

    /// Every step is safe to repeat on its own: the payment's commands take their ids from the
    /// event, a charge requested before is looked up at the provider before it is sent, and the
    /// provider moves money once per key.
    fn records_completions(&self) -> bool {
        false
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
