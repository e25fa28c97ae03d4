//! The two halves of a group's transaction, each sent as one pipeline (one round trip): open it
//! (take the head lock, read what deciding needs) and close it (write what was decided, move the
//! head, notify, commit).

use std::collections::HashMap;
use std::sync::LazyLock;

use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use super::decide::{Decided, Locked};
use super::io::prepare;
use super::rows::{event, limit, signed, unsigned, EventArrays, EVENT_COLUMNS, E_EVENT_COLUMNS, INSERT_EVENTS};
use super::writer::AppendRequest;
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::StoreError;

/// Events of other nodes read along with the lock, to publish before the group's own.
const HOLE_PAGE: usize = 1_000;

static COMMANDS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.command_id, {E_EVENT_COLUMNS} FROM commands c JOIN events e \
         ON e.position >= c.first_position AND e.position < c.first_position + c.event_count \
         WHERE c.command_id = ANY($1) ORDER BY e.position"
    )
});

static HOLE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2"));

/// Every statement of a group, prepared on its connection before any is sent: a statement
/// prepared in the middle of a pipeline would let later ones overtake it.
pub(super) struct Statements {
    /// Taken first by every transaction that hands out positions; held until it commits.
    pub lock: Statement,
    clock: Statement,
    /// The version of each stream named (`$1` types, `$2` ids).
    pub versions: Statement,
    commands: Statement,
    hole: Statement,
    pub insert_events: Statement,
    insert_commands: Statement,
    pub insert_streams: Statement,
    pub move_head: Statement,
    pub notify: Statement,
}

impl Statements {
    pub(super) async fn prepare(client: &Object) -> Result<Self, StoreError> {
        let sql = [
            "SELECT position FROM head FOR UPDATE",
            "SELECT clock_timestamp()",
            "SELECT s.stream_type, s.stream_id, \
                coalesce((SELECT max(e.version) FROM events e WHERE e.stream_type = s.stream_type AND e.stream_id = s.stream_id), 0) \
             FROM unnest($1::text[], $2::uuid[]) AS s (stream_type, stream_id)",
            COMMANDS.as_str(),
            HOLE.as_str(),
            INSERT_EVENTS,
            "INSERT INTO commands (command_id, first_position, event_count) SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::integer[])",
            "INSERT INTO streams (stream_type, stream_id) SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING",
            "UPDATE head SET position = $1",
            "SELECT pg_notify($1, $2)",
        ];
        let [lock, clock, versions, commands, hole, insert_events, insert_commands, insert_streams, move_head, notify] =
            prepare(client, sql).await?;
        Ok(Self { lock, clock, versions, commands, hole, insert_events, insert_commands, insert_streams, move_head, notify })
    }
}

/// The rows of [`Statements::versions`], by stream.
pub(super) fn stream_versions(rows: &[Row]) -> Result<HashMap<StreamId, Version>, StoreError> {
    let mut versions = HashMap::new();
    for row in rows {
        let stream = StreamId {
            aggregate_type: row.try_get(0).map_err(StoreError::backend)?,
            aggregate_id: row.try_get(1).map_err(StoreError::backend)?,
        };
        versions.insert(stream, unsigned(row.try_get(2).map_err(StoreError::backend)?)?);
    }
    Ok(versions)
}

/// Opens the group's transaction, takes the head lock, and reads what deciding needs: the
/// streams' versions and the command ids' first results, plus the events committed past
/// `published` (by other nodes), which must go out before the group's own.
pub(super) async fn open(
    client: &Object,
    statements: &Statements,
    requests: &[AppendRequest],
    published: Position,
) -> Result<(Locked, Vec<RecordedEvent>), StoreError> {
    let mut streams: Vec<&StreamId> = requests.iter().map(|r| &r.stream).collect();
    streams.sort_unstable();
    streams.dedup();
    let types: Vec<&str> = streams.iter().map(|s| s.aggregate_type.as_str()).collect();
    let ids: Vec<Uuid> = streams.iter().map(|s| s.aggregate_id).collect();
    let command_ids: Vec<Uuid> = requests.iter().map(|r| r.context.command_id).collect();
    let (published, page) = (signed(published), limit(HOLE_PAGE));
    let (version_params, command_params, hole_params) =
        ([&types as &(dyn ToSql + Sync), &ids], [&command_ids as &(dyn ToSql + Sync)], [&published as &(dyn ToSql + Sync), &page]);
    let (begun, head, now, versions, commands, hole) = tokio::join!(
        client.batch_execute("BEGIN"),
        client.query_one(&statements.lock, &[]),
        client.query_one(&statements.clock, &[]),
        client.query(&statements.versions, &version_params),
        client.query(&statements.commands, &command_params),
        client.query(&statements.hole, &hole_params),
    );
    begun.map_err(StoreError::backend)?;
    let head = unsigned(head.and_then(|row| row.try_get(0)).map_err(StoreError::backend)?)?;
    let now = now.and_then(|row| row.try_get(0)).map_err(StoreError::backend)?;
    let versions = stream_versions(&versions.map_err(StoreError::backend)?)?;
    let mut committed: HashMap<Uuid, Vec<RecordedEvent>> = HashMap::new();
    for row in commands.map_err(StoreError::backend)? {
        let command_id: Uuid = row.try_get(0).map_err(StoreError::backend)?;
        committed.entry(command_id).or_default().push(event(&row, 1)?);
    }
    let hole = hole.map_err(StoreError::backend)?.iter().map(|row| event(row, 0)).collect::<Result<Vec<_>, _>>()?;
    Ok((Locked { head, now, versions, commands: committed }, hole))
}

/// Writes what was decided, moves the head, notifies the other nodes and commits; or, when
/// nothing is to be written, ends the transaction.
pub(super) async fn close(
    client: &Object,
    statements: &Statements,
    decided: &Decided,
    locked: &Locked,
    channel: &str,
) -> Result<(), StoreError> {
    if decided.events.is_empty() {
        return client.batch_execute("ROLLBACK").await.map_err(StoreError::backend);
    }
    let events = EventArrays::new(&decided.events);
    let command_ids: Vec<Uuid> = decided.commands.iter().map(|c| c.0).collect();
    let firsts: Vec<i64> = decided.commands.iter().map(|c| signed(c.1)).collect();
    let counts: Vec<i32> = decided.commands.iter().map(|c| i32::try_from(c.2).unwrap_or(i32::MAX)).collect();
    let new_types: Vec<&str> = decided.new_streams.iter().map(|s| s.aggregate_type.as_str()).collect();
    let new_ids: Vec<Uuid> = decided.new_streams.iter().map(|s| s.aggregate_id).collect();
    let (head, hint) = (signed(decided.head(locked)), decided.head(locked).to_string());
    let (event_params, command_params, stream_params) =
        (events.params(), [&command_ids as &(dyn ToSql + Sync), &firsts, &counts], [&new_types as &(dyn ToSql + Sync), &new_ids]);
    let (head_params, notify_params) = ([&head as &(dyn ToSql + Sync)], [&channel as &(dyn ToSql + Sync), &hint]);
    let outcomes = tokio::join!(
        client.execute(&statements.insert_events, &event_params),
        client.execute(&statements.insert_commands, &command_params),
        client.execute(&statements.insert_streams, &stream_params),
        client.execute(&statements.move_head, &head_params),
        client.execute(&statements.notify, &notify_params),
        client.batch_execute("COMMIT"),
    );
    // A failed statement aborts the transaction, and PostgreSQL then ends it with a rollback
    // even though COMMIT reports success: every statement must have succeeded.
    for outcome in [outcomes.0, outcomes.1, outcomes.2, outcomes.3, outcomes.4] {
        outcome.map_err(StoreError::backend)?;
    }
    outcomes.5.map_err(StoreError::backend)
}
