//! Two nodes serve one marketplace: learners racing for seats through both, a write on one
//! read on the other with `consistent`, a subscription on one following a booking made on the
//! other, and what each node says about itself.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{json, Value};

use super::{client, must, running, settle, wait_for, Cluster, Node, ADMIN};
use crate::api::subscriptions::Socket;

const REGISTER: &str = "mutation($input: RegisterMemberInput!) { registerMember(input: $input) { token member { id } } }";
const BOOK: &str = "mutation($input: RequestBookingInput!) { requestBooking(input: $input) { booking { id } position } }";

/// Registers a member through `node`; answers its token.
pub async fn register(client: &awc::Client, node: &Node, name: &str) -> String {
    let input = json!({ "email": format!("{name}@example.org"), "displayName": name, "password": "correct horse battery" });
    let data = must(client, &node.graphql(), REGISTER, json!({ "input": input }), None).await;
    data["registerMember"]["token"].as_str().expect("a token").to_owned()
}

/// Creates a course through `created_on` and publishes it through `published_on`.
pub async fn course(client: &awc::Client, created_on: &Node, published_on: &Node, teacher: &str, capacity: u32) -> String {
    let create = "mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } } }";
    let input = json!({ "title": "Sourdough", "description": "Bread.", "category": "Cooking", "priceCents": 2_500, "capacity": capacity });
    let data = must(client, &created_on.graphql(), create, json!({ "input": input }), Some(teacher)).await;
    let id = data["createCourse"]["course"]["id"].as_str().expect("an id").to_owned();
    let publish = "mutation($id: ID!) { publishCourse(input: { id: $id }) { position } }";
    must(client, &published_on.graphql(), publish, json!({ "id": id }), Some(teacher)).await;
    id
}

/// Requests a booking through `node`; answers its id and the position of its commit.
pub async fn book(client: &awc::Client, node: &Node, learner: &str, course: &str, method: &str) -> Option<(String, String)> {
    let input = json!({ "courseId": course, "paymentMethod": method });
    let answer = super::graphql(client, &node.graphql(), BOOK, json!({ "input": input }), Some(learner)).await?;
    let payload = &answer.get("data")?.get("requestBooking")?;
    Some((payload["booking"]["id"].as_str()?.to_owned(), payload["position"].as_str()?.to_owned()))
}

async fn status_of(client: &awc::Client, node: &Node, booking: &str) -> String {
    let data =
        must(client, &node.graphql(), "query($id: ID!) { booking(id: $id) { status } }", json!({ "id": booking }), Some(ADMIN)).await;
    data["booking"]["status"].as_str().unwrap_or_default().to_owned()
}

#[actix_rt::test]
async fn twenty_learners_racing_for_four_seats_through_two_nodes_end_with_four_confirmed() {
    let Some(cluster) = Cluster::create("nodes_race").await else { return };
    let (a, b) = (cluster.start("a"), cluster.start("b"));
    let client = client();
    let nodes = [&a, &b];
    let teacher = register(&client, &a, "teacher").await;
    let seats = course(&client, &a, &b, &teacher, 4).await;
    let names: Vec<String> = (0..20).map(|i| format!("learner{i}")).collect();
    let learners = join_all(names.iter().enumerate().map(|(i, name)| register(&client, nodes[i % 2], name))).await;

    let requested =
        join_all(learners.iter().enumerate().map(|(i, learner)| book(&client, nodes[i % 2], learner, &seats, "tok_visa"))).await;
    let bookings: Vec<String> = requested.into_iter().map(|booked| booked.expect("every request is acknowledged").0).collect();
    settle(&client, &a).await;
    settle(&client, &b).await;

    let mut statuses = Vec::new();
    for (i, booking) in bookings.iter().enumerate() {
        statuses.push(status_of(&client, nodes[(i + 1) % 2], booking).await);
    }
    let confirmed = statuses.iter().filter(|status| *status == "CONFIRMED").count();
    assert_eq!(confirmed, 4, "exactly the four seats are sold: {statuses:?}");
    assert!(statuses.iter().all(|status| status == "CONFIRMED" || status == "REJECTED"), "every booking settled: {statuses:?}");
    for node in nodes {
        let query = "query($id: ID!) { course(id: $id) { seatsTaken seatsAvailable } }";
        let data = must(&client, &node.graphql(), query, json!({ "id": seats }), Some(&teacher)).await;
        assert_eq!(
            data["course"],
            json!({ "seatsTaken": 4, "seatsAvailable": 0 }),
            "node {} sees the course full, not overbooked",
            node.name
        );
    }
}

#[actix_rt::test]
async fn a_booking_made_on_one_node_is_read_and_followed_on_the_other() {
    let Some(cluster) = Cluster::create("nodes_read_follow").await else { return };
    let (a, b) = (cluster.start("a"), cluster.start("b"));
    let client = client();
    let teacher = register(&client, &a, "teacher").await;
    let learner = register(&client, &b, "learner").await;
    let seats = course(&client, &a, &a, &teacher, 3).await;
    let (booking, position) = book(&client, &a, &learner, &seats, "tok_visa").await.expect("a booking");

    // Node B reads node A's write once its read models reached A's position.
    let consistent = "query($p: String!, $id: ID!) { consistent(minPosition: $p, timeoutMs: 10000) { booking(id: $id) { id } } }";
    let data = must(&client, &b.graphql(), consistent, json!({ "p": position, "id": booking }), Some(&learner)).await;
    assert_eq!(data["consistent"]["booking"]["id"], booking.as_str());

    // A subscription on node B follows it to CONFIRMED.
    let mut socket = Socket::at(&client, &b.ws(), &learner).await;
    let query = "subscription($id: ID!) { bookingUpdated(id: $id) { id status } }";
    socket.subscribe("1", query, json!({ "id": booking })).await;
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("CONFIRMED") {
        let payload: Value = socket.next_result("1").await;
        assert!(payload.get("errors").is_none(), "{payload:#}");
        seen.push(payload["data"]["bookingUpdated"]["status"].as_str().unwrap_or_default().to_owned());
        assert!(seen.len() < 10, "{seen:?}");
    }

    // What one node stored beside the log, the other knows: credentials and idempotency keys.
    let login = "mutation { login(email: \"learner@example.org\", password: \"correct horse battery\") { member { id } } }";
    let signed_in = must(&client, &a.graphql(), login, json!({}), None).await;
    let input =
        json!({ "email": "twice@example.org", "displayName": "Twice", "password": "correct horse battery", "idempotencyKey": "k1" });
    let first = must(&client, &a.graphql(), REGISTER, json!({ "input": input }), None).await;
    let again = must(&client, &b.graphql(), REGISTER, json!({ "input": input }), None).await;
    assert_eq!(
        first["registerMember"]["member"]["id"], again["registerMember"]["member"]["id"],
        "the key's first result, on the other node"
    );
    assert!(signed_in["login"]["member"]["id"].is_string());

    // Each node says who it is; between them they run every reaction, each once.
    let (id_a, running_a) = running(&client, &a).await.expect("node A answers");
    let (id_b, running_b) = running(&client, &b).await.expect("node B answers");
    assert_eq!((id_a.as_str(), id_b.as_str()), ("a", "b"));
    let all: BTreeSet<&String> = running_a.iter().chain(&running_b).collect();
    assert_eq!(all.len(), running_a.len() + running_b.len(), "no reaction runs twice: {running_a:?} {running_b:?}");
    assert_eq!(all.into_iter().cloned().collect::<Vec<_>>(), ["booking-flow", "email", "payment-gateway"]);
    let member = must(&client, &a.graphql(), "{ node { store roles running } }", json!({}), Some(&learner)).await;
    assert_eq!(member["node"], json!({ "store": "postgres", "roles": ["api", "booking-flow", "payments", "email"], "running": null }));
    let metrics = super::body(&client, &b.url("/metrics")).await;
    assert!(metrics.contains("node=\"b\""), "metrics carry the node id");
}

#[actix_rt::test]
async fn a_node_without_the_api_role_serves_only_probes_and_metrics_and_runs_its_reactions() {
    let Some(cluster) = Cluster::create("nodes_roles").await else { return };
    let api = cluster.start_with("api", &[("KONNEKTID_NODE_ROLES", "api")]);
    let worker = cluster.start_with("worker", &[("KONNEKTID_NODE_ROLES", "booking-flow,payments,email")]);
    let client = client();
    assert_eq!(super::status(&client, &worker.graphql()).await, 404);
    assert_eq!(super::status(&client, &worker.url("/health")).await, 200);
    assert!(super::body(&client, &worker.url("/metrics")).await.contains("node=\"worker\""));
    let (_, running_on_api) = running(&client, &api).await.expect("the api node answers");
    assert!(running_on_api.is_empty(), "the api node runs no reaction: {running_on_api:?}");

    let teacher = register(&client, &api, "teacher").await;
    let learner = register(&client, &api, "learner").await;
    let seats = course(&client, &api, &api, &teacher, 3).await;
    let (booking, _) = book(&client, &api, &learner, &seats, "tok_visa").await.expect("a booking");
    wait_for("the worker confirms the booking", || async { (status_of(&client, &api, &booking).await == "CONFIRMED").then_some(()) }).await;
    let outbox = worker.data_dir.join("outbox");
    wait_for("the worker mails the confirmation", || async { outbox.read_dir().ok()?.next().map(drop) }).await;
    assert_eq!(super::status(&client, &worker.url("/ready")).await, 200);
}
