//! A bank account: the small aggregate the runtime's examples, tests and benchmarks use.

use actors::{Aggregate, DomainEvent, Upcasters};
use serde::{Deserialize, Serialize};

pub struct Account;

#[derive(Debug, Clone, PartialEq)]
pub enum AccountCommand {
    Open { owner: String },
    Deposit { amount: u64, note: Option<String> },
    Withdraw { amount: u64 },
}

/// Variants are only ever appended at the end: bincode stores the variant index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    Opened {
        owner: String,
    },
    /// Schema version 2 added `note`; version 1 events are upcast by [`legacy`].
    Deposited {
        amount: u64,
        note: Option<String>,
    },
    Withdrawn {
        amount: u64,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::Opened { .. } => "Opened",
            AccountEvent::Deposited { .. } => "Deposited",
            AccountEvent::Withdrawn { .. } => "Withdrawn",
        }
    }

    fn schema_version(&self) -> u32 {
        match self {
            AccountEvent::Deposited { .. } => 2,
            _ => 1,
        }
    }

    fn upcasters() -> Upcasters {
        Upcasters::new().register("Deposited", 1, legacy::upcast_v1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("the account is already open")]
    AlreadyOpen,
    #[error("the account is not open")]
    NotOpen,
    #[error("amounts must be positive")]
    ZeroAmount,
    #[error("the balance is {balance}, less than the {requested} requested")]
    InsufficientFunds { balance: u64, requested: u64 },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub owner: Option<String>,
    pub balance: u64,
    pub deposits: u64,
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type State = AccountState;

    fn handle(state: &AccountState, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        match command {
            AccountCommand::Open { .. } if state.owner.is_some() => Err(AccountError::AlreadyOpen),
            AccountCommand::Open { owner } => Ok(vec![AccountEvent::Opened { owner }]),
            _ if state.owner.is_none() => Err(AccountError::NotOpen),
            AccountCommand::Deposit { amount: 0, .. } | AccountCommand::Withdraw { amount: 0 } => Err(AccountError::ZeroAmount),
            AccountCommand::Deposit { amount, note } => Ok(vec![AccountEvent::Deposited { amount, note }]),
            AccountCommand::Withdraw { amount } if amount > state.balance => {
                Err(AccountError::InsufficientFunds { balance: state.balance, requested: amount })
            }
            AccountCommand::Withdraw { amount } => Ok(vec![AccountEvent::Withdrawn { amount }]),
        }
    }

    fn apply(mut state: AccountState, event: &AccountEvent) -> AccountState {
        match event {
            AccountEvent::Opened { owner } => state.owner = Some(owner.clone()),
            AccountEvent::Deposited { amount, .. } => {
                state.balance += amount;
                state.deposits += 1;
            }
            AccountEvent::Withdrawn { amount } => state.balance -= amount,
        }
        state
    }
}

/// The event enum as it was stored at schema version 1, kept to read old events.
pub mod legacy {
    use serde::Deserialize;

    use super::AccountEvent;

    #[derive(Debug, Deserialize)]
    pub enum AccountEventV1 {
        Opened { owner: String },
        Deposited { amount: u64 },
        Withdrawn { amount: u64 },
    }

    pub fn upcast_v1(old: AccountEventV1) -> AccountEvent {
        match old {
            AccountEventV1::Opened { owner } => AccountEvent::Opened { owner },
            AccountEventV1::Deposited { amount } => AccountEvent::Deposited { amount, note: None },
            AccountEventV1::Withdrawn { amount } => AccountEvent::Withdrawn { amount },
        }
    }
}
