//! The command bus: how the application and reactions send commands to aggregates, and read an
//! aggregate's state, by type and id.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::codec::EventCodec;
use crate::command::{CommandError, Execute, Executed, Inspect, InspectError};
use crate::event::{CommandContext, StreamId, Version};
use crate::load::{load_state, LoadError};
use crate::registry::{Dispatch, Registry};
use crate::store::EventStore;

/// The registry of each aggregate type, by the aggregate's type id.
pub(crate) type Registries = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// Sends commands to aggregates by type and id. Cheap to clone.
#[derive(Clone)]
pub struct CommandBus {
    registries: Arc<Registries>,
    store: Arc<dyn EventStore>,
}

impl CommandBus {
    pub(crate) fn new(registries: Arc<Registries>, store: Arc<dyn EventStore>) -> Self {
        Self { registries, store }
    }

    pub async fn execute<A: Aggregate>(&self, execute: Execute<A>) -> Result<Executed<A>, CommandError<A>> {
        let registry = self.registry::<A>().ok_or(CommandError::Unavailable)?;
        registry.send(Dispatch(execute)).await.unwrap_or(Err(CommandError::Unavailable))
    }

    /// Sends `command` to aggregate `id` with no version check.
    pub async fn send<A: Aggregate>(&self, id: Uuid, command: A::Command, context: CommandContext) -> Result<Executed<A>, CommandError<A>> {
        self.execute(Execute::new(id, command, context)).await
    }

    /// Runs `read` on the current state and version of aggregate `id` inside its live actor,
    /// started on demand as for a command (the default state at version 0 when the stream is
    /// empty). Cheaper than [`CommandBus::state_at`] for a live actor, which replays nothing, and as
    /// current on one node: an actor applies exactly what it committed. With `at_least`, an actor
    /// holding an older version reloads first, so a reaction that passes its event's version never
    /// reads a state from before that event.
    ///
    /// On a store other processes write too ([`EventStore::shared`]), another node's actor may
    /// have committed since this one loaded: the stream's version in the store is read first
    /// and raises `at_least`, so the state read is never older than what the store held when
    /// `inspect` was called (one read of the store more).
    pub async fn inspect<A: Aggregate, R: Send + 'static>(
        &self,
        id: Uuid,
        at_least: Version,
        read: impl FnOnce(&A::State, Version) -> R + Send + 'static,
    ) -> Result<R, InspectError> {
        let registry = self.registry::<A>().ok_or(InspectError::Unavailable)?;
        let at_least = if self.store.shared() {
            let stored = self.store.stream_version(&StreamId::new(A::TYPE, id)).await.map_err(LoadError::Store)?;
            at_least.max(stored)
        } else {
            at_least
        };
        let inspect = Inspect { aggregate_id: id, at_least, read: Box::new(read) };
        registry.send(inspect).await.unwrap_or(Err(InspectError::Unavailable))
    }

    /// The state of aggregate `id` after `version` (default: the latest), replayed from the store
    /// rather than read in its live actor: what the log holds, whichever process wrote it (time
    /// travel, and checks where missing another stream's last event would cost money). `None`
    /// when the stream has no events.
    pub async fn state_at<A: Aggregate>(&self, id: Uuid, version: Option<Version>) -> Result<Option<(A::State, Version)>, LoadError> {
        let stream = StreamId::new(A::TYPE, id);
        let codec = EventCodec::<A::Event>::default();
        let (state, version) = load_state::<A>(self.store.as_ref(), &stream, &codec, version).await?;
        Ok((version > 0).then_some((state, version)))
    }

    pub(crate) fn registry<A: Aggregate>(&self) -> Option<&Addr<Registry<A>>> {
        self.registries.get(&TypeId::of::<A>())?.downcast_ref::<Addr<Registry<A>>>()
    }
}
