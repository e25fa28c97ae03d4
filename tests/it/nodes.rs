//! Several nodes of the real server binary on one PostgreSQL log: each test starts its own
//! processes, each with its own data directory and port, on a schema of its own; skipped with
//! one printed line where no database answers (a failure with
//! `KONNEKTID_TEST_REQUIRE_POSTGRES=1`). Leases last 1.5 s here, so a takeover takes about 2 s.

mod backup;
mod failover;
mod market;
mod outage;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use actors::testing::postgres::{test_url, TestSchema};
use serde_json::{json, Value};

use crate::process::serve;

pub const ADMIN: &str = "nodes-admin";
/// How long a test waits for a node to start or for the cluster to settle.
pub const DEADLINE: Duration = Duration::from_secs(40);
pub const LEASE_TTL_MS: &str = "1500";

/// A schema of its own and a working directory for the nodes of one test.
pub struct Cluster {
    schema: TestSchema,
    work: tempfile::TempDir,
    url: String,
}

impl Cluster {
    pub async fn create(test: &str) -> Option<Self> {
        Self::with_url(test, test_url()).await
    }

    /// A cluster whose nodes connect with `url` (another role than the test's, say).
    pub async fn with_url(test: &str, url: String) -> Option<Self> {
        let schema = TestSchema::create(test).await?;
        Some(Self { schema, work: tempfile::tempdir().expect("a temporary directory"), url })
    }

    pub fn schema(&self) -> &str {
        self.schema.name()
    }

    /// The cluster's store, opened by the test itself.
    pub async fn store(&self) -> actors::PostgresStore {
        self.schema.store().await
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }

    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.work.path().join(node)
    }

    /// The environment every node and command of this cluster runs with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KONNEKTID_STORE_URL", self.url.clone()),
            ("KONNEKTID_STORE_SCHEMA", self.schema().to_owned()),
            ("KONNEKTID_STORE_POOL_SIZE", "4".into()),
            ("KONNEKTID_NODE_LEASE_TTL_MS", LEASE_TTL_MS.into()),
            ("KONNEKTID_AUTH_ADMIN_TOKEN", ADMIN.into()),
            ("KONNEKTID_AUTH_PASSWORD_MEMORY_KIB", "64".into()),
            ("KONNEKTID_AUTH_PASSWORD_ITERATIONS", "1".into()),
            ("KONNEKTID_AUTH_LOGIN_MAX_FAILURES", "0".into()),
            ("KONNEKTID_STORAGE_FSYNC", "false".into()),
            ("KONNEKTID_STORAGE_CACHE_MIB", "16".into()),
            ("KONNEKTID_SERVER_WORKERS", "1".into()),
            ("KONNEKTID_RUNTIME_WORKERS", "1".into()),
            ("KONNEKTID_RUNTIME_SUBSCRIBER_WORKERS", "1".into()),
            ("KONNEKTID_RUNTIME_HANDLER_FIRST_BACKOFF_MS", "10".into()),
            ("KONNEKTID_LOG_LEVEL", "warn,konnektid::server=info".into()),
        ]
    }

    /// Starts node `name` with every role.
    pub fn start(&self, name: &str) -> Node {
        self.start_with(name, &[])
    }

    /// Starts node `name` with extra settings (`KONNEKTID_...` pairs).
    pub fn start_with(&self, name: &str, settings: &[(&str, &str)]) -> Node {
        let data_dir = self.data_dir(name);
        let mut command = Command::new(env!("CARGO_BIN_EXE_konnektid"));
        command.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]).arg(&data_dir).current_dir(self.work());
        command.envs(self.env()).env("KONNEKTID_NODE_ID", name).envs(settings.iter().copied());
        let (child, address) = serve(&mut command, &format!("node {name}"), DEADLINE);
        Node { name: name.to_owned(), child: Some(child), address, data_dir }
    }
}

/// A running server process.
pub struct Node {
    pub name: String,
    child: Option<Child>,
    address: String,
    pub data_dir: PathBuf,
}

impl Node {
    pub fn graphql(&self) -> String {
        format!("http://{}/graphql", self.address)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn ws(&self) -> String {
        format!("ws://{}/graphql", self.address)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no lease is released, nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("the node is gone");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn client() -> awc::Client {
    awc::Client::builder().timeout(Duration::from_secs(20)).finish()
}

/// The whole answer to a GraphQL request; `None` when the node did not answer.
pub async fn graphql(client: &awc::Client, url: &str, query: &str, variables: Value, token: Option<&str>) -> Option<Value> {
    let mut request = client.post(url);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send_json(&json!({ "query": query, "variables": variables })).await.ok()?;
    response.json().limit(16 << 20).await.ok()
}

/// `data` of a request that must succeed.
pub async fn must(client: &awc::Client, url: &str, query: &str, variables: Value, token: Option<&str>) -> Value {
    let answer = graphql(client, url, query, variables, token).await.unwrap_or_else(|| panic!("no answer to {query}"));
    assert!(answer.get("errors").is_none(), "{query}: {answer:#}");
    answer["data"].clone()
}

/// The HTTP status of a GET, 0 when the node does not answer.
pub async fn status(client: &awc::Client, url: &str) -> u16 {
    client.get(url).send().await.map_or(0, |response| response.status().as_u16())
}

pub async fn body(client: &awc::Client, url: &str) -> String {
    let mut response = client.get(url).send().await.expect("an answer");
    String::from_utf8_lossy(&response.body().limit(16 << 20).await.expect("a body")).into_owned()
}

/// Waits for `check` to answer `Some`, asking every 50 ms until the deadline.
pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the admin learns from `node` on one node: its id and the reactions it runs now.
pub async fn running(client: &awc::Client, node: &Node) -> Option<(String, Vec<String>)> {
    let answer = graphql(client, &node.graphql(), "{ node { id store running } }", json!({}), Some(ADMIN)).await?;
    let info = &answer["data"]["node"];
    let running = info["running"].as_array()?.iter().filter_map(|name| name.as_str().map(str::to_owned)).collect();
    Some((info["id"].as_str()?.to_owned(), running))
}

/// Waits until every subscriber of `node` shows the head, twice in a row with the head
/// unchanged, and nothing is parked.
pub async fn settle(client: &awc::Client, node: &Node) {
    let (started, mut settled_at) = (Instant::now(), None::<String>);
    loop {
        assert!(started.elapsed() < DEADLINE, "node {} did not settle within {DEADLINE:?}", node.name);
        let data = must(client, &node.graphql(), "{ head projections { name position lag parked } }", json!({}), Some(ADMIN)).await;
        let statuses = data["projections"].as_array().expect("a list").clone();
        assert!(statuses.iter().all(|s| s["parked"] == 0), "a subscriber parked an event: {statuses:#?}");
        let head = data["head"].as_str().unwrap_or_default().to_owned();
        let caught_up = statuses.iter().all(|s| s["lag"] == "0" && s["position"] == head.as_str());
        if caught_up && settled_at.as_deref() == Some(head.as_str()) {
            return;
        }
        settled_at = caught_up.then_some(head);
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}
