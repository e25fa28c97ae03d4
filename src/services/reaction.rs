//! What every reaction shares: decoding the triggering event, reading an aggregate's current
//! state (replayed from the store, or read in its live actor) and sending a command, with the runtime's failures turned into a [`SubscriberError`]
//! (the subscriber retries, then parks the event) and the domain's refusals handed back as values
//! the reaction decides about.

use actors::load_state;
use actors::{
    Aggregate, CommandBus, CommandContext, CommandError, EventCodec, EventStore, Executed, InspectError, LoadError, SubscriberError,
    RecordedEvent, StreamId, Version,
};
use uuid::Uuid;

/// The event as a domain event of `A`, or `None` when it belongs to another aggregate type.
pub(crate) fn decode<A: Aggregate>(event: &RecordedEvent) -> Result<Option<A::Event>, SubscriberError> {
    if event.stream.aggregate_type != A::TYPE {
        return Ok(None);
    }
    Ok(Some(EventCodec::<A::Event>::default().decode(event)?))
}

/// The current state of aggregate `id`, replayed from the store (the default state when the
/// stream has no events).
pub(crate) async fn load<A: Aggregate>(store: &dyn EventStore, id: Uuid) -> Result<A::State, SubscriberError> {
    let stream = StreamId::new(A::TYPE, id);
    let codec = EventCodec::<A::Event>::default();
    match load_state::<A>(store, &stream, &codec, None).await {
        Ok((state, _version)) => Ok(state),
        Err(actors::LoadError::Store(error)) => Err(SubscriberError::Store(error)),
        Err(error) => Err(SubscriberError::failed(error)),
    }
}

/// `read` of the current state of aggregate `id`, run in its live actor: nothing is replayed.
/// On one node as current as [`load`]; pass the triggering event's version as `at_least` when
/// the state must include that event (see [`CommandBus::inspect`]). Where missing the very last
/// event of another stream would move money, [`load`] is the one to use.
pub(crate) async fn inspect<A: Aggregate, R: Send + 'static>(
    commands: &CommandBus,
    id: Uuid,
    at_least: Version,
    read: impl FnOnce(&A::State) -> R + Send + 'static,
) -> Result<R, SubscriberError> {
    match commands.inspect::<A, R>(id, at_least, move |state, _version| read(state)).await {
        Ok(answer) => Ok(answer),
        Err(InspectError::Load(LoadError::Store(error))) => Err(SubscriberError::Store(error)),
        Err(error) => Err(SubscriberError::failed(error)),
    }
}

/// Sends a command on behalf of a reaction. The outer `Err` means "we could not" (store down,
/// aggregate overloaded or unavailable): the runtime retries the event. The inner `Err` is the
/// domain's "you may not", for the reaction to treat as done, ignore or compensate.
pub(crate) async fn send<A: Aggregate>(
    commands: &CommandBus,
    id: Uuid,
    command: A::Command,
    context: CommandContext,
) -> Result<Result<Executed<A>, A::Error>, SubscriberError> {
    match commands.send::<A>(id, command, context).await {
        Ok(executed) => Ok(Ok(executed)),
        Err(CommandError::Rejected(refusal)) => Ok(Err(refusal)),
        Err(CommandError::Store(error)) => Err(SubscriberError::Store(error)),
        Err(CommandError::Codec(error)) => Err(SubscriberError::Codec(error)),
        Err(error) => Err(SubscriberError::failed(error)),
    }
}
