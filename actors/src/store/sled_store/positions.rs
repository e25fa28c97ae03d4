//! The global log's index: from positions to event keys, one sled key per run of consecutive
//! positions written together (`G|first position` -> their `E` keys in order) instead of one
//! key per event. sled 0.34 copies a leaf per insert, so every key costs about the same; a
//! group commit of 30-60 appends writes one run instead of 30-60 position keys.

use std::ops::ControlFlow;

use super::keys::be_u64;
use crate::event::Position;
use crate::store::StoreError;

pub(super) const RUN: u8 = b'G';
/// Positions per run at most: a run's value stays far below sled's blob threshold.
const MAX_RUN: usize = 256;

fn run_key(first: Position) -> [u8; 9] {
    let mut key = [RUN; 9];
    key[1..].copy_from_slice(&first.to_be_bytes());
    key
}

/// Adds to `batch` the index of the events at positions `first`, `first + 1`, ... whose `E`
/// keys are `keys`, in that order.
pub(super) fn index<K: AsRef<[u8]>>(batch: &mut sled::Batch, first: Position, keys: &[K]) {
    for (chunk, keys) in keys.chunks(MAX_RUN).enumerate() {
        let mut value = Vec::with_capacity(keys.iter().map(|key| key.as_ref().len() + 2).sum());
        for key in keys {
            let key = key.as_ref();
            value.extend_from_slice(&u16::try_from(key.len()).expect("an event key is at most 281 bytes").to_be_bytes());
            value.extend_from_slice(key);
        }
        batch.insert(&run_key(first + (chunk * MAX_RUN) as u64)[..], value);
    }
}

/// The event keys of one run, in position order.
fn entries(value: &[u8]) -> impl Iterator<Item = Result<&[u8], StoreError>> {
    let mut rest = value;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let corrupt = || StoreError::Corrupt("bad run of the position index".into());
        let Some((length, tail)) = rest.split_first_chunk::<2>() else {
            rest = &[];
            return Some(Err(corrupt()));
        };
        let length = usize::from(u16::from_be_bytes(*length));
        if tail.len() < length {
            rest = &[];
            return Some(Err(corrupt()));
        }
        let (key, tail) = tail.split_at(length);
        rest = tail;
        Some(Ok(key))
    })
}

/// The last position indexed, durable or not (the writer's view); 0 for an empty log.
pub(super) fn last_position(log: &sled::Tree) -> Result<Position, StoreError> {
    match log.scan_prefix([RUN]).next_back() {
        Some(entry) => {
            let (key, value) = entry.map_err(StoreError::backend)?;
            let count = entries(&value).count() as u64;
            Ok((be_u64(&key[1..])? + count).saturating_sub(1))
        }
        None => Ok(0),
    }
}

/// Hands `visit` the position and event key of every position from `from` to `to` that is
/// indexed, in order, until it breaks.
pub(super) fn scan(
    log: &sled::Tree,
    from: Position,
    to: Position,
    mut visit: impl FnMut(Position, &[u8]) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    if from > to {
        return Ok(());
    }
    // The run holding `from` starts at or before it.
    let start = match log.range(run_key(0)..=run_key(from)).next_back() {
        Some(entry) => be_u64(&entry.map_err(StoreError::backend)?.0[1..])?,
        None => from,
    };
    for entry in log.range(run_key(start)..=run_key(to)) {
        let (key, value) = entry.map_err(StoreError::backend)?;
        let first = be_u64(&key[1..])?;
        for (offset, event_key) in entries(&value).enumerate() {
            let position = first + offset as u64;
            if position > to {
                return Ok(());
            }
            if position >= from && visit(position, event_key?)?.is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Turns the first format's position keys (`P|position` -> `E` key, read in position order)
/// into runs.
pub(super) struct Runs {
    first: Position,
    keys: Vec<Vec<u8>>,
}

impl Runs {
    pub(super) fn new() -> Self {
        Self { first: 1, keys: Vec::new() }
    }

    /// Adds the key of the next position; writes a full run into `batch`.
    pub(super) fn push(&mut self, position: Position, event_key: Vec<u8>, batch: &mut sled::Batch) -> Result<(), StoreError> {
        if position != self.first + self.keys.len() as u64 {
            return Err(StoreError::Corrupt(format!("the position index skips to {position}")));
        }
        self.keys.push(event_key);
        if self.keys.len() == MAX_RUN {
            self.finish(batch);
        }
        Ok(())
    }

    /// Writes what is left into `batch`.
    pub(super) fn finish(&mut self, batch: &mut sled::Batch) {
        if !self.keys.is_empty() {
            index(batch, self.first, &self.keys);
            self.first += self.keys.len() as u64;
            self.keys.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(position: Position) -> Vec<u8> {
        format!("E-{position}").into_bytes()
    }

    fn scanned(log: &sled::Tree, from: Position, to: Position) -> Vec<(Position, Vec<u8>)> {
        let mut seen = Vec::new();
        scan(log, from, to, |position, key| {
            seen.push((position, key.to_vec()));
            Ok(ControlFlow::Continue(()))
        })
        .expect("a scan");
        seen
    }

    #[test]
    fn runs_of_several_groups_read_back_as_one_gapless_index() {
        let db = sled::Config::new().temporary(true).open().expect("a database");
        let log = db.open_tree("log").expect("a tree");
        assert_eq!(last_position(&log).expect("a read"), 0);
        // A group of 600 (three runs), then a group of 5.
        for (first, count) in [(1u64, 600u64), (601, 5)] {
            let mut batch = sled::Batch::default();
            index(&mut batch, first, &(first..first + count).map(key).collect::<Vec<_>>());
            log.apply_batch(batch).expect("a write");
        }
        assert_eq!(last_position(&log).expect("a read"), 605);
        let expected = |from: Position, to: Position| (from..=to).map(|p| (p, key(p))).collect::<Vec<_>>();
        assert_eq!(scanned(&log, 1, 605), expected(1, 605));
        assert_eq!(scanned(&log, 250, 520), expected(250, 520));
        assert_eq!(scanned(&log, 600, 1_000), expected(600, 605));
        assert_eq!(scanned(&log, 606, 1_000), []);
        assert_eq!(scanned(&log, 9, 8), []);

        let mut stopped = Vec::new();
        scan(&log, 255, 605, |position, _| {
            stopped.push(position);
            Ok(if stopped.len() == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })
        .expect("a scan");
        assert_eq!(stopped, [255, 256, 257]);
    }

    #[test]
    fn first_format_positions_become_runs_and_a_gap_is_refused() {
        let mut runs = Runs::new();
        let mut batch = sled::Batch::default();
        for position in 1..=300 {
            runs.push(position, key(position), &mut batch).expect("consecutive");
        }
        runs.finish(&mut batch);
        let db = sled::Config::new().temporary(true).open().expect("a database");
        let log = db.open_tree("log").expect("a tree");
        log.apply_batch(batch).expect("a write");
        assert_eq!(last_position(&log).expect("a read"), 300);
        assert_eq!(scanned(&log, 1, 300).len(), 300);
        assert!(runs.push(302, key(302), &mut sled::Batch::default()).is_err(), "301 is missing");
    }
}
