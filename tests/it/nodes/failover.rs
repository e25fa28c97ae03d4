//! Failover: the node that runs the reactions is killed (SIGKILL) in the middle of a booking
//! load. The other node takes its reactions over once their leases run out, every booking
//! settles, every acknowledged booking is in the log, each booking is charged once on the
//! provider's statement, and each recipient gets each confirmation once across both outboxes.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use actors::{EventCodec, EventStore};
use futures::future::join_all;
use konnektid::domain::booking::BookingEvent;
use konnektid::services::payments::simulated::{SimulatedGateway, TABLE};
use konnektid::services::{EntryKind, PaymentGateway};
use serde_json::json;
use uuid::Uuid;

use super::market::{book, course, register};
use super::{client, must, running, settle, wait_for, Cluster, Node, ADMIN};
use crate::process::whole_log;

const WORKERS: usize = 4;
/// Between two bookings of one worker: enough load to keep every reaction busy, not so much
/// that settling takes long.
const PAUSE: Duration = Duration::from_millis(20);

/// Books through both nodes in turn until told to stop; remembers what was acknowledged.
async fn load(nodes: [&Node; 2], learners: &[String], course: &str, worker: usize, stop: &Cell<bool>, acked: &RefCell<Vec<Uuid>>) {
    let client = client();
    let mut turn = worker;
    while !stop.get() {
        turn += 1;
        let learner = &learners[turn % learners.len()];
        match book(&client, nodes[turn % 2], learner, course, "tok_visa").await {
            Some((id, _)) => {
                acked.borrow_mut().push(id.parse().expect("a booking id"));
                actix_rt::time::sleep(PAUSE).await;
            }
            // The killed node no longer answers: the next turn goes to the other one.
            None => actix_rt::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn mails(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) else { return Vec::new() };
    entries
        .map(|entry| entry.expect("an entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml") && !name.starts_with('.'))
        .collect()
}

#[actix_rt::test]
async fn when_the_node_running_the_reactions_dies_under_load_the_other_takes_over_and_each_effect_happens_once() {
    let Some(cluster) = Cluster::create("nodes_failover").await else { return };
    let mut a = cluster.start("a");
    let client = client();
    // Node A starts first and takes every reaction; B joins and stands by.
    wait_for("node A runs the reactions", || async { (running(&client, &a).await?.1.len() == 3).then_some(()) }).await;
    let b = cluster.start("b");
    let teacher = register(&client, &a, "teacher").await;
    let seats = course(&client, &a, &b, &teacher, 10_000).await;
    let names: Vec<String> = (0..WORKERS).map(|i| format!("learner{i}")).collect();
    let learners = join_all(names.iter().map(|name| register(&client, &b, name))).await;

    let (stop, acked) = (Cell::new(false), RefCell::new(Vec::new()));
    let takeover = Cell::new(Duration::ZERO);
    let a_ref: &Node = &a;
    let workers = join_all((0..WORKERS).map(|worker| load([a_ref, &b], &learners, &seats, worker, &stop, &acked)));
    let killer = async {
        wait_for("some bookings before the kill", || async { (acked.borrow().len() >= 60).then_some(()) }).await;
        let killed_at = Instant::now();
        kill(a_ref);
        wait_for("node B takes the reactions over", || async { (running(&client, &b).await?.1.len() == 3).then_some(()) }).await;
        takeover.set(killed_at.elapsed());
        let after = acked.borrow().len();
        wait_for("bookings through the survivor", || async { (acked.borrow().len() >= after + 20).then_some(()) }).await;
        stop.set(true);
    };
    futures::future::join(workers, killer).await;
    a.kill();
    settle(&client, &b).await;
    let acked = acked.into_inner();
    eprintln!("{} bookings acknowledged; node B ran every reaction {:?} after the kill", acked.len(), takeover.get());

    for booking in &acked {
        let data =
            must(&client, &b.graphql(), "query($id: ID!) { booking(id: $id) { status } }", json!({ "id": booking }), Some(ADMIN)).await;
        assert_eq!(data["booking"]["status"], "CONFIRMED", "booking {booking} settled");
    }
    let store = cluster.store().await;
    let events = whole_log(&store).await;
    let codec = EventCodec::<BookingEvent>::default();
    let (mut requested, mut confirmations) = (BTreeSet::new(), Vec::new());
    for event in events.iter().filter(|event| event.stream.aggregate_type == "booking") {
        match codec.decode(event).expect("a booking event") {
            BookingEvent::BookingRequested { .. } => {
                requested.insert(event.stream.aggregate_id);
            }
            BookingEvent::BookingConfirmed { .. } => confirmations.push(event.event_id),
            _ => {}
        }
    }
    assert!(acked.iter().all(|booking| requested.contains(booking)), "every acknowledged booking is in the log");
    assert_eq!(confirmations.len(), requested.len(), "every booking is confirmed once");

    let provider = SimulatedGateway::new(store.records(TABLE).expect("the provider's records"), Duration::ZERO);
    let statement = provider.statement(None, 0, usize::MAX).await.expect("the statement");
    let mut charges: BTreeMap<Uuid, usize> = BTreeMap::new();
    for entry in statement.iter().filter(|entry| entry.kind == EntryKind::Charge) {
        *charges.entry(entry.booking_id).or_default() += 1;
    }
    assert_eq!(charges.keys().copied().collect::<BTreeSet<_>>(), requested, "every booking was charged");
    assert!(charges.values().all(|&count| count == 1), "no booking was charged twice: {charges:?}");

    // A message is named after its Message-ID, derived from the event and the recipient: a
    // message the dead node wrote just before it could record it is written again, with the
    // same Message-ID, by its successor (a relay drops such a repeat). What counts is that each
    // recipient gets one message per confirmation, and nothing else.
    let (on_a, on_b) = (mails(&a.data_dir), mails(&b.data_dir));
    let distinct: BTreeSet<&String> = on_a.iter().chain(&on_b).collect();
    let expected: BTreeSet<String> = confirmations
        .iter()
        .flat_map(|confirmation| ["learner", "teacher"].map(|role| format!("{}.eml", Uuid::new_v5(confirmation, role.as_bytes()))))
        .collect();
    assert_eq!(distinct.into_iter().cloned().collect::<BTreeSet<_>>(), expected, "one message per recipient and confirmation");
    let repeated = on_a.iter().filter(|name| on_b.contains(name)).count();
    eprintln!("{} messages on A, {} on B, {repeated} written again after the kill", on_a.len(), on_b.len());
}

/// SIGKILL through a shared reference: the load still holds one to the node.
fn kill(node: &Node) {
    let pid = node.pid();
    let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "the node was killed");
}
