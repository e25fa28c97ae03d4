//! Which tree holds the log, in which stored format, and the upgrade of a log written in the
//! first format.
//!
//! The first format lives in the tree `log`, the second in `log2` with its format under the key
//! `V`. An upgrade copies `log` into `log2` in batches, every event re-encoded, the position
//! keys gathered into runs (`positions.rs`) and every other key as it is; the last batch
//! carries `V`. sled makes each batch atomic, so `log2` has `V` only
//! once it is whole: until then the old log is the store, and a `log2` without `V` beside a
//! non-empty `log` is an interrupted upgrade, refused until it is discarded. Once `V` is
//! durable, the old tree is dropped (again at the next open, if a crash came first).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::format::{self, CURRENT};
use super::keys::{be_u64, event_key_parts, EVENT, FORMAT, POSITION};
use super::positions::Runs;
use crate::store::StoreError;

/// The tree of the first format.
pub(super) const FIRST_TREE: &str = "log";
/// The tree of the current format.
pub(super) const TREE: &str = "log2";
/// Keys per batch of an upgrade: each batch is atomic and bounded in memory.
const BATCH: usize = 20_000;

/// Told how far an upgrade got: events done, events in all. Called after every batch.
#[derive(Clone)]
pub struct UpgradeProgress(pub Arc<dyn Fn(u64, u64) + Send + Sync>);

impl std::fmt::Debug for UpgradeProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpgradeProgress")
    }
}

/// Why a store's log cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "an upgrade of the event log to stored format {CURRENT} was interrupted; the log in the old format is intact. \
         Discard the partial copy (`konnektid upgrade --discard-interrupted`, or `SledStore::discard_interrupted_upgrade`) \
         and open the store again to upgrade afresh"
    )]
    Interrupted,
    #[error("the event log is in stored format {found}, newer than the formats this program reads (up to {CURRENT}): use a newer binary")]
    Newer { found: u8 },
}

/// The log tree in the current format: created, found, or upgraded from the first format.
/// `synced_dir`: where the database lives, when its file is to be `fdatasync`ed.
pub(super) fn open_log(db: &sled::Db, synced_dir: Option<&Path>, progress: Option<&UpgradeProgress>) -> Result<sled::Tree, StoreError> {
    let names = db.tree_names();
    let exists = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
    let first = if exists(FIRST_TREE) { Some(db.open_tree(FIRST_TREE).map_err(StoreError::backend)?) } else { None };
    let first = first.filter(|tree| !tree.is_empty());
    if exists(TREE) {
        let log = db.open_tree(TREE).map_err(StoreError::backend)?;
        match log.get([FORMAT]).map_err(StoreError::backend)? {
            Some(found) if found.as_ref() == [CURRENT] => {
                if first.is_some() {
                    // The upgrade ended but the old tree outlived a crash.
                    db.drop_tree(FIRST_TREE).map_err(StoreError::backend)?;
                }
                return Ok(log);
            }
            Some(found) => return Err(FormatError::Newer { found: found.first().copied().unwrap_or(0) }.into()),
            None if first.is_some() => return Err(FormatError::Interrupted.into()),
            None => {}
        }
    }
    match first {
        Some(old) => upgrade(db, &old, synced_dir, progress),
        None => {
            let log = db.open_tree(TREE).map_err(StoreError::backend)?;
            log.insert([FORMAT], &[CURRENT]).map_err(StoreError::backend)?;
            if exists(FIRST_TREE) {
                db.drop_tree(FIRST_TREE).map_err(StoreError::backend)?;
            }
            Ok(log)
        }
    }
}

/// Drops the partial copy an interrupted upgrade left, if any; `true` when there was one.
pub(super) fn discard_interrupted(db: &sled::Db) -> Result<bool, StoreError> {
    let interrupted = db.tree_names().iter().any(|n| n.as_ref() == TREE.as_bytes())
        && db.open_tree(TREE).map_err(StoreError::backend)?.get([FORMAT]).map_err(StoreError::backend)?.is_none();
    if interrupted {
        db.drop_tree(TREE).map_err(StoreError::backend)?;
        db.flush().map_err(StoreError::backend)?;
    }
    Ok(interrupted)
}

fn upgrade(
    db: &sled::Db,
    old: &sled::Tree,
    synced_dir: Option<&Path>,
    progress: Option<&UpgradeProgress>,
) -> Result<sled::Tree, StoreError> {
    let total = match old.scan_prefix([POSITION]).next_back() {
        Some(entry) => be_u64(&entry.map_err(StoreError::backend)?.0[1..])?,
        None => 0,
    };
    tracing::info!(events = total, "upgrading the event log to stored format {CURRENT}");
    let log = db.open_tree(TREE).map_err(StoreError::backend)?;
    let mut batch = sled::Batch::default();
    let (mut keys, mut events) = (0, 0u64);
    let mut runs = Runs::new();
    for entry in old.iter() {
        let (key, value) = entry.map_err(StoreError::backend)?;
        if key.first() == Some(&POSITION) {
            // Position keys come in position order, after every event key (`E` < `P`).
            runs.push(be_u64(&key[1..])?, value.to_vec(), &mut batch)?;
        } else if key.first() == Some(&EVENT) {
            let (stream, version) = event_key_parts(&key)?;
            let event = format::decode_first(&value)?;
            if event.stream != stream || event.version != version {
                return Err(StoreError::Corrupt(format!(
                    "the event under {stream} v{version} says it is {} v{}",
                    event.stream, event.version
                )));
            }
            batch.insert(key, format::encode(&event)?);
            events += 1;
        } else {
            batch.insert(key, value);
        }
        keys += 1;
        if keys % BATCH == 0 {
            log.apply_batch(std::mem::take(&mut batch)).map_err(StoreError::backend)?;
            if let Some(progress) = progress {
                (progress.0)(events, total);
            }
        }
    }
    runs.finish(&mut batch);
    batch.insert(&[FORMAT][..], &[CURRENT][..]);
    log.apply_batch(batch).map_err(StoreError::backend)?;
    // The old tree goes only once the whole copy survives a power loss.
    db.flush().map_err(StoreError::backend)?;
    if let Some(dir) = synced_dir {
        File::open(dir.join("db")).and_then(|file| file.sync_data()).map_err(StoreError::backend)?;
    }
    db.drop_tree(FIRST_TREE).map_err(StoreError::backend)?;
    if let Some(progress) = progress {
        (progress.0)(events, total);
    }
    tracing::info!(events, "event log upgraded");
    Ok(log)
}
