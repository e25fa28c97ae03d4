//! Rebuilding a read model into a fresh tree while the current copy serves, then swapping.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::{Projections, ReadModelSubscriber};
use crate::projection::driver::{Control, Progress};
use crate::projection::{ProjectorState, ProjectorStatus};
use crate::store::StoreError;

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
    tree: sled::Tree,
    progress: watch::Receiver<Progress>,
    stop: watch::Sender<bool>,
    control: mpsc::Sender<Control>,
}

impl Projections {
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
        // The copy being built advances the version too: harmless, and it keeps one rule.
        let subscriber = Box::new(ReadModelSubscriber::new(model, tree.clone(), self.inner.checkpoints.clone(), self.read_version()));
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
        self.inner.read_version.advance();
        tracing::info!(read_model = %name, generation, "rebuilt copy is now serving");
        // Queries that picked up the old tree a moment ago may still be reading it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let _ = self.inner.checkpoints.remove(old_tree.name());
        if let Err(error) = self.inner.db.drop_tree(old_tree.name()) {
            tracing::warn!(read_model = %name, %error, "could not drop the replaced copy");
        }
    }
}
