//! W1 on the PostgreSQL store (`--only pg`), and in the same run PostgreSQL's own ceiling for
//! that write shape: transactions of 64 one-row inserts of an event row, each committed
//! synchronously, from as many connections as gives the most. Skipped, with one line, where no
//! database answers at `KONNEKTID_TEST_POSTGRES_URL` (default the local test database).

use std::sync::Arc;
use std::time::Instant;

use actors::testing::postgres::TestSchema;
use actors::{AggregateConfig, PostgresStore, PostgresStoreConfig, Runtime};
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::account::Account;
use crate::commands::{many_clients, open, run_clients, LagProbe};
use crate::report::emit;
use crate::Options;

pub async fn run(options: &Options) {
    let Some(schema) = TestSchema::create("runtime_bench").await else { return };
    let scale = options.scale;
    let mut config = PostgresStoreConfig::new(actors::testing::postgres::test_url()).schema(schema.name());
    if let Some(micros) = std::env::var("BENCH_PG_GATHER_WAIT_US").ok().and_then(|value| value.parse().ok()) {
        config.gather_wait = std::time::Duration::from_micros(micros);
    }
    let store = PostgresStore::connect(config).await.expect("connect the PostgreSQL store");
    let local = options.fresh_dir("w1-pg-local-");
    let local = sled::Config::new().path(local.path()).open().expect("open the local sled database");
    let probe = LagProbe::default();
    let runtime = Runtime::builder(Arc::new(store), local)
        .aggregate::<Account>(AggregateConfig::default())
        .read_model("lag", probe.clone())
        .start()
        .await
        .expect("start the runtime");
    let ids: Arc<Vec<Uuid>> = Arc::new((0..scale.aggregates).map(|_| Uuid::new_v4()).collect());
    let (took, _) = run_clients(&runtime, &ids, scale.clients, 1, open).await;
    let unit = "commands/s on PostgreSQL (Open: the first command of each aggregate, 64 clients)";
    emit("w1_pg_open_commands_per_s", scale.aggregates as f64 / took.as_secs_f64(), unit);

    let throughput = many_clients(&runtime, &probe, &ids, scale, ("w1_pg", "w3_pg")).await;
    let head = runtime.store().head().await.expect("read the head");
    assert_eq!(head as usize, scale.aggregates * (1 + scale.commands_per_aggregate), "every command committed one event");
    runtime.shutdown().await;
    drop(runtime);

    let commands = scale.aggregates * scale.commands_per_aggregate;
    let mut best = (0.0, 0);
    for connections in [1, 2, 4, 8] {
        let rate = ceiling(schema.name(), commands, scale.clients, connections).await;
        let unit = format!("rows/s: transactions of {} one-row inserts, synchronous commit, {connections} connections", scale.clients);
        emit(&format!("w1_pg_ceiling_{connections}_connections_rows_per_s"), rate, &unit);
        if connections == 1 {
            // The store's commits are serial by design (the head lock), like one connection's.
            let unit = "w1_pg_c64_commands_per_s / w1_pg_ceiling_1_connections_rows_per_s";
            emit("w1_pg_c64_ratio_to_serial_ceiling", throughput / rate, unit);
        }
        if rate > best.0 {
            best = (rate, connections);
        }
    }
    let unit = format!("the best of the above ({} connections)", best.1);
    emit("w1_pg_ceiling_rows_per_s", best.0, &unit);
    emit("w1_pg_c64_ratio_to_ceiling", throughput / best.0, "w1_pg_c64_commands_per_s / w1_pg_ceiling_rows_per_s");
}

/// Writes `rows` rows shaped like the store's events into a table shaped like its `events`
/// table (same columns and indexes), `per_transaction` inserts per transaction, each sent as its
/// own statement (pipelined), from `connections` connections at once. Returns rows per second.
async fn ceiling(schema: &str, rows: usize, per_transaction: usize, connections: usize) -> f64 {
    let url = actors::testing::postgres::test_url();
    let table = format!("{schema}.ceiling_{connections}");
    let setup = connect(&url).await;
    setup
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (LIKE {schema}.events INCLUDING ALL)"))
        .await
        .expect("create the ceiling's table");
    let insert = format!(
        "INSERT INTO {table} (position, stream_type, stream_id, version, event_id, event_type, schema_version, payload, \
         recorded_at, recorded_nanos, correlation_id, causation_id, metadata) \
         VALUES ($1, 'account', $2, $1, $3, 'Deposited', 1, $4, now(), 0, $3, NULL, '{{}}')"
    );
    let transactions = rows.div_ceil(per_transaction);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (url, insert) = (url.clone(), insert.clone());
            tokio::spawn(async move {
                let client = connect(&url).await;
                let statement = client.prepare(&insert).await.expect("prepare the insert");
                let (stream, payload) = (Uuid::new_v4(), vec![7u8; 12]);
                for transaction in (worker..transactions).step_by(connections) {
                    client.batch_execute("BEGIN").await.expect("begin");
                    let inserts = (0..per_transaction).map(|n| {
                        let position = (transaction * per_transaction + n + 1) as i64;
                        let (client, statement, payload) = (&client, &statement, &payload);
                        async move { client.execute(statement, &[&position, &stream, &Uuid::new_v4(), payload]).await }
                    });
                    for inserted in futures::future::join_all(inserts).await {
                        inserted.expect("insert a row");
                    }
                    client.batch_execute("COMMIT").await.expect("commit");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("ceiling worker");
    }
    let rate = (transactions * per_transaction) as f64 / started.elapsed().as_secs_f64();
    setup.batch_execute(&format!("DROP TABLE {table}")).await.expect("drop the ceiling's table");
    rate
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.parse().expect("a PostgreSQL URL");
    config.options("-c synchronous_commit=on");
    let (client, connection) = config.connect(NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}
