//! Read models kept in local sled trees. The writes of a batch of events and the new checkpoint
//! commit in one sled transaction, so every event is applied exactly once, also across crashes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::Transactional;

use super::{ProjectionError, Subscriber};
use crate::codec::{decode_bytes, encode_bytes, CodecError};
use crate::event::{Position, RecordedEvent};

/// A query model built from the log. `apply` sees every event in order and writes through the
/// transaction; it runs again from position 1 when the model is rebuilt, so it must not have
/// side effects.
pub trait ReadModel: Send + Sync + 'static {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), ProjectionError>;
}

/// The writes of one batch of events: read-your-writes within the batch, committed at once.
pub struct ReadModelTx<'a> {
    tree: &'a sled::Tree,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> ReadModelTx<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Self { tree, pending: BTreeMap::new() }
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ProjectionError> {
        if let Some(value) = self.pending.get(key) {
            return Ok(value.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<(), ProjectionError> {
        self.pending.insert(key.into(), Some(value.into()));
        Ok(())
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) -> Result<(), ProjectionError> {
        self.pending.insert(key.into(), None);
        Ok(())
    }

    /// Reads a value stored with [`ReadModelTx::put`].
    pub fn fetch<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ProjectionError> {
        match self.get(key)? {
            Some(bytes) => Ok(Some(decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores a serde value (bincode).
    pub fn put<T: Serialize>(&mut self, key: impl Into<Vec<u8>>, value: &T) -> Result<(), ProjectionError> {
        let bytes = encode_bytes(value)?;
        self.insert(key, bytes)
    }

    /// Writes the batch's changes and the checkpoint in one transaction over both trees.
    fn commit(self, checkpoints: &sled::Tree, checkpoint: Position) -> Result<(), ProjectionError> {
        let mut batch = sled::Batch::default();
        for (key, value) in self.pending {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        let checkpoint_key = self.tree.name();
        (self.tree, checkpoints)
            .transaction(|(data, checkpoints)| {
                data.apply_batch(&batch)?;
                checkpoints.insert(checkpoint_key.as_ref(), &checkpoint.to_be_bytes())?;
                Ok(())
            })
            .map_err(|error: sled::transaction::TransactionError<()>| match error {
                sled::transaction::TransactionError::Storage(error) => ProjectionError::Local(error),
                sled::transaction::TransactionError::Abort(()) => unreachable!("the transaction never aborts"),
            })
    }
}

/// Decodes a value a read model stored with `put`.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_bytes(bytes).map_err(|reason| CodecError::Decode { event_type: "read model value".into(), schema_version: 0, reason })
}

/// Feeds a [`ReadModel`] with events, writing into one tree; its checkpoint lives in
/// `checkpoints` under the tree's name.
pub struct ReadModelSubscriber {
    model: Arc<dyn ReadModel>,
    tree: sled::Tree,
    checkpoints: sled::Tree,
}

impl ReadModelSubscriber {
    pub fn new(model: Arc<dyn ReadModel>, tree: sled::Tree, checkpoints: sled::Tree) -> Self {
        Self { model, tree, checkpoints }
    }
}

#[async_trait]
impl Subscriber for ReadModelSubscriber {
    fn checkpoint(&self) -> Result<Position, ProjectionError> {
        crate::projection::read_position(&self.checkpoints, &self.tree.name())
    }

    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut tx = ReadModelTx::new(&self.tree);
        for event in events {
            let _span = tracing::trace_span!(
                "apply",
                read_model = %String::from_utf8_lossy(&self.tree.name()),
                event_type = %event.event_type,
                position = event.position,
                aggregate_id = %event.stream.aggregate_id,
                correlation_id = %event.correlation_id,
            )
            .entered();
            self.model.apply(&mut tx, event)?;
        }
        let last = events.last().map_or(0, |e| e.position);
        tx.commit(&self.checkpoints, last)
    }

    fn skip(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        ReadModelTx::new(&self.tree).commit(&self.checkpoints, event.position)
    }

    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let checkpoint = self.checkpoint()?;
        let mut tx = ReadModelTx::new(&self.tree);
        self.model.apply(&mut tx, event)?;
        tx.commit(&self.checkpoints, checkpoint)
    }
}

/// What queries read: the tree of a read model's current copy, swapped atomically by a rebuild.
#[derive(Clone)]
pub struct ReadModelHandle {
    name: Arc<str>,
    tree: Arc<RwLock<sled::Tree>>,
}

impl ReadModelHandle {
    pub fn new(name: &str, tree: sled::Tree) -> Self {
        Self { name: name.into(), tree: Arc::new(RwLock::new(tree)) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tree serving queries now. Hold it for one query, not longer: a rebuild swaps it.
    pub fn tree(&self) -> sled::Tree {
        self.tree.read().clone()
    }

    /// Reads a value stored with [`ReadModelTx::put`].
    pub fn fetch<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, ProjectionError> {
        match self.tree().get(key)? {
            Some(bytes) => Ok(Some(decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn swap(&self, tree: sled::Tree) -> sled::Tree {
        std::mem::replace(&mut *self.tree.write(), tree)
    }
}
