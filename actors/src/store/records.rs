//! Records: small keyed data an application keeps beside the log, in the same store (members'
//! credentials, idempotency records, a payment provider's statement, a handler's done records).
//!
//! They are not events: nothing replays, exports or imports them, and a write may replace or
//! remove a value. What they share with the log is where they live, so every process that
//! shares a store shares its records, and a write is durable when it returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::StoreError;

/// A key and its value.
pub type Record = (Vec<u8>, Vec<u8>);

/// One table of records: bytes to bytes, ordered by key.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets `key` to `new` (`None` removes it) if it holds `expected` now (`None`: no value).
    /// The inner `Err` carries what it held instead, and nothing was written. Durable once it
    /// answers `Ok(Ok(()))`.
    async fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError>;

    /// Sets `key` to `value`, whatever it held. Durable once it answers.
    async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key` if present. Durable once it answers.
    async fn remove(&self, key: &[u8]) -> Result<(), StoreError>;

    /// Up to `limit` records whose key starts with `prefix`, in key order, after the key `after`
    /// when given (for paging).
    async fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Vec<Record>, StoreError>;

    /// Which of `keys` hold a value, in the order given: one round trip where the store can do
    /// it (a reaction checks its whole batch's dedup records at once).
    async fn contains_each(&self, keys: &[Vec<u8>]) -> Result<Vec<bool>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.get(key).await?.is_some());
        }
        Ok(found)
    }

    /// Writes `value` under `key` unless the key holds a value already. `None` when it wrote;
    /// otherwise the value that was there, and nothing was written.
    async fn insert_new(&self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.compare_and_swap(key, None, Some(value)).await? {
            Ok(()) => Ok(None),
            Err(current) => Ok(current),
        }
    }
}

/// Where a scan starts: the first key after `after`, or the prefix itself.
pub(crate) fn scan_start(prefix: &[u8], after: Option<&[u8]>) -> Vec<u8> {
    match after {
        // The smallest key greater than `after` is `after` followed by a zero byte.
        Some(after) if after >= prefix => [after, &[0]].concat(),
        _ => prefix.to_vec(),
    }
}

/// Every table of an in-memory store, by name.
type Tables = Arc<Mutex<HashMap<String, BTreeMap<Vec<u8>, Vec<u8>>>>>;

/// Records in memory, for tests and the in-memory store.
#[derive(Clone, Default)]
pub(crate) struct InMemoryRecords {
    tables: Tables,
}

impl InMemoryRecords {
    pub(crate) fn table(&self, name: &str) -> Arc<dyn Records> {
        Arc::new(InMemoryTable { tables: self.tables.clone(), name: name.to_owned() })
    }

    /// Applies `writes` in order under one lock: no reader sees part of them.
    pub(crate) fn apply(&self, writes: &[super::RecordWrite]) {
        let mut tables = self.tables.lock();
        for write in writes {
            let table = tables.entry(write.table().to_owned()).or_default();
            match write {
                super::RecordWrite::Put { key, value, .. } => table.insert(key.clone(), value.clone()),
                super::RecordWrite::Remove { key, .. } => table.remove(key),
            };
        }
    }
}

struct InMemoryTable {
    tables: Tables,
    name: String,
}

impl InMemoryTable {
    fn with<T>(&self, work: impl FnOnce(&mut BTreeMap<Vec<u8>, Vec<u8>>) -> T) -> T {
        work(self.tables.lock().entry(self.name.clone()).or_default())
    }
}

#[async_trait]
impl Records for InMemoryTable {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|table| table.get(key).cloned()))
    }

    async fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        Ok(self.with(|table| {
            let current = table.get(key);
            if current.map(Vec::as_slice) != expected {
                return Err(current.cloned());
            }
            match new {
                Some(value) => table.insert(key.to_vec(), value.to_vec()),
                None => table.remove(key),
            };
            Ok(())
        }))
    }

    async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.with(|table| table.insert(key.to_vec(), value.to_vec()));
        Ok(())
    }

    async fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.with(|table| table.remove(key));
        Ok(())
    }

    async fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let start = scan_start(prefix, after);
        Ok(self.with(|table| {
            table
                .range(start..)
                .take_while(|(key, _)| key.starts_with(prefix))
                .take(limit)
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        }))
    }
}
