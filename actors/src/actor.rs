//! One live actor per aggregate instance: loads its stream once, then decides commands one at a
//! time against the state in memory.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::Instrument;

use crate::aggregate::Aggregate;
use crate::codec::{encode_bytes, EventCodec};
use crate::command::{CommandError, Execute, Executed, Inspect, InspectError, StateRead};
use crate::event::{CommandContext, ExpectedVersion, StreamId, Version};
use crate::load::{load_state, LoadError};
use crate::store::{EventStore, Snapshot};

/// How the runtime treats the instances of one aggregate type.
#[derive(Debug, Clone)]
pub struct AggregateConfig {
    /// Save a snapshot every this many events (0: never).
    pub snapshot_every: u64,
    /// Reloads and retries after a concurrent write, for commands that named no version.
    pub conflict_retries: u32,
    /// An actor unused for this long is stopped; the next command reloads it.
    pub idle_timeout: Duration,
    /// Live actors of this type at most; past it the least recently used is stopped.
    pub max_live_actors: usize,
    /// Commands waiting for one aggregate at most; past it commands are refused as overloaded.
    pub mailbox_capacity: usize,
}

impl Default for AggregateConfig {
    fn default() -> Self {
        Self {
            snapshot_every: 100,
            conflict_retries: 5,
            idle_timeout: Duration::from_secs(300),
            max_live_actors: 10_000,
            mailbox_capacity: 256,
        }
    }
}

/// The aggregate's in-memory state and the logic to run a command; no actix in here, so the
/// actor wrapper stays thin.
pub(crate) struct AggregateCore<A: Aggregate> {
    stream: StreamId,
    store: Arc<dyn EventStore>,
    codec: EventCodec<A::Event>,
    config: Arc<AggregateConfig>,
    state: A::State,
    version: Version,
    snapshot_version: Version,
    /// A reload failed: the state may be a default or outdated one, so the actor drops this
    /// core and the next message loads the stream afresh.
    unusable: bool,
}

impl<A: Aggregate> AggregateCore<A> {
    pub(crate) async fn load(stream: StreamId, store: Arc<dyn EventStore>, config: Arc<AggregateConfig>) -> Result<Self, LoadError> {
        let started = std::time::Instant::now();
        let codec = EventCodec::default();
        let (state, version) = load_state::<A>(store.as_ref(), &stream, &codec, None).await?;
        crate::metrics::rehydrated(A::TYPE, started.elapsed());
        tracing::debug!(%stream, version, "aggregate loaded");
        Ok(Self { stream, store, codec, config, state, version, snapshot_version: version, unusable: false })
    }

    async fn reload(&mut self) -> Result<(), LoadError> {
        crate::metrics::reloaded(A::TYPE);
        match load_state::<A>(self.store.as_ref(), &self.stream, &self.codec, None).await {
            Ok((state, version)) => {
                self.state = state;
                self.version = version;
                Ok(())
            }
            Err(error) => {
                self.unusable = true;
                Err(error)
            }
        }
    }

    pub(crate) async fn execute(&mut self, message: Execute<A>) -> Result<Executed<A>, CommandError<A>> {
        let Execute { command, context, expected_version, .. } = message;
        let mut retries_left = if expected_version.is_some() { 0 } else { self.config.conflict_retries };
        if let Some(expected) = expected_version {
            if expected != self.version {
                if let Some(first) = self.first_result(&context).await? {
                    return Ok(first);
                }
                let conflict = crate::store::Conflict { expected: ExpectedVersion::Exact(expected), actual: self.version };
                return Err(CommandError::Conflict(conflict));
            }
        }
        let mut checked_fresh = false;
        loop {
            let decided = catch_unwind(AssertUnwindSafe(|| A::handle(&self.state, command.clone())));
            let events = match decided {
                Ok(Ok(events)) if !events.is_empty() => events,
                // Nothing to append: a command committed before still answers with its first
                // result (the domain may refuse it now that its events are in the state).
                Ok(decided) => {
                    if let Some(first) = self.first_result(&context).await? {
                        return Ok(first);
                    }
                    // Decided on this actor's state, which another node (or a store shared
                    // otherwise) may have moved past: no append tells so here, so a refusal or a
                    // no-op is only answered once the state is known to be the latest.
                    let latest = if checked_fresh { self.version } else { self.store.stream_version(&self.stream).await? };
                    if latest > self.version {
                        if let Some(expected) = expected_version {
                            let conflict = crate::store::Conflict { expected: ExpectedVersion::Exact(expected), actual: latest };
                            return Err(CommandError::Conflict(conflict));
                        }
                        tracing::debug!(stream = %self.stream, "decided on an outdated state; reloading and deciding again");
                        checked_fresh = true;
                        self.reload().await.map_err(command_error)?;
                        continue;
                    }
                    decided.map_err(CommandError::Rejected)?;
                    return Ok(Executed { events: Vec::new(), version: self.version, state: self.state.clone(), already_committed: false });
                }
                Err(_) => return Err(self.recover_from_panic("handle").await),
            };
            let new_events = events.iter().map(|e| self.codec.encode(e)).collect::<Result<Vec<_>, _>>()?;
            let expected = ExpectedVersion::Exact(self.version);
            // The store answers a command id it committed before with that first result, so a
            // repeated command needs no lookup of its own on this, the common, path.
            match self.store.append(&self.stream, expected, new_events, &context).await? {
                Ok(appended) if appended.already_committed => {
                    if appended.version > self.version {
                        // Another instance committed this very command meanwhile: catch up.
                        self.reload().await.map_err(command_error)?;
                    }
                    return Ok(Executed {
                        events: appended.events,
                        version: appended.version,
                        state: self.state.clone(),
                        already_committed: true,
                    });
                }
                Ok(appended) => {
                    let state = std::mem::take(&mut self.state);
                    match catch_unwind(AssertUnwindSafe(|| events.iter().fold(state, A::apply))) {
                        Ok(state) => self.state = state,
                        Err(_) => return Err(self.recover_from_panic("apply").await),
                    }
                    self.version = appended.version;
                    self.maybe_snapshot().await;
                    return Ok(Executed {
                        events: appended.events,
                        version: self.version,
                        state: self.state.clone(),
                        already_committed: false,
                    });
                }
                Err(conflict) if retries_left == 0 => return Err(CommandError::Conflict(conflict)),
                Err(conflict) => {
                    tracing::debug!(stream = %self.stream, ?conflict, "concurrent write; reloading and retrying");
                    crate::metrics::conflict_retried(A::TYPE);
                    retries_left -= 1;
                    self.reload().await.map_err(command_error)?;
                }
            }
        }
    }

    /// `read` of the state, reloaded first when it is older than `at_least`.
    async fn inspect<R>(&mut self, at_least: Version, read: StateRead<A, R>) -> Result<R, InspectError> {
        if self.version < at_least {
            self.reload().await?;
        }
        // The read is the caller's code: a panic in it leaves the state untouched.
        catch_unwind(AssertUnwindSafe(|| read(&self.state, self.version))).map_err(|_| InspectError::Panicked)
    }

    /// The answer of the first run of this command id, if it was committed before.
    async fn first_result(&mut self, context: &CommandContext) -> Result<Option<Executed<A>>, CommandError<A>> {
        let Some(events) = self.store.committed_by(context.command_id).await? else { return Ok(None) };
        let version = events.last().map_or(self.version, |e| e.version);
        if version > self.version {
            self.reload().await.map_err(command_error)?;
        }
        Ok(Some(Executed { events, version, state: self.state.clone(), already_committed: true }))
    }

    /// A panic leaves the in-memory state unknown: rebuild it from the store.
    async fn recover_from_panic(&mut self, during: &str) -> CommandError<A> {
        tracing::error!(stream = %self.stream, during, "aggregate panicked; rebuilding it from the store");
        match self.reload().await {
            Ok(()) => CommandError::Panicked,
            Err(error) => command_error(error),
        }
    }

    async fn maybe_snapshot(&mut self) {
        let every = self.config.snapshot_every;
        if every == 0 || self.version - self.snapshot_version < every {
            return;
        }
        match encode_bytes(&self.state) {
            Ok(state) => {
                let snapshot = Snapshot { version: self.version, state };
                if let Err(error) = self.store.save_snapshot(&self.stream, snapshot).await {
                    // Snapshots only save time: a failed one is logged, never fatal.
                    tracing::warn!(stream = %self.stream, %error, "could not save a snapshot");
                } else {
                    self.snapshot_version = self.version;
                }
            }
            Err(error) => tracing::warn!(stream = %self.stream, %error, "could not encode a snapshot"),
        }
    }
}

/// A stream that could not be reloaded: the store's failure as is; an event that cannot be
/// decoded leaves the aggregate unavailable.
fn command_error<A: Aggregate>(error: LoadError) -> CommandError<A> {
    match error {
        LoadError::Store(error) => CommandError::Store(error),
        LoadError::Codec(_) | LoadError::Panicked => CommandError::Unavailable,
    }
}

/// The actor around `AggregateCore`. The core is moved into the future that runs a command and
/// back when it ends; `AtomicResponse` guarantees no other message runs in between. The stream
/// is loaded by the first message, and again by the next one whenever a load or a reload
/// failed: the actor never stops on its own, so the registry never holds a dead one.
pub struct AggregateActor<A: Aggregate> {
    stream: StreamId,
    store: Arc<dyn EventStore>,
    config: Arc<AggregateConfig>,
    core: Option<Box<AggregateCore<A>>>,
}

impl<A: Aggregate> AggregateActor<A> {
    pub(crate) fn new(stream: StreamId, store: Arc<dyn EventStore>, config: Arc<AggregateConfig>) -> Self {
        Self { stream, store, config, core: None }
    }
}

impl<A: Aggregate> Actor for AggregateActor<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.config.mailbox_capacity.max(1));
    }
}

impl<A: Aggregate> AggregateActor<A> {
    /// Runs `work` on the core, loaded first if needed, with no other message in between: the
    /// core moves into the future and back. A load that fails is answered with `unloaded`; a
    /// core left unusable is dropped, so the next message loads the stream again.
    fn with_core<R: 'static, F>(
        &mut self,
        unloaded: impl FnOnce(LoadError) -> R + 'static,
        work: impl FnOnce(Box<AggregateCore<A>>) -> F + 'static,
    ) -> AtomicResponse<Self, R>
    where
        F: Future<Output = (Box<AggregateCore<A>>, R)> + 'static,
    {
        let core = self.core.take();
        let (stream, store, config) = (self.stream.clone(), self.store.clone(), self.config.clone());
        let run = async move {
            let core = match core {
                Some(core) => core,
                None => match AggregateCore::<A>::load(stream.clone(), store, config).await {
                    Ok(core) => Box::new(core),
                    Err(error) => {
                        tracing::error!(%stream, %error, "could not load aggregate");
                        return (None, unloaded(error));
                    }
                },
            };
            let (core, answer) = work(core).await;
            (Some(core).filter(|core| !core.unusable), answer)
        };
        AtomicResponse::new(Box::pin(run.into_actor(self).map(|(core, answer), actor, _| {
            actor.core = core;
            answer
        })))
    }
}

impl<A: Aggregate> Handler<Execute<A>> for AggregateActor<A> {
    type Result = AtomicResponse<Self, Result<Executed<A>, CommandError<A>>>;

    fn handle(&mut self, message: Execute<A>, _: &mut Self::Context) -> Self::Result {
        let span = tracing::debug_span!(
            "command",
            aggregate_type = A::TYPE,
            aggregate_id = %self.stream.aggregate_id,
            command = ?message.command,
            correlation_id = %message.context.correlation_id,
        );
        self.with_core(
            |error| Err(command_error(error)),
            |mut core| {
                async move {
                    let started = std::time::Instant::now();
                    let result = core.execute(message).await;
                    crate::metrics::command_handled(A::TYPE, &result, started.elapsed());
                    (core, result)
                }
                .instrument(span)
            },
        )
    }
}

impl<A: Aggregate, R: Send + 'static> Handler<Inspect<A, R>> for AggregateActor<A> {
    type Result = AtomicResponse<Self, Result<R, InspectError>>;

    fn handle(&mut self, inspect: Inspect<A, R>, _: &mut Self::Context) -> Self::Result {
        self.with_core(
            |error| Err(InspectError::Load(error)),
            move |mut core| async move {
                let answer = core.inspect(inspect.at_least, inspect.read).await;
                (core, answer)
            },
        )
    }
}
