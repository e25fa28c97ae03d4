//! Records in PostgreSQL: every table in one `records` table keyed by (table name, key), so a
//! table needs no DDL and is shared by every node at once. Each write is one statement (one
//! autocommitted, durable transaction); compare-and-swap is a conditional statement, retried in
//! the rare case the value changed between a refused swap and the read that reports it.

use async_trait::async_trait;

use super::io::Db;
use super::PostgresStore;
use crate::store::records::{scan_start, Record, Records};
use crate::store::StoreError;

pub(super) struct PostgresRecords {
    store: PostgresStore,
    table: String,
}

impl PostgresRecords {
    pub(super) fn new(store: PostgresStore, table: &str) -> Self {
        Self { store, table: table.to_owned() }
    }

    async fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Db, String) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let table = self.table.clone();
        self.store.run(|db| work(db, table)).await
    }
}

/// The smallest key greater than every key starting with `prefix`; `None` when there is none
/// (the prefix is empty or all `0xff`).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Db {
    async fn changed(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(StoreError::backend)?;
        Ok(client.execute(&statement, params).await.map_err(StoreError::backend)? > 0)
    }

    async fn record(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let client = self.client().await?;
        let statement =
            client.prepare_cached("SELECT value FROM records WHERE table_name = $1 AND key = $2").await.map_err(StoreError::backend)?;
        let row = client.query_opt(&statement, &[&table, &key]).await.map_err(StoreError::backend)?;
        row.map(|row| row.try_get(0)).transpose().map_err(StoreError::backend)
    }

    async fn swap(
        &self,
        table: &str,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        loop {
            let swapped = match (expected, new) {
                (None, Some(new)) => {
                    let sql = "INSERT INTO records (table_name, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
                    self.changed(sql, &[&table, &key, &new]).await?
                }
                (Some(old), Some(new)) => {
                    let sql = "UPDATE records SET value = $4 WHERE table_name = $1 AND key = $2 AND value = $3";
                    self.changed(sql, &[&table, &key, &old, &new]).await?
                }
                (Some(old), None) => {
                    let sql = "DELETE FROM records WHERE table_name = $1 AND key = $2 AND value = $3";
                    self.changed(sql, &[&table, &key, &old]).await?
                }
                (None, None) => false,
            };
            if swapped {
                return Ok(Ok(()));
            }
            let current = self.record(table, key).await?;
            match (current.as_deref(), expected, new) {
                // Nothing to change, and nothing there: done.
                (None, None, None) => return Ok(Ok(())),
                // It held what we expected after all (changed in between): try again.
                (current, expected, _) if current == expected => continue,
                _ => return Ok(Err(current)),
            }
        }
    }
}

#[async_trait]
impl Records for PostgresRecords {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_vec();
        self.run(|db, table| async move { db.record(&table, &key).await }).await
    }

    async fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        let (key, expected, new) = (key.to_vec(), expected.map(<[u8]>::to_vec), new.map(<[u8]>::to_vec));
        self.run(|db, table| async move { db.swap(&table, &key, expected.as_deref(), new.as_deref()).await }).await
    }

    async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.run(|db, table| async move {
            let sql = "INSERT INTO records (table_name, key, value) VALUES ($1, $2, $3) \
                       ON CONFLICT (table_name, key) DO UPDATE SET value = excluded.value";
            db.changed(sql, &[&table, &key, &value]).await.map(drop)
        })
        .await
    }

    async fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        let key = key.to_vec();
        self.run(|db, table| async move {
            db.changed("DELETE FROM records WHERE table_name = $1 AND key = $2", &[&table, &key]).await.map(drop)
        })
        .await
    }

    async fn contains_each(&self, keys: &[Vec<u8>]) -> Result<Vec<bool>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = keys.to_vec();
        let present: std::collections::HashSet<Vec<u8>> = self
            .run(|db, table| async move {
                let client = db.client().await?;
                let sql = "SELECT key FROM records WHERE table_name = $1 AND key = ANY($2)";
                let statement = client.prepare_cached(sql).await.map_err(StoreError::backend)?;
                let rows = client.query(&statement, &[&table, &wanted]).await.map_err(StoreError::backend)?;
                rows.iter().map(|row| row.try_get(0).map_err(StoreError::backend)).collect()
            })
            .await?;
        Ok(keys.iter().map(|key| present.contains(key)).collect())
    }

    async fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Vec<Record>, StoreError> {
        let (prefix, start) = (prefix.to_vec(), scan_start(prefix, after));
        self.run(|db, table| async move {
            let client = db.client().await?;
            let count = super::rows::limit(limit);
            let rows = match prefix_end(&prefix) {
                Some(end) => {
                    let sql = "SELECT key, value FROM records WHERE table_name = $1 AND key >= $2 AND key < $3 ORDER BY key LIMIT $4";
                    let statement = client.prepare_cached(sql).await.map_err(StoreError::backend)?;
                    client.query(&statement, &[&table, &start, &end, &count]).await
                }
                None => {
                    let sql = "SELECT key, value FROM records WHERE table_name = $1 AND key >= $2 ORDER BY key LIMIT $3";
                    let statement = client.prepare_cached(sql).await.map_err(StoreError::backend)?;
                    client.query(&statement, &[&table, &start, &count]).await
                }
            }
            .map_err(StoreError::backend)?;
            rows.iter()
                .map(|row| Ok((row.try_get(0).map_err(StoreError::backend)?, row.try_get(1).map_err(StoreError::backend)?)))
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_before_the_next_prefix_of_its_length() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
