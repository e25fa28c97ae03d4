//! The application: opens the data directory, wires the runtime (aggregates, read models,
//! choreography), and offers the operations the API translates requests into.

mod admin;
mod auth;
mod bookings;
mod courses;
mod credentials;
mod dispatch;
mod error;
mod flows;
mod idempotency;
mod members;
mod monitoring;
mod node;
mod repair;
mod reviews;
mod secrets;
mod signin;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actors::{AggregateConfig, EventStore, Position, RetryPolicy, Runtime, RuntimeBuilder, StartError};
use chrono::{DateTime, Utc};

pub use crate::domain::Refusal;
pub use auth::{Caller, Passwords, Tokens};
pub use courses::{CourseChanges, NewCourse};
pub use credentials::{Credential, Credentials, TABLE as CREDENTIALS_TABLE};
pub use dispatch::Committed;
pub use error::AppError;
pub use idempotency::{IdempotencyKeys, Ticket};
pub use members::{email_claim_id, NewMember, ProfileChanges};
pub use monitoring::Unready;
pub use node::{Node, NodeConfigError, Role, StoreKind};
pub use repair::Repaired;
pub use reviews::{NewReview, ReviewChanges};
pub use store::{is_postgres, local_dir, sled_dir, OpenStoreError, Store};

use crate::config::{Config, ServerConfig};
use crate::domain::aggregates::{AggregateKind, AggregateVisitor, DomainAggregate};
use crate::read_models::{self, ReadModels};
use crate::services::{self, PaymentGateway, ServiceDeps};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] OpenStoreError),
    #[error(transparent)]
    Node(#[from] NodeConfigError),
    #[error(transparent)]
    Runtime(#[from] StartError),
    #[error("local storage failed: {0}")]
    Local(#[from] sled::Error),
    #[error(transparent)]
    ReadModels(#[from] read_models::MissingReadModel),
    #[error("the mailer could not be set up: {0}")]
    Mail(#[from] services::MailError),
    #[error("{0}")]
    Config(String),
    #[error("the store's records cannot be opened: {0}")]
    Records(#[source] actors::StoreError),
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
}

/// How [`App::open_with`] starts the application.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Put the booking flow, the payment handler and the mailer at the head of the log, so that
    /// nothing already in it is acted on again: for a log just restored from a backup, whose
    /// history charged and mailed once already. Read models still build from the beginning.
    pub skip_history_reactions: bool,
}

/// The whole application, shared by every request.
pub struct App {
    runtime: Runtime,
    read_models: ReadModels,
    tokens: Tokens,
    passwords: Passwords,
    credentials: Credentials,
    idempotency: IdempotencyKeys,
    sign_in_limit: signin::SignInLimit,
    limits: ServerConfig,
    ready_max_lag: u64,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    data_dir: PathBuf,
    /// The provider the `payments` handler uses; repairs refund through it too.
    gateway: Arc<dyn PaymentGateway>,
    node: Node,
}

impl App {
    /// Opens (or creates) the data directory and starts everything. Must run inside an actix
    /// system.
    pub async fn open(config: &Config) -> Result<Arc<Self>, StartupError> {
        Self::open_with(config, OpenOptions::default()).await
    }

    /// [`App::open`], with options.
    pub async fn open_with(config: &Config, options: OpenOptions) -> Result<Arc<Self>, StartupError> {
        let data_dir = config.storage.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| StartupError::DataDir { path: data_dir.clone(), source })?;
        let kind = if is_postgres(config.store.url.trim()) { StoreKind::Postgres } else { StoreKind::Sled };
        let node = Node::from_config(&config.node, kind)?;
        let metrics = monitoring::recorder(&node.id);
        let opened = Store::open(config, &node.id).await?;
        let on_store = opened.runtime(config)?;
        let store = opened.shared();

        let aggregate = aggregate_config(config);
        let retry = RetryPolicy {
            max_retries: config.runtime.handler_max_retries,
            first_backoff: Duration::from_millis(config.runtime.handler_first_backoff_ms.max(1)),
            ..RetryPolicy::default()
        };
        let builder = on_store
            .workers(config.runtime.actor_threads())
            .subscriber_workers(config.runtime.subscriber_threads())
            .retry_policy(retry)
            .node_id(node.id.clone())
            .lease_ttl(Duration::from_millis(config.node.lease_ttl_ms))
            .reactions_here(node.reactions());
        let builder = register_aggregates(builder, &aggregate);
        let mailer = services::build_mailer(&config.mail, &data_dir)?;
        let gateway = services::build_gateway(&config.payments, store.as_ref()).map_err(StartupError::Records)?;
        let deps = ServiceDeps { store, gateway: gateway.clone(), mailer };
        let builder = read_models::register(builder).read_model(flows::NAME, flows::FlowIndex);
        let builder = if options.skip_history_reactions { builder.reactions_start_at_head() } else { builder };
        let runtime = services::register(builder, deps).map_err(StartupError::Records)?.start().await?;
        let read_models = ReadModels::from_runtime(&runtime)?;

        let store = runtime.store().clone();
        let records = |table: &str| store.records(table).map_err(StartupError::Records);
        let secrets = secrets::Secrets::load(&data_dir, &config.auth, records(secrets::TABLE)?).await?;
        let tokens = Tokens::new(secrets.jwt_secret.as_bytes(), Duration::from_secs(config.auth.token_ttl_secs), secrets.admin_token);
        let passwords = Passwords::new(config.auth.password_memory_kib, config.auth.password_iterations)
            .map_err(|e| StartupError::Config(e.to_string()))?;
        Ok(Arc::new(Self {
            runtime,
            read_models,
            tokens,
            passwords,
            credentials: Credentials::new(records(credentials::TABLE)?),
            idempotency: IdempotencyKeys::new(records(idempotency::TABLE)?),
            sign_in_limit: signin::SignInLimit::new(
                config.auth.login_max_failures,
                Duration::from_secs(config.auth.login_failure_window_secs),
            ),
            limits: config.server.clone(),
            ready_max_lag: config.runtime.ready_max_lag,
            metrics,
            data_dir,
            gateway,
            node,
        }))
    }

    /// This node: its id, its store and its roles.
    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        self.runtime.store()
    }

    pub fn read_models(&self) -> &ReadModels {
        &self.read_models
    }

    pub fn limits(&self) -> &ServerConfig {
        &self.limits
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The payment provider the `payments` handler charges and refunds through.
    pub fn gateway(&self) -> &Arc<dyn PaymentGateway> {
        &self.gateway
    }

    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AppError> {
        self.tokens.authenticate(authorization)
    }

    /// The position of the last committed event.
    pub async fn head(&self) -> Result<Position, AppError> {
        self.store().head().await.map_err(|e| AppError::internal("could not read the head of the log", e))
    }

    /// Stops subscribers and actors; the store flushes as its last handle goes.
    pub async fn shutdown(&self) {
        self.runtime.shutdown().await;
    }
}

/// Registers every aggregate of the domain's list, each with `config`.
fn register_aggregates(builder: RuntimeBuilder, config: &AggregateConfig) -> RuntimeBuilder {
    struct Register<'a>(RuntimeBuilder, &'a AggregateConfig);

    impl AggregateVisitor for Register<'_> {
        type Output = RuntimeBuilder;

        fn visit<A: DomainAggregate>(self) -> RuntimeBuilder {
            self.0.aggregate::<A>(self.1.clone())
        }
    }
    AggregateKind::ALL.iter().fold(builder, |builder, kind| kind.visit(Register(builder, config)))
}

fn aggregate_config(config: &Config) -> AggregateConfig {
    AggregateConfig {
        snapshot_every: config.runtime.snapshot_every,
        conflict_retries: config.runtime.conflict_retries,
        idle_timeout: Duration::from_secs(config.runtime.idle_timeout_secs.max(1)),
        max_live_actors: config.runtime.max_live_actors.max(1),
        mailbox_capacity: config.runtime.mailbox_capacity.max(1),
    }
}

/// Every read model the application keeps, by name: `projections`' five and the flow index.
pub fn read_model_names() -> Vec<&'static str> {
    read_models::NAMES.iter().copied().chain([flows::NAME]).collect()
}

/// The time commands carry, to the millisecond as the API shows it.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
