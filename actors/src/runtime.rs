//! Wiring: the registries of every aggregate type, the subscribers and the command bus, built
//! by a [`RuntimeBuilder`] and stopped together.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use crate::actor::AggregateConfig;
use crate::aggregate::Aggregate;
use crate::bus::{CommandBus, Registries};
use crate::event::{Position, Version};
use crate::load::LoadError;
use crate::registry::{GetRegistryStats, Registry, RegistryStats, StopRegistry};
use crate::store::{EventStore, SledStore};
use crate::subscriber::{
    try_take, EventHandler, LeaseTerms, ProcessManager, ReactionSubscriber, ReadModel, ReadModelHandle, RetryPolicy, Start, SubscriberKind,
    Subscribers, WaitFor, WaitTimeout, LEGACY_TREE,
};

/// The lease holder of every runtime on a store no other process shares: whoever opens the
/// store is its only user (sled locks its directory), so after a crash the next start holds
/// the leases again at once instead of waiting for them to run out.
const SOLE_HOLDER: &str = "sole-process";

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
    arbiters: Vec<Arbiter>,
    registries: Vec<StartRegistry>,
    read_models: Vec<(String, Arc<dyn ReadModel>)>,
    reactors: Vec<(String, ReactorSpec, StartFrom)>,
    retry: RetryPolicy,
    workers: usize,
    subscriber_workers: usize,
    reactions_start_at_head: bool,
    node_id: Option<String>,
    lease_ttl: Duration,
    reactions_here: Option<std::collections::HashSet<String>>,
}

enum ReactorSpec {
    Effect(Arc<dyn EventHandler>),
    Process(Arc<dyn ProcessManager>),
}

impl RuntimeBuilder {
    /// `local` holds what this node keeps for itself: its read models and their checkpoints,
    /// and what it parked. With the sled store it is the store's own database, so read models
    /// commit with their checkpoint in one write. Reactions keep their progress in the store.
    pub fn new(store: Arc<dyn EventStore>, local: sled::Db) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            local,
            arbiters: Vec::new(),
            registries: Vec::new(),
            read_models: Vec::new(),
            reactors: Vec::new(),
            retry: RetryPolicy::default(),
            workers,
            subscriber_workers: 0,
            reactions_start_at_head: false,
            node_id: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            reactions_here: None,
        }
    }

    /// A runtime whose local database is the sled store's own (the default setup): read models
    /// commit with their checkpoint in one write.
    pub fn on_sled_store(store: SledStore) -> Self {
        let local = store.database().clone();
        Self::new(Arc::new(store), local)
    }

    /// Who this process is among those sharing the store: unique among them, the same for the
    /// life of the process. It holds the leases of the reactions run here. Default: the
    /// process id and a random suffix.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// How long a reaction's lease lasts without renewal (renewed every third of it): when a
    /// process dies, another takes its reactions over at most this long plus a second later.
    /// Default: 10 s.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// Runs only the reactions named here in this process (when it holds their lease); the
    /// others are shown where their holder recorded them. Default: every reaction may run here.
    pub fn reactions_here<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.reactions_here = Some(names.into_iter().map(Into::into).collect());
        self
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
        // Read only to move earlier versions' progress into the store; never created.
        let legacy = if self.local.tree_names().iter().any(|name| name.as_ref() == LEGACY_TREE.as_bytes()) {
            Some(self.local.open_tree(LEGACY_TREE)?)
        } else {
            None
        };
        let node_id = self.node_id.take().unwrap_or_else(default_node_id);
        self.arbiters = (0..self.workers + self.subscriber_workers).map(|_| Arbiter::new()).collect();
        let all: Vec<ArbiterHandle> = self.arbiters.iter().map(|a| a.handle()).collect();
        let handles: Arc<[ArbiterHandle]> = all[..self.workers].into();
        let subscriber_handles: Arc<[ArbiterHandle]> =
            if self.subscriber_workers == 0 { handles.clone() } else { all[self.workers..].into() };
        let subscribers = Subscribers::new(self.store.clone(), self.local.clone(), self.retry.clone(), subscriber_handles)?;
        let mut registries = Registries::new();
        let mut stops = Vec::new();
        for start in self.registries.drain(..) {
            let (type_id, address, stop) = start(self.store.clone(), handles.clone());
            registries.insert(type_id, address);
            stops.push(stop);
        }
        let bus = CommandBus::new(Arc::new(registries), self.store.clone());
        for (name, model) in self.read_models.drain(..) {
            let (tree, generation) = subscribers.open_read_model(&name)?;
            subscribers.add_read_model(&name, model, tree, generation);
        }
        for (name, spec, start) in self.reactors.drain(..) {
            let (kind, reaction) = match spec {
                ReactorSpec::Effect(handler) => (SubscriberKind::Handler, crate::subscriber::Reaction::Effect(handler, bus.clone())),
                ReactorSpec::Process(manager) => {
                    (SubscriberKind::ProcessManager, crate::subscriber::Reaction::Process(manager, bus.clone()))
                }
            };
            let mut subscriber = ReactionSubscriber::new(name.clone(), reaction, self.store.clone(), legacy.clone())?;
            let start = match start {
                _ if self.reactions_start_at_head => Start::At(head),
                StartFrom::Now => Start::AtIfNew(head),
                StartFrom::Beginning => Start::FromCheckpoint,
            };
            let terms = LeaseTerms {
                holder: if self.store.shared() { node_id.clone() } else { SOLE_HOLDER.to_owned() },
                ttl: self.lease_ttl,
                runs_here: self.reactions_here.as_ref().is_none_or(|here| here.contains(&name)),
            };
            // Taken now where it is free, so the start position is in place before `start`
            // answers (an import must not leave history to be acted on).
            let held = if terms.runs_here { try_take(&mut subscriber, &terms, start).await? } else { None };
            subscribers.add_reaction(kind, subscriber, terms, start, held);
        }
        let inner = RuntimeInner {
            node_id,
            store: self.store,
            subscribers,
            bus,
            stops,
            arbiters: parking_lot::Mutex::new(std::mem::take(&mut self.arbiters)),
        };
        Ok(Runtime { inner: Arc::new(inner) })
    }
}

/// Default of [`RuntimeBuilder::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

fn default_node_id() -> String {
    format!("{}-{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8])
}

struct RuntimeInner {
    node_id: String,
    store: Arc<dyn EventStore>,
    subscribers: Subscribers,
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

    /// Who this process is among those sharing the store (see [`RuntimeBuilder::node_id`]).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    pub fn commands(&self) -> &CommandBus {
        &self.inner.bus
    }

    pub fn subscribers(&self) -> &Subscribers {
        &self.inner.subscribers
    }

    /// The query handle of a read model registered with [`RuntimeBuilder::read_model`].
    pub fn read_model(&self, name: &str) -> Option<ReadModelHandle> {
        self.inner.subscribers.read_model(name)
    }

    /// Waits until the read models have applied `position` (read your own writes).
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), WaitTimeout> {
        self.inner.subscribers.wait_for(position, timeout, WaitFor::ReadModels).await
    }

    /// Time travel: the state of aggregate `id` after `version` (default: the latest), replayed
    /// from the store; `None` when the stream has no events. See [`CommandBus::state_at`].
    pub async fn state_at<A: Aggregate>(&self, id: Uuid, version: Option<Version>) -> Result<Option<(A::State, Version)>, LoadError> {
        self.inner.bus.state_at::<A>(id, version).await
    }

    /// Live actors and passivations of one aggregate type.
    pub async fn registry_stats<A: Aggregate>(&self) -> Option<RegistryStats> {
        self.inner.bus.registry::<A>()?.send(GetRegistryStats).await.ok()
    }

    /// Stops subscribers, aggregate actors and worker threads. Commands sent afterwards fail.
    pub async fn shutdown(&self) {
        self.inner.subscribers.stop_all();
        self.inner.subscribers.reactions_stopped(Duration::from_secs(5)).await;
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
