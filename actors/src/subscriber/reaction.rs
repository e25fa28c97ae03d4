//! Subscribers that act on events: side-effect handlers and process managers. Delivery is at
//! least once. For a handler, a dedup record per (subscriber, event id), written when its reaction
//! completes and flushed with the checkpoint, keeps a completed effect from running again after a
//! crash or a reset checkpoint. A process manager needs none: its commands' ids derive from the
//! event, so running it again is answered from the first commit and appends nothing.
//!
//! Within a batch, reactions to events with different ordering keys run concurrently (up to
//! [`MAX_CONCURRENT_KEYS`] at once) and events sharing a key run one after the other in log
//! order. Each reaction usually waits for a durable commit of the commands it sends; running
//! them side by side lets the store commit them in one group instead of one fsync each.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use uuid::Uuid;

use super::{SubscriberError, Subscriber};
use crate::event::{Position, RecordedEvent};
use crate::runtime::CommandBus;
use crate::store::LocalFlush;

/// How many ordering keys a reactor serves at once within a batch.
pub const MAX_CONCURRENT_KEYS: usize = 256;

/// Performs a side effect for an event (send an e-mail, call a payment provider), and may record
/// its outcome with commands. Never run by a rebuild. Should be idempotent where it can (the
/// dedup record is written after the effect).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The event types this handler reacts to; others only move its checkpoint.
    fn event_types(&self) -> &[&'static str];

    /// Events with equal keys are handled one at a time in log order; others may be handled
    /// concurrently. The default, the correlation id, keeps each request's flow in order; a
    /// handler that reads and acts on one entity's state should key by that entity instead.
    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        event.correlation_id
    }

    async fn handle(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError>;
}

/// Reacts to events by sending commands, and does nothing else (an effect belongs in an
/// [`EventHandler`]). Build each command's context with [`crate::CommandContext::caused_by`]: the
/// command id then derives from the event, so a redelivered event never applies a command twice.
/// The runtime keeps no dedup record for a process manager; those ids are what make it safe.
#[async_trait]
pub trait ProcessManager: Send + Sync + 'static {
    fn event_types(&self) -> &[&'static str];

    /// As [`EventHandler::ordering_key`]: equal keys in log order, others concurrently.
    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        event.correlation_id
    }

    async fn react(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError>;
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

    fn ordering_key(&self, event: &RecordedEvent) -> Uuid {
        match self {
            Reaction::Effect(handler, _) => handler.ordering_key(event),
            Reaction::Process(manager, _) => manager.ordering_key(event),
        }
    }

    async fn run(&self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        match self {
            Reaction::Effect(handler, bus) => handler.handle(event, bus).await,
            Reaction::Process(manager, bus) => manager.react(event, bus).await,
        }
    }

    /// Whether each completed reaction is recorded, and the records flushed, so it never runs
    /// again. Only effects need it: a process manager's repeat is answered by the store's command
    /// records, so for it the record would be a write and a flush per batch for nothing.
    fn records_completions(&self) -> bool {
        matches!(self, Reaction::Effect(..))
    }
}

/// Drives a handler or a process manager; its checkpoint and dedup records live in one tree.
pub struct ReactionSubscriber {
    name: String,
    reaction: Reaction,
    tree: sled::Tree,
    /// Makes the tree's records durable (`tree` lives in the runtime's local database).
    flush: Arc<dyn LocalFlush>,
}

impl ReactionSubscriber {
    pub(crate) fn new(name: String, reaction: Reaction, tree: sled::Tree, flush: Arc<dyn LocalFlush>) -> Self {
        Self { name, reaction, tree, flush }
    }

    fn checkpoint_key(&self) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        key.extend_from_slice(b"\0c");
        key
    }

    fn done_key(&self, event: &RecordedEvent) -> Vec<u8> {
        done_key(&self.name, event)
    }

    /// Runs the reactions of one ordering key in order, recording each completed one; stops at
    /// the first failure.
    async fn run_in_order(&self, events: Vec<&RecordedEvent>) -> Result<(), SubscriberError> {
        for event in events {
            let span = tracing::debug_span!("react", subscriber = %self.name, event_type = %event.event_type, position = event.position, correlation_id = %event.correlation_id);
            tracing::Instrument::instrument(self.reaction.run(event), span).await?;
            if self.reaction.records_completions() {
                self.tree.insert(self.done_key(event), &[][..])?;
            }
        }
        Ok(())
    }

    /// Puts a subscriber that has never run at `position`, so it does not act on older history.
    pub(crate) fn start_at_if_new(&self, position: Position) -> Result<(), SubscriberError> {
        if self.tree.get(self.checkpoint_key())?.is_none() {
            self.save_checkpoint(position)?;
        }
        Ok(())
    }

    /// Puts the subscriber at `position`, whatever its checkpoint.
    pub(crate) fn start_at(&self, position: Position) -> Result<(), SubscriberError> {
        self.save_checkpoint(position)?;
        self.tree.flush()?;
        Ok(())
    }

    fn save_checkpoint(&self, position: Position) -> Result<(), SubscriberError> {
        self.tree.insert(self.checkpoint_key(), &position.to_be_bytes())?;
        Ok(())
    }
}

#[async_trait]
impl Subscriber for ReactionSubscriber {
    fn checkpoint(&self) -> Result<Position, SubscriberError> {
        super::read_position(&self.tree, &self.checkpoint_key())
    }

    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), SubscriberError> {
        let Some(last) = events.last() else { return Ok(()) };
        let records = self.reaction.records_completions();
        let mut keys: HashMap<Uuid, usize> = HashMap::new();
        let mut groups: Vec<Vec<&RecordedEvent>> = Vec::new();
        for event in events {
            if !self.reaction.event_types().contains(&event.event_type.as_str())
                || (records && self.tree.contains_key(self.done_key(event))?)
            {
                continue;
            }
            let group = *keys.entry(self.reaction.ordering_key(event)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(event);
        }
        let acted = records && !groups.is_empty();
        // Built before they are polled: a closure inside the stream would not be `Send` enough
        // for `async_trait`.
        let reactions: Vec<_> = groups.into_iter().map(|group| self.run_in_order(group)).collect();
        let outcomes: Vec<Result<(), SubscriberError>> =
            futures::stream::iter(reactions).buffer_unordered(MAX_CONCURRENT_KEYS).collect().await;
        if let Some(error) = outcomes.into_iter().find_map(Result::err) {
            // The reactions that completed keep their records; the driver retries the rest.
            if records {
                self.flush.flush_local().await?;
            }
            return Err(error);
        }
        self.save_checkpoint(last.position)?;
        if acted {
            // A completed effect must survive a crash, or it would run again.
            self.flush.flush_local().await?;
        }
        Ok(())
    }

    fn skip(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        self.save_checkpoint(event.position)
    }

    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        if !self.reaction.records_completions() {
            return self.reaction.run(event).await;
        }
        let done = self.done_key(event);
        if self.tree.contains_key(&done)? {
            return Ok(());
        }
        self.reaction.run(event).await?;
        self.tree.insert(done, &[][..])?;
        self.flush.flush_local().await?;
        Ok(())
    }
}

fn done_key(subscriber: &str, event: &RecordedEvent) -> Vec<u8> {
    let mut key = subscriber.as_bytes().to_vec();
    key.extend_from_slice(b"\0d");
    key.extend_from_slice(event.event_id.as_bytes());
    key
}
