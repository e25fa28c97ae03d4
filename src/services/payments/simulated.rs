//! The simulated payment provider: a test double that behaves like a real provider's test mode,
//! keyed by the payment method's test token, with its own durable records beside the log.
//!
//! Everything it knows lives in one [`Records`] table of the event store ([`TABLE`]): the
//! outcome of each charge and refund by its idempotency key, and the attempts of a token that
//! fails its first requests. So it survives restarts and is shared by every process that shares
//! the store, exactly as a real provider is; and since records are never replayed, exported or
//! imported, no replay, rebuild or restore ever writes it.
//!
//! Money moves at one compare-and-swap: the record under the request's key, which holds all a
//! statement line needs. The statement is read from those records (every captured charge and
//! every refund, in the provider's time order), so it can never disagree with what moved, and a
//! charge costs one durable write. The price is that reading the statement scans every record:
//! fine for a test double, whose statement an operator or a test reads now and then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actors::{Records, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::gateway::{ChargeOutcome, ChargeRequest, EntryKind, GatewayError, PaymentGateway, ProviderEntry, RefundRequest};

/// The records table the simulated provider keeps its books in.
pub const TABLE: &str = "payment-provider";

/// The test tokens of the contract; any other payment method captures like [`VISA`].
pub mod tokens {
    /// Captures.
    pub const VISA: &str = "tok_visa";
    /// Declines: nothing is charged.
    pub const DECLINE: &str = "tok_decline";
    /// Captures, but the answer to the first charge request is lost.
    pub const TIMEOUT: &str = "tok_timeout";
    /// Unreachable for the first [`super::UNAVAILABLE_ATTEMPTS`] charge requests, then captures.
    pub const UNAVAILABLE: &str = "tok_unavailable";
    /// Captures, answering after a delay (2 s unless configured otherwise).
    pub const SLOW: &str = "tok_slow";
}

/// How many charge requests with [`tokens::UNAVAILABLE`] fail before one gets through.
pub const UNAVAILABLE_ATTEMPTS: u32 = 3;

const CHARGE: &[u8] = b"charge/";
const ATTEMPTS: &[u8] = b"attempts/";
const REFUND: &[u8] = b"refund/";
/// Records read from the table at a time.
const PAGE: usize = 1_024;
/// Derives references from idempotency keys, so two racing requests name the same charge.
const REFERENCES: Uuid = Uuid::from_u128(0x6b6f_6e6e_656b_7469_642d_7061_796d_656e);

/// Why the simulated provider could not be reached.
#[derive(Debug, thiserror::Error)]
enum Unreachable {
    #[error("the provider is unreachable for the first {UNAVAILABLE_ATTEMPTS} charge requests paid with {}", tokens::UNAVAILABLE)]
    TestToken,
    #[error("the provider's records failed")]
    Records(#[from] StoreError),
    #[error("a record of the provider cannot be read")]
    Corrupt(#[from] serde_json::Error),
}

impl From<Unreachable> for GatewayError {
    fn from(error: Unreachable) -> Self {
        GatewayError::Unavailable(Box::new(error))
    }
}

/// What the provider keeps per charge key: the first request's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChargeRecord {
    booking_id: Uuid,
    amount_cents: i64,
    currency: String,
    outcome: ChargeOutcome,
    at: DateTime<Utc>,
}

impl ChargeRecord {
    /// The statement line of a captured charge; `None` for a decline (no money moved).
    fn entry(&self) -> Option<ProviderEntry> {
        let ChargeOutcome::Captured { reference } = &self.outcome else { return None };
        Some(ProviderEntry {
            kind: EntryKind::Charge,
            booking_id: self.booking_id,
            reference: reference.clone(),
            refund_reference: None,
            amount_cents: self.amount_cents,
            currency: self.currency.clone(),
            at: self.at,
        })
    }
}

/// The simulated provider. Counts, for tests, the money it moved in this process.
pub struct SimulatedGateway {
    records: Arc<dyn Records>,
    slow: Duration,
    captures: AtomicU64,
    declines: AtomicU64,
    refunds: AtomicU64,
}

impl SimulatedGateway {
    /// A provider keeping its books in `records` (the store's [`TABLE`]); [`tokens::SLOW`]
    /// answers after `slow`.
    pub fn new(records: Arc<dyn Records>, slow: Duration) -> Self {
        Self { records, slow, captures: AtomicU64::new(0), declines: AtomicU64::new(0), refunds: AtomicU64::new(0) }
    }

    /// Charges this process captured (taking money), not counting repeated requests.
    pub fn captures(&self) -> u64 {
        self.captures.load(Ordering::Relaxed)
    }

    /// Charges this process declined.
    pub fn declines(&self) -> u64 {
        self.declines.load(Ordering::Relaxed)
    }

    /// Refunds this process made, not counting repeated requests.
    pub fn refunds(&self) -> u64 {
        self.refunds.load(Ordering::Relaxed)
    }

    async fn read<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, Unreachable> {
        Ok(self.records.get(key).await?.map(|bytes| serde_json::from_slice(&bytes)).transpose()?)
    }

    /// Writes `value` under `key` unless the key holds one; answers what the key holds now and
    /// whether this call wrote it.
    async fn write_once<T: Serialize + DeserializeOwned>(&self, key: &[u8], value: T) -> Result<(T, bool), Unreachable> {
        match self.records.insert_new(key, &serde_json::to_vec(&value)?).await? {
            None => Ok((value, true)),
            Some(current) => Ok((serde_json::from_slice(&current)?, false)),
        }
    }

    /// Counts one more charge request with [`tokens::UNAVAILABLE`]; true once the first
    /// [`UNAVAILABLE_ATTEMPTS`] are behind, durably, so a restart does not start over.
    async fn reachable(&self, key: &str) -> Result<bool, Unreachable> {
        let key = [ATTEMPTS, key.as_bytes()].concat();
        loop {
            let current = self.records.get(&key).await?;
            let attempts = current.as_deref().and_then(|bytes| <[u8; 4]>::try_from(bytes).ok()).map_or(0, u32::from_be_bytes);
            if attempts >= UNAVAILABLE_ATTEMPTS {
                return Ok(true);
            }
            let next = (attempts + 1).to_be_bytes();
            if self.records.compare_and_swap(&key, current.as_deref(), Some(&next)).await?.is_ok() {
                return Ok(false);
            }
        }
    }

    /// Every record under `prefix`, decoded.
    async fn all<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>, Unreachable> {
        let (mut values, mut after) = (Vec::new(), None::<Vec<u8>>);
        loop {
            let page = self.records.scan(prefix, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE;
            after = page.last().map(|(key, _)| key.clone());
            for (_, value) in page {
                values.push(serde_json::from_slice(&value)?);
            }
            if !full {
                return Ok(values);
            }
        }
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let key = [CHARGE, request.key.as_bytes()].concat();
        let method = request.payment_method.as_str();
        if method == tokens::UNAVAILABLE {
            // Counted only until the charge went through.
            if let Some(record) = self.read::<ChargeRecord>(&key).await? {
                return Ok(record.outcome);
            }
            if !self.reachable(&request.key).await? {
                return Err(Unreachable::TestToken.into());
            }
        }
        let outcome = if method == tokens::DECLINE {
            ChargeOutcome::Declined { reason: "the card was declined".to_owned() }
        } else {
            ChargeOutcome::Captured { reference: reference("ch", &request.key) }
        };
        let record = ChargeRecord {
            booking_id: request.booking_id,
            amount_cents: request.amount_cents,
            currency: request.currency.clone(),
            outcome,
            at: Utc::now(),
        };
        let (record, took) = self.write_once(&key, record).await?;
        if took {
            let counter = if record.entry().is_some() { &self.captures } else { &self.declines };
            counter.fetch_add(1, Ordering::Relaxed);
            if method == tokens::TIMEOUT {
                // The money is taken; the caller never hears of it.
                return Err(GatewayError::Timeout);
            }
            if method == tokens::SLOW {
                tokio::time::sleep(self.slow).await;
            }
        }
        Ok(record.outcome)
    }

    async fn charge_status(&self, key: &str) -> Result<Option<ChargeOutcome>, GatewayError> {
        Ok(self.read::<ChargeRecord>(&[CHARGE, key.as_bytes()].concat()).await?.map(|record| record.outcome))
    }

    async fn refund(&self, request: &RefundRequest) -> Result<String, GatewayError> {
        let key = [REFUND, request.key.as_bytes()].concat();
        let entry = ProviderEntry {
            kind: EntryKind::Refund,
            booking_id: request.booking_id,
            reference: request.charge_reference.clone(),
            refund_reference: Some(reference("re", &request.key)),
            amount_cents: request.amount_cents,
            currency: request.currency.clone(),
            at: Utc::now(),
        };
        let (entry, refunded) = self.write_once(&key, entry).await?;
        if refunded {
            self.refunds.fetch_add(1, Ordering::Relaxed);
        }
        Ok(entry.refund_reference.unwrap_or_default())
    }

    async fn statement(&self, booking_id: Option<Uuid>, offset: usize, limit: usize) -> Result<Vec<ProviderEntry>, GatewayError> {
        let charges = self.all::<ChargeRecord>(CHARGE).await?.into_iter().filter_map(|record| record.entry());
        let mut entries: Vec<ProviderEntry> = charges.chain(self.all::<ProviderEntry>(REFUND).await?).collect();
        entries.retain(|entry| booking_id.is_none_or(|id| id == entry.booking_id));
        entries.sort_by(|a, b| (a.at, &a.reference, a.kind == EntryKind::Refund).cmp(&(b.at, &b.reference, b.kind == EntryKind::Refund)));
        Ok(entries.into_iter().skip(offset).take(limit).collect())
    }
}

/// A provider reference such as `ch_<32 hex digits>`, derived from the request's key.
fn reference(prefix: &str, key: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v5(&REFERENCES, key.as_bytes()).simple())
}

#[cfg(test)]
mod tests;
