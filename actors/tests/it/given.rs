//! The given/when/then harness on the example aggregate.

use actors::testing::AggregateTest;

use crate::account::{Account, AccountCommand, AccountError, AccountEvent};
use crate::support::{deposit, open};

fn opened() -> AccountEvent {
    AccountEvent::Opened { owner: "ada".into() }
}

#[test]
fn it_should_open_a_new_account() {
    AggregateTest::<Account>::given_no_previous_events().when(open("ada")).then_expect_events([opened()]);
}

#[test]
fn it_should_not_open_an_account_twice() {
    AggregateTest::<Account>::given([opened()]).when(open("bob")).then_expect_error(AccountError::AlreadyOpen);
}

#[test]
fn it_should_not_withdraw_more_than_the_balance() {
    AggregateTest::<Account>::given([opened(), AccountEvent::Deposited { amount: 5, note: None }])
        .when(AccountCommand::Withdraw { amount: 6 })
        .then_expect_error(AccountError::InsufficientFunds { balance: 5, requested: 6 });
}

#[test]
fn it_should_show_the_state_after_the_events() {
    AggregateTest::<Account>::given([opened()]).when(deposit(7)).then_inspect(|result, state| {
        assert!(result.is_ok());
        assert_eq!(state.balance, 7);
    });
}

#[test]
#[should_panic(expected = "the command was refused")]
fn a_refused_command_fails_an_events_expectation() {
    AggregateTest::<Account>::given_no_previous_events().when(deposit(1)).then_expect_events([]);
}
