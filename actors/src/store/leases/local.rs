//! Leases of a one-process store (in memory, sled): the rules every store follows, decided
//! against the process clock, and the in-memory implementation.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Fenced, Lease, LeaseHeld, Leases, RecordWrite};
use crate::store::records::InMemoryRecords;
use crate::store::StoreError;

/// A lease as stored: who holds it (`None` once released), at which epoch, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseState {
    pub holder: Option<String>,
    pub epoch: u64,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// The process clock, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// What `acquire` makes of the stored lease: the new state, or who holds it instead.
pub(crate) fn acquired(name: &str, current: Option<&LeaseState>, holder: &str, ttl: Duration, now: u64) -> Result<LeaseState, LeaseHeld> {
    let expires_at_ms = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    let epoch = match current {
        None => 1,
        Some(lease) if lease.holder.as_deref() == Some(holder) => lease.epoch,
        Some(lease) if lease.expires_at_ms <= now || lease.holder.is_none() => lease.epoch + 1,
        Some(lease) => {
            let holder = lease.holder.clone().unwrap_or_default();
            return Err(LeaseHeld { name: name.to_owned(), holder, epoch: lease.epoch });
        }
    };
    Ok(LeaseState { holder: Some(holder.to_owned()), epoch, expires_at_ms })
}

/// Whether `lease` is still held at its epoch.
pub(crate) fn fence(current: Option<&LeaseState>, lease: &Lease) -> Result<(), Fenced> {
    match current {
        Some(state) if state.epoch == lease.epoch && state.holder.as_deref() == Some(lease.holder.as_str()) => Ok(()),
        _ => Err(Fenced { name: lease.name.clone(), epoch: lease.epoch, current: current.map_or(0, |state| state.epoch) }),
    }
}

/// The stored lease once `lease` is released: no holder, run out, same epoch.
pub(crate) fn released(current: &LeaseState) -> LeaseState {
    LeaseState { holder: None, epoch: current.epoch, expires_at_ms: 0 }
}

/// Who holds the stored lease now, if anyone.
pub(crate) fn current_holder(name: &str, current: Option<&LeaseState>, now: u64) -> Option<Lease> {
    let state = current.filter(|state| state.expires_at_ms > now)?;
    Some(Lease { name: name.to_owned(), holder: state.holder.clone()?, epoch: state.epoch })
}

/// Leases of the in-memory store; a fenced write applies to its records under the leases' lock.
pub(crate) struct InMemoryLeases {
    leases: Mutex<HashMap<String, LeaseState>>,
    records: InMemoryRecords,
}

impl InMemoryLeases {
    pub(crate) fn new(records: InMemoryRecords) -> Self {
        Self { leases: Mutex::new(HashMap::new()), records }
    }
}

#[async_trait]
impl Leases for InMemoryLeases {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        let mut leases = self.leases.lock();
        Ok(acquired(name, leases.get(name), holder, ttl, now_ms()).map(|state| {
            let lease = Lease { name: name.to_owned(), holder: holder.to_owned(), epoch: state.epoch };
            leases.insert(name.to_owned(), state);
            lease
        }))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut leases = self.leases.lock();
        if let Some(state) = leases.get_mut(&lease.name) {
            if fence(Some(state), lease).is_ok() {
                *state = released(state);
            }
        }
        Ok(())
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        Ok(current_holder(name, self.leases.lock().get(name), now_ms()))
    }

    async fn write_fenced(&self, lease: &Lease, writes: &[RecordWrite]) -> Result<Result<(), Fenced>, StoreError> {
        let leases = self.leases.lock();
        if let Err(fenced) = fence(leases.get(&lease.name), lease) {
            return Ok(Err(fenced));
        }
        self.records.apply(writes);
        Ok(Ok(()))
    }
}
