//! The set of running subscribers: their status, waiting for them, rebuilding read models and
//! the events they parked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::ArbiterHandle;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

mod parked;
mod rebuild;

pub(crate) use parked::{parked_key, parked_prefix};
pub use parked::{ParkedError, ParkedEvent};
pub use rebuild::RebuildError;

use super::delivery::{drive, Control, DriverSetup, Progress, RetryPolicy};
use super::placement::{drive_leased, LeaseTerms, Start};
use super::reaction::ReactionSubscriber;
use super::read_model::{ReadModel, ReadModelCopy, ReadModelHandle, ReadModelSubscriber, ReadVersion};
use super::{Subscriber, SubscriberKind, SubscriberState, SubscriberStatus};
use crate::event::Position;
use crate::store::{EventStore, Lease, StoreError};
use tokio::time::Instant;

struct ReadModelSlot {
    model: Arc<dyn ReadModel>,
    handle: ReadModelHandle,
    generation: u64,
}

pub(crate) struct SubscriberEntry {
    kind: SubscriberKind,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    control: mpsc::Sender<Control>,
    /// The copy a rebuild is building, set by the one `rebuild` call that starts it.
    rebuilding: Option<Rebuilding>,
    read_model: Option<ReadModelSlot>,
}

/// A copy being built: how far it is, and how to stop it (shutdown stops it too).
struct Rebuilding {
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
}

impl SubscriberEntry {
    /// The generation of the copy serving now (0 for all but rebuilt read models).
    fn generation(&self) -> u64 {
        self.read_model.as_ref().map_or(0, |slot| slot.generation)
    }
}

/// The channels a driver reports on and is stopped through.
struct DriverChannels {
    progress: watch::Sender<Progress>,
    stop: watch::Receiver<bool>,
}

impl DriverChannels {
    fn new(state: SubscriberState) -> (Self, watch::Receiver<Progress>, watch::Sender<bool>) {
        let (progress, progress_rx) = watch::channel(Progress { position: 0, state });
        let (stop_tx, stop) = watch::channel(false);
        (Self { progress, stop }, progress_rx, stop_tx)
    }
}

/// Which subscribers a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor<'a> {
    /// Read models only: enough to read your own writes.
    ReadModels,
    /// Every subscriber: read models, process managers and handlers.
    All,
    One(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subscribers had not reached position {position} after {waited:?}: {behind:?}")]
pub struct WaitTimeout {
    pub position: Position,
    pub waited: Duration,
    pub behind: Vec<String>,
}

struct HubInner {
    entries: Mutex<BTreeMap<String, SubscriberEntry>>,
    store: Arc<dyn EventStore>,
    db: sled::Db,
    generations: sled::Tree,
    checkpoints: sled::Tree,
    parked: sled::Tree,
    read_version: ReadVersion,
    retry: RetryPolicy,
    arbiters: Arc<[ArbiterHandle]>,
    next_arbiter: AtomicUsize,
}

/// Handle on every subscriber of the runtime. Cheap to clone.
#[derive(Clone)]
pub struct Subscribers {
    inner: Arc<HubInner>,
}

impl Subscribers {
    pub(crate) fn new(
        store: Arc<dyn EventStore>,
        db: sled::Db,
        retry: RetryPolicy,
        arbiters: Arc<[ArbiterHandle]>,
    ) -> Result<Self, sled::Error> {
        let generations = db.open_tree("read-model-generations")?;
        let parked = db.open_tree("parked")?;
        let checkpoints = db.open_tree("read-model-checkpoints")?;
        let next_arbiter = AtomicUsize::new(0);
        let read_version = ReadVersion::default();
        let inner = HubInner {
            entries: Mutex::default(),
            store,
            db,
            generations,
            checkpoints,
            parked,
            read_version,
            retry,
            arbiters,
            next_arbiter,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub(crate) fn add_read_model(&self, name: &str, model: Arc<dyn ReadModel>, tree: sled::Tree, generation: u64) -> ReadModelHandle {
        let copy = ReadModelCopy::new(tree);
        let handle = ReadModelHandle::new(name, copy.clone());
        let subscriber = ReadModelSubscriber::new(model.clone(), copy, self.inner.checkpoints.clone(), self.read_version());
        let slot = ReadModelSlot { model, handle: handle.clone(), generation };
        self.start(name, SubscriberKind::ReadModel, Box::new(subscriber), Some(slot));
        handle
    }

    fn start(&self, name: &str, kind: SubscriberKind, subscriber: Box<dyn Subscriber>, read_model: Option<ReadModelSlot>) {
        let (channels, progress, stop) = DriverChannels::new(SubscriberState::CatchingUp);
        let generation = read_model.as_ref().map_or(0, |slot| slot.generation);
        let control = self.spawn(name, generation, subscriber, channels, SubscriberState::CatchingUp, None);
        let entry = SubscriberEntry { kind, progress, stop, control, rebuilding: None, read_model };
        self.inner.entries.lock().insert(name.to_owned(), entry);
    }

    /// Adds a reaction that runs here only while this process holds its lease (see
    /// `placement`); until then, and where `terms` say it never runs here, it stands by.
    pub(crate) fn add_reaction(
        &self,
        kind: SubscriberKind,
        subscriber: ReactionSubscriber,
        terms: LeaseTerms,
        start: Start,
        held: Option<(Lease, Instant)>,
    ) {
        let name = subscriber.name().to_owned();
        let (channels, progress, stop) = DriverChannels::new(SubscriberState::Standby);
        let (setup, control) = self.setup(&name, 0, channels, SubscriberState::CatchingUp, None);
        self.spawn_task(drive_leased(subscriber, setup, terms, start, held));
        let entry = SubscriberEntry { kind, progress, stop, control, rebuilding: None, read_model: None };
        self.inner.entries.lock().insert(name, entry);
    }

    /// The reactions (process managers and handlers) this process runs now: those whose lease
    /// it holds.
    pub fn reactions_running_here(&self) -> Vec<String> {
        let entries = self.inner.entries.lock();
        entries
            .iter()
            .filter(|(_, entry)| entry.kind != SubscriberKind::ReadModel)
            .filter(|(_, entry)| matches!(entry.progress.borrow().state, SubscriberState::CatchingUp | SubscriberState::Live))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn spawn(
        &self,
        name: &str,
        generation: u64,
        subscriber: Box<dyn Subscriber>,
        channels: DriverChannels,
        catching_up_as: SubscriberState,
        on_live: Option<oneshot::Sender<()>>,
    ) -> mpsc::Sender<Control> {
        let (setup, control) = self.setup(name, generation, channels, catching_up_as, on_live);
        self.spawn_task(drive(subscriber, setup));
        control
    }

    fn setup(
        &self,
        name: &str,
        generation: u64,
        channels: DriverChannels,
        catching_up_as: SubscriberState,
        on_live: Option<oneshot::Sender<()>>,
    ) -> (DriverSetup, mpsc::Sender<Control>) {
        let (control_tx, control_rx) = mpsc::channel(16);
        let setup = DriverSetup {
            name: name.to_owned(),
            store: self.inner.store.clone(),
            progress: channels.progress,
            stop: channels.stop,
            retry: self.inner.retry.clone(),
            parked: self.inner.parked.clone(),
            parked_prefix: parked_prefix(name, generation),
            catching_up_as,
            on_live,
            control: control_rx,
        };
        (setup, control_tx)
    }

    fn spawn_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let arbiters = &self.inner.arbiters;
        if arbiters.is_empty() {
            actix_rt::spawn(task);
        } else {
            let index = self.inner.next_arbiter.fetch_add(1, Ordering::Relaxed) % arbiters.len();
            arbiters[index].spawn(task);
        }
    }

    /// Every subscriber's status, in name order.
    pub async fn statuses(&self) -> Result<Vec<SubscriberStatus>, StoreError> {
        let head = self.inner.store.head().await?;
        let entries = self.inner.entries.lock();
        Ok(entries.iter().map(|(name, entry)| self.status_of(name, entry, head)).collect())
    }

    fn status_of(&self, name: &str, entry: &SubscriberEntry, head: Position) -> SubscriberStatus {
        // While rebuilding, the status describes the copy being built.
        let progress = *entry.rebuilding.as_ref().map_or(&entry.progress, |copy| &copy.progress).borrow();
        let state = if entry.rebuilding.is_some() { SubscriberState::Rebuilding } else { progress.state };
        SubscriberStatus {
            name: name.to_owned(),
            kind: entry.kind,
            position: progress.position,
            lag: head.saturating_sub(progress.position),
            state,
            parked: self.parked_count(&parked_prefix(name, entry.generation())),
        }
    }

    /// Moves whenever any read model's data may have changed; see [`ReadVersion`].
    pub fn read_version(&self) -> ReadVersion {
        self.inner.read_version.clone()
    }

    /// The query handle of a read model.
    pub fn read_model(&self, name: &str) -> Option<ReadModelHandle> {
        self.inner.entries.lock().get(name)?.read_model.as_ref().map(|slot| slot.handle.clone())
    }

    /// Waits until the chosen subscribers have applied `position` (or stopped past it).
    pub async fn wait_for(&self, position: Position, timeout: Duration, which: WaitFor<'_>) -> Result<(), WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pending: Vec<(String, watch::Receiver<Progress>)> = {
                let entries = self.inner.entries.lock();
                entries
                    .iter()
                    .filter(|(name, entry)| match which {
                        WaitFor::ReadModels => entry.kind == SubscriberKind::ReadModel,
                        WaitFor::All => true,
                        WaitFor::One(one) => name.as_str() == one,
                    })
                    .filter(|(_, entry)| entry.progress.borrow().position < position)
                    .map(|(name, entry)| (name.clone(), entry.progress.clone()))
                    .collect()
            };
            if pending.is_empty() {
                return Ok(());
            }
            let mut swapped = false;
            for (name, mut progress) in pending {
                let reached = tokio::time::timeout_at(deadline, progress.wait_for(|p| p.position >= position)).await;
                match reached {
                    Ok(Ok(_)) => {}
                    // The copy stopped (a rebuild swapped it): look the subscriber up again.
                    Ok(Err(_)) => swapped = true,
                    Err(_) => {
                        let behind = vec![name];
                        return Err(WaitTimeout { position, waited: timeout, behind });
                    }
                }
            }
            if !swapped {
                return Ok(());
            }
        }
    }

    /// Tells every subscriber, and every copy a rebuild is building, to stop after its current
    /// batch.
    pub fn stop_all(&self) {
        for entry in self.inner.entries.lock().values() {
            entry.stop.send_replace(true);
            if let Some(copy) = &entry.rebuilding {
                copy.stop.send_replace(true);
            }
        }
    }

    /// Waits (at most `timeout`) until every reaction has stopped: its last checkpoint written
    /// and its lease released, so another process takes over at once rather than once the lease
    /// runs out.
    pub(crate) async fn reactions_stopped(&self, timeout: Duration) {
        let reactions: Vec<watch::Receiver<Progress>> = {
            let entries = self.inner.entries.lock();
            entries.values().filter(|entry| entry.kind != SubscriberKind::ReadModel).map(|entry| entry.progress.clone()).collect()
        };
        let all = futures::future::join_all(reactions.into_iter().map(|mut progress| async move {
            // An error: the driver is gone, stopped all the same.
            let _ = progress.wait_for(|progress| progress.state == SubscriberState::Stopped).await;
        }));
        let _ = tokio::time::timeout(timeout, all).await;
    }
}
