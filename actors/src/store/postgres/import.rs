//! Restoring a backup into PostgreSQL: events that already carry their positions, ids, times
//! and payloads, written by the node's writer exactly as given, in one transaction under the
//! head lock, so an import is all or nothing and no append of any node slips in between.

use std::collections::HashMap;

use deadpool_postgres::Object;
use tokio::sync::oneshot;

use super::io::discard;
use super::phases::{stream_versions, Statements};
use super::rows::{signed, unsigned, EventArrays};
use super::writer::{Request, Writer};
use super::PostgresStore;
use crate::event::{Position, RecordedEvent, StreamId, Version};
use crate::store::{ImportError, StoreError};

/// Events per insert statement.
const CHUNK: usize = 10_000;

pub(super) struct ImportRequest {
    events: Vec<RecordedEvent>,
    reply: oneshot::Sender<Result<Position, ImportError>>,
}

impl PostgresStore {
    /// Writes events as a backup recorded them (positions, versions, ids, times, payload bytes)
    /// and answers the new head.
    ///
    /// The events must continue the log exactly: the first at the head + 1, positions gapless,
    /// each stream's versions following on from what it holds; otherwise nothing is written.
    /// Everything commits in one transaction. Command ids are not part of an event: the
    /// idempotency records of the original appends are not restored. Live subscribers are sent
    /// the last imported event and read the rest from the log, as for any hole.
    pub async fn import(&self, events: Vec<RecordedEvent>) -> Result<Position, ImportError> {
        let (reply, answer) = oneshot::channel();
        let writer = self.shared.writer.clone();
        let request = Request::Import(ImportRequest { events, reply });
        self.shared
            .io
            .run(async move {
                writer.send(request).await.map_err(|_| StoreError::Closed)?;
                answer.await.map_err(|_| StoreError::Closed)
            })
            .await?
    }
}

impl Writer {
    pub(super) async fn import(&self, request: ImportRequest) {
        let outcome = match self.db.client().await {
            Err(error) => Err(error.into()),
            Ok(client) => {
                let outcome = self.write_imported(&client, &request.events).await;
                if outcome.is_err() {
                    discard(client);
                }
                outcome
            }
        };
        if let (Ok(_), Some(last)) = (&outcome, request.events.last()) {
            self.feed.publish(vec![last.clone()]);
        }
        let _ = request.reply.send(outcome);
    }

    async fn write_imported(&self, client: &Object, events: &[RecordedEvent]) -> Result<Position, ImportError> {
        let statements = Statements::prepare(client).await?;
        let Statements { lock, versions, insert_events: insert, insert_streams, move_head, notify, .. } = &statements;
        let mut streams: Vec<&StreamId> = events.iter().map(|e| &e.stream).collect();
        streams.sort_unstable();
        streams.dedup();
        let types: Vec<&str> = streams.iter().map(|s| s.aggregate_type.as_str()).collect();
        let ids: Vec<uuid::Uuid> = streams.iter().map(|s| s.aggregate_id).collect();
        let version_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&types, &ids];
        let (begun, head, current) =
            tokio::join!(client.batch_execute("BEGIN"), client.query_one(lock, &[]), client.query(versions, &version_params));
        begun.map_err(StoreError::backend)?;
        let head = unsigned(head.and_then(|row| row.try_get(0)).map_err(StoreError::backend)?)?;
        let current = stream_versions(&current.map_err(StoreError::backend)?)?;
        if let Err(refused) = check(events, head, current.clone()) {
            client.batch_execute("ROLLBACK").await.map_err(StoreError::backend)?;
            return Err(refused);
        }
        let Some(last) = events.last() else {
            client.batch_execute("ROLLBACK").await.map_err(StoreError::backend)?;
            return Ok(head);
        };
        for chunk in events.chunks(CHUNK) {
            client.execute(insert, &EventArrays::new(chunk).params()).await.map_err(StoreError::backend)?;
        }
        let new: Vec<&&StreamId> = streams.iter().filter(|s| current.get(**s).is_none_or(|v| *v == 0)).collect();
        let new_types: Vec<&str> = new.iter().map(|s| s.aggregate_type.as_str()).collect();
        let new_ids: Vec<uuid::Uuid> = new.iter().map(|s| s.aggregate_id).collect();
        client.execute(insert_streams, &[&new_types, &new_ids]).await.map_err(StoreError::backend)?;
        client.execute(move_head, &[&signed(last.position)]).await.map_err(StoreError::backend)?;
        client.execute(notify, &[&self.channel, &last.position.to_string()]).await.map_err(StoreError::backend)?;
        client.batch_execute("COMMIT").await.map_err(StoreError::backend)?;
        Ok(last.position)
    }
}

/// Whether `events` continue a log whose head is `head` and whose streams are at `versions`.
fn check(events: &[RecordedEvent], head: Position, mut versions: HashMap<StreamId, Version>) -> Result<(), ImportError> {
    for (offset, event) in events.iter().enumerate() {
        let expected = head + 1 + offset as u64;
        if event.position != expected {
            return Err(ImportError::Position { event_id: event.event_id, expected, found: event.position });
        }
        let version = versions.entry(event.stream.clone()).or_insert(0);
        if event.version != *version + 1 {
            return Err(ImportError::Version {
                position: event.position,
                stream: event.stream.clone(),
                expected: *version + 1,
                found: event.version,
            });
        }
        *version = event.version;
    }
    Ok(())
}
