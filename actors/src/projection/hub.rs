//! The set of running subscribers: their status, waiting for them, rebuilding read models and
//! the events they parked.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::ArbiterHandle;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::driver::{drive, Control, DriverSetup, Progress, RetryPolicy};
use super::read_model::{ReadModel, ReadModelHandle, ReadModelSubscriber};
use super::{ProjectorState, ProjectorStatus, Subscriber, SubscriberKind};
use crate::codec::decode_bytes;
use crate::event::Position;
use crate::store::{EventStore, StoreError};

/// An event a subscriber gave up on, with the last error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedEvent {
    pub position: Position,
    pub event_id: Uuid,
    pub error: String,
}

pub(crate) fn parked_key(subscriber: &str, position: Position) -> Vec<u8> {
    let mut key = subscriber.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn tree_name(read_model: &str, generation: u64) -> String {
    format!("read-model/{read_model}/{generation}")
}

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
    rebuilding: Option<watch::Receiver<Progress>>,
    read_model: Option<ReadModelSlot>,
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

#[derive(Debug, Clone, thiserror::Error)]
pub enum RebuildError {
    #[error("no read model is named {0:?}")]
    UnknownReadModel(String),
    #[error("read model {0:?} is already being rebuilt")]
    AlreadyRebuilding(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("local storage failed: {0}")]
    Local(String),
}

/// A rebuild's copy of a read model, waiting to replace the serving one.
struct NewCopy {
    generation: u64,
    tree: sled::Tree,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    control: mpsc::Sender<Control>,
}

/// Why a parked event could not be retried or skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParkedError {
    #[error("no subscriber is named {0:?}")]
    UnknownSubscriber(String),
    #[error("{subscriber} has no parked event at position {position}")]
    NotParked { subscriber: String, position: Position },
    #[error("the retry failed again: {0}")]
    FailedAgain(String),
    #[error("the subscriber is not running")]
    NotRunning,
    #[error("local storage failed: {0}")]
    Local(String),
}

struct HubInner {
    entries: Mutex<BTreeMap<String, SubscriberEntry>>,
    store: Arc<dyn EventStore>,
    db: sled::Db,
    generations: sled::Tree,
    checkpoints: sled::Tree,
    parked: sled::Tree,
    retry: RetryPolicy,
    arbiters: Arc<[ArbiterHandle]>,
    next_arbiter: AtomicUsize,
}

/// Handle on every subscriber of the runtime. Cheap to clone.
#[derive(Clone)]
pub struct Projections {
    inner: Arc<HubInner>,
}

impl Projections {
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
        let inner = HubInner { entries: Mutex::default(), store, db, generations, checkpoints, parked, retry, arbiters, next_arbiter };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The tree a read model's current copy lives in; stale copies of an unfinished rebuild go.
    pub(crate) fn open_read_model(&self, name: &str) -> Result<(sled::Tree, u64), sled::Error> {
        let generation = match self.inner.generations.get(name)? {
            Some(bytes) => u64::from_be_bytes(bytes.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        let prefix = format!("read-model/{name}/");
        for stale in self.inner.db.tree_names() {
            let stale_name = String::from_utf8_lossy(&stale).into_owned();
            if stale_name.starts_with(&prefix) && stale_name != tree_name(name, generation) {
                self.inner.checkpoints.remove(&stale)?;
                self.inner.db.drop_tree(stale)?;
            }
        }
        Ok((self.inner.db.open_tree(tree_name(name, generation))?, generation))
    }

    pub(crate) fn add_read_model(&self, name: &str, model: Arc<dyn ReadModel>, tree: sled::Tree, generation: u64) -> ReadModelHandle {
        let handle = ReadModelHandle::new(name, tree.clone());
        let subscriber = ReadModelSubscriber::new(model.clone(), tree, self.inner.checkpoints.clone());
        let slot = ReadModelSlot { model, handle: handle.clone(), generation };
        self.start(name, SubscriberKind::ReadModel, Box::new(subscriber), Some(slot));
        handle
    }

    pub(crate) fn add(&self, name: &str, kind: SubscriberKind, subscriber: Box<dyn Subscriber>) {
        self.start(name, kind, subscriber, None);
    }

    fn start(&self, name: &str, kind: SubscriberKind, subscriber: Box<dyn Subscriber>, read_model: Option<ReadModelSlot>) {
        let (progress, stop, control) = self.spawn(name, subscriber, ProjectorState::CatchingUp, None);
        let entry = SubscriberEntry { kind, progress, stop, control, rebuilding: None, read_model };
        self.inner.entries.lock().insert(name.to_owned(), entry);
    }

    fn spawn(
        &self,
        name: &str,
        subscriber: Box<dyn Subscriber>,
        catching_up_as: ProjectorState,
        on_live: Option<oneshot::Sender<()>>,
    ) -> (watch::Receiver<Progress>, watch::Sender<bool>, mpsc::Sender<Control>) {
        let (progress_tx, progress_rx) = watch::channel(Progress { position: 0, state: catching_up_as });
        let (stop_tx, stop_rx) = watch::channel(false);
        let (control_tx, control_rx) = mpsc::channel(16);
        let setup = DriverSetup {
            name: name.to_owned(),
            store: self.inner.store.clone(),
            progress: progress_tx,
            stop: stop_rx,
            retry: self.inner.retry.clone(),
            parked: self.inner.parked.clone(),
            catching_up_as,
            on_live,
            control: control_rx,
        };
        self.spawn_task(drive(subscriber, setup));
        (progress_rx, stop_tx, control_tx)
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
    pub async fn statuses(&self) -> Result<Vec<ProjectorStatus>, StoreError> {
        let head = self.inner.store.head().await?;
        let entries = self.inner.entries.lock();
        Ok(entries.iter().map(|(name, entry)| self.status_of(name, entry, head)).collect())
    }

    fn status_of(&self, name: &str, entry: &SubscriberEntry, head: Position) -> ProjectorStatus {
        // While rebuilding, the status describes the copy being built.
        let progress = *entry.rebuilding.as_ref().unwrap_or(&entry.progress).borrow();
        let state = if entry.rebuilding.is_some() { ProjectorState::Rebuilding } else { progress.state };
        ProjectorStatus {
            name: name.to_owned(),
            kind: entry.kind,
            position: progress.position,
            lag: head.saturating_sub(progress.position),
            state,
            parked: self.parked_count(name),
        }
    }

    /// The query handle of a read model.
    pub fn read_model(&self, name: &str) -> Option<ReadModelHandle> {
        self.inner.entries.lock().get(name)?.read_model.as_ref().map(|slot| slot.handle.clone())
    }

    pub fn names(&self) -> Vec<(String, SubscriberKind)> {
        self.inner.entries.lock().iter().map(|(name, entry)| (name.clone(), entry.kind)).collect()
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

    /// Rebuilds a read model from position 1 into a fresh tree while the current copy keeps
    /// serving; when the new copy has caught up, queries and waits switch to it atomically.
    pub async fn rebuild(&self, name: &str) -> Result<ProjectorStatus, RebuildError> {
        let (model, generation) = {
            let entries = self.inner.entries.lock();
            let entry = entries.get(name).ok_or_else(|| RebuildError::UnknownReadModel(name.to_owned()))?;
            let slot = entry.read_model.as_ref().ok_or_else(|| RebuildError::UnknownReadModel(name.to_owned()))?;
            if entry.rebuilding.is_some() {
                return Err(RebuildError::AlreadyRebuilding(name.to_owned()));
            }
            (slot.model.clone(), slot.generation + 1)
        };
        let local = |e: sled::Error| RebuildError::Local(e.to_string());
        let tree = self.inner.db.open_tree(tree_name(name, generation)).map_err(local)?;
        tree.clear().map_err(local)?;
        self.inner.checkpoints.remove(tree.name()).map_err(local)?;
        let (live_tx, live_rx) = oneshot::channel();
        let subscriber = Box::new(ReadModelSubscriber::new(model, tree.clone(), self.inner.checkpoints.clone()));
        let (progress, stop, control) = self.spawn(name, subscriber, ProjectorState::Rebuilding, Some(live_tx));
        let head = self.inner.store.head().await?;
        let status = {
            let mut entries = self.inner.entries.lock();
            let entry = entries.get_mut(name).expect("checked above");
            entry.rebuilding = Some(progress.clone());
            self.status_of(name, entry, head)
        };
        let hub = self.clone();
        let name = name.to_owned();
        let new_copy = NewCopy { generation, tree, progress, stop, control };
        self.spawn_task(async move { hub.swap_when_live(name, new_copy, live_rx).await });
        Ok(status)
    }

    async fn swap_when_live(self, name: String, new_copy: NewCopy, live: oneshot::Receiver<()>) {
        let NewCopy { generation, tree, mut progress, stop, control } = new_copy;
        if live.await.is_err() {
            tracing::error!(read_model = %name, "rebuild stopped before catching up; keeping the current copy");
            if let Some(entry) = self.inner.entries.lock().get_mut(&name) {
                entry.rebuilding = None;
            }
            return;
        }
        // Never swap to a copy behind the one serving now.
        let serving = self.inner.entries.lock().get(&name).map_or(0, |e| e.progress.borrow().position);
        let _ = progress.wait_for(|p| p.position >= serving).await;
        if let Err(error) = self.inner.generations.insert(name.as_bytes(), &generation.to_be_bytes()) {
            tracing::error!(read_model = %name, %error, "could not record the rebuilt copy");
            return;
        }
        let old_tree = {
            let mut entries = self.inner.entries.lock();
            let Some(entry) = entries.get_mut(&name) else { return };
            let slot = entry.read_model.as_mut().expect("rebuilds are only started for read models");
            slot.generation = generation;
            let old_tree = slot.handle.swap(tree);
            entry.progress = progress;
            entry.control = control;
            entry.rebuilding = None;
            let old_stop = std::mem::replace(&mut entry.stop, stop);
            old_stop.send_replace(true);
            old_tree
        };
        tracing::info!(read_model = %name, generation, "rebuilt copy is now serving");
        // Queries that picked up the old tree a moment ago may still be reading it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = self.inner.checkpoints.remove(old_tree.name());
        if let Err(error) = self.inner.db.drop_tree(old_tree.name()) {
            tracing::warn!(read_model = %name, %error, "could not drop the replaced copy");
        }
    }

    fn parked_count(&self, name: &str) -> u64 {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        self.inner.parked.scan_prefix(prefix).count() as u64
    }

    /// The events a subscriber parked, in position order.
    pub fn parked(&self, name: &str) -> Vec<ParkedEvent> {
        let mut prefix = name.as_bytes().to_vec();
        prefix.push(0);
        self.inner.parked.scan_prefix(prefix).filter_map(|entry| entry.ok()).filter_map(|(_, value)| decode_bytes(&value).ok()).collect()
    }

    /// Every parked event of every subscriber, by subscriber name.
    pub fn all_parked(&self) -> Vec<(String, ParkedEvent)> {
        let names: Vec<String> = self.inner.entries.lock().keys().cloned().collect();
        names.into_iter().flat_map(|name| self.parked(&name).into_iter().map(move |event| (name.clone(), event))).collect()
    }

    fn check_parked(&self, name: &str, position: Position) -> Result<mpsc::Sender<Control>, ParkedError> {
        let control = self.inner.entries.lock().get(name).map(|e| e.control.clone()).ok_or_else(|| ParkedError::UnknownSubscriber(name.to_owned()))?;
        let parked = self.inner.parked.contains_key(parked_key(name, position)).map_err(|e| ParkedError::Local(e.to_string()))?;
        if !parked {
            return Err(ParkedError::NotParked { subscriber: name.to_owned(), position });
        }
        Ok(control)
    }

    /// Applies a parked event again, through the running subscriber; on success it is no longer
    /// parked, on failure it stays parked with the new error.
    pub async fn retry_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        let control = self.check_parked(name, position)?;
        let (reply, answer) = oneshot::channel();
        control.send(Control::Retry { position, reply }).await.map_err(|_| ParkedError::NotRunning)?;
        answer.await.map_err(|_| ParkedError::NotRunning)?.map_err(ParkedError::FailedAgain)
    }

    /// Gives up on a parked event for good: it is no longer listed (its subscriber moved past it
    /// when it was parked).
    pub fn skip_parked(&self, name: &str, position: Position) -> Result<(), ParkedError> {
        self.check_parked(name, position)?;
        self.inner.parked.remove(parked_key(name, position)).map_err(|e| ParkedError::Local(e.to_string()))?;
        tracing::info!(subscriber = name, position, "parked event skipped");
        Ok(())
    }

    /// Tells every subscriber to stop after its current batch.
    pub fn stop_all(&self) {
        for entry in self.inner.entries.lock().values() {
            entry.stop.send_replace(true);
        }
    }
}
