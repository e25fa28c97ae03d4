//! The driver's side of dead letters: parking an event that keeps failing, and an operator's
//! retry, checked and applied here, between two batches, so it never races the subscriber.

use super::Stopped;
use super::{Control, DriverSetup};
use crate::codec::encode_bytes;
use crate::event::{Position, RecordedEvent};
use crate::subscriber::running::{parked_key, ParkedError, ParkedEvent};
use crate::subscriber::{Subscriber, SubscriberError};

/// Records `event` as parked with `error` and moves the subscriber past it. `Err`: stop.
pub(super) async fn park(
    subscriber: &mut dyn Subscriber,
    setup: &DriverSetup,
    event: &RecordedEvent,
    error: &SubscriberError,
) -> Result<(), Stopped> {
    tracing::error!(subscriber = %setup.name, %error, position = event.position, event_type = %event.event_type, "event parked");
    if record(setup, event, error).is_err() {
        tracing::error!(subscriber = %setup.name, "could not record a parked event; stopping");
        return Err(Stopped::LocalStorage);
    }
    subscriber.skip(event).await.map_err(|error| {
        tracing::error!(subscriber = %setup.name, %error, "could not skip a parked event; stopping");
        Stopped::of(&error)
    })
}

fn record(setup: &DriverSetup, event: &RecordedEvent, error: &SubscriberError) -> Result<(), ParkedError> {
    let parked = ParkedEvent { position: event.position, event_id: event.event_id, error: error.to_string() };
    let bytes = encode_bytes(&parked).map_err(|e| ParkedError::Local(e.to_string()))?;
    setup.parked.insert(parked_key(&setup.parked_prefix, event.position), bytes).map_err(|e| ParkedError::Local(e.to_string()))?;
    Ok(())
}

pub(super) async fn handle_control(subscriber: &mut dyn Subscriber, setup: &DriverSetup, control: Control) {
    match control {
        Control::Retry { position, reply } => {
            let outcome = retry(subscriber, setup, position).await;
            match &outcome {
                Ok(()) => tracing::info!(subscriber = %setup.name, position, "parked event retried successfully"),
                Err(error) => tracing::warn!(subscriber = %setup.name, position, %error, "retry of a parked event failed"),
            }
            let _ = reply.send(outcome);
        }
    }
}

async fn retry(subscriber: &mut dyn Subscriber, setup: &DriverSetup, position: Position) -> Result<(), ParkedError> {
    let key = parked_key(&setup.parked_prefix, position);
    // Checked here, not by the caller: a second retry queued behind a successful one finds
    // nothing parked and applies nothing.
    if !setup.parked.contains_key(&key).map_err(|e| ParkedError::Local(e.to_string()))? {
        return Err(ParkedError::NotParked { subscriber: setup.name.clone(), position });
    }
    let read = setup.store.read_all(position, 1, None).await.map_err(|e| ParkedError::FailedAgain(e.to_string()))?;
    let event = read
        .into_iter()
        .find(|e| e.position == position)
        .ok_or_else(|| ParkedError::FailedAgain(format!("there is no event at position {position}")))?;
    match subscriber.redeliver(&event).await {
        Ok(()) => {
            setup.parked.remove(&key).map_err(|e| ParkedError::Local(e.to_string()))?;
            Ok(())
        }
        Err(error) => {
            record(setup, &event, &error)?;
            Err(ParkedError::FailedAgain(error.to_string()))
        }
    }
}
