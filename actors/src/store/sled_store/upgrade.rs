//! Which tree holds the log, in which stored format, and the upgrade of a log written in an
//! older one.
//!
//! The first format lives in the tree `log`, the second in `log2`, the third in `log3`, each
//! after the first with its format under the key `V`. An upgrade copies the old log into
//! `log3` in batches, in position order: the events gathered into chunks (`format.rs`), the
//! position index rebuilt as runs naming the chunks (`positions.rs`), the stream and command
//! keys as they are; the last batch carries `V`. sled makes each batch atomic, so `log3` has
//! `V` only once it is whole: until then the old log is the store, and a newer tree without
//! `V` beside an older log is an interrupted upgrade, refused until it is discarded. Once `V`
//! is durable, the old trees are dropped (again at the next open, if a crash came first).

use std::fs::File;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use super::format::{self, Chunker, CURRENT};
use super::keys::{be_u64, event_key, event_key_parts, EVENT, FORMAT, POSITION};
use super::positions::{self, Runs};
use crate::event::{Position, RecordedEvent};
use crate::store::StoreError;

/// The tree of the first format.
pub(super) const FIRST_TREE: &str = "log";
/// The tree of the second format.
pub(super) const SECOND_TREE: &str = "log2";
/// The tree of the current format.
pub(super) const TREE: &str = "log3";
/// Events (or other keys) per batch of an upgrade: each batch is atomic and bounded in memory.
const BATCH: u64 = 20_000;

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

/// An older log to upgrade.
enum Older {
    First(sled::Tree),
    Second(sled::Tree),
}

impl Older {
    fn tree(&self) -> &sled::Tree {
        match self {
            Older::First(tree) | Older::Second(tree) => tree,
        }
    }

    /// Its last position: the events it holds.
    fn last_position(&self) -> Result<Position, StoreError> {
        match self {
            Older::First(tree) => match tree.scan_prefix([POSITION]).next_back() {
                Some(entry) => be_u64(&entry.map_err(StoreError::backend)?.0[1..]),
                None => Ok(0),
            },
            Older::Second(tree) => positions::last_position(tree),
        }
    }
}

fn has_tree(db: &sled::Db, name: &str) -> bool {
    db.tree_names().iter().any(|n| n.as_ref() == name.as_bytes())
}

/// Drops the trees of the older formats, once the log in the current one is whole.
fn drop_older_trees(db: &sled::Db) -> Result<(), StoreError> {
    for name in [FIRST_TREE, SECOND_TREE] {
        if has_tree(db, name) {
            db.drop_tree(name).map_err(StoreError::backend)?;
        }
    }
    Ok(())
}

fn format_of(tree: &sled::Tree) -> Result<Option<u8>, StoreError> {
    Ok(tree.get([FORMAT]).map_err(StoreError::backend)?.map(|found| found.first().copied().unwrap_or(0)))
}

/// The log tree in the current format: created, found, or upgraded from an older format.
/// `synced_dir`: where the database lives, when its file is to be `fdatasync`ed.
pub(super) fn open_log(db: &sled::Db, synced_dir: Option<&Path>, progress: Option<&UpgradeProgress>) -> Result<sled::Tree, StoreError> {
    let open = |name: &str| -> Result<Option<sled::Tree>, StoreError> {
        if has_tree(db, name) {
            db.open_tree(name).map(Some).map_err(StoreError::backend)
        } else {
            Ok(None)
        }
    };
    let (first, second, current) = (open(FIRST_TREE)?, open(SECOND_TREE)?, open(TREE)?);
    let second_format = second.as_ref().map(format_of).transpose()?.flatten();
    let current_format = current.as_ref().map(format_of).transpose()?.flatten();
    // A newer program may keep its log under a newer name (`log4`, ...): never start afresh
    // beside it.
    let newer_tree =
        db.tree_names().iter().filter_map(|name| std::str::from_utf8(name.strip_prefix(b"log")?).ok()?.parse::<u8>().ok()).max();
    for found in [second_format, current_format, newer_tree].into_iter().flatten() {
        if found > CURRENT {
            return Err(FormatError::Newer { found }.into());
        }
    }
    if let (Some(log), Some(CURRENT)) = (&current, current_format) {
        // The upgrade ended but an old tree outlived a crash.
        drop_older_trees(db)?;
        return Ok(log.clone());
    }
    let first = first.filter(|tree| !tree.is_empty());
    let older = match (second, second_format, first) {
        (Some(second), Some(2), _) => Some(Older::Second(second)),
        // A second-format tree without its `V` beside a first-format log: an upgrade to the
        // second format, interrupted.
        (Some(_), None, Some(_)) => return Err(FormatError::Interrupted.into()),
        (_, _, first) => first.map(Older::First),
    };
    match older {
        Some(_) if current.is_some() => Err(FormatError::Interrupted.into()),
        Some(older) => upgrade(db, &older, synced_dir, progress),
        None => {
            let log = db.open_tree(TREE).map_err(StoreError::backend)?;
            log.insert([FORMAT], &[CURRENT]).map_err(StoreError::backend)?;
            drop_older_trees(db)?;
            Ok(log)
        }
    }
}

/// Drops the partial copy an interrupted upgrade left, if any; `true` when there was one.
pub(super) fn discard_interrupted(db: &sled::Db) -> Result<bool, StoreError> {
    let mut discarded = false;
    for name in [SECOND_TREE, TREE] {
        if has_tree(db, name) && format_of(&db.open_tree(name).map_err(StoreError::backend)?)?.is_none() {
            db.drop_tree(name).map_err(StoreError::backend)?;
            discarded = true;
        }
    }
    if discarded {
        db.flush().map_err(StoreError::backend)?;
    }
    Ok(discarded)
}

/// Hands `visit` every event of the older log, in position order.
fn each_event(older: &Older, mut visit: impl FnMut(RecordedEvent) -> Result<(), StoreError>) -> Result<(), StoreError> {
    let tree = older.tree();
    let mut read = |position: Position, event_key: &[u8]| -> Result<(), StoreError> {
        let (stream, version) = event_key_parts(event_key)?;
        let bytes = tree.get(event_key).map_err(StoreError::backend)?;
        let bytes = bytes.ok_or_else(|| StoreError::Corrupt(format!("the position index points at a missing event at {position}")))?;
        let event = match older {
            Older::First(_) => format::decode_first(&bytes)?,
            Older::Second(_) => format::decode_second(&stream, version, &bytes)?,
        };
        if event.stream != stream || event.version != version || event.position != position {
            return Err(StoreError::Corrupt(format!(
                "the event under {stream} v{version} at position {position} says it is {} v{} at {}",
                event.stream, event.version, event.position
            )));
        }
        visit(event)
    };
    match older {
        Older::First(_) => {
            for entry in tree.scan_prefix([POSITION]) {
                let (key, event_key) = entry.map_err(StoreError::backend)?;
                read(be_u64(&key[1..])?, &event_key)?;
            }
            Ok(())
        }
        Older::Second(_) => positions::scan(tree, 1, Position::MAX, |position, event_key| {
            read(position, event_key)?;
            Ok(ControlFlow::Continue(()))
        }),
    }
}

fn upgrade(db: &sled::Db, older: &Older, synced_dir: Option<&Path>, progress: Option<&UpgradeProgress>) -> Result<sled::Tree, StoreError> {
    let total = older.last_position()?;
    tracing::info!(events = total, "upgrading the event log to stored format {CURRENT}");
    let log = db.open_tree(TREE).map_err(StoreError::backend)?;
    let mut batch = sled::Batch::default();
    let mut events = 0u64;
    let mut runs = Runs::new();
    let mut chunker = Chunker::default();
    let write_chunk = |chunk: Vec<RecordedEvent>, batch: &mut sled::Batch, runs: &mut Runs| -> Result<(), StoreError> {
        let key = event_key(&chunk[0].stream, chunk[0].version);
        batch.insert(key.clone(), format::encode(&chunk)?);
        for event in &chunk {
            runs.push(event.position, key.clone(), batch)?;
        }
        Ok(())
    };
    each_event(older, |event| {
        if let Some(chunk) = chunker.push(event) {
            write_chunk(chunk, &mut batch, &mut runs)?;
        }
        events += 1;
        if events.is_multiple_of(BATCH) {
            log.apply_batch(std::mem::take(&mut batch)).map_err(StoreError::backend)?;
            if let Some(progress) = progress {
                (progress.0)(events, total);
            }
        }
        Ok(())
    })?;
    if let Some(chunk) = chunker.finish() {
        write_chunk(chunk, &mut batch, &mut runs)?;
    }
    runs.finish(&mut batch);
    // Every other key (the streams of a type, the command records) is copied as it is.
    let mut copied = 0u64;
    for entry in older.tree().iter() {
        let (key, value) = entry.map_err(StoreError::backend)?;
        if !key.first().is_some_and(|tag| [EVENT, POSITION, positions::RUN, FORMAT].contains(tag)) {
            batch.insert(key, value);
            copied += 1;
            if copied.is_multiple_of(BATCH) {
                log.apply_batch(std::mem::take(&mut batch)).map_err(StoreError::backend)?;
            }
        }
    }
    batch.insert(&[FORMAT][..], &[CURRENT][..]);
    log.apply_batch(batch).map_err(StoreError::backend)?;
    // The old trees go only once the whole copy survives a power loss.
    db.flush().map_err(StoreError::backend)?;
    if let Some(dir) = synced_dir {
        File::open(dir.join("db")).and_then(|file| file.sync_data()).map_err(StoreError::backend)?;
    }
    drop_older_trees(db)?;
    if let Some(progress) = progress {
        (progress.0)(events, total);
    }
    tracing::info!(events, "event log upgraded");
    Ok(log)
}
