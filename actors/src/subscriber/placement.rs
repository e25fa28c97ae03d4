//! Each reaction runs in one process at a time among all that share the store: the one that
//! holds its lease (`reaction/<name>`). The holder renews it in the background and runs the
//! reaction, writing its progress fenced by the lease; the others stand by, showing the position
//! the holder recorded, and take the lease over once it runs out. A holder that cannot renew
//! in time, or whose write is fenced, stops at once and stands by in turn.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::delivery::{publish, run, Control, DriverSetup, Stopped};
use super::reaction::ReactionSubscriber;
use super::running::ParkedError;
use super::{SubscriberError, SubscriberState};
use crate::event::Position;
use crate::store::{Lease, Leases, StoreError};

/// How often a process standing by reads the holder's checkpoint.
const STANDBY_POLL: Duration = Duration::from_millis(250);

/// Where a reaction may run and how its lease is held.
#[derive(Clone)]
pub(crate) struct LeaseTerms {
    /// Who this process is among those sharing the store.
    pub holder: String,
    pub ttl: Duration,
    /// False: this process never runs the reaction, it only shows where it is.
    pub runs_here: bool,
}

impl LeaseTerms {
    /// A renewal every third of the time to live leaves two chances before it runs out.
    fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// How often a process standing by asks for the lease: a takeover comes at most this long
    /// after the lease ran out.
    fn ask_every(&self) -> Duration {
        (self.ttl / 3).min(Duration::from_secs(1))
    }
}

/// What a reaction does with its checkpoint once it first holds its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Runs from its checkpoint (from the beginning when it has none).
    FromCheckpoint,
    /// Runs from this position when it has no checkpoint yet.
    AtIfNew(Position),
    /// Runs from this position whatever its checkpoint.
    At(Position),
}

fn lease_name(reaction: &str) -> String {
    format!("reaction/{reaction}")
}

/// Takes the reaction's lease if it is free (or already this process's), and puts the
/// reaction where `start` says; answers the lease and when it was asked for.
pub(crate) async fn try_take(
    subscriber: &mut ReactionSubscriber,
    terms: &LeaseTerms,
    start: Start,
) -> Result<Option<(Lease, Instant)>, SubscriberError> {
    let asked_at = Instant::now();
    let lease = match subscriber.leases().acquire(&lease_name(subscriber.name()), &terms.holder, terms.ttl).await? {
        Ok(lease) => lease,
        Err(_held) => return Ok(None),
    };
    subscriber.hold(Some(lease.clone()));
    let started = match start {
        Start::FromCheckpoint => Ok(()),
        Start::AtIfNew(position) => subscriber.start_at_if_new(position).await,
        Start::At(position) => subscriber.start_at(position).await,
    };
    if let Err(error) = started {
        subscriber.hold(None);
        return Err(error);
    }
    Ok(Some((lease, asked_at)))
}

/// Runs `subscriber` whenever this process holds its lease, stands by otherwise, until the
/// runtime stops it. `held`: the lease taken (and `start` applied) at the runtime's start, if
/// it was; otherwise `start` is applied at the first takeover.
pub(crate) async fn drive_leased(
    mut subscriber: ReactionSubscriber,
    mut setup: DriverSetup,
    terms: LeaseTerms,
    start: Start,
    mut held: Option<(Lease, Instant)>,
) {
    let mut position = 0;
    let mut start = if held.is_some() { Start::FromCheckpoint } else { start };
    loop {
        let (lease, taken_at) = match held.take() {
            Some(held) => held,
            None => match stand_by(&mut subscriber, &mut setup, &terms, start, &mut position).await {
                Some(held) => held,
                None => break,
            },
        };
        // Once placed, a reaction always goes on from its checkpoint.
        start = Start::FromCheckpoint;
        tracing::info!(subscriber = %setup.name, holder = %lease.holder, epoch = lease.epoch, "holding the lease: running here");
        subscriber.hold(Some(lease.clone()));
        let stopped = run_holding(&mut subscriber, &mut setup, &terms, &lease, taken_at, &mut position).await;
        subscriber.hold(None);
        match stopped {
            Stopped::LeaseLost => {
                tracing::warn!(subscriber = %setup.name, epoch = lease.epoch, "lost the lease: standing by");
            }
            Stopped::Unavailable => {
                // Still the holder, most likely: the lease is asked for again, and the run
                // starts over from the checkpoint once the store answers.
                tracing::warn!(subscriber = %setup.name, "the event store is unavailable: standing by");
            }
            Stopped::Asked => {
                // Let the next holder take over now rather than once the lease runs out.
                if let Err(error) = subscriber.leases().release(&lease).await {
                    tracing::warn!(subscriber = %setup.name, %error, "could not release the lease; it runs out on its own");
                }
                break;
            }
            Stopped::LocalStorage => break,
        }
    }
    publish(&setup, position, SubscriberState::Stopped);
}

/// Runs the subscriber until it stops, the runtime stops it, or the lease is lost.
async fn run_holding(
    subscriber: &mut ReactionSubscriber,
    setup: &mut DriverSetup,
    terms: &LeaseTerms,
    lease: &Lease,
    taken_at: Instant,
    position: &mut Position,
) -> Stopped {
    let (halt, halted) = watch::channel(false);
    let mut outer = std::mem::replace(&mut setup.stop, halted);
    let leases = subscriber.leases().clone();
    let mut lost = false;
    let stopped = {
        let running = run(subscriber, setup, position);
        tokio::pin!(running);
        let keeping = keep(leases, lease.clone(), terms.clone(), taken_at);
        tokio::pin!(keeping);
        let mut halting = *outer.borrow();
        if halting {
            halt.send_replace(true);
        }
        loop {
            tokio::select! {
                stopped = &mut running => break stopped,
                changed = outer.changed(), if !halting => {
                    if changed.is_err() || *outer.borrow() {
                        halting = true;
                        halt.send_replace(true);
                    }
                }
                () = &mut keeping, if !halting => {
                    lost = true;
                    halting = true;
                    halt.send_replace(true);
                }
            }
        }
    };
    let asked = *outer.borrow();
    setup.stop = outer;
    match stopped {
        Stopped::Asked if lost && !asked => Stopped::LeaseLost,
        stopped => stopped,
    }
}

/// Renews the lease until it is lost: someone else holds it, or no renewal was answered before
/// it ran out (the store is unreachable, the process was paused).
async fn keep(leases: Arc<dyn Leases>, lease: Lease, terms: LeaseTerms, taken_at: Instant) {
    let mut renewed_at = taken_at;
    loop {
        tokio::time::sleep(terms.renew_every()).await;
        let asked_at = Instant::now();
        let left = (renewed_at + terms.ttl).saturating_duration_since(asked_at);
        match tokio::time::timeout(left, leases.acquire(&lease.name, &lease.holder, terms.ttl)).await {
            Ok(Ok(Ok(renewed))) if renewed.epoch == lease.epoch => renewed_at = asked_at,
            Ok(Ok(Ok(_))) | Ok(Ok(Err(_))) => return,
            Ok(Err(error)) => {
                tracing::warn!(lease = %lease.name, %error, "could not renew the lease");
                if asked_at.duration_since(renewed_at) >= terms.ttl {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Shows the holder's recorded position and asks for the lease now and then, until this
/// process takes it (answered) or the runtime stops it (`None`).
async fn stand_by(
    subscriber: &mut ReactionSubscriber,
    setup: &mut DriverSetup,
    terms: &LeaseTerms,
    start: Start,
    position: &mut Position,
) -> Option<(Lease, Instant)> {
    let mut next_ask = Instant::now();
    loop {
        if *setup.stop.borrow() {
            return None;
        }
        match subscriber.recorded_checkpoint().await {
            Ok(recorded) => *position = recorded,
            Err(error) => tracing::debug!(subscriber = %setup.name, %error, "could not read the recorded checkpoint"),
        }
        publish(setup, *position, SubscriberState::Standby);
        if terms.runs_here && Instant::now() >= next_ask {
            next_ask = Instant::now() + terms.ask_every();
            match try_take(subscriber, terms, start).await {
                Ok(Some(held)) => return Some(held),
                Ok(None) => {}
                Err(SubscriberError::Store(StoreError::Closed)) => return None,
                Err(error) => tracing::warn!(subscriber = %setup.name, %error, "could not ask for the lease"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(STANDBY_POLL) => {}
            changed = setup.stop.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
            Some(Control::Retry { reply, .. }) = setup.control.recv() => {
                let _ = reply.send(Err(ParkedError::NotRunning));
            }
        }
    }
}
