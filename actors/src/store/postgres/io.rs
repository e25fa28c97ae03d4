//! Where the store's database I/O runs: a tokio runtime of its own, and the connection pool.
//!
//! tokio-postgres drives each connection from a task spawned where the connection was made. Made
//! on an actix arbiter, a connection would die with that arbiter; made here, connections live as
//! long as the store, whichever runtime its callers run on.

use std::future::Future;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;

use crate::store::StoreError;

/// The store's runtime, shut down (without waiting) when the store is dropped.
pub(super) struct Io {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Io {
    pub(super) fn start(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("postgres-store")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self { runtime: Some(runtime), handle })
    }

    /// Runs `work` on the store's runtime and waits for it from whatever runtime calls.
    pub(super) async fn run<T, E>(&self, work: impl Future<Output = Result<T, E>> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match self.handle.spawn(work).await {
            Ok(outcome) => outcome,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    pub(super) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(work);
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        // A runtime may not be dropped (which blocks) inside another one, where stores often are.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The pool of connections, all set to the store's schema and durable commits.
#[derive(Clone)]
pub(super) struct Db {
    pool: Pool,
}

impl Db {
    pub(super) fn new(config: tokio_postgres::Config, size: usize) -> Result<Self, StoreError> {
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .wait_timeout(Some(std::time::Duration::from_secs(30)))
            .build()
            .map_err(StoreError::backend)?;
        Ok(Self { pool })
    }

    /// A connection; a dead one (the database restarted) is replaced on the way.
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }
}

/// Closes a connection that failed part-way instead of handing it back: it may be inside an
/// aborted transaction, or its state be otherwise unknown.
pub(super) fn discard(client: Object) {
    drop(Object::take(client));
}

/// Prepares `sql` on `client`, each statement once per connection.
pub(super) async fn prepare<const N: usize>(client: &Object, sql: [&str; N]) -> Result<[tokio_postgres::Statement; N], StoreError> {
    let prepared = futures::future::try_join_all(sql.map(|sql| client.prepare_cached(sql))).await.map_err(StoreError::backend)?;
    prepared.try_into().map_err(|_| StoreError::Corrupt("prepared a different number of statements".into()))
}
