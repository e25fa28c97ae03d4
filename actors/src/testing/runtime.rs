//! A whole runtime on a temporary directory, for tests of aggregates, read models and reactions
//! working together, including a restart on the same data.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::command::{CommandError, Executed};
use crate::event::{CommandContext, RecordedEvent};
use crate::runtime::{Runtime, RuntimeBuilder};
use crate::store::{EventStore, SledStore, SledStoreConfig};
use crate::subscriber::WaitFor;

type Setup = Arc<dyn Fn(RuntimeBuilder) -> RuntimeBuilder>;

/// A runtime on a sled store in a temporary directory. Use it under `#[actix_rt::test]`.
pub struct TestRuntime {
    dir: tempfile::TempDir,
    setup: Setup,
    /// Always `Some` outside of `restart`.
    runtime: Option<Runtime>,
}

impl TestRuntime {
    /// Starts a runtime; `setup` registers aggregates, read models, handlers and process
    /// managers, and is run again by [`TestRuntime::restart`].
    pub async fn start(setup: impl Fn(RuntimeBuilder) -> RuntimeBuilder + 'static) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let setup: Setup = Arc::new(setup);
        let runtime = Self::open(dir.path(), &setup).await;
        Self { dir, setup, runtime: Some(runtime) }
    }

    async fn open(dir: &Path, setup: &Setup) -> Runtime {
        let config = SledStoreConfig { fsync: false, cache_capacity: 32 * 1024 * 1024, ..SledStoreConfig::default() };
        // The previous runtime's writer thread may still hold the database for a moment.
        let mut attempts = 0;
        let store = loop {
            match SledStore::open(dir, config.clone()) {
                Ok(store) => break store,
                Err(error) if attempts < 500 => {
                    attempts += 1;
                    tracing::trace!(%error, "database still locked; retrying");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(error) => panic!("could not reopen the test store: {error}"),
            }
        };
        let builder = Runtime::builder_on(store).workers(2);
        setup(builder).start().await.expect("start the test runtime")
    }

    pub fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime is running")
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        self.runtime().store()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends a command as a fresh request.
    pub async fn send<A: Aggregate>(&self, id: Uuid, command: A::Command) -> Result<Executed<A>, CommandError<A>> {
        self.runtime().commands().send::<A>(id, command, CommandContext::new_request()).await
    }

    /// Waits until every subscriber (read models, process managers, handlers) has applied the
    /// head of the log, and the head stopped moving: every reaction has run to its end.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let head = self.store().head().await.expect("read the head");
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Err(timeout) = self.runtime().subscribers().wait_for(head, left, WaitFor::All).await {
                panic!("the runtime did not settle: {timeout}");
            }
            if self.store().head().await.expect("read the head") == head {
                return;
            }
        }
    }

    /// The whole log.
    pub async fn events(&self) -> Vec<RecordedEvent> {
        self.store().read_all(1, usize::MAX, None).await.expect("read the log")
    }

    /// Stops the runtime and starts a new one on the same directory (recovery tests).
    pub async fn restart(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown().await;
        }
        self.runtime = Some(Self::open(self.dir.path(), &self.setup).await);
    }
}
