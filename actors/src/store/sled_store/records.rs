//! Records in the sled store's database: one sled tree per table, named as the table, so the
//! trees an application kept its data in before records existed (`credentials`, `idempotency`)
//! are read as they are. Every write is made durable by the store writer's next group flush.

use async_trait::async_trait;

use super::SledStore;
use crate::store::records::{scan_start, Record, Records};
use crate::store::{LocalFlush, StoreError};

/// Trees the store and the runtime keep for themselves; a table cannot have these names.
const RESERVED: [&str; 9] =
    ["log", "log2", "log3", "snapshots", "reactors", "parked", "read-model-generations", "read-model-checkpoints", "leases"];

pub(super) struct SledRecords {
    tree: sled::Tree,
    store: SledStore,
}

impl SledRecords {
    /// # Panics
    /// When `name` is a tree the store or the runtime uses for itself: a programming error.
    pub(super) fn open(store: &SledStore, name: &str) -> Result<Self, StoreError> {
        assert!(
            !RESERVED.contains(&name) && !name.starts_with("read-model/") && !name.starts_with("__sled"),
            "{name:?} is a tree the event store or the runtime uses; name the records table otherwise"
        );
        let tree = store.database().open_tree(name).map_err(StoreError::backend)?;
        Ok(Self { tree, store: store.clone() })
    }
}

#[async_trait]
impl Records for SledRecords {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key).map_err(StoreError::backend)?.map(|value| value.to_vec()))
    }

    async fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        match self.tree.compare_and_swap(key, expected, new).map_err(StoreError::backend)? {
            Ok(()) => {
                self.store.flush_local().await?;
                Ok(Ok(()))
            }
            Err(error) => Ok(Err(error.current.map(|value| value.to_vec()))),
        }
    }

    async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tree.insert(key, value).map_err(StoreError::backend)?;
        self.store.flush_local().await
    }

    async fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key).map_err(StoreError::backend)?;
        self.store.flush_local().await
    }

    async fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Vec<Record>, StoreError> {
        self.tree
            .range(scan_start(prefix, after)..)
            .take_while(|entry| entry.as_ref().map_or(true, |(key, _)| key.starts_with(prefix)))
            .take(limit)
            .map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())).map_err(StoreError::backend))
            .collect()
    }
}
