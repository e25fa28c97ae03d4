//! The node's single writer: takes every append waiting, and for the whole group opens one
//! transaction, locks the head row, decides each append against what the database holds (see
//! `decide.rs`), writes the accepted ones, moves the head, notifies the other nodes and commits
//! once (group commit); then publishes and answers.
//!
//! Each phase sends its statements in one pipeline (one round trip): the lock and the reads,
//! then the writes and the commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::Object;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::decide::{decide, Decided, Locked};
use super::io::{discard, Db};
use super::listen::Feed;
use super::rows::{event, limit, signed, unsigned, EventArrays, EVENT_COLUMNS, E_EVENT_COLUMNS, INSERT_EVENTS};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, RecordedEvent, StreamId, Version};
use crate::store::{Appended, Conflict, StoreError};

/// Events of other nodes read along with the lock, to publish before the group's own.
const HOLE_PAGE: usize = 1_000;

pub(super) type AppendReply = oneshot::Sender<Result<Result<Appended, Conflict>, StoreError>>;

pub(super) struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub context: CommandContext,
    pub reply: AppendReply,
}

pub(super) enum Request {
    Append(AppendRequest),
    Import(super::import::ImportRequest),
}

pub(super) struct Writer {
    pub db: Db,
    pub feed: Arc<Feed>,
    /// The channel other nodes' listeners wait on.
    pub channel: String,
    pub max_batch: usize,
}

impl Writer {
    pub(super) async fn run(self, mut queue: mpsc::Receiver<Request>) {
        let mut group = Vec::with_capacity(self.max_batch);
        while let Some(first) = queue.recv().await {
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append(append) => group.push(append),
                    Request::Import(import) => {
                        // Appends queued before the import commit before it, as they came.
                        if !group.is_empty() {
                            self.commit_group(std::mem::take(&mut group)).await;
                        }
                        self.import(import).await;
                    }
                }
                if group.len() < self.max_batch {
                    next = queue.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.commit_group(std::mem::take(&mut group)).await;
            }
        }
        tracing::debug!("event store writer stopped");
    }

    async fn commit_group(&self, requests: Vec<AppendRequest>) {
        let started = Instant::now();
        let client = match self.db.client().await {
            Ok(client) => client,
            Err(error) => return fail(requests, &error),
        };
        let (locked, hole) = match lock_and_read(&client, &requests, self.feed.published()).await {
            Ok(read) => read,
            Err(error) => {
                discard(client);
                return fail(requests, &error);
            }
        };
        let decided = decide(&requests, &locked);
        let written = if decided.events.is_empty() {
            client.batch_execute("ROLLBACK").await.map_err(StoreError::backend)
        } else {
            self.write(&client, &decided, &locked).await
        };
        crate::telemetry::group_committed(requests.len(), decided.events.len(), started.elapsed());
        let mut published = hole;
        match written {
            Ok(()) => published.extend(decided.events.iter().cloned()),
            Err(ref error) => {
                tracing::error!(%error, "group commit failed");
                discard(client);
            }
        }
        // Publish before answering: a caller that waits for projections after its append then
        // never races the delivery of its own events.
        self.feed.publish(published);
        for ((request, answer), fresh) in requests.into_iter().zip(decided.answers).zip(decided.fresh) {
            let answer = match &written {
                Err(error) if fresh => Err(error.clone()),
                _ => Ok(answer),
            };
            let _ = request.reply.send(answer);
        }
    }

    /// The group's writes and its commit, in one pipeline.
    async fn write(&self, client: &Object, decided: &Decided, locked: &Locked) -> Result<(), StoreError> {
        let [insert_events, insert_commands, insert_streams, move_head, notify] = prepare(client, WRITE).await?;
        let events = EventArrays::new(&decided.events);
        let command_ids: Vec<Uuid> = decided.commands.iter().map(|c| c.0).collect();
        let firsts: Vec<i64> = decided.commands.iter().map(|c| signed(c.1)).collect();
        let counts: Vec<i32> = decided.commands.iter().map(|c| i32::try_from(c.2).unwrap_or(i32::MAX)).collect();
        let new_types: Vec<&str> = decided.new_streams.iter().map(|s| s.aggregate_type.as_str()).collect();
        let new_ids: Vec<Uuid> = decided.new_streams.iter().map(|s| s.aggregate_id).collect();
        let head = signed(decided.head(locked));
        let hint = decided.head(locked).to_string();
        let (event_params, command_params, stream_params) =
            (events.params(), [&command_ids as &(dyn ToSql + Sync), &firsts, &counts], [&new_types as &(dyn ToSql + Sync), &new_ids]);
        let (head_params, notify_params) = ([&head as &(dyn ToSql + Sync)], [&self.channel as &(dyn ToSql + Sync), &hint]);
        let outcomes = tokio::join!(
            client.execute(&insert_events, &event_params),
            client.execute(&insert_commands, &command_params),
            client.execute(&insert_streams, &stream_params),
            client.execute(&move_head, &head_params),
            client.execute(&notify, &notify_params),
            client.batch_execute("COMMIT"),
        );
        // A failed statement aborts the transaction, and PostgreSQL then ends it with a
        // rollback even though COMMIT reports success: every statement must have succeeded.
        for outcome in [outcomes.0, outcomes.1, outcomes.2, outcomes.3, outcomes.4] {
            outcome.map_err(StoreError::backend)?;
        }
        outcomes.5.map_err(StoreError::backend)
    }
}

fn fail(requests: Vec<AppendRequest>, error: &StoreError) {
    tracing::error!(%error, "group commit failed");
    for request in requests {
        let _ = request.reply.send(Err(error.clone()));
    }
}

/// Taken first by every transaction that hands out positions; held until it commits.
pub(super) const LOCK_HEAD: &str = "SELECT position FROM head FOR UPDATE";

/// The version of each stream named (`$1` types, `$2` ids).
pub(super) const STREAM_VERSIONS: &str = "SELECT s.stream_type, s.stream_id, \
        coalesce((SELECT max(e.version) FROM events e WHERE e.stream_type = s.stream_type AND e.stream_id = s.stream_id), 0) \
     FROM unnest($1::text[], $2::uuid[]) AS s (stream_type, stream_id)";

const WRITE: [&str; 5] = [
    INSERT_EVENTS,
    "INSERT INTO commands (command_id, first_position, event_count) SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::integer[])",
    super::import::INSERT_STREAMS,
    "UPDATE head SET position = $1",
    "SELECT pg_notify($1, $2)",
];

/// The rows of [`STREAM_VERSIONS`], by stream.
pub(super) fn stream_versions(rows: &[tokio_postgres::Row]) -> Result<HashMap<StreamId, Version>, StoreError> {
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

pub(super) async fn prepare<const N: usize>(client: &Object, sql: [&str; N]) -> Result<[tokio_postgres::Statement; N], StoreError> {
    let prepared = futures::future::try_join_all(sql.iter().map(|sql| client.prepare_cached(sql))).await.map_err(StoreError::backend)?;
    prepared.try_into().map_err(|_| StoreError::Corrupt("prepared a different number of statements".into()))
}

/// Opens the group's transaction, takes the head lock, and reads what deciding needs: the
/// streams' versions and the command ids' first results, plus the events other nodes committed
/// since this node last published (`published`), which must go out before the group's own.
async fn lock_and_read(client: &Object, requests: &[AppendRequest], published: u64) -> Result<(Locked, Vec<RecordedEvent>), StoreError> {
    let commands_sql = format!(
        "SELECT c.command_id, {E_EVENT_COLUMNS} FROM commands c JOIN events e \
         ON e.position >= c.first_position AND e.position < c.first_position + c.event_count \
         WHERE c.command_id = ANY($1) ORDER BY e.position"
    );
    let hole_sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2");
    let [lock, clock, versions, commands, hole] =
        prepare(client, [LOCK_HEAD, "SELECT clock_timestamp()", STREAM_VERSIONS, &commands_sql, &hole_sql]).await?;
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
        client.query_one(&lock, &[]),
        client.query_one(&clock, &[]),
        client.query(&versions, &version_params),
        client.query(&commands, &command_params),
        client.query(&hole, &hole_params),
    );
    begun.map_err(StoreError::backend)?;
    let head = unsigned(head.and_then(|row| row.try_get(0)).map_err(StoreError::backend)?)?;
    let now = now.and_then(|row| row.try_get(0)).map_err(StoreError::backend)?;
    let stream_versions = stream_versions(&versions.map_err(StoreError::backend)?)?;
    let mut committed: HashMap<Uuid, Vec<RecordedEvent>> = HashMap::new();
    for row in commands.map_err(StoreError::backend)? {
        let command_id: Uuid = row.try_get(0).map_err(StoreError::backend)?;
        committed.entry(command_id).or_default().push(event(&row, 1)?);
    }
    let hole = hole.map_err(StoreError::backend)?.iter().map(|row| event(row, 0)).collect::<Result<Vec<_>, _>>()?;
    Ok((Locked { head, now, versions: stream_versions, commands: committed }, hole))
}
