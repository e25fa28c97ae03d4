//! A store that could not make a write durable stops taking writes until it is reopened.
//!
//! After a failed `fsync` Linux may already have dropped the dirty pages it could not write and
//! marked them clean, so a later `fsync` that succeeds proves nothing about them. The only honest
//! answer is to refuse every later write and let the process reopen the store, which recovers
//! whatever is really on disk.

use std::sync::Arc;

/// The step of a durable write that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStep {
    /// Writing the batch into the database.
    Write,
    /// The database's own flush of its log.
    Flush,
    /// The `fsync` of a large value's separate file, or of the directory naming it.
    BlobSync,
    /// The `fdatasync` of the database file.
    Fsync,
}

impl std::fmt::Display for SyncStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncStep::Write => "write",
            SyncStep::Flush => "flush",
            SyncStep::BlobSync => "blob fsync",
            SyncStep::Fsync => "fdatasync",
        })
    }
}

/// Why a store refuses writes: the first durable write that failed, kept until the store is
/// reopened (see the module docs for why a retry cannot be trusted).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the event store takes no more writes since its {step} failed ({cause}); restart the process to reopen it")]
pub struct Poisoned {
    pub step: SyncStep,
    #[source]
    pub cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl Poisoned {
    pub fn new(step: SyncStep, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { step, cause: Arc::new(cause) }
    }
}
