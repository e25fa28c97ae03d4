//! Aggregate actors after a failure: a stream that could not be loaded, or an `apply` that
//! panicked while the actor reloaded, never leaves a dead actor behind; the next command gets a
//! fresh load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actors::testing::TestRuntime;
use actors::{Aggregate, AggregateConfig, CommandContext, CommandError, DomainEvent, Runtime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::Account;
use crate::hooked_store::HookedStore;
use crate::support::open;

#[actix_rt::test]
async fn a_stream_that_failed_to_load_is_loaded_afresh_by_the_next_command() {
    let store = Arc::new(HookedStore::default());
    let local = sled::Config::new().temporary(true).open().expect("a temporary database");
    let runtime = Runtime::builder(store.clone(), local).aggregate::<Account>(AggregateConfig::default()).start().await.expect("a runtime");
    let id = Uuid::new_v4();
    store.failing_reads.store(true, Ordering::SeqCst);
    let failed = runtime.commands().send::<Account>(id, open("ada"), CommandContext::new_request()).await;
    assert!(matches!(failed, Err(CommandError::Store(_))), "{failed:?}");
    store.failing_reads.store(false, Ordering::SeqCst);
    let opened = runtime.commands().send::<Account>(id, open("ada"), CommandContext::new_request()).await;
    assert!(matches!(opened, Ok(ref executed) if executed.version == 1), "{opened:?}");
    runtime.shutdown().await;
}

/// Set while `Brittle::apply` panics (only the test below uses it).
static BRITTLE: AtomicBool = AtomicBool::new(false);

struct Brittle;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Added(u64);

impl DomainEvent for Added {
    fn event_type(&self) -> &'static str {
        "Added"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for Brittle {
    const TYPE: &'static str = "brittle";
    type Command = u64;
    type Event = Added;
    type Error = Never;
    type State = u64;

    fn handle(_: &u64, amount: u64) -> Result<Vec<Added>, Never> {
        Ok(vec![Added(amount)])
    }

    fn apply(state: u64, Added(amount): &Added) -> u64 {
        assert!(!BRITTLE.load(Ordering::SeqCst), "a bug in apply");
        state + amount
    }
}

#[actix_rt::test]
async fn a_panic_in_apply_during_a_reload_leaves_no_dead_actor_behind() {
    let test = TestRuntime::start(|builder: actors::RuntimeBuilder| builder.aggregate::<Brittle>(AggregateConfig::default())).await;
    let id = Uuid::new_v4();
    test.send::<Brittle>(id, 1).await.expect("a healthy command");
    BRITTLE.store(true, Ordering::SeqCst);
    // `apply` panics after the append, and again in the reload that follows.
    let failed = test.send::<Brittle>(id, 2).await;
    BRITTLE.store(false, Ordering::SeqCst);
    assert!(matches!(failed, Err(CommandError::Unavailable)), "{failed:?}");
    let executed = test.send::<Brittle>(id, 3).await.expect("a fresh load");
    assert_eq!((executed.state, executed.version), (6, 3));
}
