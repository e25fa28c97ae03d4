//! A runnable tour of the runtime: an aggregate, a read model, a process manager and a
//! side-effect handler working together on a sled store in a temporary directory.
//!
//! Run it with `cargo run -p actors --example account`.

mod domain;

use std::sync::Arc;
use std::time::Duration;

use actors::decode_value;
use actors::{
    CommandBus, CommandContext, EventCodec, EventHandler, ProcessManager, SubscriberError, ReadModel, ReadModelTx, RecordedEvent, Runtime,
    SledStore, SledStoreConfig, StartFrom, WaitFor,
};
use async_trait::async_trait;
use uuid::Uuid;

use domain::{Account, AccountCommand, AccountEvent};

/// Balance per account, for queries.
struct Balances;

impl ReadModel for Balances {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        let key = event.stream.aggregate_id.as_bytes().to_vec();
        let balance: i64 = tx.fetch(&key)?.unwrap_or(0);
        let change = match EventCodec::<AccountEvent>::default().decode(event)? {
            AccountEvent::Opened { .. } => 0,
            AccountEvent::Deposited { amount, .. } => amount as i64,
            AccountEvent::Withdrawn { amount } => -(amount as i64),
        };
        tx.put(key, &(balance + change))
    }
}

/// Every new account gets a welcome bonus: a reaction that sends a command.
struct WelcomeBonus;

#[async_trait]
impl ProcessManager for WelcomeBonus {
    fn event_types(&self) -> &[&'static str] {
        &["Opened"]
    }

    async fn react(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let bonus = AccountCommand::Deposit { amount: 10, note: Some("welcome".into()) };
        let context = CommandContext::caused_by(event, "welcome-bonus", 0);
        commands.send::<Account>(event.stream.aggregate_id, bonus, context).await.map_err(SubscriberError::failed)?;
        Ok(())
    }
}

/// A side effect: print a statement line (stands in for an e-mail).
struct StatementPrinter;

#[async_trait]
impl EventHandler for StatementPrinter {
    fn event_types(&self) -> &[&'static str] {
        &["Deposited", "Withdrawn"]
    }

    async fn handle(&self, event: &RecordedEvent, _: &CommandBus) -> Result<(), SubscriberError> {
        let line = EventCodec::<AccountEvent>::default().decode(event)?;
        println!("  statement: {} {:?}", event.stream, line);
        Ok(())
    }
}

#[actix_rt::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path(), SledStoreConfig::default())?;
    let local = store.database().clone();
    let runtime = Runtime::builder(Arc::new(store), local)
        .aggregate::<Account>(actors::AggregateConfig::default())
        .read_model("balances", Balances)
        .process_manager("welcome-bonus", WelcomeBonus, StartFrom::Beginning)
        .handler("statements", StatementPrinter, StartFrom::Beginning)
        .start()
        .await?;

    let id = Uuid::new_v4();
    let opened = runtime.send::<Account>(id, AccountCommand::Open { owner: "ada".into() }, CommandContext::new_request()).await?;
    // The bonus is deposited by the process manager, after the commit of `Opened`: wait for it.
    let bonus_position = opened.last_position().unwrap_or(0) + 1;
    runtime.subscribers().wait_for(bonus_position, Duration::from_secs(5), WaitFor::All).await?;
    let withdrawn = runtime.send::<Account>(id, AccountCommand::Withdraw { amount: 3 }, CommandContext::new_request()).await?;
    runtime.subscribers().wait_for(withdrawn.last_position().unwrap_or(0), Duration::from_secs(5), WaitFor::All).await?;

    let tree = runtime.read_model("balances").expect("registered above").tree();
    let balance: i64 = decode_value(&tree.get(id.as_bytes())?.expect("projected"))?;
    println!("balance from the read model: {balance}");

    println!("the log:");
    for event in runtime.store().read_all(1, 100, None).await? {
        println!("  #{} {} v{} {} caused by {:?}", event.position, event.stream, event.version, event.event_type, event.causation_id);
    }
    for version in 1..=3 {
        if let Some((state, _)) = runtime.state_at::<Account>(id, Some(version)).await? {
            println!("state at version {version}: {state:?}");
        }
    }
    for status in runtime.subscribers().statuses().await? {
        println!("subscriber {} ({:?}) at {} lag {} {:?}", status.name, status.kind, status.position, status.lag, status.state);
    }
    runtime.shutdown().await;
    Ok(())
}
