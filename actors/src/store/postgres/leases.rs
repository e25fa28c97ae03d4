//! Leases in PostgreSQL, decided by the database's clock so nodes need not agree on theirs. A
//! takeover is one conditional upsert; a fenced write locks the lease row (`FOR SHARE`, which a
//! takeover must wait for) and writes its records only where the lease is still at its epoch,
//! all in one transaction sent as one pipeline.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio_postgres::types::ToSql;

use super::io::{discard, prepare};
use super::rows::{signed, unsigned};
use super::PostgresStore;
use crate::store::{Fenced, Lease, LeaseHeld, Leases, RecordWrite, StoreError};

pub(super) struct PostgresLeases {
    store: PostgresStore,
}

impl PostgresLeases {
    pub(super) fn new(store: PostgresStore) -> Self {
        Self { store }
    }
}

const ACQUIRE: &str = "INSERT INTO leases AS l (name, holder, epoch, expires_at) \
     VALUES ($1, $2, 1, now() + $3::float8 * interval '1 millisecond') \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
         epoch = CASE WHEN l.holder = excluded.holder THEN l.epoch ELSE l.epoch + 1 END \
     WHERE l.holder = excluded.holder OR l.holder IS NULL OR l.expires_at <= now() \
     RETURNING epoch";

const RELEASE: &str = "UPDATE leases SET holder = NULL, expires_at = '-infinity' WHERE name = $1 AND holder = $2 AND epoch = $3";

const HOLDER: &str = "SELECT holder, epoch FROM leases WHERE name = $1 AND holder IS NOT NULL AND expires_at > now()";

const LOCK: &str = "SELECT holder, epoch FROM leases WHERE name = $1 FOR SHARE";

/// The lease as the fence checks it, for the writes' conditions (`$1` name, `$2` holder, `$3` epoch).
const HELD: &str = "EXISTS (SELECT 1 FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3)";

#[async_trait]
impl Leases for PostgresLeases {
    async fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Result<Result<Lease, LeaseHeld>, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.store
            .run(|db| async move {
                let client = db.client().await?;
                let [acquire, current] = prepare(&client, [ACQUIRE, HOLDER]).await?;
                let millis = ttl.as_secs_f64() * 1000.0;
                loop {
                    if let Some(row) = client.query_opt(&acquire, &[&name, &holder, &millis]).await.map_err(StoreError::backend)? {
                        let epoch = unsigned(row.try_get(0).map_err(StoreError::backend)?)?;
                        return Ok(Ok(Lease { name, holder, epoch }));
                    }
                    // Held by someone else, unless it ran out or was released since: then try again.
                    if let Some(row) = client.query_opt(&current, &[&name]).await.map_err(StoreError::backend)? {
                        let (other, epoch): (String, i64) =
                            (row.try_get(0).map_err(StoreError::backend)?, row.try_get(1).map_err(StoreError::backend)?);
                        return Ok(Err(LeaseHeld { name, holder: other, epoch: unsigned(epoch)? }));
                    }
                }
            })
            .await
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let lease = lease.clone();
        self.store
            .run(|db| async move {
                let client = db.client().await?;
                let [release] = prepare(&client, [RELEASE]).await?;
                client.execute(&release, &[&lease.name, &lease.holder, &signed(lease.epoch)]).await.map_err(StoreError::backend)?;
                Ok(())
            })
            .await
    }

    async fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let name = name.to_owned();
        self.store
            .run(|db| async move {
                let client = db.client().await?;
                let [current] = prepare(&client, [HOLDER]).await?;
                let Some(row) = client.query_opt(&current, &[&name]).await.map_err(StoreError::backend)? else { return Ok(None) };
                let epoch = unsigned(row.try_get(1).map_err(StoreError::backend)?)?;
                Ok(Some(Lease { name, holder: row.try_get(0).map_err(StoreError::backend)?, epoch }))
            })
            .await
    }

    async fn write_fenced(&self, lease: &Lease, writes: &[RecordWrite]) -> Result<Result<(), Fenced>, StoreError> {
        let (lease, writes) = (lease.clone(), last_write_per_key(writes));
        self.store
            .run(|db| async move {
                let client = db.client().await?;
                let upsert = format!(
                    "INSERT INTO records (table_name, key, value) SELECT * FROM unnest($4::text[], $5::bytea[], $6::bytea[]) \
                     WHERE {HELD} ON CONFLICT (table_name, key) DO UPDATE SET value = excluded.value"
                );
                let delete = format!(
                    "DELETE FROM records r USING unnest($4::text[], $5::bytea[]) AS w (table_name, key) \
                     WHERE r.table_name = w.table_name AND r.key = w.key AND {HELD}"
                );
                let [lock, upsert, delete] = prepare(&client, [LOCK, &upsert, &delete]).await?;
                let puts: Vec<(&str, &[u8], &[u8])> = writes
                    .iter()
                    .filter_map(|write| match write {
                        RecordWrite::Put { table, key, value } => Some((table.as_str(), key.as_slice(), value.as_slice())),
                        RecordWrite::Remove { .. } => None,
                    })
                    .collect();
                let removes: Vec<(&str, &[u8])> = writes
                    .iter()
                    .filter_map(|write| match write {
                        RecordWrite::Remove { table, key } => Some((table.as_str(), key.as_slice())),
                        RecordWrite::Put { .. } => None,
                    })
                    .collect();
                let put_tables: Vec<&str> = puts.iter().map(|put| put.0).collect();
                let put_keys: Vec<&[u8]> = puts.iter().map(|put| put.1).collect();
                let put_values: Vec<&[u8]> = puts.iter().map(|put| put.2).collect();
                let removed_tables: Vec<&str> = removes.iter().map(|remove| remove.0).collect();
                let removed_keys: Vec<&[u8]> = removes.iter().map(|remove| remove.1).collect();
                let epoch = signed(lease.epoch);
                let lock_params: [&(dyn ToSql + Sync); 1] = [&lease.name];
                let upsert_params: [&(dyn ToSql + Sync); 6] = [&lease.name, &lease.holder, &epoch, &put_tables, &put_keys, &put_values];
                let delete_params: [&(dyn ToSql + Sync); 5] = [&lease.name, &lease.holder, &epoch, &removed_tables, &removed_keys];
                let (begun, current, upserted, deleted, committed) = tokio::join!(
                    client.batch_execute("BEGIN"),
                    client.query_opt(&lock, &lock_params),
                    client.execute(&upsert, &upsert_params),
                    client.execute(&delete, &delete_params),
                    client.batch_execute("COMMIT"),
                );
                let current = match (begun, current, upserted, deleted, committed) {
                    (Ok(()), Ok(current), Ok(_), Ok(_), Ok(())) => current,
                    (begun, current, upserted, deleted, committed) => {
                        let error =
                            [begun.err(), current.err(), upserted.err(), deleted.err(), committed.err()].into_iter().flatten().next();
                        discard(client);
                        return Err(error.map_or(StoreError::Closed, StoreError::backend));
                    }
                };
                let current = match current {
                    Some(row) => Some((
                        row.try_get::<_, Option<String>>(0).map_err(StoreError::backend)?,
                        unsigned(row.try_get(1).map_err(StoreError::backend)?)?,
                    )),
                    None => None,
                };
                Ok(match current {
                    Some((Some(holder), epoch)) if holder == lease.holder && epoch == lease.epoch => Ok(()),
                    other => Err(Fenced { name: lease.name, epoch: lease.epoch, current: other.map_or(0, |(_, epoch)| epoch) }),
                })
            })
            .await
    }
}

/// The writes that decide each key's final value: the last one per (table, key), in order.
fn last_write_per_key(writes: &[RecordWrite]) -> Vec<RecordWrite> {
    let mut last: HashMap<(&str, &[u8]), usize> = HashMap::new();
    for (index, write) in writes.iter().enumerate() {
        let key = match write {
            RecordWrite::Put { key, .. } | RecordWrite::Remove { key, .. } => key.as_slice(),
        };
        last.insert((write.table(), key), index);
    }
    let mut kept: Vec<usize> = last.into_values().collect();
    kept.sort_unstable();
    kept.into_iter().map(|index| writes[index].clone()).collect()
}
