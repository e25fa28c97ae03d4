//! Where a reaction stands: its checkpoint and its dedup records, kept in the store's
//! `reactions` records (shared by every process on the store) and written only under the
//! reaction's lease, so a process that lost the lease can no longer move them.

use std::sync::Arc;

use crate::event::{Position, RecordedEvent};
use crate::store::{EventStore, Fenced, Lease, Leases, RecordWrite, Records};
use crate::subscriber::SubscriberError;

/// The records table reactions keep their progress in (sled reserves `reactors`).
pub(crate) const TABLE: &str = "reactions";
/// The local tree earlier versions kept the same keys in; read once when the records are absent.
pub(crate) const LEGACY_TREE: &str = "reactors";

pub(crate) struct Progress {
    name: String,
    store: Arc<dyn EventStore>,
    records: Arc<dyn Records>,
    leases: Arc<dyn Leases>,
    /// The lease this process holds for the reaction now, if it does.
    lease: Option<Lease>,
    legacy: Option<sled::Tree>,
}

impl Progress {
    pub(crate) fn new(name: &str, store: Arc<dyn EventStore>, legacy: Option<sled::Tree>) -> Result<Self, SubscriberError> {
        let records = store.records(TABLE)?;
        let leases = store.leases()?;
        Ok(Self { name: name.to_owned(), store, records, leases, lease: None, legacy })
    }

    pub(crate) fn leases(&self) -> &Arc<dyn Leases> {
        &self.leases
    }

    /// The lease writes are fenced with from now on (`None`: this process no longer holds it).
    pub(crate) fn hold(&mut self, lease: Option<Lease>) {
        self.lease = lease;
    }

    fn checkpoint_key(&self) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        key.extend_from_slice(b"\0c");
        key
    }

    pub(crate) fn done_key(&self, event: &RecordedEvent) -> Vec<u8> {
        let mut key = self.name.as_bytes().to_vec();
        key.extend_from_slice(b"\0d");
        key.extend_from_slice(event.event_id.as_bytes());
        key
    }

    fn legacy_checkpoint(&self) -> Result<Option<Position>, SubscriberError> {
        let Some(legacy) = &self.legacy else { return Ok(None) };
        Ok(match legacy.get(self.checkpoint_key())? {
            Some(_) => Some(crate::subscriber::read_position(legacy, &self.checkpoint_key())?),
            None => None,
        })
    }

    /// The checkpoint as recorded, by whichever process wrote it last (`None`: never written).
    pub(crate) async fn recorded(&self) -> Result<Option<Position>, SubscriberError> {
        match self.records.get(&self.checkpoint_key()).await? {
            Some(bytes) => Ok(Some(position_of(&bytes)?)),
            None => self.legacy_checkpoint(),
        }
    }

    /// The checkpoint to run from, under the lease. A checkpoint only the legacy tree holds is
    /// moved into the records first, with the dedup records of the events that may follow it
    /// (a batch is at most one page of the log, so none lies further).
    pub(crate) async fn checkpoint(&self) -> Result<Position, SubscriberError> {
        if let Some(bytes) = self.records.get(&self.checkpoint_key()).await? {
            return position_of(&bytes);
        }
        let (Some(legacy), Some(position)) = (&self.legacy, self.legacy_checkpoint()?) else { return Ok(0) };
        let next = self.store.read_all(position + 1, crate::subscriber::delivery::CATCH_UP_PAGE, None).await?;
        let mut done = Vec::new();
        for event in &next {
            let key = self.done_key(event);
            if legacy.contains_key(&key)? {
                done.push(key);
            }
        }
        tracing::info!(subscriber = %self.name, position, done = done.len(), "moved the checkpoint from the local tree into the store");
        self.write(done, Some(position)).await?;
        Ok(position)
    }

    /// Which of `keys` (dedup records) are there.
    pub(crate) async fn done(&self, keys: &[Vec<u8>]) -> Result<Vec<bool>, SubscriberError> {
        Ok(self.records.contains_each(keys).await?)
    }

    /// Writes `done` records and the checkpoint, in one durable write fenced by the lease.
    pub(crate) async fn write(&self, done: Vec<Vec<u8>>, checkpoint: Option<Position>) -> Result<(), SubscriberError> {
        let Some(lease) = &self.lease else {
            return Err(SubscriberError::Fenced(Fenced { name: self.name.clone(), epoch: 0, current: 0 }));
        };
        let mut writes: Vec<RecordWrite> = done.into_iter().map(|key| RecordWrite::put(TABLE, key, Vec::new())).collect();
        if let Some(position) = checkpoint {
            writes.push(RecordWrite::put(TABLE, self.checkpoint_key(), position.to_be_bytes().to_vec()));
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.leases.write_fenced(lease, &writes).await?.map_err(SubscriberError::Fenced)
    }
}

fn position_of(bytes: &[u8]) -> Result<Position, SubscriberError> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| SubscriberError::CorruptCheckpoint)?))
}
