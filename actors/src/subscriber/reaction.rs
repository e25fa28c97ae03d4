//! Subscribers that act on events: side-effect handlers and process managers. Delivery is at
//! least once. For a handler, a dedup record per (subscriber, event id), written with the
//! checkpoint once its batch is done (one durable write per batch), keeps a completed effect
//! from running again after a crash, a takeover or a reset checkpoint. A process manager needs
//! none: its commands' ids derive from the event, so running it again is answered from the first
//! commit and appends nothing; so its checkpoint is written behind, a few times a second.
//!
//! Progress lives in the store (see [`progress`]), written under the reaction's lease, so it
//! moves with the reaction from one process to another (see `super::placement`).
//!
//! Within a batch, reactions to events with different ordering keys run concurrently (up to
//! [`MAX_CONCURRENT_KEYS`] at once) and events sharing a key run one after the other in log
//! order. Each reaction usually waits for a durable commit of the commands it sends; running
//! them side by side lets the store commit them in one group instead of one fsync each.

mod progress;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use uuid::Uuid;

use super::{Subscriber, SubscriberError};
use crate::bus::CommandBus;
use crate::event::{Position, RecordedEvent};
use crate::store::{EventStore, Lease, Leases};

pub(crate) use progress::LEGACY_TREE;

/// How long a checkpoint that needs no writing at once (nothing acted on since the last) may
/// wait to be written: a crash replays at most that much, harmlessly.
const WRITE_BEHIND: Duration = Duration::from_millis(200);

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

    /// Whether the runtime records each event this handler completed, durably with its
    /// checkpoint, so a replay after a crash or a lease hand-over skips it (the default). A
    /// handler that keeps a durable record of each effect itself, and checks it before acting,
    /// answers false: the runtime's record would be a second write and flush per batch, and its
    /// checkpoint is then written behind, as a process manager's is.
    fn records_completions(&self) -> bool {
        true
    }
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
    /// again. Only effects need it, and only those without records of their own: a process
    /// manager's repeat is answered by the store's command records, so for it the record would be
    /// a write and a flush per batch for nothing.
    fn records_completions(&self) -> bool {
        match self {
            Reaction::Effect(handler, _) => handler.records_completions(),
            Reaction::Process(..) => false,
        }
    }
}

/// Drives a handler or a process manager; its checkpoint and dedup records live in the store.
pub struct ReactionSubscriber {
    name: String,
    reaction: Reaction,
    progress: progress::Progress,
    /// A position applied but not written yet, and when it must be.
    behind: Option<(Position, tokio::time::Instant)>,
}

impl ReactionSubscriber {
    /// `legacy`: the local tree earlier versions kept this reaction's progress in, if any.
    pub(crate) fn new(
        name: String,
        reaction: Reaction,
        store: Arc<dyn EventStore>,
        legacy: Option<sled::Tree>,
    ) -> Result<Self, SubscriberError> {
        let progress = progress::Progress::new(&name, store, legacy)?;
        Ok(Self { name, reaction, progress, behind: None })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn leases(&self) -> &Arc<dyn Leases> {
        self.progress.leases()
    }

    /// Fences every write with `lease` from now on; `None` once this process lost it.
    pub(crate) fn hold(&mut self, lease: Option<Lease>) {
        self.behind = None;
        self.progress.hold(lease);
    }

    /// The checkpoint the holder of the lease recorded last (0: none), for a process that
    /// stands by.
    pub(crate) async fn recorded_checkpoint(&self) -> Result<Position, SubscriberError> {
        Ok(self.progress.recorded().await?.unwrap_or(0))
    }

    /// Runs the reactions of one ordering key in order; answers the dedup records of those that
    /// completed, and the first failure, where it stopped.
    async fn run_in_order(&self, events: Vec<&RecordedEvent>) -> (Vec<Vec<u8>>, Result<(), SubscriberError>) {
        let mut done = Vec::new();
        for event in events {
            let span = tracing::debug_span!("react", subscriber = %self.name, event_type = %event.event_type, position = event.position, correlation_id = %event.correlation_id);
            if let Err(error) = tracing::Instrument::instrument(self.reaction.run(event), span).await {
                return (done, Err(error));
            }
            if self.reaction.records_completions() {
                done.push(self.progress.done_key(event));
            }
        }
        (done, Ok(()))
    }

    /// Puts a subscriber that has never run at `position`, so it does not act on older history.
    /// Under the lease.
    pub(crate) async fn start_at_if_new(&self, position: Position) -> Result<(), SubscriberError> {
        if self.progress.recorded().await?.is_none() {
            self.progress.write(Vec::new(), Some(position)).await?;
        }
        Ok(())
    }

    /// Puts the subscriber at `position`, whatever its checkpoint. Under the lease.
    pub(crate) async fn start_at(&self, position: Position) -> Result<(), SubscriberError> {
        self.progress.write(Vec::new(), Some(position)).await
    }

    /// Notes `position` as applied, writing it if the last write is long enough ago.
    async fn write_behind(&mut self, position: Position) -> Result<(), SubscriberError> {
        let now = tokio::time::Instant::now();
        let due = self.behind.map_or(now + WRITE_BEHIND, |(_, due)| due);
        self.behind = Some((position, due));
        if due > now {
            return Ok(());
        }
        match self.write_deferred().await {
            // The batch is done either way: a checkpoint that could not be written is tried again.
            Err(error @ SubscriberError::Fenced(_)) => Err(error),
            Err(error) => {
                tracing::warn!(subscriber = %self.name, %error, "could not write the checkpoint; trying again later");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }
}

#[async_trait]
impl Subscriber for ReactionSubscriber {
    async fn checkpoint(&mut self) -> Result<Position, SubscriberError> {
        self.behind = None;
        self.progress.checkpoint().await
    }

    async fn handle(&mut self, events: &[RecordedEvent]) -> Result<(), SubscriberError> {
        let Some(last) = events.last() else { return Ok(()) };
        let records = self.reaction.records_completions();
        let mut wanted: Vec<&RecordedEvent> =
            events.iter().filter(|event| self.reaction.event_types().contains(&event.event_type.as_str())).collect();
        if records && !wanted.is_empty() {
            // One look-up for the whole batch: on a shared store each is a round trip.
            let keys: Vec<Vec<u8>> = wanted.iter().map(|event| self.progress.done_key(event)).collect();
            let done = self.progress.done(&keys).await?;
            let mut done = done.into_iter();
            wanted.retain(|_| !done.next().unwrap_or(false));
        }
        let mut keys: HashMap<Uuid, usize> = HashMap::new();
        let mut groups: Vec<Vec<&RecordedEvent>> = Vec::new();
        for event in wanted {
            let group = *keys.entry(self.reaction.ordering_key(event)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(event);
        }
        // Built before they are polled: a closure inside the stream would not be `Send` enough
        // for `async_trait`.
        let reactions: Vec<_> = groups.into_iter().map(|group| self.run_in_order(group)).collect();
        let outcomes: Vec<(Vec<Vec<u8>>, Result<(), SubscriberError>)> =
            futures::stream::iter(reactions).buffer_unordered(MAX_CONCURRENT_KEYS).collect().await;
        let mut done = Vec::new();
        let mut failure = None;
        for (completed, outcome) in outcomes {
            done.extend(completed);
            if let Err(error) = outcome {
                failure.get_or_insert(error);
            }
        }
        if let Some(error) = failure {
            // The reactions that completed keep their records; the driver retries the rest.
            self.progress.write(done, None).await?;
            return Err(error);
        }
        if done.is_empty() {
            return self.write_behind(last.position).await;
        }
        // A completed effect must survive a crash, or it would run again: its record and the
        // checkpoint go in one durable write.
        self.behind = None;
        self.progress.write(done, Some(last.position)).await
    }

    async fn skip(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        self.behind = None;
        self.progress.write(Vec::new(), Some(event.position)).await
    }

    async fn redeliver(&mut self, event: &RecordedEvent) -> Result<(), SubscriberError> {
        if !self.reaction.records_completions() {
            return self.reaction.run(event).await;
        }
        let done = self.progress.done_key(event);
        if self.progress.done(std::slice::from_ref(&done)).await?.first() == Some(&true) {
            return Ok(());
        }
        self.reaction.run(event).await?;
        self.progress.write(vec![done], None).await
    }

    fn deferred_until(&self) -> Option<tokio::time::Instant> {
        self.behind.map(|(_, due)| due)
    }

    async fn write_deferred(&mut self) -> Result<(), SubscriberError> {
        let Some((position, _)) = self.behind.take() else { return Ok(()) };
        let written = self.progress.write(Vec::new(), Some(position)).await;
        if written.is_err() {
            self.behind = Some((position, tokio::time::Instant::now() + WRITE_BEHIND));
        }
        written
    }
}
