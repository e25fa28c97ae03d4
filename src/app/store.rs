//! The event store `store.url` names: the embedded sled store in the data directory (empty, the
//! default), or PostgreSQL (`postgres://...`), one log shared by every node that names it. Either
//! way the data directory keeps what is the node's own: its read models (sled) and its outbox.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actors::{
    ConnectError, EventStore, ImportError, Position, PostgresStore, PostgresStoreConfig, RecordedEvent, Runtime, RuntimeBuilder, SledStore,
    SledStoreConfig, StoreError,
};

use super::node::StoreKind;
use crate::config::Config;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    #[error("cannot open the event store in {path}: {source} (is another server using this data directory?)")]
    Sled { path: PathBuf, source: StoreError },
    #[error("cannot open the event store at {url}: {source}")]
    Postgres { url: String, source: ConnectError },
    #[error("store.url must be empty (the store in the data directory) or a postgres:// URL, not {0:?}")]
    Url(String),
    #[error("cannot open the node's own database in {path}: {source} (is another server using this data directory?)")]
    Local { path: PathBuf, source: sled::Error },
}

/// The store of one node, by kind: what the runtime needs plus what only the command line
/// does with a store (restoring a backup).
#[derive(Clone)]
pub enum Store {
    Sled(SledStore),
    Postgres(PostgresStore),
}

/// The sled store's directory inside a data directory.
pub fn sled_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// Where a node on PostgreSQL keeps its read models: apart from `db`, so a directory that held
/// an embedded log keeps it untouched.
pub fn local_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("node")
}

/// Whether `url` names PostgreSQL (else it must be empty).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating where needed) the store `config.store.url` names; `node` names this
    /// process's connections in PostgreSQL (`application_name`).
    pub async fn open(config: &Config, node: &str) -> Result<Self, OpenStoreError> {
        let url = config.store.url.trim();
        if url.is_empty() {
            let path = sled_dir(&config.storage.data_dir);
            let store_config = SledStoreConfig {
                fsync: config.storage.fsync,
                cache_capacity: config.storage.cache_mib * 1024 * 1024,
                upgrade_progress: crate::cli::upgrade_progress(),
                ..SledStoreConfig::default()
            };
            return SledStore::open(&path, store_config).map(Store::Sled).map_err(|source| OpenStoreError::Sled { path, source });
        }
        if !is_postgres(url) {
            return Err(OpenStoreError::Url(redacted(url)));
        }
        let store_config = PostgresStoreConfig {
            pool_size: config.store.pool_size.max(1),
            application_name: format!("konnektid {node}"),
            ..PostgresStoreConfig::new(url)
        }
        .schema(config.store.schema.clone());
        PostgresStore::connect(store_config)
            .await
            .map(Store::Postgres)
            .map_err(|source| OpenStoreError::Postgres { url: redacted(url), source })
    }

    pub fn kind(&self) -> StoreKind {
        match self {
            Store::Sled(_) => StoreKind::Sled,
            Store::Postgres(_) => StoreKind::Postgres,
        }
    }

    pub fn shared(&self) -> Arc<dyn EventStore> {
        match self {
            Store::Sled(store) => Arc::new(store.clone()),
            Store::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Writes a backup's events after the head, exactly as recorded (see `SledStore::import`).
    pub async fn import(&self, events: Vec<RecordedEvent>) -> Result<Position, ImportError> {
        match self {
            Store::Sled(store) => store.import(events).await,
            Store::Postgres(store) => store.import(events).await,
        }
    }

    /// A runtime builder on this store. On sled the store's own database holds the read models
    /// too (one write for a read model and its checkpoint); on PostgreSQL the node keeps them
    /// in a database of its own in the data directory.
    pub fn runtime(&self, config: &Config) -> Result<RuntimeBuilder, OpenStoreError> {
        match self {
            Store::Sled(store) => Ok(Runtime::builder_on(store.clone())),
            Store::Postgres(store) => {
                let path = local_dir(&config.storage.data_dir);
                let local = sled::Config::new()
                    .path(&path)
                    .cache_capacity(config.storage.cache_mib * 1024 * 1024)
                    .open()
                    .map_err(|source| OpenStoreError::Local { path, source })?;
                Ok(Runtime::builder(Arc::new(store.clone()), local))
            }
        }
    }
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_in_a_message() {
        assert_eq!(redacted("postgres://app:s3cret@db:5432/konnektid"), "postgres://app:***@db:5432/konnektid");
        assert_eq!(redacted("postgres://app@db/konnektid"), "postgres://app@db/konnektid");
        assert!(is_postgres("postgresql://db/x") && !is_postgres("mysql://db/x"));
    }
}
