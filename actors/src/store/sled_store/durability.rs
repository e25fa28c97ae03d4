//! How the writer makes its writes durable (sled's flush, the blob files, the `fdatasync`), and
//! the poison a failure of any of them leaves behind.
//!
//! sled 0.34 keeps a value, or a tree node holding several values, larger than a quarter of
//! its 512 KiB segment in a file of its own under `blobs/`, written but never synced. Every
//! durable write therefore `fsync`s the blob files it has not synced yet and the `blobs`
//! directory, before the `fdatasync` of the database file: the blobs of a group are complete
//! before it is answered (sled writes them inside `apply_batch`, on the writer's thread).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::store::{Poisoned, StoreError, SyncStep};

/// Makes one step of one durable write fail, for tests of the store under I/O faults. Durable
/// writes are counted from 0, the sync at open, then one per group commit, import, or flush
/// for [`crate::LocalFlush`] alone. `BlobSync` fails only where that write has a new blob file
/// to sync. Production code leaves it `None`; checking it costs one comparison per write.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    pub write: u64,
    pub step: SyncStep,
}

#[derive(Debug, thiserror::Error)]
#[error("fault injected by the test's fault plan")]
struct InjectedFault;

pub(super) struct Durability {
    db: sled::Db,
    /// The database file, when `fsync` is on.
    sync_file: Option<File>,
    /// The blob files already synced, when `fsync` is on.
    blobs: Option<Blobs>,
    fault: Option<FaultPlan>,
    /// The number of the durable write in progress (see [`FaultPlan`]).
    write: u64,
    poison: Arc<OnceLock<Poisoned>>,
}

struct Blobs {
    dir: PathBuf,
    synced: HashSet<OsString>,
}

impl Durability {
    /// With `dir` (a store on disk with `fsync` on), syncs the database file and the blobs too.
    pub(super) fn new(db: sled::Db, dir: Option<&Path>, fault: Option<FaultPlan>) -> Result<Self, StoreError> {
        let sync_file = dir.map(|dir| File::open(dir.join("db"))).transpose().map_err(StoreError::backend)?;
        if let Some(dir) = dir {
            // The names of the database's files, made at its creation, survive a power loss too.
            File::open(dir).and_then(|dir| dir.sync_all()).map_err(StoreError::backend)?;
        }
        let blobs = dir.map(|dir| Blobs { dir: dir.join("blobs"), synced: HashSet::new() });
        Ok(Self { db, sync_file, blobs, fault, write: 0, poison: Arc::default() })
    }

    pub(super) fn poison(&self) -> &Arc<OnceLock<Poisoned>> {
        &self.poison
    }

    /// `Err` once a durable write has failed.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        match self.poison.get() {
            Some(poisoned) => Err(poisoned.clone().into()),
            None => Ok(()),
        }
    }

    /// The writer's reads fail with an I/O error only once sled's own background flush of its
    /// log has failed (sled then answers every later operation with that error): the log can
    /// no longer be trusted, so such an error poisons the store like a failed flush of ours.
    pub(super) fn poison_if_io(&self, error: StoreError) -> StoreError {
        let io = match &error {
            StoreError::Backend(cause) => matches!(cause.downcast_ref::<sled::Error>(), Some(sled::Error::Io(_))),
            _ => false,
        };
        if !io {
            return error;
        }
        let StoreError::Backend(cause) = error else { return error };
        let poisoned = Poisoned { step: SyncStep::Flush, cause };
        self.poisoned(poisoned)
    }

    /// Writes a batch into `tree`; a durable write ends with [`Durability::sync`].
    pub(super) fn apply(&self, tree: &sled::Tree, batch: sled::Batch) -> Result<(), StoreError> {
        self.check()?;
        self.inject(SyncStep::Write)
            .and_then(|()| tree.apply_batch(batch).map_err(|e| Poisoned::new(SyncStep::Write, e)))
            .map_err(|p| self.poisoned(p))
    }

    /// Makes everything written to the database so far durable: sled's flush, the new blob
    /// files and their directory, then the database file itself.
    pub(super) fn sync(&mut self) -> Result<(), StoreError> {
        self.check()?;
        let outcome = self.sync_steps();
        self.write += 1;
        outcome.map_err(|p| self.poisoned(p))
    }

    fn sync_steps(&mut self) -> Result<(), Poisoned> {
        self.inject(SyncStep::Flush)?;
        self.db.flush().map_err(|e| Poisoned::new(SyncStep::Flush, e))?;
        let fault = self.fault.filter(|plan| plan.write == self.write && plan.step == SyncStep::BlobSync);
        if let Some(blobs) = &mut self.blobs {
            blobs.sync_new(fault.is_some()).map_err(|e| Poisoned::new(SyncStep::BlobSync, e))?;
        }
        self.inject(SyncStep::Fsync)?;
        if let Some(file) = &self.sync_file {
            file.sync_data().map_err(|e| Poisoned::new(SyncStep::Fsync, e))?;
        }
        Ok(())
    }

    fn inject(&self, step: SyncStep) -> Result<(), Poisoned> {
        match self.fault {
            Some(plan) if plan.write == self.write && plan.step == step => Err(Poisoned::new(step, InjectedFault)),
            _ => Ok(()),
        }
    }

    /// Poisons the store for a failure the writer found itself.
    pub(super) fn fail(&self, step: SyncStep, cause: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        self.poisoned(Poisoned::new(step, cause))
    }

    fn poisoned(&self, poisoned: Poisoned) -> StoreError {
        tracing::error!(error = %poisoned, "a durable write failed; the event store refuses writes until it is reopened");
        crate::metrics::store_poisoned(true);
        // The first failure stays the reason.
        StoreError::Poisoned(self.poison.get_or_init(|| poisoned).clone())
    }
}

impl Blobs {
    /// `fsync`s every blob file not synced before, then the directory if there was one. A
    /// blob sled removed meanwhile (its value was replaced) needs nothing.
    fn sync_new(&mut self, fail: bool) -> std::io::Result<()> {
        let mut listed = HashSet::with_capacity(self.synced.len());
        let mut new = false;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // sled makes the directory at open; without it there is no blob to sync.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced.contains(&name) {
                if fail {
                    return Err(std::io::Error::other(InjectedFault));
                }
                match File::open(self.dir.join(&name)) {
                    Ok(file) => file.sync_all()?,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(error) => return Err(error),
                }
                new = true;
            }
            listed.insert(name);
        }
        if new {
            File::open(&self.dir)?.sync_all()?;
        }
        self.synced = listed;
        Ok(())
    }
}
