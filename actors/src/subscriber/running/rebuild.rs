//! Rebuilding a read model into a fresh tree while the current copy serves, then swapping.
//!
//! One `rebuild` call at a time starts a copy (the entry is marked under the same lock that
//! checks it); a copy that stopped, or was told to stop (shutdown), is never swapped in but
//! dropped, with what it parked.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{parked_prefix, DriverChannels, ReadModelCopy, ReadModelSubscriber, Rebuilding, Subscribers};
use crate::store::StoreError;
use crate::subscriber::delivery::{Control, Progress};
use crate::subscriber::{SubscriberState, SubscriberStatus};

fn tree_name(read_model: &str, generation: u64) -> String {
    format!("read-model/{read_model}/{generation}")
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
    copy: ReadModelCopy,
    progress: watch::Receiver<Progress>,
    control: mpsc::Sender<Control>,
}

impl Subscribers {
    /// The tree a read model's current copy lives in; stale copies of an unfinished rebuild go,
    /// with what they parked.
    pub(crate) fn open_read_model(&self, name: &str) -> Result<(sled::Tree, u64), sled::Error> {
        let generation = match self.inner.generations.get(name)? {
            Some(bytes) => u64::from_be_bytes(bytes.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        };
        let prefix = format!("read-model/{name}/");
        for stale in self.inner.db.tree_names() {
            let stale_name = String::from_utf8_lossy(&stale).into_owned();
            let stale_generation = stale_name.strip_prefix(&prefix).and_then(|g| g.parse::<u64>().ok());
            if let Some(stale_generation) = stale_generation.filter(|g| *g != generation) {
                self.inner.checkpoints.remove(&stale)?;
                self.inner.db.drop_tree(stale)?;
                self.forget_parked(&parked_prefix(name, stale_generation))?;
            }
        }
        if generation > 0 {
            // Before copies had their own, a rebuilt copy parked under the first copy's prefix:
            // keep those listed (an operator decides), under the copy serving now.
            self.move_parked(&parked_prefix(name, 0), &parked_prefix(name, generation))?;
        }
        Ok((self.inner.db.open_tree(tree_name(name, generation))?, generation))
    }

    /// Rebuilds a read model from position 1 into a fresh tree while the current copy keeps
    /// serving; when the new copy has caught up, queries and waits switch to it atomically.
    pub async fn rebuild(&self, name: &str) -> Result<SubscriberStatus, RebuildError> {
        // Read before the check: from the check on, nothing awaits until the copy is marked.
        let head = self.inner.store.head().await?;
        let (channels, progress, stop) = DriverChannels::new(SubscriberState::Rebuilding);
        let (model, generation, status) = {
            let mut entries = self.inner.entries.lock();
            let entry = entries.get_mut(name).ok_or_else(|| RebuildError::UnknownReadModel(name.to_owned()))?;
            let slot = entry.read_model.as_ref().ok_or_else(|| RebuildError::UnknownReadModel(name.to_owned()))?;
            if entry.rebuilding.is_some() {
                return Err(RebuildError::AlreadyRebuilding(name.to_owned()));
            }
            let (model, generation) = (slot.model.clone(), slot.generation + 1);
            entry.rebuilding = Some(Rebuilding { progress: progress.clone(), stop });
            // The status now: the copy may be swapped in before this call returns.
            (model, generation, self.status_of(name, entry, head))
        };
        let prepared = self.prepare_copy(name, generation);
        let tree = match prepared {
            Ok(tree) => tree,
            Err(error) => {
                self.abandon(name, generation, None).await;
                return Err(RebuildError::Local(error.to_string()));
            }
        };
        let (live_tx, live_rx) = oneshot::channel();
        // The copy being built advances the version too: harmless, and it keeps one rule.
        let copy = ReadModelCopy::new(tree);
        let subscriber = Box::new(ReadModelSubscriber::new(model, copy.clone(), self.inner.checkpoints.clone(), self.read_version()));
        let control = self.spawn(name, generation, subscriber, channels, SubscriberState::Rebuilding, Some(live_tx));
        let hub = self.clone();
        let new_copy = NewCopy { generation, copy, progress, control };
        let owned_name = name.to_owned();
        self.spawn_task(async move { hub.swap_when_live(owned_name, new_copy, live_rx).await });
        Ok(status)
    }

    /// An empty tree for the copy, with nothing left from an earlier attempt.
    fn prepare_copy(&self, name: &str, generation: u64) -> Result<sled::Tree, sled::Error> {
        let tree = self.inner.db.open_tree(tree_name(name, generation))?;
        tree.clear()?;
        self.inner.checkpoints.remove(tree.name())?;
        self.forget_parked(&parked_prefix(name, generation))?;
        Ok(tree)
    }

    async fn swap_when_live(self, name: String, new_copy: NewCopy, live: oneshot::Receiver<()>) {
        let NewCopy { generation, copy, mut progress, control } = new_copy;
        if live.await.is_err() {
            tracing::error!(read_model = %name, "rebuild stopped before catching up; keeping the current copy");
            return self.abandon(&name, generation, Some(progress)).await;
        }
        // Never swap to a copy behind the one serving now, nor to one that stopped meanwhile.
        let serving = self.inner.entries.lock().get(&name).map_or(0, |e| e.progress.borrow().position);
        let caught_up = progress
            .wait_for(|p| p.state == SubscriberState::Stopped || p.position >= serving)
            .await
            .is_ok_and(|p| p.state != SubscriberState::Stopped);
        if !caught_up {
            tracing::error!(read_model = %name, "rebuild stopped before the swap; keeping the current copy");
            return self.abandon(&name, generation, Some(progress)).await;
        }
        let swapped = self.swap(&name, generation, copy, progress.clone(), control);
        let old_tree = match swapped {
            Some(old_copy) => old_copy.tree().clone(),
            None => return self.abandon(&name, generation, Some(progress)).await,
        };
        self.inner.read_version.advance();
        tracing::info!(read_model = %name, generation, "rebuilt copy is now serving");
        // What the old copy parked, the new one applied (or parked itself): never retry it.
        if let Err(error) = self.forget_parked(&parked_prefix(&name, generation - 1)) {
            tracing::warn!(read_model = %name, %error, "could not forget what the replaced copy parked");
        }
        // Queries that picked up the old tree a moment ago may still be reading it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = self.inner.checkpoints.remove(old_tree.name());
        if let Err(error) = self.inner.db.drop_tree(old_tree.name()) {
            tracing::warn!(read_model = %name, %error, "could not drop the replaced copy");
        }
    }

    /// Puts the copy in place of the serving one, unless it stopped or was told to stop;
    /// answers the replaced tree.
    fn swap(
        &self,
        name: &str,
        generation: u64,
        new_copy: ReadModelCopy,
        progress: watch::Receiver<Progress>,
        control: mpsc::Sender<Control>,
    ) -> Option<ReadModelCopy> {
        let mut entries = self.inner.entries.lock();
        let entry = entries.get_mut(name)?;
        let stopped = progress.borrow().state == SubscriberState::Stopped;
        let told_to_stop = entry.rebuilding.as_ref().is_none_or(|copy| *copy.stop.borrow());
        if stopped || told_to_stop {
            tracing::info!(read_model = %name, "rebuild stopped before the swap; keeping the current copy");
            return None;
        }
        if let Err(error) = self.inner.generations.insert(name.as_bytes(), &generation.to_be_bytes()) {
            tracing::error!(read_model = %name, %error, "could not record the rebuilt copy");
            return None;
        }
        let copy = entry.rebuilding.take()?;
        let slot = entry.read_model.as_mut()?;
        slot.generation = generation;
        let old_copy = slot.handle.swap(new_copy);
        entry.progress = progress;
        entry.control = control;
        let old_stop = std::mem::replace(&mut entry.stop, copy.stop);
        old_stop.send_replace(true);
        Some(old_copy)
    }

    /// Stops a copy that will not be swapped in, clears the rebuild mark, and once the copy's
    /// driver has ended drops its tree and what it parked.
    async fn abandon(&self, name: &str, generation: u64, progress: Option<watch::Receiver<Progress>>) {
        if let Some(copy) = self.inner.entries.lock().get_mut(name).and_then(|entry| entry.rebuilding.take()) {
            copy.stop.send_replace(true);
        }
        if let Some(mut progress) = progress {
            // Ends when the driver publishes `Stopped` or is gone.
            let _ = progress.wait_for(|p| p.state == SubscriberState::Stopped).await;
        }
        let tree = tree_name(name, generation);
        let dropped = self
            .inner
            .checkpoints
            .remove(tree.as_bytes())
            .and_then(|_| self.inner.db.drop_tree(tree.as_bytes()))
            .and_then(|_| self.forget_parked(&parked_prefix(name, generation)));
        if let Err(error) = dropped {
            tracing::warn!(read_model = %name, %error, "could not drop an abandoned copy");
        }
    }
}
