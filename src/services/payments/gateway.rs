//! What the application asks of a payment provider: charges and refunds idempotent by a key the
//! caller chooses, the status of a charge by that key, and the provider's own statement.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A charge as sent to the provider. `key` is its idempotency key: every attempt at one charge,
/// on any node, sends the same key, and the provider takes the money at most once per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub key: String,
    pub booking_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    /// The provider's token for the learner's card.
    pub payment_method: String,
}

/// A full refund of the charge `charge_reference`, idempotent by `key` like a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub key: String,
    pub booking_id: Uuid,
    pub charge_reference: String,
    pub amount_cents: i64,
    pub currency: String,
}

/// What the provider answered to a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChargeOutcome {
    /// The money was taken; `reference` is the provider's id of the charge.
    Captured { reference: String },
    /// The provider refused the charge; `reason` is for the learner.
    Declined { reason: String },
}

/// The provider gave no answer: whether it acted is unknown, so the caller asks again later (by
/// the same key), never decides the outcome itself.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the payment provider did not answer in time")]
    Timeout,
    #[error("the payment provider is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the payment provider refused to refund charge {reference}: {reason}")]
    RefundRefused { reference: String, reason: String },
}

/// What a line of the provider's statement records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// Money taken from the learner.
    Charge,
    /// Money given back.
    Refund,
}

/// One line of the provider's statement: money that moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderEntry {
    pub kind: EntryKind,
    pub booking_id: Uuid,
    /// The charge's reference; a refund names the charge it refunds.
    pub reference: String,
    /// A refund's own reference.
    pub refund_reference: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    /// When the provider moved the money, by its clock.
    pub at: DateTime<Utc>,
}

/// A payment provider. Every call that moves money is idempotent by its request's key.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Charges once per `request.key`: asked again with the same key, answers the first outcome
    /// and moves no more money.
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;

    /// The outcome of the charge with this key; `None` when the provider never took a request
    /// with it (then charging with it is still safe).
    async fn charge_status(&self, key: &str) -> Result<Option<ChargeOutcome>, GatewayError>;

    /// Refunds the charge in full, once per `request.key`; answers the refund's reference.
    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError>;

    /// The statement, oldest first: `offset` entries skipped, at most `limit`, only one
    /// booking's with `booking_id`.
    async fn statement(&self, booking_id: Option<Uuid>, offset: usize, limit: usize) -> Result<Vec<ProviderEntry>, GatewayError>;
}

/// A provider whose every call is bounded by `timeout`: a call that takes longer is a
/// [`GatewayError::Timeout`], an unknown outcome, like a lost answer.
pub struct Bounded<G> {
    inner: G,
    timeout: Duration,
}

impl<G: PaymentGateway> Bounded<G> {
    pub fn new(inner: G, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    async fn within<T>(&self, call: impl std::future::Future<Output = Result<T, GatewayError>>) -> Result<T, GatewayError> {
        tokio::time::timeout(self.timeout, call).await.unwrap_or(Err(GatewayError::Timeout))
    }
}

#[async_trait]
impl<G: PaymentGateway> PaymentGateway for Bounded<G> {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        self.within(self.inner.charge(request)).await
    }

    async fn charge_status(&self, key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        self.within(self.inner.charge_status(key)).await
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        self.within(self.inner.refund(request)).await
    }

    async fn statement(&self, booking_id: Option<Uuid>, offset: usize, limit: usize) -> Result<Vec<ProviderEntry>, GatewayError> {
        self.within(self.inner.statement(booking_id, offset, limit)).await
    }
}
