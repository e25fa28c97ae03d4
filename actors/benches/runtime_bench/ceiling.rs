//! The raw ceiling: records written straight to a fresh sled tree, each batch made durable the
//! way the store does it (`db.flush()`, then `fdatasync` of the database file).

use std::fs::File;
use std::time::Instant;

use actors::SledStoreConfig;
use uuid::Uuid;

use crate::Options;

/// Which keys one record writes, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape<'a> {
    /// The event only, every record in one stream.
    EventOnly,
    /// What the store writes, every record in one stream: per event the event and its command
    /// record (a fresh time-ordered id, as `CommandContext::new_request` gives), per batch one
    /// run of the position index holding the batch's event keys.
    StoreKeys,
    /// The keys the store writes for W1's clients, each appending to its own streams in turn
    /// (client `k` owns `streams[k]`, `streams[k + clients]`, ...), one append per client in
    /// each batch: the same keys as `StoreKeys`, plus a stream's type-index entry on its first
    /// append, spread over the streams as the store alone spreads them.
    ClientStreams { streams: &'a [Uuid], clients: usize },
}

impl Shape<'_> {
    /// The stream and version of each record, in the order they are written.
    fn records(self, count: usize, batch: usize) -> Vec<(Uuid, u64)> {
        let Shape::ClientStreams { streams, clients } = self else {
            let stream = Uuid::new_v4();
            return (0..count as u64).map(|n| (stream, n + 1)).collect();
        };
        assert_eq!(batch, clients, "one append per client in each batch");
        let rounds = count / streams.len();
        let appends = |client: usize| -> Vec<(Uuid, u64)> {
            let mine: Vec<Uuid> = streams.iter().skip(client).step_by(clients).copied().collect();
            (1..=rounds as u64).flat_map(|version| mine.iter().map(move |id| (*id, version))).collect()
        };
        let mut each: Vec<_> = (0..clients).map(|client| appends(client).into_iter()).collect();
        let mut records = Vec::with_capacity(count);
        while records.len() < count {
            let before = records.len();
            records.extend(each.iter_mut().filter_map(Iterator::next));
            assert!(records.len() > before, "count is a whole number of rounds over the streams");
        }
        records
    }
}

/// Writes `count` records of `record`'s size, `batch` per write. Returns records per second.
pub fn records_per_second(options: &Options, record: &[u8], count: usize, batch: usize, shape: Shape) -> f64 {
    let dir = options.fresh_dir("ceiling-");
    let db = sled::Config::new().path(dir.path()).cache_capacity(SledStoreConfig::default().cache_capacity).open().expect("open sled");
    let tree = db.open_tree("log").expect("open a tree");
    let sync_file = File::open(dir.path().join("db")).expect("open the database file");
    let records = shape.records(count, batch);
    let started = Instant::now();
    let mut written = 0;
    while written < count {
        let end = count.min(written + batch);
        let mut writes = sled::Batch::default();
        let mut run = Vec::new();
        for &(stream, version) in &records[written..end] {
            let mut event_key = b"E\x07account".to_vec();
            event_key.extend_from_slice(stream.as_bytes());
            event_key.extend_from_slice(&version.to_be_bytes());
            if shape != Shape::EventOnly {
                run.extend_from_slice(&(event_key.len() as u16).to_be_bytes());
                run.extend_from_slice(&event_key);
                let mut command_key = b"C".to_vec();
                command_key.extend_from_slice(Uuid::now_v7().as_bytes());
                writes.insert(command_key, &[0u8; 12][..]);
            }
            if matches!(shape, Shape::ClientStreams { .. }) && version == 1 {
                let mut type_key = b"T\x07account".to_vec();
                type_key.extend_from_slice(stream.as_bytes());
                writes.insert(type_key, &[][..]);
            }
            writes.insert(event_key, record);
        }
        if shape != Shape::EventOnly {
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
