//! The `payments` read model: each booking's payment, from the seat being held (PENDING) to its outcome.
//!
//! Storage: `p` + booking id → [`PaymentView`]; `r` + booking id → the booking's price, kept
//! from `BookingRequested` until the seat is held, because the payment is PENDING from then on
//! and neither the booking's nor the course's seat event carries the amount.

use std::sync::Arc;

use actors::{Aggregate, EventCodec, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::QueryError;
use super::reader::id_key;
use crate::domain::booking::{Booking, BookingEvent};
pub use crate::domain::payment::PaymentStatus;
use crate::domain::payment::{Payment, PaymentEvent};

/// The name this read model is registered under.
pub const NAME: &str = "payments";

const PAYMENT: u8 = b'p';
const PRICE: u8 = b'r';

/// A booking's payment as the API shows it; its id is the booking's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub booking_id: Uuid,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    pub currency: String,
    pub failure_reason: Option<String>,
    /// When the last event that changed this view was recorded.
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub updated_at: DateTime<Utc>,
}

/// What the booking will be charged, waiting for its seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Price {
    amount_cents: i64,
    currency: String,
}

/// Keeps [`PaymentView`]s from the `payment` streams, and PENDING ones from the `booking` streams.
#[derive(Clone, Default)]
pub struct PaymentsReadModel {
    payments: EventCodec<PaymentEvent>,
    bookings: EventCodec<BookingEvent>,
}

impl ReadModel for PaymentsReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        // Both streams are keyed by the booking id.
        let booking_id = event.stream.aggregate_id;
        let key = id_key(PAYMENT, booking_id);
        match event.stream.aggregate_type.as_str() {
            Payment::TYPE => {
                let view = match self.payments.decode(event)? {
                    // Still pending, as the booking's view already shows it.
                    PaymentEvent::ChargeRequested { .. } => return Ok(()),
                    PaymentEvent::PaymentCaptured { amount_cents, currency, .. } => PaymentView {
                        booking_id,
                        status: PaymentStatus::Captured,
                        amount_cents,
                        currency,
                        failure_reason: None,
                        updated_at: event.recorded_at,
                    },
                    PaymentEvent::PaymentFailed { amount_cents, currency, reason, .. } => PaymentView {
                        booking_id,
                        status: PaymentStatus::Failed,
                        amount_cents,
                        currency,
                        failure_reason: Some(reason),
                        updated_at: event.recorded_at,
                    },
                    // Keeps the captured amount; the refund event carries it too, for a view
                    // that somehow missed the capture.
                    PaymentEvent::PaymentRefunded { amount_cents, currency, .. } => match tx.fetch::<PaymentView>(&key)? {
                        Some(view) => PaymentView { status: PaymentStatus::Refunded, updated_at: event.recorded_at, ..view },
                        None => PaymentView {
                            booking_id,
                            status: PaymentStatus::Refunded,
                            amount_cents,
                            currency,
                            failure_reason: None,
                            updated_at: event.recorded_at,
                        },
                    },
                };
                tx.remove(id_key(PRICE, booking_id))?;
                tx.put(key, &view)
            }
            Booking::TYPE => self.apply_booking(tx, event, key),
            _ => Ok(()),
        }
    }
}

impl PaymentsReadModel {
    fn apply_booking(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent, key: Vec<u8>) -> Result<(), SubscriberError> {
        let price_key = id_key(PRICE, event.stream.aggregate_id);
        match self.bookings.decode(event)? {
            BookingEvent::BookingRequested { price_cents, currency, .. } => {
                tx.put(price_key, &Price { amount_cents: price_cents, currency })
            }
            BookingEvent::BookingSeatReserved { .. } => {
                let price: Option<Price> = tx.fetch(&price_key)?;
                // An outcome recorded before the booking heard of its seat must stay.
                if let (Some(price), None) = (price, tx.get(&key)?) {
                    let view = PaymentView {
                        booking_id: event.stream.aggregate_id,
                        status: PaymentStatus::Pending,
                        amount_cents: price.amount_cents,
                        currency: price.currency,
                        failure_reason: None,
                        updated_at: event.recorded_at,
                    };
                    tx.put(key, &view)?;
                }
                tx.remove(price_key)
            }
            // Nothing was charged and nothing will be: a PENDING payment goes away with its
            // booking. A charge already under way still lands, as a payment event, later.
            BookingEvent::BookingRejected { .. } | BookingEvent::BookingCancelled { .. } => {
                let existing: Option<PaymentView> = tx.fetch(&key)?;
                if existing.is_some_and(|view| view.status == PaymentStatus::Pending) {
                    tx.remove(key)?;
                }
                tx.remove(price_key)
            }
            BookingEvent::BookingConfirmed { .. } => Ok(()),
        }
    }
}

/// Queries over the `payments` read model.
#[derive(Clone)]
pub struct PaymentsQuery {
    handle: ReadModelHandle,
}

impl PaymentsQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    /// The payment of a booking; `None` before its seat is held, or if it never got one.
    pub fn get(&self, booking_id: Uuid) -> Result<Option<Arc<PaymentView>>, QueryError> {
        Ok(self.handle.fetch_shared(&id_key(PAYMENT, booking_id))?)
    }
}
