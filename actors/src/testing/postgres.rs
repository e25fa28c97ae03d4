//! A PostgreSQL schema of its own for each test, so tests run in parallel on one database, and
//! the rule for machines without one: skip with one printed line, unless told to require it.
//!
//! The database is the one `KONNEKTID_TEST_POSTGRES_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/test`); `KONNEKTID_TEST_REQUIRE_POSTGRES=1` (CI) turns a
//! missing database into a failure.

use std::time::Duration;

use tokio_postgres::NoTls;

use crate::store::{PostgresStore, PostgresStoreConfig};

/// Names the test database.
pub const URL_VARIABLE: &str = "KONNEKTID_TEST_POSTGRES_URL";
/// Set to `1`, a test that finds no database fails instead of skipping.
pub const REQUIRE_VARIABLE: &str = "KONNEKTID_TEST_REQUIRE_POSTGRES";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database's URL.
pub fn test_url() -> String {
    std::env::var(URL_VARIABLE).ok().filter(|url| !url.is_empty()).unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// A schema no other test uses, dropped with everything in it when this value is dropped.
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// A fresh schema named after `test`, or `None` (after printing why) where no database
    /// answers.
    ///
    /// # Panics
    /// Where no database answers and `KONNEKTID_TEST_REQUIRE_POSTGRES=1`.
    pub async fn create(test: &str) -> Option<Self> {
        let url = test_url();
        if let Err(error) = probe(&url).await {
            let required = std::env::var(REQUIRE_VARIABLE).is_ok_and(|value| value == "1");
            assert!(!required, "{test}: no PostgreSQL answers at {url} ({error}), and {REQUIRE_VARIABLE}=1");
            println!("{test}: skipped, no PostgreSQL answers at {url} ({error})");
            return None;
        }
        let mut name: String =
            test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(30).collect();
        name = format!("t_{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Some(Self { url, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's configuration for this schema, with a quick poll so tests wait little.
    pub fn config(&self) -> PostgresStoreConfig {
        PostgresStoreConfig {
            poll_interval: Duration::from_millis(200),
            pool_size: 4,
            io_threads: 1,
            ..PostgresStoreConfig::new(&self.url)
        }
        .schema(&self.name)
    }

    /// A store on this schema (one more store on the same schema is one more node).
    ///
    /// # Panics
    /// When the store cannot connect.
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(self.config()).await.unwrap_or_else(|error| panic!("connect to {}: {error}", self.url))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Dropped inside tests' runtimes, where blocking on another runtime is not allowed:
        // a thread of its own does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let (client, connection) = url.parse::<tokio_postgres::Config>().ok()?.connect(NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await.ok()
            })
        });
        let _ = dropped.join();
    }
}

async fn probe(url: &str) -> Result<(), String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|error| format!("{error}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(NoTls).await.map_err(|error| error.to_string())?;
    let connection = tokio::spawn(connection);
    let answered = client.simple_query("SELECT 1").await.map(drop).map_err(|error| error.to_string());
    drop(client);
    let _ = connection.await;
    answered
}
