//! The single writer thread: takes every append waiting, checks each against its stream's
//! version, writes them in one batch, flushes once, then answers them all (group commit).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use super::durability::Durability;
use super::format;
use super::keys::{command_key, committed_events, event_key, stored_version, type_prefix};
use super::positions;
use super::{AppendRequest, Request};
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::{Appended, CommittedBatch, Conflict, StoreError};

/// The single writer: owns the next position and the cache of stream versions.
pub(super) struct Writer {
    pub(super) durability: Durability,
    pub(super) log: sled::Tree,
    pub(super) bus: broadcast::Sender<CommittedBatch>,
    /// Moved after every successful flush, before the events are published (see `SledStore`).
    pub(super) durable: Arc<AtomicU64>,
    pub(super) next_position: Position,
    pub(super) versions: lru::LruCache<StreamId, Version>,
    pub(super) max_batch: usize,
    /// The longest a group waits for the callers the last group answered.
    pub(super) gather_wait: Duration,
    /// How long the last group's write and flush took.
    pub(super) last_write: Duration,
}

type Flush = oneshot::Sender<Result<(), StoreError>>;

type Reply = (oneshot::Sender<Result<Result<Appended, Conflict>, StoreError>>, Result<Appended, Conflict>);

impl Writer {
    pub(super) fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let mut group = Vec::with_capacity(self.max_batch);
        let mut flushes = Vec::new();
        // How many appends the last group answered: about as many callers are coming back.
        let mut answered = 0;
        while let Some(first) = queue.blocking_recv() {
            self.gather(first, &mut queue, &mut group, &mut flushes);
            self.wait_for_more(answered, &mut queue, &mut group, &mut flushes);
            if !group.is_empty() {
                answered = group.len();
            }
            let flushed = if group.is_empty() { None } else { self.commit_group(&mut group) };
            if !flushes.is_empty() {
                // The group's flush came after every request taken with it, so it covers them.
                let outcome = flushed.unwrap_or_else(|| self.durability.sync());
                for reply in flushes.drain(..) {
                    let _ = reply.send(outcome.clone());
                }
            }
        }
        tracing::debug!("event store writer stopped");
    }

    /// Takes `first` and every request waiting after it, up to `max_batch` appends.
    pub(super) fn gather(
        &mut self,
        first: Request,
        queue: &mut mpsc::Receiver<Request>,
        group: &mut Vec<AppendRequest>,
        flushes: &mut Vec<Flush>,
    ) {
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append(append) => group.push(append),
                Request::Import(import) => {
                    // Appends queued before the import commit before it, as they came.
                    if !group.is_empty() {
                        self.commit_group(group);
                    }
                    self.import(import);
                }
                Request::Flush(reply) => flushes.push(reply),
            }
            if group.len() < self.max_batch {
                next = queue.try_recv().ok();
            }
        }
    }

    /// Waits until about as many appends as the last group answered are gathered: the callers
    /// just answered come back within moments, and a group written at once would leave them for
    /// a flush of their own. Waits at most `gather_wait`, and never longer than the last group's
    /// write took: past that, a second write costs less than the wait.
    pub(super) fn wait_for_more(
        &mut self,
        answered: usize,
        queue: &mut mpsc::Receiver<Request>,
        group: &mut Vec<AppendRequest>,
        flushes: &mut Vec<Flush>,
    ) {
        let deadline = Instant::now() + self.gather_wait.min(self.last_write);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut context = Context::from_waker(&waker);
        while !group.is_empty() && group.len() < answered.min(self.max_batch) {
            match recv_until(queue, &mut context, deadline) {
                Some(request) => self.gather(request, queue, group, flushes),
                None => return,
            }
        }
    }

    /// Decides every request of the group, writes the accepted ones in one batch, flushes once.
    /// Answers how the flush went, or `None` when nothing was written (and nothing flushed).
    /// Leaves `requests` empty, its room kept for the next group.
    pub(super) fn commit_group(&mut self, requests: &mut Vec<AppendRequest>) -> Option<Result<(), StoreError>> {
        if let Err(poisoned) = self.durability.check() {
            for request in requests.drain(..) {
                let _ = request.reply.send(Err(poisoned.clone()));
            }
            return Some(Err(poisoned));
        }
        let started = Instant::now();
        let mut batch = sled::Batch::default();
        let mut pending_versions: HashMap<StreamId, Version> = HashMap::new();
        // Where each command's events sit in `committed`, so a repeat in the same group is
        // answered without another copy kept for it.
        let mut pending_commands: HashMap<Uuid, std::ops::Range<usize>> = HashMap::new();
        let mut committed: Vec<RecordedEvent> = Vec::new();
        let mut replies: Vec<Reply> = Vec::with_capacity(requests.len());
        let mut failed: Vec<(oneshot::Sender<_>, StoreError)> = Vec::new();
        let recorded_at = Utc::now();
        let group_first = self.next_position;
        let mut group_keys: Vec<Vec<u8>> = Vec::new();

        for mut request in requests.drain(..) {
            match self.decide(&request, &mut pending_versions, &pending_commands, &committed) {
                Err(error) => failed.push((request.reply, self.durability.poison_if_io(error))),
                Ok(Decision::Answer(answer)) => replies.push((request.reply, answer)),
                Ok(Decision::Write(current)) => {
                    let events = match self.stage(&mut request, current, recorded_at, &mut batch, &mut group_keys) {
                        Ok(events) => events,
                        Err(error) => {
                            failed.push((request.reply, self.durability.poison_if_io(error)));
                            continue;
                        }
                    };
                    pending_commands.insert(request.context.command_id, committed.len()..committed.len() + events.len());
                    let version = current + events.len() as u64;
                    pending_versions.insert(request.stream, version);
                    committed.extend(events.iter().cloned());
                    replies.push((request.reply, Ok(Appended { events, version, already_committed: false })));
                }
            }
        }

        if !committed.is_empty() {
            positions::index(&mut batch, group_first, &group_keys);
            let flush_started = Instant::now();
            let written = self.durability.apply(&self.log, batch).and_then(|()| self.durability.sync());
            self.last_write = flush_started.elapsed();
            crate::metrics::group_committed(replies.len(), committed.len(), self.last_write);
            if let Err(error) = written {
                // The store is poisoned now. Every answer of the group may rest on it (a
                // duplicate's "already committed", a conflict with a version it wrote), so every
                // caller is told it failed; nothing in it is answered as committed, ever, by
                // this process.
                for (reply, _) in replies {
                    let _ = reply.send(Err(error.clone()));
                }
                for (reply, _) in failed {
                    let _ = reply.send(Err(error.clone()));
                }
                return Some(Err(error));
            }
            self.durable.store(self.next_position - 1, Ordering::Release);
            for (stream, version) in pending_versions {
                self.versions.put(stream, version);
            }
            tracing::trace!(
                events = committed.len(),
                appends = replies.len(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "group committed"
            );
        }
        let flushed = (!committed.is_empty()).then_some(Ok(()));
        // Publish before answering: a caller that waits for projections after its append
        // then never races the delivery of its own events.
        if !committed.is_empty() {
            let _ = self.bus.send(committed.into());
        }
        for (reply, answer) in replies {
            let _ = reply.send(Ok(answer));
        }
        for (reply, error) in failed {
            let _ = reply.send(Err(error));
        }
        flushed
    }

    /// Adds one append's keys to the group's batch and assigns its positions.
    fn stage(
        &mut self,
        request: &mut AppendRequest,
        current: Version,
        recorded_at: DateTime<Utc>,
        batch: &mut sled::Batch,
        group_keys: &mut Vec<Vec<u8>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events: Vec<RecordedEvent> = std::mem::take(&mut request.events)
            .into_iter()
            .zip(0u64..)
            .map(|(new, offset)| RecordedEvent {
                position: self.next_position + offset,
                stream: request.stream.clone(),
                version: current + 1 + offset,
                event_id: new.event_id,
                event_type: new.event_type,
                schema_version: new.schema_version,
                payload: new.payload,
                recorded_at,
                correlation_id: request.context.correlation_id,
                causation_id: request.context.causation_id,
                metadata: request.context.metadata.clone(),
            })
            .collect();
        // Every chunk is encoded before any goes into the batch: a refused append leaves none.
        // The group's positions are consecutive: their index is written once per group, one
        // entry per position naming the chunk that holds it.
        let chunks = format::chunks(&events)
            .map(|chunk| Ok((event_key(&request.stream, chunk[0].version), format::encode(chunk)?, chunk.len())))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (key, bytes, events) in chunks {
            group_keys.extend(std::iter::repeat_n(&key, events).cloned());
            batch.insert(key, bytes);
        }
        if current == 0 {
            let mut type_key = type_prefix(&request.stream.aggregate_type);
            type_key.extend_from_slice(request.stream.aggregate_id.as_bytes());
            batch.insert(type_key, &[][..]);
        }
        let mut record = self.next_position.to_be_bytes().to_vec();
        record.extend_from_slice(&(events.len() as u32).to_be_bytes());
        batch.insert(&command_key(request.context.command_id)[..], record);
        self.next_position += events.len() as u64;
        Ok(events)
    }

    fn decide(
        &mut self,
        request: &AppendRequest,
        pending_versions: &mut HashMap<StreamId, Version>,
        pending_commands: &HashMap<Uuid, std::ops::Range<usize>>,
        committed: &[RecordedEvent],
    ) -> Result<Decision, StoreError> {
        let current = self.current_version(&request.stream, pending_versions)?;
        if let Some(range) = pending_commands.get(&request.context.command_id) {
            // The first result's version, as for a command committed in an earlier group.
            let events = committed[range.clone()].to_vec();
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Decision::Answer(Ok(Appended { events, version, already_committed: true })));
        }
        // Every group this writer wrote is durable (a failed one poisons the store): no limit.
        if let Some(events) = committed_events(&self.log, request.context.command_id, Position::MAX)? {
            let version = events.last().map_or(current, |e| e.version);
            return Ok(Decision::Answer(Ok(Appended { events, version, already_committed: true })));
        }
        if !request.expected.matches(current) {
            return Ok(Decision::Answer(Err(Conflict { expected: request.expected, actual: current })));
        }
        if request.events.is_empty() {
            return Ok(Decision::Answer(Ok(Appended { events: Vec::new(), version: current, already_committed: false })));
        }
        Ok(Decision::Write(current))
    }

    pub(super) fn current_version(&mut self, stream: &StreamId, pending: &mut HashMap<StreamId, Version>) -> Result<Version, StoreError> {
        if let Some(version) = pending.get(stream) {
            return Ok(*version);
        }
        if let Some(version) = self.versions.get(stream) {
            return Ok(*version);
        }
        let version = stored_version(&self.log, stream)?;
        self.versions.put(stream.clone(), version);
        Ok(version)
    }
}

enum Decision {
    /// Answer without writing (conflict, replayed command, empty append).
    Answer(Result<Appended, Conflict>),
    /// Write the events after the stream's current version.
    Write(Version),
}

/// The next request, waiting at most until `deadline` (`None` once it passed or the queue
/// closed); `context` wakes this thread ([`Unpark`]). A park with a timeout rather than a tokio
/// timer: those tick in whole milliseconds, coarse next to a flush of a few dozen microseconds.
fn recv_until(queue: &mut mpsc::Receiver<Request>, context: &mut Context<'_>, deadline: Instant) -> Option<Request> {
    loop {
        if let Poll::Ready(request) = queue.poll_recv(context) {
            return request;
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// Wakes the writer's thread parked in [`recv_until`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
