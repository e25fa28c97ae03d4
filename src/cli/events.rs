//! `konnektid events`: the log as NDJSON, for reading and piping (e.g. into `jq`, or `head`,
//! whose early exit ends the command quietly).

use std::io::{ErrorKind, Write};

use actors::{EventStore, RecordedEvent, StreamId};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use super::{load_config, open_store, CliError, Common};
use crate::api::objects::event_data;
use crate::domain::aggregates::AggregateKind;

/// One event as a JSON line: the contract's `RecordedEvent` fields, payload decoded.
pub fn event_line(event: &RecordedEvent) -> serde_json::Value {
    json!({
        "position": event.position.to_string(),
        "eventId": event.event_id,
        "aggregate": AggregateKind::from_stream_type(&event.stream.aggregate_type).map_or(event.stream.aggregate_type.to_uppercase(), AggregateKind::name),
        "aggregateId": event.stream.aggregate_id,
        "version": event.version.to_string(),
        "type": event.event_type,
        "schemaVersion": event.schema_version,
        "data": event_data(event),
        "recordedAt": event.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "correlationId": event.correlation_id,
        "causationId": event.causation_id,
    })
}

fn parse_stream(stream: &str) -> Result<StreamId, CliError> {
    let (kind, id) = stream.split_once(':').ok_or_else(|| CliError::usage(format!("--stream must be TYPE:ID, not {stream:?}")))?;
    let id = Uuid::parse_str(id).map_err(|_| CliError::usage(format!("{id:?} is not a UUID")))?;
    Ok(StreamId::new(kind.to_lowercase(), id))
}

/// Whether the reader still reads: a closed pipe (`konnektid events | head`) is the reader's way
/// to say it has enough, not a failure.
fn still_read(written: std::io::Result<()>) -> Result<bool, CliError> {
    match written {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(error.into()),
    }
}

pub fn run(common: &Common, from: u64, stream: Option<&str>, follow: bool) -> Result<(), CliError> {
    let config = load_config(common)?;
    let only = stream.map(parse_stream).transpose()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    actix_web::rt::System::new().block_on(async move {
        let store: std::sync::Arc<dyn EventStore> = open_store(&config).await?.shared();
        let mut events = actors::follow(store.clone(), from.max(1)).boxed();
        let mut printed = 0u64;
        loop {
            // Without --follow, stop at the head as it was when we started.
            let next = if follow {
                events.next().await
            } else {
                let head = store.head().await.map_err(CliError::from)?;
                match tokio::time::timeout(std::time::Duration::from_millis(50), events.next()).await {
                    Ok(next) => next,
                    Err(_) if head == 0 => None,
                    Err(_) => None,
                }
            };
            let Some(event) = next else { break };
            let event = event.map_err(CliError::from)?;
            if only.as_ref().is_some_and(|stream| *stream != event.stream) {
                continue;
            }
            if !still_read(writeln!(out, "{}", event_line(&event)))? || (follow && !still_read(out.flush())?) {
                return Ok(());
            }
            printed += 1;
        }
        if printed == 0 {
            eprintln!("no events");
        }
        still_read(out.flush()).map(|_| ())
    })
}
