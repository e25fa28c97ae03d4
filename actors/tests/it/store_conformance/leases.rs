//! Leases with fencing, the same in every store: one holder at a time, a higher epoch at every
//! takeover, and a fenced write under a stale epoch writes nothing and says so.

use std::time::{Duration, Instant};

use actors::{Fenced, Lease, LeaseHeld, Leases, RecordWrite};

use super::Store;

conformance!(
    one_holder_at_a_time_and_a_renewal_keeps_the_epoch,
    a_lease_that_ran_out_goes_to_the_next_holder_at_a_higher_epoch,
    a_fenced_write_under_a_stale_epoch_writes_nothing,
    a_fenced_write_applies_puts_and_removes_in_order_across_tables,
    a_released_lease_goes_to_the_next_holder_at_once,
    holders_racing_for_a_free_lease_leave_exactly_one_holding_it,
);

const LONG: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_millis(100);

/// Asks for the lease until `holder` gets it (it waits for another holder's lease to run out).
async fn acquire_when_free(leases: &dyn Leases, name: &str, holder: &str) -> Lease {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match leases.acquire(name, holder, LONG).await.expect("the store works") {
            Ok(lease) => return lease,
            Err(held) => assert!(Instant::now() < deadline, "the lease never ran out: {held:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn one_holder_at_a_time_and_a_renewal_keeps_the_epoch(store: Store) {
    let leases = store.leases().unwrap();
    let first = leases.acquire("reactor", "node-a", LONG).await.unwrap().unwrap();
    assert_eq!((first.name.as_str(), first.holder.as_str()), ("reactor", "node-a"));
    assert!(first.epoch >= 1);

    let refused = leases.acquire("reactor", "node-b", LONG).await.unwrap();
    assert_eq!(refused, Err(LeaseHeld { name: "reactor".into(), holder: "node-a".into(), epoch: first.epoch }));
    assert_eq!(leases.acquire("reactor", "node-a", LONG).await.unwrap(), Ok(first.clone()), "a renewal keeps the epoch");
    assert_eq!(leases.holder("reactor").await.unwrap(), Some(first));

    let other = leases.acquire("other", "node-b", LONG).await.unwrap();
    assert!(other.is_ok(), "leases are apart by name");
    assert_eq!(leases.holder("nobody").await.unwrap(), None);
}

async fn a_lease_that_ran_out_goes_to_the_next_holder_at_a_higher_epoch(store: Store) {
    let leases = store.leases().unwrap();
    let first = leases.acquire("reactor", "node-a", SHORT).await.unwrap().unwrap();
    let second = acquire_when_free(leases.as_ref(), "reactor", "node-b").await;
    assert!(second.epoch > first.epoch, "{second:?} after {first:?}");
    assert_eq!(leases.holder("reactor").await.unwrap(), Some(second.clone()));

    let refused = leases.acquire("reactor", "node-a", LONG).await.unwrap();
    assert_eq!(refused, Err(LeaseHeld { name: "reactor".into(), holder: "node-b".into(), epoch: second.epoch }));
}

async fn a_fenced_write_under_a_stale_epoch_writes_nothing(store: Store) {
    let (leases, table) = (store.leases().unwrap(), store.records("checkpoints").unwrap());
    let stale = leases.acquire("reactor", "node-a", SHORT).await.unwrap().unwrap();
    assert_eq!(leases.write_fenced(&stale, &[RecordWrite::put("checkpoints", "reactor", "1")]).await.unwrap(), Ok(()));
    let current = acquire_when_free(leases.as_ref(), "reactor", "node-b").await;

    let refused = leases
        .write_fenced(&stale, &[RecordWrite::put("checkpoints", "reactor", "2"), RecordWrite::put("checkpoints", "done", "x")])
        .await
        .unwrap();
    assert_eq!(refused, Err(Fenced { name: "reactor".into(), epoch: stale.epoch, current: current.epoch }));
    assert_eq!(table.get(b"reactor").await.unwrap().as_deref(), Some(&b"1"[..]), "nothing was written");
    assert_eq!(table.get(b"done").await.unwrap(), None);

    assert_eq!(leases.write_fenced(&current, &[RecordWrite::put("checkpoints", "reactor", "3")]).await.unwrap(), Ok(()));
    assert_eq!(table.get(b"reactor").await.unwrap().as_deref(), Some(&b"3"[..]));

    let never_taken = Lease { name: "unknown".into(), holder: "node-a".into(), epoch: 1 };
    let refused = leases.write_fenced(&never_taken, &[RecordWrite::put("checkpoints", "x", "y")]).await.unwrap();
    assert_eq!(refused, Err(Fenced { name: "unknown".into(), epoch: 1, current: 0 }));
}

async fn a_fenced_write_applies_puts_and_removes_in_order_across_tables(store: Store) {
    let leases = store.leases().unwrap();
    let (checkpoints, done) = (store.records("checkpoints").unwrap(), store.records("done").unwrap());
    done.put(b"old", b"1").await.unwrap();
    let lease = leases.acquire("reactor", "node-a", LONG).await.unwrap().unwrap();
    let writes = [
        RecordWrite::put("checkpoints", "reactor", "7"),
        RecordWrite::put("done", "e1", ""),
        RecordWrite::put("done", "e2", "first"),
        RecordWrite::remove("done", "old"),
        RecordWrite::put("done", "e2", "second"),
        RecordWrite::put("done", "e3", "gone"),
        RecordWrite::remove("done", "e3"),
    ];
    assert_eq!(leases.write_fenced(&lease, &writes).await.unwrap(), Ok(()));
    assert_eq!(checkpoints.get(b"reactor").await.unwrap().as_deref(), Some(&b"7"[..]));
    let kept: Vec<(Vec<u8>, Vec<u8>)> = done.scan(b"", None, 10).await.unwrap();
    assert_eq!(kept, [(b"e1".to_vec(), Vec::new()), (b"e2".to_vec(), b"second".to_vec())]);
}

async fn a_released_lease_goes_to_the_next_holder_at_once(store: Store) {
    let leases = store.leases().unwrap();
    let first = leases.acquire("reactor", "node-a", LONG).await.unwrap().unwrap();
    leases.release(&first).await.unwrap();
    assert_eq!(leases.holder("reactor").await.unwrap(), None);
    assert!(leases.write_fenced(&first, &[]).await.unwrap().is_err(), "a released lease fences its old epoch");

    let second = leases.acquire("reactor", "node-b", LONG).await.unwrap().unwrap();
    assert_eq!(second.epoch, first.epoch + 1);
    leases.release(&first).await.unwrap();
    assert_eq!(leases.holder("reactor").await.unwrap(), Some(second.clone()), "a stale release does nothing");

    leases.release(&second).await.unwrap();
    let again = leases.acquire("reactor", "node-b", LONG).await.unwrap().unwrap();
    assert_eq!(again.epoch, second.epoch + 1, "taking a lease back after releasing it is a new tenure");
}

async fn holders_racing_for_a_free_lease_leave_exactly_one_holding_it(store: Store) {
    let leases = store.leases().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for holder in 0..8 {
        let leases = leases.clone();
        tasks.spawn(async move { leases.acquire("reactor", &format!("node-{holder}"), LONG).await.unwrap() });
    }
    let answers = tasks.join_all().await;
    let winners: Vec<&Lease> = answers.iter().filter_map(|answer| answer.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for refused in answers.iter().filter_map(|answer| answer.as_ref().err()) {
        assert_eq!((&refused.holder, refused.epoch), (&winners[0].holder, winners[0].epoch));
    }
}
