//! Routes commands, and reads of the current state, to the live actor of their aggregate,
//! starting it on demand and stopping it when idle or when too many are live.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use lru::LruCache;
use uuid::Uuid;

use crate::actor::{AggregateActor, AggregateConfig};
use crate::aggregate::Aggregate;
use crate::command::{CommandError, Execute, Executed, Inspect, InspectError};
use crate::event::StreamId;
use crate::store::EventStore;

struct LiveActor<A: Aggregate> {
    address: Addr<AggregateActor<A>>,
    last_used: Instant,
    in_flight: Arc<AtomicUsize>,
}

/// Counters of one registry, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryStats {
    pub live: usize,
    pub started: u64,
    pub passivated: u64,
    pub overloaded: u64,
}

/// The registry of one aggregate type. It holds the only address of each live actor, so
/// dropping that address is how an actor is passivated: it finishes what is in its mailbox and
/// stops. A command that arrives meanwhile starts a fresh actor, and the store's version check
/// keeps the two from both writing the same version.
pub struct Registry<A: Aggregate> {
    store: Arc<dyn EventStore>,
    config: Arc<AggregateConfig>,
    arbiters: Arc<[ArbiterHandle]>,
    next_arbiter: usize,
    live: LruCache<Uuid, LiveActor<A>>,
    stats: RegistryStats,
}

impl<A: Aggregate> Registry<A> {
    pub fn new(store: Arc<dyn EventStore>, config: AggregateConfig, arbiters: Arc<[ArbiterHandle]>) -> Self {
        Self { store, config: Arc::new(config), arbiters, next_arbiter: 0, live: LruCache::unbounded(), stats: RegistryStats::default() }
    }

    fn actor_for(&mut self, id: Uuid) -> &mut LiveActor<A> {
        // An actor whose task ended (a panic no handler caught) cannot answer: never keep it.
        if self.live.peek(&id).is_some_and(|live| !live.address.connected()) {
            tracing::warn!(aggregate_type = A::TYPE, aggregate_id = %id, "actor had stopped; starting a fresh one");
            self.live.pop(&id);
        }
        if !self.live.contains(&id) {
            let stream = StreamId::new(A::TYPE, id);
            let (store, config) = (self.store.clone(), self.config.clone());
            let build = move |_: &mut Context<AggregateActor<A>>| AggregateActor::new(stream, store, config);
            let address = if self.arbiters.is_empty() {
                AggregateActor::create(build)
            } else {
                // Spread actors over the arbiters so every core decides commands.
                self.next_arbiter = (self.next_arbiter + 1) % self.arbiters.len();
                AggregateActor::start_in_arbiter(&self.arbiters[self.next_arbiter], build)
            };
            self.stats.started += 1;
            self.live.put(id, LiveActor { address, last_used: Instant::now(), in_flight: Arc::new(AtomicUsize::new(0)) });
            self.evict_over_cap();
            crate::metrics::live_actors(A::TYPE, self.live.len());
        }
        let entry = self.live.get_mut(&id).expect("inserted above");
        entry.last_used = Instant::now();
        entry
    }

    /// Sends `message` to the actor of `id` (started on demand) and counts it against that
    /// actor's mailbox capacity until answered; the message back when the mailbox is full.
    fn forward<M>(&mut self, id: Uuid, message: M) -> Result<impl Future<Output = Result<M::Result, MailboxError>> + use<A, M>, M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        AggregateActor<A>: Handler<M>,
        <AggregateActor<A> as Actor>::Context: actix::dev::ToEnvelope<AggregateActor<A>, M>,
    {
        let capacity = self.config.mailbox_capacity.max(1);
        let entry = self.actor_for(id);
        let in_flight = entry.in_flight.clone();
        if in_flight.fetch_add(1, Ordering::AcqRel) >= capacity {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            self.stats.overloaded += 1;
            return Err(message);
        }
        let request = entry.address.send(message);
        Ok(async move {
            let answer = request.await;
            in_flight.fetch_sub(1, Ordering::AcqRel);
            answer
        })
    }

    fn evict_over_cap(&mut self) {
        while self.live.len() > self.config.max_live_actors.max(1) {
            if self.live.pop_lru().is_some() {
                self.stats.passivated += 1;
                crate::metrics::passivated(A::TYPE, 1);
            }
        }
    }

    fn passivate_idle(&mut self) {
        let timeout = self.config.idle_timeout;
        let before = self.live.len();
        while let Some((_, oldest)) = self.live.peek_lru() {
            if oldest.last_used.elapsed() < timeout || oldest.in_flight.load(Ordering::Acquire) > 0 {
                break;
            }
            self.live.pop_lru();
            self.stats.passivated += 1;
        }
        if self.live.len() < before {
            crate::metrics::passivated(A::TYPE, (before - self.live.len()) as u64);
            crate::metrics::live_actors(A::TYPE, self.live.len());
        }
    }
}

impl<A: Aggregate> Actor for Registry<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let sweep = (self.config.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        ctx.run_interval(sweep, |registry, _| registry.passivate_idle());
    }
}

/// Sends a command to its aggregate.
pub struct Dispatch<A: Aggregate>(pub Execute<A>);

impl<A: Aggregate> Message for Dispatch<A> {
    type Result = Result<Executed<A>, CommandError<A>>;
}

impl<A: Aggregate> Handler<Dispatch<A>> for Registry<A> {
    type Result = ResponseFuture<Result<Executed<A>, CommandError<A>>>;

    fn handle(&mut self, Dispatch(execute): Dispatch<A>, _: &mut Self::Context) -> Self::Result {
        match self.forward(execute.aggregate_id, execute) {
            Ok(answer) => Box::pin(async move { answer.await.unwrap_or(Err(CommandError::Unavailable)) }),
            Err(execute) => Box::pin(async { Err(CommandError::Overloaded(Box::new(execute))) }),
        }
    }
}

impl<A: Aggregate, R: Send + 'static> Handler<Inspect<A, R>> for Registry<A> {
    type Result = ResponseFuture<Result<R, InspectError>>;

    fn handle(&mut self, inspect: Inspect<A, R>, _: &mut Self::Context) -> Self::Result {
        match self.forward(inspect.aggregate_id, inspect) {
            Ok(answer) => Box::pin(async move { answer.await.unwrap_or(Err(InspectError::Unavailable)) }),
            Err(_) => Box::pin(async { Err(InspectError::Overloaded) }),
        }
    }
}

/// Asks a registry for its counters.
pub struct GetRegistryStats;

impl Message for GetRegistryStats {
    type Result = RegistryStats;
}

impl<A: Aggregate> Handler<GetRegistryStats> for Registry<A> {
    type Result = MessageResult<GetRegistryStats>;

    fn handle(&mut self, _: GetRegistryStats, _: &mut Self::Context) -> Self::Result {
        MessageResult(RegistryStats { live: self.live.len(), ..self.stats })
    }
}

/// Stops the registry and, with it, every actor it holds (after their mailboxes drain).
pub struct StopRegistry;

impl Message for StopRegistry {
    type Result = ();
}

impl<A: Aggregate> Handler<StopRegistry> for Registry<A> {
    type Result = ();

    fn handle(&mut self, _: StopRegistry, ctx: &mut Self::Context) {
        self.live.clear();
        ctx.stop();
    }
}
