//! The node's single writer: group commit under the head lock.
//!
//! It takes every append waiting and, for the whole group, opens one transaction that locks
//! the head row, decides each append against what the database holds (`decide.rs`), writes the
//! accepted ones, moves the head, notifies the other nodes and commits once; then it publishes
//! and answers. Each half goes out as one pipeline (`phases.rs`): a group costs two round trips
//! and one commit, and a node's appends are decided in the order they came.
//!
//! Commits are serial across the cluster (the head lock) and each waits for a WAL flush, so a
//! commit is best spent on as many appends as can be had: before opening a group the writer
//! waits, briefly, for the callers it just answered to come back. Opening the next group
//! while the last one commits was measured and not kept: it split the callers in two cohorts
//! that took turns, halving the appends per commit (README, "W1 on PostgreSQL").

use std::sync::Arc;
use std::time::Instant;

use deadpool_postgres::Object;
use tokio::sync::{mpsc, oneshot};

use super::decide::{decide, Locked};
use super::io::{discard, Db};
use super::listen::Feed;
use super::phases::{self, Statements};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use crate::store::{Appended, Conflict, StoreError};

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
    /// The longest a group waits for the callers the last group answered.
    pub gather_wait: std::time::Duration,
}

/// A group whose transaction is open: the head is locked and what deciding needs is read.
struct Opened {
    requests: Vec<AppendRequest>,
    locked: Locked,
    /// Other nodes' events to publish before the group's own.
    hole: Vec<RecordedEvent>,
    started: Instant,
}

/// The writer's connection, kept from group to group while it works.
type Connection = Option<(Object, Statements)>;

impl Writer {
    pub(super) async fn run(self, mut queue: mpsc::Receiver<Request>) {
        let mut connection: Connection = None;
        // An import waits until the appends gathered before it have committed.
        let mut import = None;
        // How many appends the last group answered: about as many callers are coming back.
        let mut answered = 0;
        loop {
            if let Some(request) = import.take() {
                self.import(request).await;
                continue;
            }
            let Some(first) = queue.recv().await else { break };
            let mut requests = self.gather(first, &mut queue, &mut import);
            self.wait_for_more(&mut requests, answered, &mut queue, &mut import).await;
            if requests.is_empty() {
                continue;
            }
            let Some(group) = self.open(&mut connection, requests).await else { continue };
            answered = group.requests.len();
            self.commit(&mut connection, group).await;
        }
        tracing::debug!("event store writer stopped");
    }

    /// The appends waiting (after `first`), at most `max_batch`, up to the first import.
    fn gather(
        &self,
        first: Request,
        queue: &mut mpsc::Receiver<Request>,
        import: &mut Option<super::import::ImportRequest>,
    ) -> Vec<AppendRequest> {
        let mut requests = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Append(append) => requests.push(append),
                Request::Import(request) => {
                    *import = Some(request);
                    break;
                }
            }
            if requests.len() < self.max_batch {
                next = queue.try_recv().ok();
            }
        }
        requests
    }

    /// Waits, at most `gather_wait`, until about as many appends as the last group answered are
    /// waiting. Commits are serial (the head lock) and each costs a synchronous WAL flush, so a
    /// commit is best spent on every caller: the callers just answered come back within moments,
    /// and a group opened at once would leave them for the next commit.
    async fn wait_for_more(
        &self,
        requests: &mut Vec<AppendRequest>,
        answered: usize,
        queue: &mut mpsc::Receiver<Request>,
        import: &mut Option<super::import::ImportRequest>,
    ) {
        let deadline = tokio::time::Instant::now() + self.gather_wait;
        while requests.len() < answered.min(self.max_batch) && import.is_none() {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(Request::Append(append))) => requests.push(append),
                Ok(Some(Request::Import(request))) => *import = Some(request),
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// A connection with its statements prepared: the one kept, or a new one from the pool.
    async fn connect(&self, connection: &mut Connection) -> Result<(), StoreError> {
        // A kept connection the database ended meanwhile (a restart, a terminated backend) would
        // fail the next group for nothing: take another.
        if connection.as_ref().is_some_and(|(client, _)| client.is_closed()) {
            drop_connection(connection);
        }
        if connection.is_none() {
            let client = self.db.client().await?;
            let statements = Statements::prepare(&client).await?;
            *connection = Some((client, statements));
        }
        Ok(())
    }

    /// Opens a group's transaction on its own; on failure answers every append with the error.
    async fn open(&self, connection: &mut Connection, requests: Vec<AppendRequest>) -> Option<Opened> {
        let started = Instant::now();
        let opened = match self.connect(connection).await {
            Ok(()) => match connection {
                Some((client, statements)) => phases::open(client, statements, &requests, self.feed.published()).await,
                None => Err(StoreError::Closed),
            },
            Err(error) => Err(error),
        };
        match opened {
            Ok((locked, hole)) => Some(Opened { requests, locked, hole, started }),
            Err(error) => {
                drop_connection(connection);
                fail(requests, &error);
                None
            }
        }
    }

    /// Decides and commits `group`, then publishes and answers.
    async fn commit(&self, connection: &mut Connection, group: Opened) {
        let decided = decide(&group.requests, &group.locked);
        let written = match connection.as_ref() {
            Some((client, statements)) => phases::close(client, statements, &decided, &group.locked, &self.channel).await,
            None => Err(StoreError::Closed),
        };
        crate::metrics::group_committed(group.requests.len(), decided.events.len(), group.started.elapsed());
        let mut published = group.hole;
        match &written {
            Ok(()) => published.extend(decided.events.iter().cloned()),
            Err(error) => {
                tracing::error!(%error, "group commit failed");
                drop_connection(connection);
            }
        }
        // Publish before answering: a caller that waits for projections after its append then
        // never races the delivery of its own events.
        self.feed.publish(published);
        for ((request, answer), fresh) in group.requests.into_iter().zip(decided.answers).zip(decided.fresh) {
            let answer = match &written {
                Err(error) if fresh => Err(error.clone()),
                _ => Ok(answer),
            };
            let _ = request.reply.send(answer);
        }
    }
}

fn drop_connection(connection: &mut Connection) {
    if let Some((client, _)) = connection.take() {
        discard(client);
    }
}

fn fail(requests: Vec<AppendRequest>, error: &StoreError) {
    tracing::error!(%error, "group commit failed");
    for request in requests {
        let _ = request.reply.send(Err(error.clone()));
    }
}
