//! The database goes away under a running node and comes back. The tests share one database
//! server, so it is not restarted: the node connects as a role of its own, which is refused new
//! connections (`ALTER ROLE ... NOLOGIN`) while every connection it has is terminated
//! (`pg_terminate_backend`), then allowed again. Meanwhile the node reports not ready; then it
//! reconnects on its own and goes on.

use actors::testing::postgres::test_url;
use serde_json::json;
use tokio_postgres::NoTls;

use super::market::{book, course, register};
use super::{client, must, running, settle, status, wait_for, Cluster, ADMIN};

/// Runs `sql` as the test database's user.
async fn admin(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&test_url(), NoTls).await.expect("the test database");
    let connection = actix_rt::spawn(connection);
    client.batch_execute(sql).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
    drop(client);
    let _ = connection.await;
}

fn database(url: &str) -> String {
    url.rsplit('/').next().and_then(|last| last.split('?').next()).filter(|name| !name.is_empty()).unwrap_or("postgres").to_owned()
}

/// The test database's URL, as `role`.
fn url_as(role: &str) -> String {
    let url = test_url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}@{host}")
}

#[actix_rt::test]
async fn a_node_whose_database_goes_away_reports_not_ready_then_reconnects_and_goes_on() {
    // A skip (no database) is decided by the cluster below; the role needs the database first.
    if actors::testing::postgres::TestSchema::create("nodes_outage_probe").await.is_none() {
        return;
    }
    let role = format!("r_outage_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let database = database(&test_url());
    admin(&format!("CREATE ROLE {role} LOGIN; GRANT CREATE ON DATABASE {database} TO {role}")).await;
    let cluster = Cluster::with_url("nodes_outage", url_as(&role)).await.expect("the database answered a moment ago");
    let node = cluster.start("a");
    let client = client();
    let teacher = register(&client, &node, "teacher").await;
    let learner = register(&client, &node, "learner").await;
    let seats = course(&client, &node, &node, &teacher, 5).await;
    assert_eq!(status(&client, &node.url("/ready")).await, 200);

    admin(&format!("ALTER ROLE {role} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")).await;
    wait_for("the node reports not ready", || async { (status(&client, &node.url("/ready")).await == 503).then_some(()) }).await;
    assert!(book(&client, &node, &learner, &seats, "tok_visa").await.is_none(), "no booking without the database");
    // Its leases cannot be renewed: once they ran out, the node stops its reactions.
    wait_for("the node gives its reactions up", || async { running(&client, &node).await?.1.is_empty().then_some(()) }).await;

    admin(&format!("ALTER ROLE {role} LOGIN")).await;
    wait_for("the node is ready again", || async { (status(&client, &node.url("/ready")).await == 200).then_some(()) }).await;
    wait_for("the node runs its reactions again", || async { (running(&client, &node).await?.1.len() == 3).then_some(()) }).await;
    let (booking, _) = book(&client, &node, &learner, &seats, "tok_visa").await.expect("a booking after the outage");
    wait_for("the booking is confirmed", || async {
        let query = "query($id: ID!) { booking(id: $id) { status } }";
        let data = must(&client, &node.graphql(), query, json!({ "id": booking }), Some(ADMIN)).await;
        (data["booking"]["status"] == "CONFIRMED").then_some(())
    })
    .await;
    settle(&client, &node).await;

    drop(node);
    drop(cluster);
    admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'; \
         REVOKE CREATE ON DATABASE {database} FROM {role}; DROP OWNED BY {role} CASCADE; DROP ROLE {role}"
    ))
    .await;
}
