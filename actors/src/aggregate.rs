//! The aggregate: a pure decision function and a pure fold. No actors, no storage, no clock.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::DomainEvent;

/// A consistency boundary of a domain, written as plain functions.
///
/// `handle` validates a command against the current state and returns the events it causes (or
/// why it is refused); `apply` folds one event into the state and never fails: an event is a fact.
/// Both are deterministic: time and ids come in with the command.
pub trait Aggregate: 'static {
    /// The stream type name, e.g. `"course"`. Stored in every event: never rename it.
    const TYPE: &'static str;

    /// Cloned only when a concurrent write makes the runtime decide it again.
    type Command: Clone + Debug + Send + Sync + 'static;
    type Event: DomainEvent;
    type Error: std::error::Error + Clone + PartialEq + Send + Sync + 'static;
    /// The state kept to decide commands. Serializable so snapshots and time travel can show it.
    type State: Default + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    fn handle(state: &Self::State, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;

    fn apply(state: Self::State, event: &Self::Event) -> Self::State;

    /// Folds events from the default state: the state after a full replay.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State {
        events.into_iter().fold(Self::State::default(), Self::apply)
    }
}
