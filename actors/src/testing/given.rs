//! Given/when/then for aggregates, without actors or storage.

use std::fmt::Debug;

use crate::aggregate::Aggregate;

/// `AggregateTest::<Course>::given([...]).when(command).then_expect_events([...])`.
pub struct AggregateTest<A: Aggregate> {
    state: A::State,
}

impl<A: Aggregate> AggregateTest<A> {
    /// Starts from the state these past events produce.
    pub fn given(events: impl IntoIterator<Item = A::Event>) -> Self {
        let state = events.into_iter().fold(A::State::default(), |state, event| A::apply(state, &event));
        Self { state }
    }

    /// Starts from a stream with no events.
    pub fn given_no_previous_events() -> Self {
        Self { state: A::State::default() }
    }

    /// Decides `command` against the given state.
    pub fn when(self, command: A::Command) -> AggregateOutcome<A> {
        let result = A::handle(&self.state, command);
        AggregateOutcome { state: self.state, result }
    }
}

/// What `when` decided, to be checked.
pub struct AggregateOutcome<A: Aggregate> {
    state: A::State,
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> AggregateOutcome<A> {
    /// Asserts the command was accepted with exactly these events.
    #[track_caller]
    pub fn then_expect_events(self, expected: impl IntoIterator<Item = A::Event>)
    where
        A::Event: PartialEq,
    {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.result {
            Ok(events) => assert_eq!(events, expected, "the command produced other events"),
            Err(error) => panic!("expected events {expected:?}, but the command was refused: {error:?}"),
        }
    }

    /// Asserts the command was refused with exactly this error.
    #[track_caller]
    pub fn then_expect_error(self, expected: A::Error) {
        match self.result {
            Ok(events) => panic!("expected the error {expected:?}, but the command produced {events:?}"),
            Err(error) => assert_eq!(error, expected),
        }
    }

    /// Hands the result and the state after applying its events to a closure, for checks that
    /// are not plain equality.
    pub fn then_inspect(self, check: impl FnOnce(&Result<Vec<A::Event>, A::Error>, &A::State)) {
        let state = match &self.result {
            Ok(events) => events.iter().fold(self.state.clone(), |state, event| A::apply(state, event)),
            Err(_) => self.state.clone(),
        };
        check(&self.result, &state);
    }

    /// The state after applying the produced events (for chained assertions).
    pub fn state_after(&self) -> A::State
    where
        A::State: Debug,
    {
        match &self.result {
            Ok(events) => events.iter().fold(self.state.clone(), |state, event| A::apply(state, event)),
            Err(_) => self.state.clone(),
        }
    }
}
