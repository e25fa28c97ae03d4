//! Leases with fencing: "this work runs on exactly one node at a time".
//!
//! A holder (one process) takes a named lease for a time to live and renews it before it runs
//! out; another holder can take it only once it has run out (or was released), and every change
//! of holder raises the lease's epoch. What a holder writes on the lease's behalf goes through
//! [`Leases::write_fenced`] with the epoch it holds: the writes land only if the lease is still
//! at that epoch, atomically with that check, so a node that lost its lease (paused, cut off,
//! too slow to renew) can no longer move what its successor now owns. The expiry only opens a
//! lease to takeover: until someone takes it, the old epoch still holds and its writes are safe,
//! since no one else can have written under another.
//!
//! Times are the store's: PostgreSQL's clock for the shared store, so nodes need not agree on
//! theirs; the process clock for the one-process stores.

mod local;
mod sled;

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

pub(crate) use local::InMemoryLeases;
pub(crate) use sled::SledLeases;

/// A lease as its holder holds it: the token to fence writes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    /// Raised at every change of holder; a renewal keeps it.
    pub epoch: u64,
}

/// Another holder has the lease, and it has not run out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease {name:?} is held by {holder:?} at epoch {epoch}")]
pub struct LeaseHeld {
    pub name: String,
    pub holder: String,
    pub epoch: u64,
}

/// A fenced write was refused, and nothing was written: the lease is no longer at the epoch
/// the writer holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lease {name:?} is no longer held at epoch {epoch} (now at epoch {current})")]
pub struct Fenced {
    pub name: String,
    /// The epoch the writer named.
    pub epoch: u64,
    /// The lease's epoch now (0: the lease was never taken).
    pub current: u64,
}

/// One write to a table of records (see [`super::Records`]), as part of a fenced write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordWrite {
    Put { table: String, key: Vec<u8>, value: Vec<u8> },
    Remove { table: String, key: Vec<u8> },
}

impl RecordWrite {
    pub fn put(table: &str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        RecordWrite::Put { table: table.to_owned(), key: key.into(), value: value.into() }
    }

    pub fn remove(table: &str, key: impl Into<Vec<u8>>) -> Self {
        RecordWrite::Remove { table: table.to_owned(), key: key.into() }
    }

    pub(crate) fn table(&self) -> &str {
        match self {
            RecordWrite::Put { table, .. } | RecordWrite::Remove { table, .. } => table,
        }
    }
}

/// Named leases kept in a store, shared by every process that shares the store.
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes `name` for `holder` until `ttl` from now, or renews it when `holder` has it already
    /// (same epoch). A lease that ran out or was released goes to the next holder that asks, at
    /// the next epoch. The inner `Err` names who holds it instead.
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Result<Lease, LeaseHeld>, StoreError>;

    /// Gives the lease up at once, if it is still held at `lease.epoch`; otherwise does nothing.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// Who holds `name` now, if anyone holds it and it has not run out.
    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError>;

    /// Applies `writes` in order, atomically and durably, if `lease` is still held at its epoch;
    /// otherwise writes nothing and answers [`Fenced`].
    async fn write_fenced(&self, lease: &Lease, writes: &[RecordWrite]) -> Result<Result<(), Fenced>, StoreError>;
}
