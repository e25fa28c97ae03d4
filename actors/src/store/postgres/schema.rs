//! The store's tables, created and migrated by the program: numbered migrations, each applied
//! once, recorded in `schema_migrations`, all in one transaction under an advisory lock, so two
//! nodes starting at once neither race nor see a half-migrated schema.

use tokio_postgres::Client;

use super::ConnectError;
use crate::store::StoreError;

/// Every migration, in order; its number is its index + 1. Never edit one that shipped: add
/// the next.
const MIGRATIONS: &[&str] = &[
    // 1: the log, its indexes, and everything kept beside it.
    "
    -- The last position handed out. Every append transaction locks this one row first and
    -- commits holding it, so positions are gapless and commit in position order.
    CREATE TABLE head (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        position bigint NOT NULL
    );
    INSERT INTO head (id, position) VALUES (true, 0);

    CREATE TABLE events (
        position bigint PRIMARY KEY,
        stream_type text NOT NULL,
        stream_id uuid NOT NULL,
        version bigint NOT NULL,
        event_id uuid NOT NULL,
        event_type text NOT NULL,
        schema_version bigint NOT NULL,
        payload bytea NOT NULL,
        recorded_at timestamptz NOT NULL,
        -- timestamptz keeps microseconds; the nanoseconds past them keep a restored backup exact.
        recorded_nanos smallint NOT NULL,
        correlation_id uuid NOT NULL,
        causation_id uuid,
        metadata jsonb NOT NULL,
        UNIQUE (stream_type, stream_id, version)
    );

    -- The streams of each type (one row per stream, written by its first append).
    CREATE TABLE streams (
        stream_type text NOT NULL,
        stream_id uuid NOT NULL,
        PRIMARY KEY (stream_type, stream_id)
    );

    -- Which events each command appended: idempotent appends.
    CREATE TABLE commands (
        command_id uuid PRIMARY KEY,
        first_position bigint NOT NULL,
        event_count integer NOT NULL
    );

    CREATE TABLE snapshots (
        stream_type text NOT NULL,
        stream_id uuid NOT NULL,
        version bigint NOT NULL,
        state bytea NOT NULL,
        PRIMARY KEY (stream_type, stream_id)
    );

    CREATE TABLE records (
        table_name text NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (table_name, key)
    );

    -- A released lease has no holder; an expired one keeps its holder until taken over.
    CREATE TABLE leases (
        name text PRIMARY KEY,
        holder text,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL
    );
    ",
];

/// The longest schema name: the notification channel adds a suffix, within PostgreSQL's 63.
pub(super) const MAX_SCHEMA_NAME: usize = 48;

/// A schema name this store accepts: lower-case ASCII letters, digits and `_`, not starting
/// with a digit, at most [`MAX_SCHEMA_NAME`] bytes, so it never needs quoting.
pub(super) fn valid_schema_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && name.len() <= MAX_SCHEMA_NAME
}

/// The channel a schema's appends notify.
pub(super) fn channel(schema: &str) -> String {
    format!("{schema}_appended")
}

/// Creates `schema` if needed and applies the migrations it lacks.
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<(), ConnectError> {
    let tx = client.transaction().await.map_err(StoreError::backend)?;
    // Held until the transaction ends; the key is the schema, so other schemas migrate freely.
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('actors-event-store'), hashtext($1))", &[&schema])
        .await
        .map_err(StoreError::backend)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(StoreError::backend)?;
    let applied: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(StoreError::backend)?;
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if applied > known {
        return Err(ConnectError::SchemaTooNew { schema: schema.to_owned(), found: applied, known });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(applied).unwrap_or_default()) {
        tx.batch_execute(sql).await.map_err(StoreError::backend)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&version]).await.map_err(StoreError::backend)?;
        tracing::info!(schema, version, "event store schema migrated");
    }
    tx.commit().await.map_err(StoreError::backend)?;
    Ok(())
}
