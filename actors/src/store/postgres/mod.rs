//! The PostgreSQL event store: one log shared by every node of a cluster.
//!
//! Layout (`schema.rs` creates and migrates it): `events` (one row per event, keyed by position,
//! unique by stream and version), `head` (one row: the last position handed out), `streams`,
//! `commands` (idempotent appends), `snapshots`, `records` (every [`crate::Records`] table) and
//! `leases`, all in one schema of the configured name.
//!
//! Positions: each node has one writer (`writer.rs`), which gathers the appends waiting and
//! commits them as one transaction that locks the head row first and commits holding it, so
//! positions are gapless and commit in position order across all nodes (see
//! docs/ARCHITECTURE.md). Live delivery: a node publishes its own commits at once and learns of
//! others' through LISTEN/NOTIFY plus a bounded poll (`listen.rs`). Every query runs on a tokio
//! runtime the store owns (`io.rs`).

mod decide;
mod import;
mod io;
mod leases;
mod listen;
mod phases;
mod reads;
mod records;
mod rows;
mod schema;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_postgres::NoTls;
use tracing::Instrument;
use uuid::Uuid;

use self::io::{Db, Io};
use self::listen::Feed;
use self::writer::{AppendRequest, Request, Writer};
use super::{Appended, CommittedBatch, Conflict, EventStore, Leases, Records, Snapshot, StoreError};
use crate::event::{CommandContext, ExpectedVersion, NewEvent, Position, RecordedEvent, StreamId, Version};

/// Where the store is and how it works.
#[derive(Debug, Clone)]
pub struct PostgresStoreConfig {
    /// A `postgres://` URL (or a `key=value` connection string).
    pub url: String,
    /// The schema that holds the store's tables, created if missing: lower-case letters, digits
    /// and `_`, at most 48 bytes.
    pub schema: String,
    /// Connections for reads, records and the writer (the listener has one more of its own).
    pub pool_size: usize,
    /// Most appends merged into one transaction.
    pub max_batch: usize,
    /// The longest a group waits for as many appends as the last group answered (0: never
    /// waits). Commits are serial, so one that carries every caller is worth a short wait.
    pub gather_wait: Duration,
    /// Appends waiting for the writer before `append` itself waits (backpressure).
    pub queue_capacity: usize,
    /// The longest wait for other nodes' commits when a notification was lost.
    pub poll_interval: Duration,
    /// Threads of the store's own runtime.
    pub io_threads: usize,
    /// How the store's connections show in `pg_stat_activity`.
    pub application_name: String,
}

impl PostgresStoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: "event_store".into(),
            pool_size: 8,
            max_batch: 1024,
            gather_wait: Duration::from_millis(1),
            queue_capacity: 8192,
            poll_interval: Duration::from_secs(1),
            io_threads: 2,
            application_name: "actors-event-store".into(),
        }
    }

    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("not a PostgreSQL connection string: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("{0:?} is not a schema name the store accepts (lower-case letters, digits and '_', at most 48 bytes)")]
    SchemaName(String),
    #[error("could not start the store's threads: {0}")]
    Threads(#[source] std::io::Error),
    #[error("schema {schema} is at version {found}, newer than this program knows ({known}); run a newer program")]
    SchemaTooNew { schema: String, found: i32, known: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The PostgreSQL event store. Cheap to clone; all clones share one writer, pool and runtime.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    writer: mpsc::Sender<Request>,
    feed: Arc<Feed>,
    db: Db,
    schema: String,
    /// Last, so the runtime stops once nothing else can use it.
    io: Io,
}

impl PostgresStore {
    /// Connects, creates or migrates the schema, and starts the writer and the listener.
    pub async fn connect(config: PostgresStoreConfig) -> Result<Self, ConnectError> {
        if !schema::valid_schema_name(&config.schema) {
            return Err(ConnectError::SchemaName(config.schema));
        }
        let mut pg: tokio_postgres::Config = config.url.parse().map_err(ConnectError::Url)?;
        // Every session works in the store's schema, commits durably, and cannot sit in an
        // open transaction (holding the head lock) for ever.
        let options = format!(
            "{} -c search_path={} -c synchronous_commit=on -c idle_in_transaction_session_timeout=30000",
            pg.get_options().unwrap_or_default(),
            config.schema
        );
        pg.options(options.trim()).application_name(&config.application_name);
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        let io = Io::start(config.io_threads).map_err(ConnectError::Threads)?;
        let db = Db::new(pg.clone(), config.pool_size)?;
        let head = io.run(prepare_schema(pg.clone(), db.clone(), config.schema.clone())).await?;
        let feed = Arc::new(Feed::new(head));
        let channel = schema::channel(&config.schema);
        let (writer, queue) = mpsc::channel(config.queue_capacity.max(1));
        let state = Writer {
            db: db.clone(),
            feed: feed.clone(),
            channel: channel.clone(),
            max_batch: config.max_batch.max(1),
            gather_wait: config.gather_wait,
        };
        io.spawn(state.run(queue));
        io.spawn(listen::listen(pg, channel, feed.clone(), config.poll_interval));
        Ok(Self { shared: Arc::new(Shared { writer, feed, db, schema: config.schema, io }) })
    }

    /// The schema the store's tables are in.
    pub fn schema(&self) -> &str {
        &self.shared.schema
    }

    /// Runs a query of the pool on the store's runtime.
    async fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Db) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.shared.io.run(work(self.shared.db.clone())).await
    }
}

/// Migrates the schema on a connection of its own and answers the head.
async fn prepare_schema(pg: tokio_postgres::Config, db: Db, schema: String) -> Result<Position, ConnectError> {
    let (mut client, connection) = pg.connect(NoTls).await.map_err(StoreError::backend)?;
    let connection = tokio::spawn(connection);
    let migrated = schema::migrate(&mut client, &schema).await;
    drop(client);
    let _ = connection.await;
    migrated?;
    Ok(db.head().await?)
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        context: &CommandContext,
    ) -> Result<Result<Appended, Conflict>, StoreError> {
        let span = tracing::debug_span!(
            "append",
            aggregate_type = %stream.aggregate_type,
            aggregate_id = %stream.aggregate_id,
            events = events.len(),
            correlation_id = %context.correlation_id,
        );
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest { stream: stream.clone(), expected, events, context: context.clone(), reply };
        async {
            self.shared.writer.send(Request::Append(request)).await.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        }
        .instrument(span)
        .await
    }

    async fn committed_by(&self, command_id: Uuid) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        self.run(|db| async move { db.committed_by(command_id).await }).await
    }

    async fn read_stream(&self, stream: &StreamId, from_version: Version, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.clone();
        self.run(|db| async move { db.read_stream(&stream, from_version.max(1), limit).await }).await
    }

    async fn read_stream_last(&self, stream: &StreamId, count: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let stream = stream.clone();
        self.run(|db| async move { db.read_stream_last(&stream, count).await }).await
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, StoreError> {
        let stream = stream.clone();
        self.run(|db| async move { db.stream_version(&stream).await }).await
    }

    async fn read_all(&self, from_position: Position, limit: usize, types: Option<&[String]>) -> Result<Vec<RecordedEvent>, StoreError> {
        let types = types.map(<[String]>::to_vec);
        self.run(|db| async move { db.read_all(from_position.max(1), limit, types).await }).await
    }

    async fn head(&self) -> Result<Position, StoreError> {
        self.run(|db| async move { db.head().await }).await
    }

    async fn streams_of(&self, aggregate_type: &str, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>, StoreError> {
        let aggregate_type = aggregate_type.to_owned();
        self.run(|db| async move { db.streams_of(&aggregate_type, after, limit).await }).await
    }

    async fn save_snapshot(&self, stream: &StreamId, snapshot: Snapshot) -> Result<(), StoreError> {
        let stream = stream.clone();
        self.run(|db| async move { db.save_snapshot(&stream, &snapshot).await }).await
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let stream = stream.clone();
        self.run(|db| async move { db.load_snapshot(&stream).await }).await
    }

    fn records(&self, table: &str) -> Result<Arc<dyn Records>, StoreError> {
        Ok(Arc::new(records::PostgresRecords::new(self.clone(), table)))
    }

    fn leases(&self) -> Result<Arc<dyn Leases>, StoreError> {
        Ok(Arc::new(leases::PostgresLeases::new(self.clone())))
    }

    fn subscribe(&self) -> broadcast::Receiver<CommittedBatch> {
        self.shared.feed.subscribe()
    }

    fn shared(&self) -> bool {
        true
    }
}
