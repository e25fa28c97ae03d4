//! Reads of the log and of snapshots. Every committed event is durable here (commits are
//! synchronous) and, since appends commit in position order, visible in that order: a read that
//! sees position N sees everything below it.

use uuid::Uuid;

use super::io::Db;
use super::rows::{event, limit, signed, unsigned, EVENT_COLUMNS, E_EVENT_COLUMNS};
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::{Snapshot, StoreError};

fn events(rows: &[tokio_postgres::Row]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter().map(|row| event(row, 0)).collect()
}

/// The log from a position on, at most a number of events.
pub(super) fn read_all_sql() -> String {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE position >= $1 ORDER BY position LIMIT $2")
}

/// [`read_all_sql`] on a connection of its own (the listener's).
pub(super) async fn read_all_on(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    from: Position,
    count: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    events(&client.query(statement, &[&signed(from), &limit(count)]).await.map_err(StoreError::backend)?)
}

impl Db {
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(StoreError::backend)?;
        client.query(&statement, params).await.map_err(StoreError::backend)
    }

    pub(super) async fn read_stream(&self, stream: &StreamId, from: Version, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream_type = $1 AND stream_id = $2 AND version >= $3 ORDER BY version LIMIT $4"
        );
        let rows = self.query(&sql, &[&stream.aggregate_type, &stream.aggregate_id, &signed(from), &limit(count)]).await?;
        events(&rows)
    }

    pub(super) async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE stream_type = $1 AND stream_id = $2 ORDER BY version DESC LIMIT $3");
        let rows = self.query(&sql, &[&stream.aggregate_type, &stream.aggregate_id, &limit(count)]).await?;
        let mut events = events(&rows)?;
        events.reverse();
        Ok(events)
    }

    pub(super) async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let sql = "SELECT coalesce(max(version), 0) FROM events WHERE stream_type = $1 AND stream_id = $2";
        let rows = self.query(sql, &[&stream.aggregate_type, &stream.aggregate_id]).await?;
        let version = rows.first().map(|row| row.try_get(0)).transpose().map_err(StoreError::backend)?;
        unsigned(version.unwrap_or(0))
    }

    pub(super) async fn read_all(
        &self,
        from: Position,
        count: usize,
        types: Option<Vec<String>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = match types {
            None => self.query(&read_all_sql(), &[&signed(from), &limit(count)]).await?,
            Some(types) => {
                let sql =
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE position >= $1 AND event_type = ANY($3) ORDER BY position LIMIT $2");
                self.query(&sql, &[&signed(from), &limit(count), &types]).await?
            }
        };
        events(&rows)
    }

    pub(super) async fn head(&self) -> Result<Position, StoreError> {
        let rows = self.query("SELECT position FROM head", &[]).await?;
        let row = rows.first().ok_or_else(|| StoreError::Corrupt("the head row is missing".into()))?;
        unsigned(row.try_get(0).map_err(StoreError::backend)?)
    }

    pub(super) async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let sql = format!(
            "SELECT {E_EVENT_COLUMNS} FROM commands c JOIN events e \
             ON e.position >= c.first_position AND e.position < c.first_position + c.event_count \
             WHERE c.command_id = $1 ORDER BY e.position"
        );
        let rows = self.query(&sql, &[&command_id]).await?;
        // Only appends that wrote events record their command, so no rows means no command.
        Ok(if rows.is_empty() { None } else { Some(events(&rows)?) })
    }

    pub(super) async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, count: usize) -> Result<Vec<Uuid>, StoreError> {
        // PostgreSQL orders uuids bytewise, as `Uuid` does.
        let rows = match after {
            Some(after) => {
                let sql = "SELECT stream_id FROM streams WHERE stream_type = $1 AND stream_id > $2 ORDER BY stream_id LIMIT $3";
                self.query(sql, &[&aggregate_type, &after, &limit(count)]).await?
            }
            None => {
                let sql = "SELECT stream_id FROM streams WHERE stream_type = $1 ORDER BY stream_id LIMIT $2";
                self.query(sql, &[&aggregate_type, &limit(count)]).await?
            }
        };
        rows.iter().map(|row| row.try_get(0).map_err(StoreError::backend)).collect()
    }

    pub(super) async fn save_snapshot(&self, stream: &StreamId, snapshot: &Snapshot) -> Result<(), StoreError> {
        let sql = "INSERT INTO snapshots (stream_type, stream_id, version, state) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (stream_type, stream_id) DO UPDATE SET version = excluded.version, state = excluded.state";
        self.query(sql, &[&stream.aggregate_type, &stream.aggregate_id, &signed(snapshot.version), &snapshot.state]).await?;
        Ok(())
    }

    pub(super) async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let sql = "SELECT version, state FROM snapshots WHERE stream_type = $1 AND stream_id = $2";
        let rows = self.query(sql, &[&stream.aggregate_type, &stream.aggregate_id]).await?;
        let Some(row) = rows.first() else { return Ok(None) };
        Ok(Some(Snapshot {
            version: unsigned(row.try_get(0).map_err(StoreError::backend)?)?,
            state: row.try_get(1).map_err(StoreError::backend)?,
        }))
    }
}
