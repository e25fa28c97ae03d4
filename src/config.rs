//! The operator's settings: `config.toml`, overridden key by key by `KONNEKTID_<SECTION>_<KEY>`
//! environment variables, then by command-line flags.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::services::{MailConfig, PaymentsConfig};

/// Every setting, with the defaults `config.toml` documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub store: StoreConfig,
    pub node: NodeConfig,
    pub runtime: RuntimeConfig,
    pub auth: AuthConfig,
    pub mail: MailConfig,
    pub payments: PaymentsConfig,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub body_limit_bytes: usize,
    pub max_query_depth: usize,
    pub max_page_size: usize,
    pub max_timeout_ms: u64,
    pub command_timeout_ms: u64,
    pub shutdown_timeout_secs: u64,
    pub workers: usize,
    /// GraphQL requests over HTTP per second and client (member, else peer address); 0: no limit.
    pub rate_limit_per_second: u32,
    /// Requests a client may send at once before the rate applies; 0: as many as the rate.
    pub rate_limit_burst: u32,
    /// Memory for answers to read-model queries, reused while no read model changes; 0: none.
    pub response_cache_mib: u64,
    /// Origins (`https://app.example.org`) whose pages may call `/graphql` (CORS); empty: none.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            body_limit_bytes: 64 * 1024,
            max_query_depth: 12,
            max_page_size: 100,
            max_timeout_ms: 30_000,
            command_timeout_ms: 10_000,
            shutdown_timeout_secs: 10,
            workers: 0,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            response_cache_mib: 32,
            cors_allowed_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub fsync: bool,
    pub cache_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("./data"), fsync: true, cache_mib: 256 }
    }
}

/// Where the event log lives: embedded in the data directory, or in PostgreSQL shared by nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Empty: the embedded sled store in the data directory. `postgres://...`: PostgreSQL.
    pub url: String,
    /// The PostgreSQL schema holding the store's tables (created and migrated by the server).
    pub schema: String,
    /// PostgreSQL connections per node for appends, reads and records (one more listens).
    pub pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: String::new(), schema: "konnektid".into(), pool_size: 8 }
    }
}

/// This node among those sharing one store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique among the nodes; empty: the host name, process id and a random suffix.
    pub id: String,
    /// What this node runs: `api`, `booking-flow`, `payments`, `email`.
    pub roles: Vec<String>,
    /// How long a reaction's lease lasts unrenewed: another node takes over a dead node's
    /// reactions at most this long plus a second after its last renewal.
    pub lease_ttl_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self { id: String::new(), roles: ["api", "booking-flow", "payments", "email"].map(String::from).to_vec(), lease_ttl_ms: 10_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Threads running aggregate actors; 0: half the cores, at least one.
    pub workers: usize,
    /// Threads running read models and reactions, apart from the actors; 0: half the cores, at
    /// least one.
    pub subscriber_workers: usize,
    pub snapshot_every: u64,
    pub idle_timeout_secs: u64,
    pub max_live_actors: usize,
    pub mailbox_capacity: usize,
    pub conflict_retries: u32,
    pub handler_max_retries: u32,
    pub handler_first_backoff_ms: u64,
    /// `/ready` answers 503 while any subscriber is further behind than this many events.
    pub ready_max_lag: u64,
}

impl RuntimeConfig {
    /// The threads `workers` asks for on this machine (aggregate actors).
    pub fn actor_threads(&self) -> usize {
        half_the_cores_unless(self.workers)
    }

    /// The threads `subscriber_workers` asks for on this machine (read models and reactions).
    pub fn subscriber_threads(&self) -> usize {
        half_the_cores_unless(self.subscriber_workers)
    }
}

/// `setting`, or when it is 0 half the cores and at least one. Actors on some threads and
/// subscribers on others: a message between two actors or two subscribers on one thread is a
/// queue push rather than a wake-up of another thread, and a burst of projection work never
/// holds back a command's answer (on two cores, 1 + 1 answered `requestBooking` in 11-18 ms where
/// one shared thread took 17-25 ms, and two shared threads cost 12% more CPU per booking).
fn half_the_cores_unless(setting: usize) -> usize {
    if setting > 0 {
        return setting;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / 2).max(1)
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            subscriber_workers: 0,
            snapshot_every: 100,
            idle_timeout_secs: 300,
            max_live_actors: 100_000,
            mailbox_capacity: 256,
            conflict_retries: 5,
            handler_max_retries: 5,
            handler_first_backoff_ms: 50,
            ready_max_lag: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing secret; empty: one is generated once and kept in the data directory.
    pub jwt_secret: String,
    pub token_ttl_secs: u64,
    /// The admin's bearer token; empty: one is generated once and kept in the data directory.
    pub admin_token: String,
    /// Argon2id cost: memory in KiB and passes. Tests lower them; production keeps the defaults.
    pub password_memory_kib: u32,
    pub password_iterations: u32,
    /// Failed logins for one address within the window after which `login` answers LIMIT for
    /// it until the window has passed; 0: no limit.
    pub login_max_failures: u32,
    pub login_failure_window_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            token_ttl_secs: 24 * 3600,
            admin_token: String::new(),
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            login_max_failures: 10,
            login_failure_window_secs: 600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `konnektid=debug,actors=info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "human".into(), level: "info".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/HTTP endpoint spans are exported to, e.g. `http://localhost:4318/v1/traces`;
    /// empty: no export.
    pub otlp_endpoint: String,
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { otlp_endpoint: String::new(), service_name: "konnektid".into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error("environment variable {name}={value:?} is not a valid {expected}")]
    BadEnv { name: String, value: String, expected: &'static str },
}

impl Config {
    /// Reads `path` (if given; a missing explicit file is an error), then applies environment
    /// overrides from `env`.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let (text, origin) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
                (text, path.display().to_string())
            }
            None => (String::new(), "defaults".to_owned()),
        };
        let mut table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| ConfigError::Invalid { path: origin.clone(), message: e.to_string() })?;
        let defaults = toml::Table::try_from(Config::default()).expect("the defaults serialize");
        let env: Vec<(String, String)> = env.into_iter().filter(|(name, _)| name.starts_with("KONNEKTID_")).collect();
        for (section, keys) in &defaults {
            let Some(keys) = keys.as_table() else { continue };
            for (key, default) in keys {
                let name = format!("KONNEKTID_{}_{}", section.to_uppercase(), key.to_uppercase());
                let Some((_, value)) = env.iter().find(|(n, _)| *n == name) else { continue };
                let typed = typed_like(default, &name, value)?;
                let section_table = table.entry(section.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(section_table) = section_table.as_table_mut() {
                    section_table.insert(key.clone(), typed);
                }
            }
        }
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid { path: origin, message: e.to_string() })
    }
}

fn typed_like(default: &toml::Value, name: &str, value: &str) -> Result<toml::Value, ConfigError> {
    let bad = |expected| ConfigError::BadEnv { name: name.to_owned(), value: value.to_owned(), expected };
    Ok(match default {
        toml::Value::Integer(_) => toml::Value::Integer(value.trim().parse().map_err(|_| bad("integer"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(value.trim().parse().map_err(|_| bad("boolean (true or false)"))?),
        toml::Value::Float(_) => toml::Value::Float(value.trim().parse().map_err(|_| bad("number"))?),
        // A list is written comma-separated: KONNEKTID_SERVER_CORS_ALLOWED_ORIGINS=https://a,https://b
        toml::Value::Array(_) => toml::Value::Array(
            value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(|item| toml::Value::String(item.to_owned())).collect(),
        ),
        _ => toml::Value::String(value.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_shipped_config_file_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn environment_variables_override_keys_with_their_types() {
        let config = Config::load(
            None,
            env(&[
                ("KONNEKTID_AUTH_ADMIN_TOKEN", "secret"),
                ("KONNEKTID_SERVER_MAX_PAGE_SIZE", "50"),
                ("KONNEKTID_STORAGE_FSYNC", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(config.auth.admin_token, "secret");
        assert_eq!(config.server.max_page_size, 50);
        assert!(!config.storage.fsync);
        let origins =
            Config::load(None, env(&[("KONNEKTID_SERVER_CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")])).unwrap();
        assert_eq!(origins.server.cors_allowed_origins, ["https://a.example", "https://b.example"]);
    }

    #[test]
    fn a_badly_typed_environment_variable_is_a_clear_error() {
        let error = Config::load(None, env(&[("KONNEKTID_SERVER_MAX_PAGE_SIZE", "many")])).unwrap_err();
        assert!(error.to_string().contains("KONNEKTID_SERVER_MAX_PAGE_SIZE"));
    }

    #[test]
    fn runtime_threads_default_to_half_the_cores_and_follow_the_settings() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let defaults = RuntimeConfig::default();
        assert_eq!((defaults.actor_threads(), defaults.subscriber_threads()), ((cores / 2).max(1), (cores / 2).max(1)));
        let config = Config::load(None, env(&[("KONNEKTID_RUNTIME_WORKERS", "3"), ("KONNEKTID_RUNTIME_SUBSCRIBER_WORKERS", "2")])).unwrap();
        assert_eq!((config.runtime.actor_threads(), config.runtime.subscriber_threads()), (3, 2));
    }

    #[test]
    fn the_store_and_the_roles_come_from_their_environment_variables() {
        let defaults = Config::default();
        assert!(defaults.store.url.is_empty(), "the embedded store by default");
        assert_eq!(defaults.node.roles, ["api", "booking-flow", "payments", "email"]);
        let config =
            Config::load(None, env(&[("KONNEKTID_STORE_URL", "postgres://db/konnektid"), ("KONNEKTID_NODE_ROLES", "payments, email")]))
                .unwrap();
        assert_eq!(config.store.url, "postgres://db/konnektid");
        assert_eq!(config.node.roles, ["payments", "email"]);
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[server]\nbnid = \"x\"\n").unwrap();
        assert!(Config::load(Some(&path), env(&[])).unwrap_err().to_string().contains("bnid"));
    }
}
