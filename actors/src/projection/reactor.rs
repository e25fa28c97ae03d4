//! Subscribers that act on events: side-effect handlers and process managers. Delivery is at
//! least once; a dedup record per (subscriber, event id), written with the checkpoint, keeps a
//! completed reaction from running again after a crash or a reset checkpoint.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ProjectionError, Subscriber};
use crate::event::{Position, RecordedEvent};
use crate::runtime::CommandBus;

/// Performs a side effect for an event (send an e-mail, call a payment provider), and may record
/// its outcome with commands. Never run by a rebuild. Should be idempotent where it can (the
/// dedup record is written after the effect).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The event types this handler reacts to; others only move its checkpoint.
    fn event_types(&self) -> &[&'static str];

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), ProjectionError>;
}

/// Reacts to events by sending commands. Build each command's context with
/// [`crate::CommandContext::caused_by`], so the command id derives from the event and a
/// redelivered event never applies a command twice.
#[async_trait]
pub trait ProcessManager: Send + Sync + 'static {
    fn event_types(&self) -> &[&'static str];

    async fn react(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), ProjectionError>;
}

pub(crate) enum Reaction {
    Effect(Arc<dyn EventHandler>, CommandBus),
    Process(Arc<dyn ProcessManager>, CommandBus),
}

impl Reaction {
    fn event_types(&self) -> &[&'static str] {
        match self {
            Reaction::Effect(handler, _) => handler.event_types(),
            Reaction::Process(manager, _) => manager.event_types(),
        }
    }

    async fn run(&self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        match self {
            Reaction::Effect(handler, bus) => handler.handle(event, bus).await,
            Reaction::Process(manager, bus) => manager.react(event, bus).await,
        }
    }
}

/// Drives a handler or a process manager; its checkpoint and dedup records live in one tree.
pub struct ReactorSubscriber {
    name: String,
    reaction: Reaction,
    tree: sled::Tree,
}

impl ReactorSubscriber {
    pub(crate) fn new(name: String, reaction: Reaction, tree: sled::Tree) -> Self {
        Self { name, reaction, tree }
    }

    fn checkpoint_key(&self) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        key.extend_from_slice(b"\0c");
        key
    }

    fn done_key(&self, event: &RecordedEvent) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        key.extend_from_slice(b"\0d");
        key.extend_from_slice(event.event_id.as_bytes());
        key
    }

    /// Puts a subscriber that has never run at `position`, so it does not act on older history.
    pub(crate) fn start_at_if_new(&self, position: Position) -> Result<(), ProjectionError> {
        if self.tree.get(self.checkpoint_key())?.is_none() {
            self.save_checkpoint(position, None)?;
        }
        Ok(())
    }

    /// Puts the subscriber at `position`, whatever its checkpoint.
    pub(crate) fn start_at(&self, position: Position) -> Result<(), ProjectionError> {
        self.save_checkpoint(position, None)?;
        self.tree.flush()?;
        Ok(())
    }

    fn save_checkpoint(&self, position: Position, done: Option<Vec<u8>>) -> Result<(), ProjectionError> {
        let mut batch = sled::Batch::default();
        batch.insert(self.checkpoint_key(), &position.to_be_bytes());
        if let Some(done) = done {
            batch.insert(done, &[][..]);
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

#[async_trait]
impl Subscriber for ReactorSubscriber {
    fn checkpoint(&self) -> Result<Position, ProjectionError> {
        super::read_position(&self.tree, &self.checkpoint_key())
    }

    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut acted = false;
        for event in events {
            if !self.reaction.event_types().contains(&event.event_type.as_str()) {
                continue;
            }
            let done = self.done_key(event);
            if self.tree.contains_key(&done)? {
                continue;
            }
            let span = tracing::debug_span!("react", subscriber = %self.name, event_type = %event.event_type, position = event.position, correlation_id = %event.correlation_id);
            tracing::Instrument::instrument(self.reaction.run(event), span).await?;
            self.save_checkpoint(event.position, Some(done))?;
            acted = true;
        }
        if let Some(last) = events.last() {
            self.save_checkpoint(last.position, None)?;
        }
        if acted {
            // A completed effect must survive a crash, or it would run again.
            crate::store::flush_tree(&self.tree).await?;
        }
        Ok(())
    }

    fn skip(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        self.save_checkpoint(event.position, None)
    }

    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let done = self.done_key(event);
        if self.tree.contains_key(&done)? {
            return Ok(());
        }
        self.reaction.run(event).await?;
        self.tree.insert(done, &[][..])?;
        crate::store::flush_tree(&self.tree).await?;
        Ok(())
    }
}
