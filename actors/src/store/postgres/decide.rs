//! Deciding a group of appends under the head lock, as the sled writer decides its groups: each
//! append on its own (a conflict or a repeated command id answers that append alone), later
//! appends of the group seeing the earlier ones' versions and command ids.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::writer::AppendRequest;
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::{Appended, Conflict};

/// What the database holds for a group, read once the head lock is taken.
pub(super) struct Locked {
    /// The last position handed out.
    pub head: Position,
    /// The database's clock right after the lock: every event of the group is recorded at it.
    pub now: DateTime<Utc>,
    /// The version of every stream the group appends to.
    pub versions: HashMap<StreamId, Version>,
    /// The events of every command id of the group committed before.
    pub commands: HashMap<Uuid, Vec<RecordedEvent>>,
}

/// The group's answers and what to write for them.
pub(super) struct Decided {
    /// One answer per request, in order.
    pub answers: Vec<Result<Appended, Conflict>>,
    /// Whether each answer reports events this group writes (and so stands or falls with it).
    pub fresh: Vec<bool>,
    /// The events to write, in position order.
    pub events: Vec<RecordedEvent>,
    /// Command id, first position and number of events of each append written.
    pub commands: Vec<(Uuid, Position, usize)>,
    /// Streams the group creates.
    pub new_streams: Vec<StreamId>,
}

impl Decided {
    /// The head once the group is written.
    pub(super) fn head(&self, locked: &Locked) -> Position {
        self.events.last().map_or(locked.head, |event| event.position)
    }
}

pub(super) fn decide(requests: &[AppendRequest], locked: &Locked) -> Decided {
    let mut versions = locked.versions.clone();
    let mut in_group: HashMap<Uuid, Vec<RecordedEvent>> = HashMap::new();
    let mut decided = Decided { answers: Vec::new(), fresh: Vec::new(), events: Vec::new(), commands: Vec::new(), new_streams: Vec::new() };
    for request in requests {
        let current = versions.get(&request.stream).copied().unwrap_or(0);
        let command_id = request.context.command_id;
        let (answer, fresh) = if let Some(events) = in_group.get(&command_id).or_else(|| locked.commands.get(&command_id)) {
            // The first result's version, as when the first append answered. A repeat of an
            // append of this very group holds only once the group commits.
            let version = events.last().map_or(current, |event| event.version);
            (Ok(Appended { events: events.clone(), version, already_committed: true }), in_group.contains_key(&command_id))
        } else if !request.expected.matches(current) {
            (Err(Conflict { expected: request.expected, actual: current }), false)
        } else if request.events.is_empty() {
            (Ok(Appended { events: Vec::new(), version: current, already_committed: false }), false)
        } else {
            let events = decided.stage(request, current, locked);
            versions.insert(request.stream.clone(), current + events.len() as u64);
            in_group.insert(command_id, events.clone());
            (Ok(Appended { version: current + events.len() as u64, events, already_committed: false }), true)
        };
        decided.answers.push(answer);
        decided.fresh.push(fresh);
    }
    decided
}

impl Decided {
    /// Records one accepted append's events at the next positions, after version `current`.
    fn stage(&mut self, request: &AppendRequest, current: Version, locked: &Locked) -> Vec<RecordedEvent> {
        let first = self.events.last().map_or(locked.head, |event| event.position) + 1;
        let events: Vec<RecordedEvent> = request
            .events
            .iter()
            .enumerate()
            .map(|(offset, new)| RecordedEvent {
                position: first + offset as u64,
                stream: request.stream.clone(),
                version: current + 1 + offset as u64,
                event_id: new.event_id,
                event_type: new.event_type.clone(),
                schema_version: new.schema_version,
                payload: new.payload.clone(),
                recorded_at: locked.now,
                correlation_id: request.context.correlation_id,
                causation_id: request.context.causation_id,
                metadata: request.context.metadata.clone(),
            })
            .collect();
        if current == 0 {
            self.new_streams.push(request.stream.clone());
        }
        self.commands.push((request.context.command_id, first, events.len()));
        self.events.extend(events.iter().cloned());
        events
    }
}
