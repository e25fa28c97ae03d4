//! Read models kept in local sled trees. The writes of a batch of events and the new checkpoint
//! commit in one batch on the read model's tree (sled applies a batch on one tree atomically), so
//! every event is applied exactly once, also across crashes. The checkpoint lives under the empty
//! key, the one key no read model can use.
//!
//! A batch that changes nothing (most read models ignore most events) writes nothing at once:
//! its checkpoint waits for the next batch that changes something, for [`WRITE_BEHIND`], or for
//! the subscriber to stop. A crash in between replays only events that changed nothing, on a
//! tree that has not changed since, so they change nothing again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::views::Views;
use super::{Subscriber, SubscriberError};
use crate::codec::{decode_bytes, encode_bytes, CodecError};
use crate::event::{Position, RecordedEvent};

/// Where a read model's tree holds its checkpoint.
const CHECKPOINT_KEY: &[u8] = b"";

/// How long the checkpoint of batches that changed nothing may wait to be written.
const WRITE_BEHIND: std::time::Duration = std::time::Duration::from_millis(200);

/// A query model built from the log. `apply` sees every event in order and writes through the
/// transaction; it runs again from position 1 when the model is rebuilt, so it must not have
/// side effects. Any key but the empty one is free (the empty key holds the checkpoint).
pub trait ReadModel: Send + Sync + 'static {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError>;
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

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SubscriberError> {
        if let Some(value) = self.pending.get(key) {
            return Ok(value.clone());
        }
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<(), SubscriberError> {
        self.pending.insert(free_key(key.into())?, Some(value.into()));
        Ok(())
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) -> Result<(), SubscriberError> {
        self.pending.insert(free_key(key.into())?, None);
        Ok(())
    }

    /// Reads a value stored with [`ReadModelTx::put`].
    pub fn fetch<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, SubscriberError> {
        match self.get(key)? {
            Some(bytes) => Ok(Some(decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Stores a serde value (bincode).
    pub fn put<T: Serialize>(&mut self, key: impl Into<Vec<u8>>, value: &T) -> Result<(), SubscriberError> {
        let bytes = encode_bytes(value)?;
        self.insert(key, bytes)
    }

    /// Whether the batch changes nothing so far.
    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes the batch's changes and the checkpoint in one atomic batch; answers the keys
    /// written. (A sled transaction over the tree and a separate checkpoint tree did the same
    /// at about twice the cost.)
    fn commit(self, checkpoint: Position) -> Result<Vec<sled::IVec>, SubscriberError> {
        let mut batch = sled::Batch::default();
        let mut keys = Vec::with_capacity(self.pending.len() + 1);
        for (key, value) in self.pending {
            let key = sled::IVec::from(key);
            keys.push(key.clone());
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        batch.insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes());
        keys.push(CHECKPOINT_KEY.into());
        self.tree.apply_batch(batch)?;
        Ok(keys)
    }
}

fn free_key(key: Vec<u8>) -> Result<Vec<u8>, SubscriberError> {
    if key.as_slice() == CHECKPOINT_KEY {
        return Err(SubscriberError::ReservedKey);
    }
    Ok(key)
}

/// Decodes a value a read model stored with `put`.
pub fn decode_value<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_bytes(bytes).map_err(|reason| CodecError::Decode { event_type: "read model value".into(), schema_version: 0, reason })
}

/// A number that moves forward whenever what queries can read from the read models of one
/// runtime may have changed: after every committed batch and every swap to a rebuilt copy. Two
/// equal readings mean the read models held the same data in between, so whatever was computed
/// from them alone (a query's answer, an ETag) is still true.
#[derive(Clone, Default)]
pub struct ReadVersion(Arc<AtomicU64>);

impl ReadVersion {
    /// Read it before reading the read models: a change committed meanwhile makes a later
    /// reading differ, never the other way round.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Called after the change is visible to readers, so a reader that sees the old number may
    /// have read the new data (and throws its result away later) but never the reverse.
    pub(crate) fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Feeds a [`ReadModel`] with events, writing into one tree with its checkpoint. `checkpoints`
/// is where earlier versions kept the checkpoint, under the tree's name: read when the tree
/// has none of its own yet. Every commit advances `version`.
pub struct ReadModelSubscriber {
    model: Arc<dyn ReadModel>,
    tree: sled::Tree,
    /// The views of `tree` queries keep: told of every key written, before `version` moves.
    views: Arc<Views>,
    checkpoints: sled::Tree,
    version: ReadVersion,
    /// The checkpoint of the batches since the last write, all of which changed nothing, and
    /// when it is to be written.
    behind: Option<(Position, tokio::time::Instant)>,
}

impl ReadModelSubscriber {
    pub(crate) fn new(model: Arc<dyn ReadModel>, copy: ReadModelCopy, checkpoints: sled::Tree, version: ReadVersion) -> Self {
        let ReadModelCopy { tree, views } = copy;
        Self { model, tree, views, checkpoints, version, behind: None }
    }

    /// Commits `tx` with `checkpoint`, which covers any checkpoint left behind.
    fn commit(&mut self, tx: ReadModelTx<'_>, checkpoint: Position) -> Result<(), SubscriberError> {
        let written = tx.commit(checkpoint)?;
        self.views.written(written);
        self.behind = None;
        self.version.advance();
        Ok(())
    }

    fn stored_checkpoint(&self) -> Result<Position, SubscriberError> {
        if self.tree.contains_key(CHECKPOINT_KEY)? {
            return crate::subscriber::read_position(&self.tree, CHECKPOINT_KEY);
        }
        crate::subscriber::read_position(&self.checkpoints, &self.tree.name())
    }
}

#[async_trait]
impl Subscriber for ReadModelSubscriber {
    async fn checkpoint(&mut self) -> Result<Position, SubscriberError> {
        self.behind = None;
        self.stored_checkpoint()
    }

    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), SubscriberError> {
        let Some(last) = events.last().map(|e| e.position) else { return Ok(()) };
        let tree = self.tree.clone();
        let mut tx = ReadModelTx::new(&tree);
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
        if !tx.is_empty() {
            return self.commit(tx, last);
        }
        // Nothing readable changed: no write, and kept answers stay good.
        let due = self.behind.map_or_else(|| tokio::time::Instant::now() + WRITE_BEHIND, |(_, due)| due);
        self.behind = Some((last, due));
        if due <= tokio::time::Instant::now() {
            self.write_deferred().await?;
        }
        Ok(())
    }

    async fn skip(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        let tree = self.tree.clone();
        self.commit(ReadModelTx::new(&tree), event.position)
    }

    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        // A checkpoint left behind goes with the change: replayed after it, the events it
        // covers could change something they did not change the first time.
        let checkpoint = match self.behind {
            Some((position, _)) => position,
            None => self.stored_checkpoint()?,
        };
        let tree = self.tree.clone();
        let mut tx = ReadModelTx::new(&tree);
        self.model.apply(&mut tx, event)?;
        self.commit(tx, checkpoint)
    }

    fn deferred_until(&self) -> Option<tokio::time::Instant> {
        self.behind.map(|(_, due)| due)
    }

    async fn write_deferred(&mut self) -> Result<(), SubscriberError> {
        let Some((position, _)) = self.behind.take() else { return Ok(()) };
        let mut batch = sled::Batch::default();
        batch.insert(CHECKPOINT_KEY, &position.to_be_bytes());
        if let Err(error) = self.tree.apply_batch(batch) {
            self.behind = Some((position, tokio::time::Instant::now() + WRITE_BEHIND));
            return Err(error.into());
        }
        self.views.written([CHECKPOINT_KEY]);
        Ok(())
    }
}

/// One copy of a read model as queries read it: its tree, and the values decoded from it that
/// its subscriber keeps current (see `views`). A rebuild makes a new copy.
#[derive(Clone)]
pub struct ReadModelCopy {
    tree: sled::Tree,
    views: Arc<Views>,
}

impl ReadModelCopy {
    pub(crate) fn new(tree: sled::Tree) -> Self {
        Self { tree, views: Arc::new(Views::new()) }
    }

    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Reads a value stored with [`ReadModelTx::put`], decoded once and shared by every query
    /// until the read model writes its key again. For values read often; [`ReadModelHandle::fetch`]
    /// decodes a copy of its own each time.
    pub fn fetch_shared<T>(&self, key: &[u8]) -> Result<Option<Arc<T>>, SubscriberError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.views.fetch(&self.tree, key)
    }

    /// Like [`ReadModelCopy::fetch_shared`], but keeps nothing new: for reading every value
    /// under a prefix once, which should not push out the values queries read often.
    pub fn fetch_passing<T>(&self, key: &[u8]) -> Result<Option<Arc<T>>, SubscriberError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.views.fetch_passing(&self.tree, key)
    }
}

/// What queries read: the copy of a read model serving now, swapped atomically by a rebuild.
#[derive(Clone)]
pub struct ReadModelHandle {
    name: Arc<str>,
    copy: Arc<RwLock<ReadModelCopy>>,
}

impl ReadModelHandle {
    /// A handle on `copy`, whose subscriber must be the only writer of its tree.
    pub(crate) fn new(name: &str, copy: ReadModelCopy) -> Self {
        Self { name: name.into(), copy: Arc::new(RwLock::new(copy)) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tree serving queries now. Hold it for one query, not longer: a rebuild swaps it.
    pub fn tree(&self) -> sled::Tree {
        self.copy.read().tree.clone()
    }

    /// The copy serving queries now, for one query (see [`ReadModelHandle::tree`]).
    pub fn copy(&self) -> ReadModelCopy {
        self.copy.read().clone()
    }

    /// Reads a value stored with [`ReadModelTx::put`].
    pub fn fetch<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, SubscriberError> {
        match self.tree().get(key)? {
            Some(bytes) => Ok(Some(decode_value(&bytes)?)),
            None => Ok(None),
        }
    }

    /// [`ReadModelCopy::fetch_shared`] on the copy serving now, read under the lock rather than
    /// on a clone of the copy: a clone and drop of its tree and views per course and teacher of
    /// a page showed in a profile of executed reads. A rebuild's swap waits only for the
    /// fetches under way.
    pub fn fetch_shared<T>(&self, key: &[u8]) -> Result<Option<Arc<T>>, SubscriberError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.copy.read().fetch_shared(key)
    }

    pub(crate) fn swap(&self, copy: ReadModelCopy) -> ReadModelCopy {
        std::mem::replace(&mut *self.copy.write(), copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trees() -> (sled::Tree, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().expect("a temporary database");
        (db.open_tree("read-model/test/0").expect("a tree"), db.open_tree("read-model-checkpoints").expect("a tree"))
    }

    struct Ignores;

    impl ReadModel for Ignores {
        fn apply(&self, _: &mut ReadModelTx<'_>, _: &RecordedEvent) -> Result<(), SubscriberError> {
            Ok(())
        }
    }

    #[test]
    fn a_checkpoint_kept_by_an_earlier_version_counts_until_the_tree_has_its_own() {
        let (tree, checkpoints) = trees();
        checkpoints.insert(tree.name(), &7u64.to_be_bytes()).expect("a write");
        let subscriber = ReadModelSubscriber::new(Arc::new(Ignores), ReadModelCopy::new(tree.clone()), checkpoints, ReadVersion::default());
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 7);
        let mut tx = ReadModelTx::new(&tree);
        tx.insert(b"k".to_vec(), b"v".to_vec()).expect("a free key");
        tx.commit(9).expect("a commit");
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 9);
        assert_eq!(tree.get(b"k").expect("a read").as_deref(), Some(&b"v"[..]));
    }

    /// Writes a key for each event of type "Noted" and ignores the others.
    struct NotesOnly;

    impl ReadModel for NotesOnly {
        fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
            if event.event_type == "Noted" {
                tx.insert(event.position.to_be_bytes().to_vec(), b"noted".to_vec())?;
            }
            Ok(())
        }
    }

    fn event(position: Position, event_type: &str) -> RecordedEvent {
        RecordedEvent::bare(crate::event::StreamId::new("note", uuid::Uuid::new_v4()), position, 1, event_type)
    }

    fn notes_only() -> (ReadModelSubscriber, ReadVersion) {
        let (tree, checkpoints) = trees();
        let version = ReadVersion::default();
        (ReadModelSubscriber::new(Arc::new(NotesOnly), ReadModelCopy::new(tree), checkpoints, version.clone()), version)
    }

    #[tokio::test]
    async fn a_batch_that_changes_nothing_leaves_its_checkpoint_to_be_written_later() {
        let (mut subscriber, version) = notes_only();
        subscriber.handle(&[event(1, "Noted")]).await.expect("applied");
        let (stored, read) = (subscriber.stored_checkpoint().expect("a checkpoint"), version.current());
        assert_eq!(stored, 1);

        subscriber.handle(&[event(2, "Ignored"), event(3, "Ignored")]).await.expect("applied");
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 1, "nothing written for a batch that changed nothing");
        assert_eq!(version.current(), read, "kept answers stay good");
        assert!(subscriber.deferred_until().is_some(), "the checkpoint waits to be written");

        subscriber.write_deferred().await.expect("written");
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 3);
        assert!(subscriber.deferred_until().is_none());
        assert_eq!(version.current(), read);
    }

    #[tokio::test]
    async fn the_next_change_writes_the_checkpoint_left_behind() {
        let (mut subscriber, version) = notes_only();
        subscriber.handle(&[event(1, "Ignored")]).await.expect("applied");
        let read = version.current();
        subscriber.handle(&[event(2, "Noted")]).await.expect("applied");
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 2);
        assert!(subscriber.deferred_until().is_none(), "nothing waits any more");
        assert!(version.current() > read, "readers see a change");
    }

    #[tokio::test]
    async fn a_checkpoint_left_behind_is_written_once_it_is_due() {
        let (mut subscriber, _) = notes_only();
        subscriber.handle(&[event(1, "Ignored")]).await.expect("applied");
        subscriber.behind = subscriber.behind.map(|(position, _)| (position, tokio::time::Instant::now()));
        subscriber.handle(&[event(2, "Ignored")]).await.expect("applied");
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 2, "a due checkpoint is written with the next batch");
        assert!(subscriber.deferred_until().is_none());
    }

    #[tokio::test]
    async fn a_redelivered_event_carries_the_checkpoint_left_behind() {
        let (mut subscriber, _) = notes_only();
        subscriber.handle(&[event(1, "Noted")]).await.expect("applied");
        subscriber.skip(&event(2, "Noted")).await.expect("skipped");
        subscriber.handle(&[event(3, "Ignored")]).await.expect("applied");
        subscriber.redeliver(&event(2, "Noted")).await.expect("redelivered");
        // Replaying 3 after a crash would see 2's key, which 3 did not see the first time.
        assert_eq!(subscriber.stored_checkpoint().expect("a checkpoint"), 3);
        assert!(subscriber.deferred_until().is_none());
        assert!(subscriber.tree.contains_key(2u64.to_be_bytes()).expect("a read"));
    }

    #[test]
    fn the_empty_key_is_refused_to_read_models() {
        let (tree, _) = trees();
        let mut tx = ReadModelTx::new(&tree);
        assert!(matches!(tx.insert(Vec::new(), b"x".to_vec()), Err(SubscriberError::ReservedKey)));
        assert!(matches!(tx.remove(Vec::new()), Err(SubscriberError::ReservedKey)));
        assert!(tx.insert(vec![0], b"x".to_vec()).is_ok());
    }
}
