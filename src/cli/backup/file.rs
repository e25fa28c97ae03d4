//! The backup file: NDJSON, one event per line in position order, with every field of the
//! stored event; the payload is base64 of its stored bytes and `recordedAt` keeps nanoseconds,
//! so a restore writes back exactly what was read.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use actors::{Metadata, Position, RecordedEvent, StreamId, Version};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One line of a backup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Line {
    position: Position,
    /// The stream type as stored (e.g. `course`).
    aggregate_type: String,
    aggregate_id: Uuid,
    version: Version,
    event_id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u32,
    /// Base64 of the stored payload bytes.
    payload: String,
    /// RFC 3339, to the nanosecond.
    recorded_at: String,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    metadata: Metadata,
}

/// Why a line of a backup cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("the line has no newline at its end: the file is truncated")]
    Truncated,
    #[error("the line is empty")]
    Empty,
    #[error("the line is not UTF-8")]
    NotUtf8,
    #[error("not an event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("position {found}, expected {expected}: positions must be 1, 2, 3, ... without a gap")]
    Position { expected: Position, found: Position },
    #[error("version {found} of {stream}, expected {expected}: a stream's versions must be 1, 2, 3, ... in order")]
    Version { stream: StreamId, expected: Version, found: Version },
    #[error("aggregateType must be 1 to 255 bytes long")]
    AggregateType,
    #[error("the payload is not base64: {0}")]
    Payload(#[from] base64::DecodeError),
    #[error("recordedAt is not an RFC 3339 time: {0}")]
    RecordedAt(#[from] chrono::ParseError),
}

/// Why a backup cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {problem}")]
    Invalid { line: usize, problem: Problem },
}

/// Writes `event` as one line.
pub fn write_event(out: &mut impl Write, event: &RecordedEvent) -> std::io::Result<()> {
    let line = Line {
        position: event.position,
        aggregate_type: event.stream.aggregate_type.clone(),
        aggregate_id: event.stream.aggregate_id,
        version: event.version,
        event_id: event.event_id,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        payload: BASE64.encode(&event.payload),
        recorded_at: event.recorded_at.to_rfc3339_opts(SecondsFormat::Nanos, true),
        correlation_id: event.correlation_id,
        causation_id: event.causation_id,
        metadata: event.metadata.clone(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

/// Reads a whole backup and checks it: every line is an event, positions are 1, 2, 3, ...
/// without a gap, and each stream's versions are 1, 2, 3, ... in order. `on_line` is told the
/// bytes read so far (for a progress bar).
pub fn read(mut input: impl BufRead, mut on_line: impl FnMut(u64)) -> Result<Vec<RecordedEvent>, BackupError> {
    let mut events = Vec::new();
    let mut versions: HashMap<StreamId, Version> = HashMap::new();
    let (mut buffer, mut read) = (Vec::new(), 0u64);
    loop {
        buffer.clear();
        let length = input.read_until(b'\n', &mut buffer)?;
        if length == 0 {
            return Ok(events);
        }
        read += length as u64;
        let line = events.len() + 1;
        let event = parse(&buffer, events.len() as u64 + 1, &mut versions).map_err(|problem| BackupError::Invalid { line, problem })?;
        events.push(event);
        on_line(read);
    }
}

/// One line (with its newline), which must hold the event at `position`.
fn parse(bytes: &[u8], position: Position, versions: &mut HashMap<StreamId, Version>) -> Result<RecordedEvent, Problem> {
    let bytes = bytes.strip_suffix(b"\n").ok_or(Problem::Truncated)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Problem::NotUtf8)?;
    let line: Line = serde_json::from_str(text)?;
    if line.position != position {
        return Err(Problem::Position { expected: position, found: line.position });
    }
    if line.aggregate_type.is_empty() || line.aggregate_type.len() > usize::from(u8::MAX) {
        return Err(Problem::AggregateType);
    }
    let stream = StreamId::new(line.aggregate_type, line.aggregate_id);
    let expected = versions.get(&stream).map_or(1, |version| version + 1);
    if line.version != expected {
        return Err(Problem::Version { stream, expected, found: line.version });
    }
    versions.insert(stream.clone(), line.version);
    Ok(RecordedEvent {
        position: line.position,
        stream,
        version: line.version,
        event_id: line.event_id,
        event_type: line.event_type,
        schema_version: line.schema_version,
        payload: BASE64.decode(line.payload)?,
        recorded_at: DateTime::parse_from_rfc3339(&line.recorded_at)?.with_timezone(&Utc),
        correlation_id: line.correlation_id,
        causation_id: line.causation_id,
        metadata: line.metadata,
    })
}
