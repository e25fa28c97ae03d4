//! Between rows and the runtime's types: the event columns, and integers, which PostgreSQL
//! keeps signed.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::event::{Metadata, RecordedEvent, StreamId};
use crate::store::StoreError;

/// The columns of an event, in the order [`event`] reads them.
pub(super) const EVENT_COLUMNS: &str = "position, stream_type, stream_id, version, event_id, event_type, schema_version, payload, \
     recorded_at, recorded_nanos, correlation_id, causation_id, metadata";

/// [`EVENT_COLUMNS`] of the `events` table aliased `e`.
pub(super) const E_EVENT_COLUMNS: &str = "e.position, e.stream_type, e.stream_id, e.version, e.event_id, e.event_type, \
     e.schema_version, e.payload, e.recorded_at, e.recorded_nanos, e.correlation_id, e.causation_id, e.metadata";

/// The event in the row's columns from `first` on, as [`EVENT_COLUMNS`] lists them.
pub(super) fn event(row: &Row, first: usize) -> Result<RecordedEvent, StoreError> {
    let column = |offset: usize| first + offset;
    let schema_version: i64 = row.try_get(column(6)).map_err(StoreError::backend)?;
    let Json(metadata): Json<Metadata> = row.try_get(column(12)).map_err(StoreError::backend)?;
    let micros: DateTime<Utc> = row.try_get(column(8)).map_err(StoreError::backend)?;
    let nanos: i16 = row.try_get(column(9)).map_err(StoreError::backend)?;
    Ok(RecordedEvent {
        position: unsigned(row.try_get(column(0)).map_err(StoreError::backend)?)?,
        stream: StreamId {
            aggregate_type: row.try_get(column(1)).map_err(StoreError::backend)?,
            aggregate_id: row.try_get(column(2)).map_err(StoreError::backend)?,
        },
        version: unsigned(row.try_get(column(3)).map_err(StoreError::backend)?)?,
        event_id: row.try_get(column(4)).map_err(StoreError::backend)?,
        event_type: row.try_get(column(5)).map_err(StoreError::backend)?,
        schema_version: u32::try_from(schema_version).map_err(|_| StoreError::Corrupt(format!("schema version {schema_version}")))?,
        payload: row.try_get(column(7)).map_err(StoreError::backend)?,
        recorded_at: micros + TimeDelta::nanoseconds(i64::from(nanos)),
        correlation_id: row.try_get(column(10)).map_err(StoreError::backend)?,
        causation_id: row.try_get(column(11)).map_err(StoreError::backend)?,
        metadata,
    })
}

/// A stored position, version or count, which is never negative.
pub(super) fn unsigned(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative position or version {value}")))
}

/// A position, version or limit as a query argument: those beyond `bigint` mean "no bound".
pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A limit as a query argument.
pub(super) fn limit(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Inserts events given as one array per column (see [`EventArrays`]).
pub(super) const INSERT_EVENTS: &str = "INSERT INTO events (position, stream_type, stream_id, version, event_id, event_type, \
        schema_version, payload, recorded_at, recorded_nanos, correlation_id, causation_id, metadata) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::bigint[], $5::uuid[], $6::text[], $7::bigint[], $8::bytea[], \
        $9::timestamptz[], $10::smallint[], $11::uuid[], $12::uuid[], $13::jsonb[])";

/// Events as the parameters of [`INSERT_EVENTS`]: many rows in one statement.
pub(super) struct EventArrays<'a> {
    positions: Vec<i64>,
    types: Vec<&'a str>,
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    event_ids: Vec<Uuid>,
    event_types: Vec<&'a str>,
    schema_versions: Vec<i64>,
    payloads: Vec<&'a [u8]>,
    recorded_at: Vec<DateTime<Utc>>,
    recorded_nanos: Vec<i16>,
    correlation_ids: Vec<Uuid>,
    causation_ids: Vec<Option<Uuid>>,
    metadata: Vec<Json<&'a Metadata>>,
}

impl<'a> EventArrays<'a> {
    pub(super) fn new(events: &'a [RecordedEvent]) -> Self {
        Self {
            positions: events.iter().map(|e| signed(e.position)).collect(),
            types: events.iter().map(|e| e.stream.aggregate_type.as_str()).collect(),
            ids: events.iter().map(|e| e.stream.aggregate_id).collect(),
            versions: events.iter().map(|e| signed(e.version)).collect(),
            event_ids: events.iter().map(|e| e.event_id).collect(),
            event_types: events.iter().map(|e| e.event_type.as_str()).collect(),
            schema_versions: events.iter().map(|e| i64::from(e.schema_version)).collect(),
            payloads: events.iter().map(|e| e.payload.as_slice()).collect(),
            recorded_at: events.iter().map(|e| e.recorded_at.trunc_subsecs(6)).collect(),
            recorded_nanos: events.iter().map(|e| (e.recorded_at.timestamp_subsec_nanos() % 1000) as i16).collect(),
            correlation_ids: events.iter().map(|e| e.correlation_id).collect(),
            causation_ids: events.iter().map(|e| e.causation_id).collect(),
            metadata: events.iter().map(|e| Json(&e.metadata)).collect(),
        }
    }

    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.positions,
            &self.types,
            &self.ids,
            &self.versions,
            &self.event_ids,
            &self.event_types,
            &self.schema_versions,
            &self.payloads,
            &self.recorded_at,
            &self.recorded_nanos,
            &self.correlation_ids,
            &self.causation_ids,
            &self.metadata,
        ]
    }
}
