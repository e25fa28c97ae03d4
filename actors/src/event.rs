//! The records of the log: what an event looks like once stored, and what an append carries.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Global position in the log: gapless, strictly increasing, the first event is 1.
pub type Position = u64;
/// Version of an event inside its stream: the first event is 1; a stream with no events is at 0.
pub type Version = u64;

/// Free-form metadata carried by every event of one append (e.g. the acting member).
pub type Metadata = BTreeMap<String, String>;

/// One aggregate instance's stream: its type name and its id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamId {
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
}

impl StreamId {
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: Uuid) -> Self {
        Self { aggregate_type: aggregate_type.into(), aggregate_id }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.aggregate_type, self.aggregate_id)
    }
}

/// An event as the store keeps it. Never updated, never deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: StreamId,
    pub version: Version,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    /// bincode of the serde event, at `schema_version`.
    pub payload: Vec<u8>,
    pub recorded_at: DateTime<Utc>,
    pub correlation_id: Uuid,
    /// The event (or command) whose handling produced this one; `None` for direct requests.
    pub causation_id: Option<Uuid>,
    pub metadata: Metadata,
}

#[cfg(test)]
impl RecordedEvent {
    /// An event with no payload, of `event_type`, at `position` and `version` of `stream`.
    pub(crate) fn bare(stream: StreamId, position: Position, version: Version, event_type: &str) -> Self {
        RecordedEvent {
            position,
            stream,
            version,
            event_id: Uuid::new_v4(),
            event_type: event_type.into(),
            schema_version: 1,
            payload: Vec::new(),
            recorded_at: Utc::now(),
            correlation_id: Uuid::new_v4(),
            causation_id: None,
            metadata: Metadata::default(),
        }
    }
}

/// An event about to be appended, already serialized by its aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
}

/// Where a command comes from: carried onto every event it produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandContext {
    /// Makes the append idempotent: a second append with the same id returns the first result.
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub metadata: Metadata,
}

impl CommandContext {
    /// A context for a request that starts a new flow: fresh command and correlation ids.
    /// Time-ordered (UUID v7): the store indexes command ids, and ids that grow with time land
    /// next to the last one written instead of at a random place in the index.
    pub fn new_request() -> Self {
        let command_id = Uuid::now_v7();
        Self { command_id, correlation_id: command_id, causation_id: None, metadata: Metadata::new() }
    }

    /// A context for a command a reaction sends because of `event`. The command id is derived
    /// from the event id and `reaction` (plus `index` for several commands of one reaction), so a
    /// redelivered event produces the same command id and its append is not repeated.
    pub fn caused_by(event: &RecordedEvent, reaction: &str, index: u32) -> Self {
        let name = format!("{reaction}/{index}");
        Self {
            command_id: Uuid::new_v5(&event.event_id, name.as_bytes()),
            correlation_id: event.correlation_id,
            causation_id: Some(event.event_id),
            metadata: event.metadata.clone(),
        }
    }

    pub fn with_command_id(mut self, command_id: Uuid) -> Self {
        self.command_id = command_id;
        self
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

/// What the writer expects the stream's version to be before the append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check (use for streams with a single writer by construction).
    Any,
    /// The stream must be at exactly this version; `Exact(0)` means it must not exist yet.
    Exact(Version),
}

impl ExpectedVersion {
    pub fn matches(self, actual: Version) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::Exact(expected) => expected == actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_command_ids_grow_in_the_order_they_are_made() {
        let ids: Vec<Uuid> = (0..10_000).map(|_| CommandContext::new_request().command_id).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        // Their bytes too: the store's index orders keys bytewise.
        assert!(ids.windows(2).all(|pair| pair[0].as_bytes() < pair[1].as_bytes()));
    }
}
