//! Helpers shared by the test modules.

use actors::{CommandContext, EventCodec, NewEvent};

use crate::account::{AccountCommand, AccountEvent};

pub fn open(owner: &str) -> AccountCommand {
    AccountCommand::Open { owner: owner.into() }
}

pub fn deposit(amount: u64) -> AccountCommand {
    AccountCommand::Deposit { amount, note: None }
}

/// Encodes account events for a direct append to a store.
pub fn encoded(events: &[AccountEvent]) -> Vec<NewEvent> {
    let codec = EventCodec::<AccountEvent>::default();
    events.iter().map(|e| codec.encode(e).expect("encode")).collect()
}

pub fn request() -> CommandContext {
    CommandContext::new_request()
}
