//! The raw ceiling: records written straight to a fresh sled tree, each batch made durable the
//! way the store does it (`db.flush()`, then `fdatasync` of the database file).

use std::fs::File;
use std::time::Instant;

use actors::SledStoreConfig;
use uuid::Uuid;

use crate::Options;

/// Which keys one record writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The event only.
    EventOnly,
    /// What the store writes: per event the event and its command record (a fresh
    /// time-ordered id, as `CommandContext::new_request` gives), per batch one run of the
    /// position index holding the batch's event keys.
    StoreKeys,
}

/// Writes `count` records of `record`'s size, `batch` per write. Returns records per second.
pub fn records_per_second(options: &Options, record: &[u8], count: usize, batch: usize, shape: Shape) -> f64 {
    let dir = options.fresh_dir("ceiling-");
    let db = sled::Config::new().path(dir.path()).cache_capacity(SledStoreConfig::default().cache_capacity).open().expect("open sled");
    let tree = db.open_tree("log").expect("open a tree");
    let sync_file = File::open(dir.path().join("db")).expect("open the database file");
    let stream = Uuid::new_v4();
    let started = Instant::now();
    let mut written = 0;
    while written < count {
        let end = count.min(written + batch);
        let mut writes = sled::Batch::default();
        let mut run = Vec::new();
        for n in written..end {
            let mut event_key = b"E\x07account".to_vec();
            event_key.extend_from_slice(stream.as_bytes());
            event_key.extend_from_slice(&(n as u64).to_be_bytes());
            if shape == Shape::StoreKeys {
                run.extend_from_slice(&(event_key.len() as u16).to_be_bytes());
                run.extend_from_slice(&event_key);
                let mut command_key = b"C".to_vec();
                command_key.extend_from_slice(Uuid::now_v7().as_bytes());
                writes.insert(command_key, &[0u8; 12][..]);
            }
            writes.insert(event_key, record);
        }
        if shape == Shape::StoreKeys {
            let mut run_key = b"G".to_vec();
            run_key.extend_from_slice(&(written as u64).to_be_bytes());
            writes.insert(run_key, run);
        }
        written = end;
        tree.apply_batch(writes).expect("write a batch");
        db.flush().expect("flush");
        sync_file.sync_data().expect("fdatasync");
    }
    count as f64 / started.elapsed().as_secs_f64()
}
