//! What travels to an aggregate and what comes back.

use actix::Message;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::codec::CodecError;
use crate::event::{CommandContext, RecordedEvent, Version};
use crate::load::LoadError;
use crate::store::{Conflict, StoreError};

/// A command for one aggregate instance.
pub struct Execute<A: Aggregate> {
    pub aggregate_id: Uuid,
    pub command: A::Command,
    pub context: CommandContext,
    /// When set, the command is refused with a conflict unless the aggregate is at this version,
    /// and it is never retried on a concurrent write.
    pub expected_version: Option<Version>,
}

impl<A: Aggregate> Execute<A> {
    pub fn new(aggregate_id: Uuid, command: A::Command, context: CommandContext) -> Self {
        Self { aggregate_id, command, context, expected_version: None }
    }

    pub fn expecting(mut self, version: Option<Version>) -> Self {
        self.expected_version = version;
        self
    }
}

impl<A: Aggregate> Clone for Execute<A> {
    fn clone(&self) -> Self {
        Self {
            aggregate_id: self.aggregate_id,
            command: self.command.clone(),
            context: self.context.clone(),
            expected_version: self.expected_version,
        }
    }
}

impl<A: Aggregate> std::fmt::Debug for Execute<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execute")
            .field("aggregate_id", &self.aggregate_id)
            .field("command", &self.command)
            .field("context", &self.context)
            .field("expected_version", &self.expected_version)
            .finish()
    }
}

impl<A: Aggregate> Message for Execute<A> {
    type Result = Result<Executed<A>, CommandError<A>>;
}

/// A command that was accepted: the events it committed and the state they produced.
pub struct Executed<A: Aggregate> {
    /// As stored, in order; empty when the command changed nothing.
    pub events: Vec<RecordedEvent>,
    /// The aggregate's version after the command.
    pub version: Version,
    pub state: A::State,
    /// The command id had been committed before: these are the first run's events.
    pub already_committed: bool,
}

// By hand: a derive would require the aggregate's marker type to be Debug and Clone.
impl<A: Aggregate> std::fmt::Debug for Executed<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("events", &self.events)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("already_committed", &self.already_committed)
            .finish()
    }
}

impl<A: Aggregate> Clone for Executed<A> {
    fn clone(&self) -> Self {
        Self { events: self.events.clone(), version: self.version, state: self.state.clone(), already_committed: self.already_committed }
    }
}

impl<A: Aggregate> Executed<A> {
    /// Global position of the last event committed, if any.
    pub fn last_position(&self) -> Option<u64> {
        self.events.last().map(|e| e.position)
    }
}

/// Why a command produced no committed events. `Rejected` is the domain's answer; the rest are
/// the runtime's, so a caller can tell "you may not" from "we could not". `Overloaded` hands the
/// undelivered command back, so the caller may send it again as it was (same ids).
#[derive(thiserror::Error)]
pub enum CommandError<A: Aggregate> {
    #[error(transparent)]
    Rejected(A::Error),
    #[error("concurrent modification: {0}")]
    Conflict(Conflict),
    #[error("the aggregate is overloaded; try again later")]
    Overloaded(Box<Execute<A>>),
    #[error("the aggregate failed while handling the command and was reloaded")]
    Panicked,
    #[error("the aggregate is unavailable")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

// By hand: a derive would require the aggregate's marker type to be Debug and Clone.
impl<A: Aggregate> std::fmt::Debug for CommandError<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Rejected(refusal) => f.debug_tuple("Rejected").field(refusal).finish(),
            CommandError::Conflict(conflict) => f.debug_tuple("Conflict").field(conflict).finish(),
            CommandError::Overloaded(execute) => f.debug_tuple("Overloaded").field(execute).finish(),
            CommandError::Panicked => f.write_str("Panicked"),
            CommandError::Unavailable => f.write_str("Unavailable"),
            CommandError::Store(error) => f.debug_tuple("Store").field(error).finish(),
            CommandError::Codec(error) => f.debug_tuple("Codec").field(error).finish(),
        }
    }
}

impl<A: Aggregate> Clone for CommandError<A> {
    fn clone(&self) -> Self {
        match self {
            CommandError::Rejected(refusal) => CommandError::Rejected(refusal.clone()),
            CommandError::Conflict(conflict) => CommandError::Conflict(*conflict),
            CommandError::Overloaded(execute) => CommandError::Overloaded(execute.clone()),
            CommandError::Panicked => CommandError::Panicked,
            CommandError::Unavailable => CommandError::Unavailable,
            CommandError::Store(error) => CommandError::Store(error.clone()),
            CommandError::Codec(error) => CommandError::Codec(error.clone()),
        }
    }
}

/// A read of one aggregate's current state, run inside its live actor: between two commands,
/// never during one. Built by [`crate::CommandBus::inspect`].
pub struct Inspect<A: Aggregate, R> {
    pub aggregate_id: Uuid,
    /// The actor reloads its stream first when it holds an older version than this (it was
    /// started while a passivated twin was still committing).
    pub at_least: Version,
    pub(crate) read: StateRead<A, R>,
}

/// A read of an aggregate's state at its version.
pub(crate) type StateRead<A, R> = Box<dyn FnOnce(&<A as Aggregate>::State, Version) -> R + Send>;

impl<A: Aggregate, R: Send + 'static> Message for Inspect<A, R> {
    type Result = Result<R, InspectError>;
}

/// Why an aggregate's state could not be read in its actor.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InspectError {
    #[error("the aggregate could not be loaded: {0}")]
    Load(#[from] LoadError),
    #[error("the aggregate is overloaded; try again later")]
    Overloaded,
    #[error("the read of the aggregate's state panicked")]
    Panicked,
    #[error("the aggregate is unavailable")]
    Unavailable,
}
