//! Wiring: the registries of every aggregate type, the subscribers, and the command bus that
//! process managers and the application send commands through.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use crate::actor::{load_state, AggregateConfig, LoadError};
use crate::aggregate::Aggregate;
use crate::codec::EventCodec;
use crate::command::{CommandError, Execute, Executed, Inspect, InspectError};
use crate::event::{CommandContext, Position, StreamId, Version};
use crate::subscriber::{
    EventHandler, ProcessManager, Subscribers, ReactionSubscriber, ReadModel, ReadModelHandle, RetryPolicy, SubscriberKind, WaitFor,
    WaitTimeout,
};
use crate::registry::{Dispatch, GetRegistryStats, Registry, RegistryStats, StopRegistry};
use crate::store::{EventStore, LocalFlush, SledStore};

type Registries = HashMap<TypeId, Box<dyn Any + Send + Sync>>;
type StartRegistry =
    Box<dyn FnOnce(Arc<dyn EventStore>, Arc<[ArbiterHandle]>) -> (TypeId, Box<dyn Any + Send + Sync>, Recipient<StopRegistry>)>;

/// Where a new handler or process manager starts when it has no checkpoint yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// From the first event: it reacts to the whole history.
    Beginning,
    /// From the head at its first start: history before it is not acted on.
    Now,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("local storage failed: {0}")]
    Local(#[from] sled::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Projection(#[from] crate::subscriber::SubscriberError),
    #[error("a subscriber named {0:?} is registered twice")]
    DuplicateName(String),
}

/// Builds a [`Runtime`]. Must be started inside an actix `System`.
pub struct RuntimeBuilder {
    store: Arc<dyn EventStore>,
    local: sled::Db,
    local_flush: Arc<dyn LocalFlush>,
    arbiters: Vec<Arbiter>,
    registries: Vec<StartRegistry>,
    read_models: Vec<(String, Arc<dyn ReadModel>)>,
    reactors: Vec<(String, ReactorSpec, StartFrom)>,
    retry: RetryPolicy,
    workers: usize,
    subscriber_workers: usize,
    reactions_start_at_head: bool,
}

enum ReactorSpec {
    Effect(Arc<dyn EventHandler>),
    Process(Arc<dyn ProcessManager>),
}

impl RuntimeBuilder {
    /// `local` holds what this node keeps for itself: read models, checkpoints, dedup records.
    /// With the sled store it is the store's own database, so read models commit with their
    /// checkpoint in one write.
    pub fn new(store: Arc<dyn EventStore>, local: sled::Db) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            local_flush: Arc::new(local.clone()),
            local,
            arbiters: Vec::new(),
            registries: Vec::new(),
            read_models: Vec::new(),
            reactors: Vec::new(),
            retry: RetryPolicy::default(),
            workers,
            subscriber_workers: 0,
            reactions_start_at_head: false,
        }
    }

    /// A runtime whose local database is the sled store's own (the default setup): read models
    /// commit with their checkpoint in one write, and handlers' flushes of their dedup records
    /// ride on the store writer's group commits instead of flushing the database once more.
    pub fn on_sled_store(store: SledStore) -> Self {
        let local = store.database().clone();
        let store = Arc::new(store);
        Self { local_flush: store.clone(), ..Self::new(store, local) }
    }

    /// How many arbiters (threads) aggregate actors are spread over, and subscribers too unless
    /// they have their own ([`RuntimeBuilder::subscriber_workers`]).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Runs the subscribers (read models, handlers, process managers) on `workers` arbiters of
    /// their own, apart from the aggregate actors, so a burst of projection work never holds
    /// back a command's answer. 0 (the default): they share the actors' arbiters.
    pub fn subscriber_workers(mut self, workers: usize) -> Self {
        self.subscriber_workers = workers;
        self
    }

    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Puts every handler and process manager at the head of the log as it is at start,
    /// whatever its checkpoint and [`StartFrom`]: nothing committed before the start is acted on.
    /// For a log restored from a backup, whose history has had its effects already. Read models
    /// are not affected.
    pub fn reactions_start_at_head(mut self) -> Self {
        self.reactions_start_at_head = true;
        self
    }

    pub fn aggregate<A: Aggregate>(mut self, config: AggregateConfig) -> Self {
        self.registries.push(Box::new(move |store, arbiters| {
            let address = Registry::<A>::new(store, config, arbiters).start();
            let stop = address.clone().recipient();
            (TypeId::of::<A>(), Box::new(address) as Box<dyn Any + Send + Sync>, stop)
        }));
        self
    }

    /// Registers a read model; queries read it through [`Runtime::read_model`].
    pub fn read_model(mut self, name: &str, model: impl ReadModel) -> Self {
        self.read_models.push((name.to_owned(), Arc::new(model)));
        self
    }

    pub fn handler(mut self, name: &str, handler: impl EventHandler, start: StartFrom) -> Self {
        self.reactors.push((name.to_owned(), ReactorSpec::Effect(Arc::new(handler)), start));
        self
    }

    pub fn process_manager(mut self, name: &str, manager: impl ProcessManager, start: StartFrom) -> Self {
        self.reactors.push((name.to_owned(), ReactorSpec::Process(Arc::new(manager)), start));
        self
    }

    pub async fn start(mut self) -> Result<Runtime, StartError> {
        // Check everything that can be refused before any actor or thread starts.
        let mut names = std::collections::HashSet::new();
        let all_names = self.read_models.iter().map(|(name, _)| name).chain(self.reactors.iter().map(|(name, _, _)| name));
        for name in all_names {
            if !names.insert(name.clone()) {
                return Err(StartError::DuplicateName(name.clone()));
            }
        }
        let head = self.store.head().await?;
        let reactor_tree = self.local.open_tree("reactors")?;
        self.arbiters = (0..self.workers + self.subscriber_workers).map(|_| Arbiter::new()).collect();
        let all: Vec<ArbiterHandle> = self.arbiters.iter().map(|a| a.handle()).collect();
        let handles: Arc<[ArbiterHandle]> = all[..self.workers].into();
        let subscriber_handles: Arc<[ArbiterHandle]> =
            if self.subscriber_workers == 0 { handles.clone() } else { all[self.workers..].into() };
        let projections = Subscribers::new(self.store.clone(), self.local.clone(), self.retry.clone(), subscriber_handles)?;
        let mut registries = Registries::new();
        let mut stops = Vec::new();
        for start in self.registries.drain(..) {
            let (type_id, address, stop) = start(self.store.clone(), handles.clone());
            registries.insert(type_id, address);
            stops.push(stop);
        }
        let bus = CommandBus { registries: Arc::new(registries) };
        for (name, model) in self.read_models.drain(..) {
            let (tree, generation) = projections.open_read_model(&name)?;
            projections.add_read_model(&name, model, tree, generation);
        }
        for (name, spec, start) in self.reactors.drain(..) {
            let (kind, reaction) = match spec {
                ReactorSpec::Effect(handler) => (SubscriberKind::Handler, crate::subscriber::Reaction::Effect(handler, bus.clone())),
                ReactorSpec::Process(manager) => {
                    (SubscriberKind::ProcessManager, crate::subscriber::Reaction::Process(manager, bus.clone()))
                }
            };
            let subscriber = ReactionSubscriber::new(name.clone(), reaction, reactor_tree.clone(), self.local_flush.clone());
            if self.reactions_start_at_head {
                subscriber.start_at(head)?;
            } else if start == StartFrom::Now {
                subscriber.start_at_if_new(head)?;
            }
            projections.add(&name, kind, Box::new(subscriber));
        }
        let inner = RuntimeInner {
            store: self.store,
            projections,
            bus,
            stops,
            arbiters: parking_lot::Mutex::new(std::mem::take(&mut self.arbiters)),
        };
        Ok(Runtime { inner: Arc::new(inner) })
    }
}

/// Sends commands to aggregates by type and id. Cheap to clone.
#[derive(Clone)]
pub struct CommandBus {
    registries: Arc<Registries>,
}

impl CommandBus {
    pub async fn execute<A: Aggregate>(&self, execute: Execute<A>) -> Result<Executed<A>, CommandError<A::Error>> {
        let registry = self.registry::<A>().ok_or(CommandError::Unavailable)?;
        registry.send(Dispatch(execute)).await.unwrap_or(Err(CommandError::Unavailable))
    }

    /// Sends `command` to aggregate `id` with no version check.
    pub async fn send<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        context: CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        self.execute(Execute::new(id, command, context)).await
    }

    /// Runs `read` on the current state and version of aggregate `id` inside its live actor,
    /// started on demand as for a command (the default state at version 0 when the stream is
    /// empty). Cheaper than [`Runtime::state_at`] for a live actor, which replays nothing, and as
    /// current on one node: an actor applies exactly what it committed. With `at_least`, an actor
    /// holding an older version reloads first, so a reaction that passes its event's version never
    /// reads a state from before that event.
    pub async fn inspect<A: Aggregate, R: Send + 'static>(
        &self,
        id: Uuid,
        at_least: Version,
        read: impl FnOnce(&A::State, Version) -> R + Send + 'static,
    ) -> Result<R, InspectError> {
        let registry = self.registry::<A>().ok_or(InspectError::Unavailable)?;
        let inspect = Inspect { aggregate_id: id, at_least, read: Box::new(read) };
        registry.send(inspect).await.unwrap_or(Err(InspectError::Unavailable))
    }

    fn registry<A: Aggregate>(&self) -> Option<&Addr<Registry<A>>> {
        self.registries.get(&TypeId::of::<A>())?.downcast_ref::<Addr<Registry<A>>>()
    }
}

struct RuntimeInner {
    store: Arc<dyn EventStore>,
    projections: Subscribers,
    bus: CommandBus,
    stops: Vec<Recipient<StopRegistry>>,
    arbiters: parking_lot::Mutex<Vec<Arbiter>>,
}

/// A running runtime. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl Runtime {
    pub fn builder(store: Arc<dyn EventStore>, local: sled::Db) -> RuntimeBuilder {
        RuntimeBuilder::new(store, local)
    }

    /// See [`RuntimeBuilder::on_sled_store`].
    pub fn builder_on(store: SledStore) -> RuntimeBuilder {
        RuntimeBuilder::on_sled_store(store)
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    pub fn commands(&self) -> &CommandBus {
        &self.inner.bus
    }

    pub fn projections(&self) -> &Subscribers {
        &self.inner.projections
    }

    /// The query handle of a read model registered with [`RuntimeBuilder::read_model`].
    pub fn read_model(&self, name: &str) -> Option<ReadModelHandle> {
        self.inner.projections.read_model(name)
    }

    pub async fn execute<A: Aggregate>(&self, execute: Execute<A>) -> Result<Executed<A>, CommandError<A::Error>> {
        self.inner.bus.execute(execute).await
    }

    pub async fn send<A: Aggregate>(
        &self,
        id: Uuid,
        command: A::Command,
        context: CommandContext,
    ) -> Result<Executed<A>, CommandError<A::Error>> {
        self.inner.bus.send(id, command, context).await
    }

    /// Waits until the read models have applied `position` (read your own writes).
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), WaitTimeout> {
        self.inner.projections.wait_for(position, timeout, WaitFor::ReadModels).await
    }

    /// Time travel: the state of aggregate `id` after `version` (default: the latest), replayed
    /// from the store; `None` when the stream has no events.
    pub async fn state_at<A: Aggregate>(&self, id: Uuid, version: Option<Version>) -> Result<Option<(A::State, Version)>, LoadError> {
        let stream = StreamId::new(A::TYPE, id);
        let codec = EventCodec::<A::Event>::default();
        let (state, version) = load_state::<A>(self.inner.store.as_ref(), &stream, &codec, version).await?;
        Ok((version > 0).then_some((state, version)))
    }

    /// Live actors and passivations of one aggregate type.
    pub async fn registry_stats<A: Aggregate>(&self) -> Option<RegistryStats> {
        self.inner.bus.registry::<A>()?.send(GetRegistryStats).await.ok()
    }

    /// Stops subscribers, aggregate actors and worker threads. Commands sent afterwards fail.
    pub async fn shutdown(&self) {
        self.inner.projections.stop_all();
        for stop in &self.inner.stops {
            let _ = stop.send(StopRegistry).await;
        }
        let arbiters = std::mem::take(&mut *self.inner.arbiters.lock());
        for arbiter in &arbiters {
            arbiter.stop();
        }
        // Let the arbiters' threads wind down without blocking this one.
        let _ = tokio::task::spawn_blocking(move || arbiters.into_iter().for_each(|a| drop(a.join()))).await;
    }
}
