//! Storage helpers shared by the read models: key building, counters, and a reader over one tree.

use actors::decode_value;
use std::sync::Arc;

use actors::{ReadModelCopy, ReadModelHandle, ReadModelTx, SubscriberError};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::paging::{Cursor, QueryError};

/// A key made of a one-byte tag (never 0x00, which the runtime reserves) and fixed-width parts,
/// so prefixes never overlap and no separator is needed.
pub(crate) fn key(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    key.push(tag);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// `tag`, then `id`.
pub(crate) fn id_key(tag: u8, id: Uuid) -> Vec<u8> {
    key(tag, &[id.as_bytes()])
}

/// An index entry: `tag`, an optional owner id (teacher, learner, course), then the cursor.
pub(crate) fn index_key(tag: u8, owner: Option<Uuid>, cursor: &Cursor) -> Vec<u8> {
    match owner {
        Some(owner) => key(tag, &[owner.as_bytes(), cursor.as_bytes()]),
        None => key(tag, &[cursor.as_bytes()]),
    }
}

/// Adds `delta` to a signed counter stored with `put` (absent = 0).
pub(crate) fn add_to_counter(tx: &mut ReadModelTx<'_>, key: &[u8], delta: i64) -> Result<(), SubscriberError> {
    let current: i64 = tx.fetch(key)?.unwrap_or(0);
    tx.put(key.to_vec(), &current.saturating_add(delta))
}

/// How [`TreeReader`] reads one view: kept for later queries, or in passing.
type ViewFetch<T> = fn(&ReadModelCopy, &[u8]) -> Result<Option<Arc<T>>, SubscriberError>;

/// Reads one copy of a read model for the length of one query. It holds the tree the handle
/// served when the query began, so a rebuild swapping trees midway cannot mix two copies.
pub(crate) struct TreeReader {
    copy: ReadModelCopy,
}

impl TreeReader {
    pub(crate) fn open(handle: &ReadModelHandle) -> Self {
        Self { copy: handle.copy() }
    }

    /// Reads a value stored with `put`.
    pub(crate) fn fetch<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, QueryError> {
        match self.copy.tree().get(key).map_err(SubscriberError::from)? {
            Some(bytes) => Ok(Some(decode_value(&bytes).map_err(SubscriberError::from)?)),
            None => Ok(None),
        }
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(crate) fn scan(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), QueryError>> {
        self.copy.tree().scan_prefix(prefix).map(|entry| match entry {
            Ok((key, value)) => Ok((key.to_vec(), value.to_vec())),
            Err(error) => Err(QueryError::from(SubscriberError::from(error))),
        })
    }

    /// Every entry under `prefix` with its value decoded (values stored with `put`).
    pub(crate) fn scan_values<T: DeserializeOwned>(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(Vec<u8>, T), QueryError>> {
        self.scan(prefix).map(|entry| {
            let (key, value) = entry?;
            Ok((key, decode_value(&value).map_err(SubscriberError::from)?))
        })
    }

    /// The views an index lists under `prefix`, in index order, with their cursors. Index
    /// entries are empty: the view is stored once, under `id_key(view_tag, id)`, so an update
    /// rewrites one value and the index only changes when an item appears.
    pub(crate) fn scan_views<'a, T: DeserializeOwned + Send + Sync + 'static>(
        &'a self,
        prefix: &[u8],
        view_tag: u8,
    ) -> impl Iterator<Item = Result<(Cursor, Arc<T>), QueryError>> + 'a {
        self.scan_views_with(prefix, view_tag, ReadModelCopy::fetch_shared::<T>)
    }

    /// [`TreeReader::scan_views`] for reading every view once (building an index of them):
    /// views not kept yet are decoded without being kept.
    pub(crate) fn scan_views_passing<'a, T: DeserializeOwned + Send + Sync + 'static>(
        &'a self,
        prefix: &[u8],
        view_tag: u8,
    ) -> impl Iterator<Item = Result<(Cursor, Arc<T>), QueryError>> + 'a {
        self.scan_views_with(prefix, view_tag, ReadModelCopy::fetch_passing::<T>)
    }

    fn scan_views_with<'a, T: 'static>(
        &'a self,
        prefix: &[u8],
        view_tag: u8,
        fetch: ViewFetch<T>,
    ) -> impl Iterator<Item = Result<(Cursor, Arc<T>), QueryError>> + 'a {
        self.scan(prefix).filter_map(move |entry| {
            let found = entry.and_then(|(key, _)| {
                let cursor = Cursor::from_key_tail(&key)?;
                let view = fetch(&self.copy, &id_key(view_tag, cursor.id())).map_err(QueryError::from)?;
                Ok(view.map(|view| (cursor, view)))
            });
            // Views and index entries are written in one batch, so a missing view is not
            // expected; skipping it keeps a list answering rather than failing on one item.
            found.transpose()
        })
    }
}

/// Reads a counter stored by [`add_to_counter`], never below zero.
pub(crate) fn read_count(reader: &TreeReader, key: &[u8]) -> Result<u64, QueryError> {
    let count: i64 = reader.fetch(key)?.unwrap_or(0);
    Ok(u64::try_from(count).unwrap_or(0))
}
