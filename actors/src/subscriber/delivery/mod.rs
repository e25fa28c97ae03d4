//! The loop every subscriber runs: catch up from its checkpoint, then follow the live feed.
//!
//! The live receiver is opened before the catch-up reads the head, so an event committed during
//! the catch-up is either read from the store or received live; whatever arrives at or below the
//! position already applied is dropped, and a hole (a lagging receiver) is read from the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

use super::{Subscriber, SubscriberError, SubscriberState};
use crate::event::{Position, RecordedEvent};
#[cfg(doc)]
use crate::store::StoreError;
use crate::store::{CommittedBatch, EventStore};
use crate::subscriber::running::ParkedError;

/// Events read from the store per page, and most events taken from the feed at once.
pub(crate) const CATCH_UP_PAGE: usize = 1_000;

/// How often a failing event is retried before it is parked.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 5, first_backoff: Duration::from_millis(20), max_backoff: Duration::from_secs(2) }
    }
}

/// A subscriber's progress, published after each applied batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    pub position: Position,
    pub state: SubscriberState,
}

/// What an operator can ask of a running subscriber.
pub(crate) enum Control {
    /// Apply the parked event at this position again, if it is still parked; on success it is
    /// no longer parked, on failure its record holds the new error.
    Retry { position: Position, reply: oneshot::Sender<Result<(), ParkedError>> },
}

pub(crate) struct DriverSetup {
    pub name: String,
    pub store: Arc<dyn EventStore>,
    pub progress: watch::Sender<Progress>,
    pub stop: watch::Receiver<bool>,
    pub retry: RetryPolicy,
    /// Where events given up on are recorded, under `parked_prefix` (this copy's own).
    pub parked: sled::Tree,
    pub parked_prefix: Vec<u8>,
    /// The state shown while catching up (`Rebuilding` for a rebuild's copy).
    pub catching_up_as: SubscriberState,
    /// Told once the subscriber has caught up with the head.
    pub on_live: Option<oneshot::Sender<()>>,
    pub control: mpsc::Receiver<Control>,
}

pub(crate) async fn drive(mut subscriber: Box<dyn Subscriber>, mut setup: DriverSetup) {
    let mut position = 0;
    run(subscriber.as_mut(), &mut setup, &mut position).await;
    publish(&setup, position, SubscriberState::Stopped);
}

/// Feeds `subscriber` from its checkpoint until it is asked to stop or cannot go on; answers
/// why it ended, leaving `position` at what it applied. Publishes its progress meanwhile, but
/// not its end: the caller says what it is then (stopped, or standing by for a lease).
pub(crate) async fn run(subscriber: &mut dyn Subscriber, setup: &mut DriverSetup, position: &mut Position) -> Stopped {
    let mut live = setup.store.subscribe();
    *position = match subscriber.checkpoint().await {
        Ok(position) => position,
        Err(error) => {
            tracing::error!(subscriber = %setup.name, %error, "cannot read checkpoint; subscriber stopped");
            return Stopped::of(&error);
        }
    };
    publish(setup, *position, setup.catching_up_as);
    let shown_as = setup.catching_up_as;
    if let Err(stopped) = catch_up(subscriber, setup, position, shown_as).await {
        return stopped;
    }
    publish(setup, *position, SubscriberState::Live);
    if let Some(on_live) = setup.on_live.take() {
        let _ = on_live.send(());
    }
    let stopped = loop {
        let deferred = subscriber.deferred_until();
        let received = tokio::select! {
            received = live.recv() => received,
            Some(control) = setup.control.recv() => {
                parked::handle_control(subscriber, setup, control).await;
                continue;
            }
            () = sleep_until(deferred) => {
                if let Err(error) = subscriber.write_deferred().await {
                    tracing::warn!(subscriber = %setup.name, %error, "could not write the checkpoint; retrying with the next batch");
                    if let SubscriberError::Fenced(_) = error {
                        break Stopped::LeaseLost;
                    }
                }
                continue;
            }
            _ = setup.stop.changed() => break Stopped::Asked,
        };
        let outcome = match received {
            Ok(batch) => match coalesce(&batch, &mut live, *position) {
                Some(events) if events.is_empty() => Ok(()),
                Some(events) => apply(subscriber, setup, &events, position).await,
                // A hole, or a lagging receiver: read from the store.
                None => catch_up(subscriber, setup, position, SubscriberState::Live).await,
            },
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(subscriber = %setup.name, missed, "live feed lagged; reading from the store");
                catch_up(subscriber, setup, position, SubscriberState::Live).await
            }
            Err(broadcast::error::RecvError::Closed) => Err(Stopped::Asked),
        };
        if let Err(stopped) = outcome {
            break stopped;
        }
        publish(setup, *position, SubscriberState::Live);
    };
    if stopped == Stopped::Asked {
        // What a stopping subscriber left to write later is written now, or replayed next time.
        if let Err(error) = subscriber.write_deferred().await {
            tracing::warn!(subscriber = %setup.name, %error, "could not write the checkpoint while stopping");
        }
    }
    stopped
}

/// Waits until `deadline`, or for ever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The events after `position` in `first` and in every batch already waiting behind it (up to
/// [`CATCH_UP_PAGE`]), so a subscriber that fell behind the commits takes them in one batch
/// rather than one per commit. `None` when the store has to fill a gap: the receiver lagged, or
/// the events do not follow on from `position` without a hole (an import publishes only its
/// last event). Everything taken from the feed so far is then read again from the store.
fn coalesce(first: &[RecordedEvent], live: &mut broadcast::Receiver<CommittedBatch>, position: Position) -> Option<Vec<RecordedEvent>> {
    let mut events = Vec::new();
    if !extend_contiguous(&mut events, first, position) {
        return None;
    }
    while events.len() < CATCH_UP_PAGE {
        match live.try_recv() {
            Ok(batch) if extend_contiguous(&mut events, &batch, position) => {}
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => return None,
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => break,
        }
    }
    Some(events)
}

/// Appends the events of `batch` past those in `events` (or past `position`); false when the
/// first of them leaves a hole.
fn extend_contiguous(events: &mut Vec<RecordedEvent>, batch: &[RecordedEvent], position: Position) -> bool {
    let last = events.last().map_or(position, |e| e.position);
    let fresh = batch.iter().skip_while(|e| e.position <= last);
    for (expected, event) in (last + 1..).zip(fresh) {
        if event.position != expected {
            return false;
        }
        events.push(event.clone());
    }
    true
}

pub(crate) fn publish(setup: &DriverSetup, position: Position, state: SubscriberState) {
    crate::metrics::subscriber_position(&setup.name, position);
    setup.progress.send_replace(Progress { position, state });
}

/// Why a subscriber's loop ends before its stop is asked for, or because it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The runtime asked it to stop (shutdown, a rebuild's swap, a lease that ran out).
    Asked,
    /// Its storage failed: it can no longer record what it parks or skips.
    LocalStorage,
    /// A write was fenced: another process holds the subscriber's lease now.
    LeaseLost,
    /// The event store could not be used (see [`StoreError::is_unavailable`]): an event that
    /// failed for that reason is not the event's fault, so it is tried again later, not parked.
    Unavailable,
}

impl Stopped {
    fn of(error: &SubscriberError) -> Self {
        match error {
            SubscriberError::Fenced(_) => Stopped::LeaseLost,
            SubscriberError::Store(error) if error.is_unavailable() => Stopped::Unavailable,
            _ => Stopped::LocalStorage,
        }
    }

    /// Why a subscriber stops on `error` instead of retrying the event: it may not go on here.
    fn instead_of_retrying(error: &SubscriberError) -> Option<Self> {
        match Self::of(error) {
            Stopped::LocalStorage => None,
            stopped => Some(stopped),
        }
    }
}

/// Reads from the store until the subscriber has applied the head. `Err` means stop.
async fn catch_up(
    subscriber: &mut dyn Subscriber,
    setup: &mut DriverSetup,
    position: &mut Position,
    shown_as: SubscriberState,
) -> Result<(), Stopped> {
    loop {
        if *setup.stop.borrow() {
            return Err(Stopped::Asked);
        }
        let page = match setup.store.read_all(*position + 1, CATCH_UP_PAGE, None).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(subscriber = %setup.name, %error, "could not read the log; retrying");
                tokio::time::sleep(setup.retry.first_backoff).await;
                continue;
            }
        };
        if page.is_empty() {
            return Ok(());
        }
        let full_page = page.len() == CATCH_UP_PAGE;
        apply(subscriber, setup, &page, position).await?;
        publish(setup, *position, shown_as);
        if !full_page {
            return Ok(());
        }
    }
}

/// Applies a batch; on failure applies its events one by one with retries, parking those that
/// keep failing, so one bad event neither blocks the subscriber nor disappears silently.
async fn apply(
    subscriber: &mut dyn Subscriber,
    setup: &DriverSetup,
    events: &[RecordedEvent],
    position: &mut Position,
) -> Result<(), Stopped> {
    let span = tracing::debug_span!("project", subscriber = %setup.name, from = events[0].position, count = events.len());
    let batch_error = match subscriber.handle(events).instrument(span).await {
        Ok(()) => {
            *position = events.last().map_or(*position, |e| e.position);
            return Ok(());
        }
        Err(error) => match Stopped::instead_of_retrying(&error) {
            Some(stopped) => {
                tracing::warn!(subscriber = %setup.name, %error, "stopping: the events are left to the next run");
                return Err(stopped);
            }
            None => error,
        },
    };
    // A batch of one already made its first attempt; a larger one starts over event by event.
    let mut carried = if events.len() == 1 {
        Some(batch_error)
    } else {
        tracing::warn!(subscriber = %setup.name, error = %batch_error, "batch failed; applying its events one by one");
        None
    };
    for event in events {
        let mut backoff = setup.retry.first_backoff;
        let mut failures = 0;
        loop {
            if *setup.stop.borrow() {
                return Err(Stopped::Asked);
            }
            let outcome = match carried.take() {
                Some(error) => Err(error),
                None => subscriber.handle(std::slice::from_ref(event)).await,
            };
            let Err(error) = outcome else { break };
            if let Some(stopped) = Stopped::instead_of_retrying(&error) {
                return Err(stopped);
            }
            failures += 1;
            if failures > setup.retry.max_retries {
                parked::park(subscriber, setup, event, &error).await?;
                crate::metrics::subscriber_parked(&setup.name);
                break;
            }
            crate::metrics::subscriber_retried(&setup.name);
            tracing::warn!(subscriber = %setup.name, %error, position = event.position, failures, "retrying event");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(setup.retry.max_backoff);
        }
        *position = event.position;
    }
    Ok(())
}

mod parked;
#[cfg(test)]
mod tests;
