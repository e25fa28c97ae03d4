//! Leases of the sled store: a `leases` tree beside the records, changed in sled transactions,
//! so a fenced write checks the lease and writes its records as one atomic step.

use std::time::Duration;

use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::local::{acquired, current_holder, fence, now_ms, released, LeaseState};
use super::{Fenced, Lease, LeaseHeld, Leases, RecordWrite};
use crate::codec::{decode_bytes, encode_bytes};
use crate::store::{EventStore, LocalFlush, SledStore, StoreError};

/// The tree the leases live in; records cannot take its name.
pub(crate) const TREE: &str = "leases";

pub(crate) struct SledLeases {
    store: SledStore,
    leases: sled::Tree,
}

impl SledLeases {
    pub(crate) fn open(store: &SledStore) -> Result<Self, StoreError> {
        let leases = store.database().open_tree(TREE).map_err(StoreError::backend)?;
        Ok(Self { store: store.clone(), leases })
    }

    /// The tree of a records table, opened as `records` opens it (which refuses the trees the
    /// store and the runtime keep for themselves).
    fn table(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.store.records(name)?;
        self.store.database().open_tree(name).map_err(StoreError::backend)
    }
}

type Aborted = ConflictableTransactionError<StoreError>;

fn read(tree: &TransactionalTree, name: &str) -> Result<Option<LeaseState>, Aborted> {
    match tree.get(name)? {
        Some(bytes) => {
            decode_bytes(&bytes).map(Some).map_err(|error| Aborted::Abort(StoreError::Corrupt(format!("lease {name:?}: {error}"))))
        }
        None => Ok(None),
    }
}

fn write(tree: &TransactionalTree, name: &str, state: &LeaseState) -> Result<(), Aborted> {
    let bytes = encode_bytes(state).map_err(|error| Aborted::Abort(StoreError::Corrupt(error.to_string())))?;
    tree.insert(name, bytes)?;
    Ok(())
}

fn settled<T>(outcome: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    outcome.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => StoreError::backend(error),
    })
}

#[async_trait]
impl Leases for SledLeases {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        let outcome = settled(self.leases.transaction(|tree| match acquired(name, read(tree, name)?.as_ref(), holder, ttl, now_ms()) {
            Ok(state) => {
                write(tree, name, &state)?;
                Ok(Ok(Lease { name: name.to_owned(), holder: holder.to_owned(), epoch: state.epoch }))
            }
            Err(held) => Ok(Err(held)),
        }))?;
        if outcome.is_ok() {
            self.store.flush_local().await?;
        }
        Ok(outcome)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let changed = settled(self.leases.transaction(|tree| match read(tree, &lease.name)? {
            Some(state) if fence(Some(&state), lease).is_ok() => write(tree, &lease.name, &released(&state)).map(|()| true),
            _ => Ok(false),
        }))?;
        if changed {
            self.store.flush_local().await?;
        }
        Ok(())
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let state = match self.leases.get(name).map_err(StoreError::backend)? {
            Some(bytes) => Some(decode_bytes::<LeaseState>(&bytes)?),
            None => None,
        };
        Ok(current_holder(name, state.as_ref(), now_ms()))
    }

    async fn write_fenced(&self, lease: &Lease, writes: &[RecordWrite]) -> Result<Result<(), Fenced>, StoreError> {
        let mut names: Vec<&str> = writes.iter().map(RecordWrite::table).collect();
        names.sort_unstable();
        names.dedup();
        let mut trees = vec![self.leases.clone()];
        for name in &names {
            trees.push(self.table(name)?);
        }
        let outcome = settled(trees.as_slice().transaction(|views| {
            if let Err(fenced) = fence(read(&views[0], &lease.name)?.as_ref(), lease) {
                return Ok(Err(fenced));
            }
            for record in writes {
                let view = &views[1 + names.binary_search(&record.table()).unwrap_or_default()];
                match record {
                    RecordWrite::Put { key, value, .. } => view.insert(key.as_slice(), value.as_slice())?,
                    RecordWrite::Remove { key, .. } => view.remove(key.as_slice())?,
                };
            }
            Ok(Ok(()))
        }))?;
        if outcome.is_ok() && !writes.is_empty() {
            self.store.flush_local().await?;
        }
        Ok(outcome)
    }
}
