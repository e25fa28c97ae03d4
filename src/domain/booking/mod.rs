//! The booking aggregate: a learner's booking as the choreography moves it along.
//!
//! The learner requests; the course answers with a seat or a refusal (`MarkSeatReserved` or
//! `RejectBooking`); the payment's capture confirms it (`ConfirmBooking`) or its failure cancels
//! it (`CancelBooking` by the system). A step that was already taken is accepted with no events,
//! so reactions may be delivered twice; a step that no longer applies (a confirmation after the
//! learner cancelled) is refused with [`BookingError::StepNoLongerApplies`] so the reaction can
//! see it and compensate, e.g. release a seat reserved for a booking cancelled meanwhile.

mod commands;
mod events;
mod state;

#[cfg(test)]
mod tests;

use std::fmt;

use actors::Aggregate;
use thiserror::Error;

pub use self::commands::*;
pub use self::events::BookingEvent;
pub use self::state::{BookingState, BookingStatus};
use super::values::{self, ValueError};
use super::{Refusal, RefusalKind};

/// The booking aggregate (stream type `booking`).
pub struct Booking;

/// A step of the choreography, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStep {
    MarkSeatReserved,
    Confirm,
    Reject,
}

impl fmt::Display for BookingStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BookingStep::MarkSeatReserved => "given a seat",
            BookingStep::Confirm => "confirmed",
            BookingStep::Reject => "rejected",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BookingError {
    #[error(transparent)]
    Invalid(#[from] ValueError),
    #[error("there is no booking with this id")]
    NotFound,
    #[error("only the learner who made this booking can cancel it")]
    NotYourBooking,
    #[error("this booking already exists")]
    AlreadyRequested,
    #[error("you cannot book your own course")]
    OwnCourse,
    #[error("this booking is already cancelled")]
    AlreadyCancelled,
    #[error("this booking was rejected, so there is nothing to cancel")]
    AlreadyRejected,
    #[error("this booking is {status}, so it can no longer be {step}")]
    StepNoLongerApplies { step: BookingStep, status: BookingStatus },
}

impl Refusal for BookingError {
    fn kind(&self) -> RefusalKind {
        match self {
            BookingError::Invalid(_) => RefusalKind::BadInput,
            BookingError::NotFound => RefusalKind::NotFound,
            BookingError::NotYourBooking => RefusalKind::Forbidden,
            BookingError::AlreadyRequested => RefusalKind::AlreadyExists,
            BookingError::OwnCourse
            | BookingError::AlreadyCancelled
            | BookingError::AlreadyRejected
            | BookingError::StepNoLongerApplies { .. } => RefusalKind::RuleViolation,
        }
    }
}

type Decision = Result<Vec<BookingEvent>, BookingError>;

impl Aggregate for Booking {
    const TYPE: &'static str = "booking";

    type Command = BookingCommand;
    type Event = BookingEvent;
    type Error = BookingError;
    type State = Option<BookingState>;

    fn handle(state: &Self::State, command: BookingCommand) -> Decision {
        match command {
            BookingCommand::RequestBooking(command) => request(state, command),
            BookingCommand::MarkSeatReserved(command) => step(
                state,
                BookingStep::MarkSeatReserved,
                BookingStatus::Requested,
                &[BookingStatus::SeatReserved, BookingStatus::Confirmed],
                BookingEvent::BookingSeatReserved { reserved_at: command.at },
            ),
            BookingCommand::ConfirmBooking(command) => step(
                state,
                BookingStep::Confirm,
                BookingStatus::SeatReserved,
                &[BookingStatus::Confirmed],
                BookingEvent::BookingConfirmed { confirmed_at: command.at },
            ),
            BookingCommand::RejectBooking(command) => step(
                state,
                BookingStep::Reject,
                BookingStatus::Requested,
                &[BookingStatus::Rejected],
                BookingEvent::BookingRejected { reason: command.reason, rejected_at: command.at },
            ),
            BookingCommand::CancelBooking(command) => cancel(state, command),
        }
    }

    fn apply(state: Self::State, event: &BookingEvent) -> Self::State {
        state::apply(state, event)
    }
}

fn request(state: &Option<BookingState>, command: RequestBooking) -> Decision {
    let price_cents = values::check_price(command.price_cents)?;
    let currency = values::check_currency(&command.currency)?;
    let payment_method = values::normalize_payment_method(&command.payment_method)?;
    if state.is_some() {
        return Err(BookingError::AlreadyRequested);
    }
    if command.learner_id == command.teacher_id {
        return Err(BookingError::OwnCourse);
    }
    Ok(vec![BookingEvent::BookingRequested {
        learner_id: command.learner_id,
        course_id: command.course_id,
        teacher_id: command.teacher_id,
        price_cents,
        currency,
        payment_method,
        requested_at: command.requested_at,
    }])
}

/// A choreography step: records `event` when the booking is in status `from`; accepts with no
/// events when it is already in one of the statuses `done` (the step was taken before); refuses
/// otherwise.
fn step(state: &Option<BookingState>, step: BookingStep, from: BookingStatus, done: &[BookingStatus], event: BookingEvent) -> Decision {
    let booking = state.as_ref().ok_or(BookingError::NotFound)?;
    if booking.status == from {
        Ok(vec![event])
    } else if done.contains(&booking.status) {
        Ok(vec![])
    } else {
        Err(BookingError::StepNoLongerApplies { step, status: booking.status })
    }
}

fn cancel(state: &Option<BookingState>, command: CancelBooking) -> Decision {
    let booking = state.as_ref().ok_or(BookingError::NotFound)?;
    let by_learner = match command.actor {
        Canceller::Learner(member_id) if member_id != booking.learner_id => return Err(BookingError::NotYourBooking),
        Canceller::Learner(_) => true,
        Canceller::System => false,
    };
    let (seat_held, was_confirmed) = match booking.status {
        BookingStatus::Requested => (false, false),
        BookingStatus::SeatReserved => (true, false),
        BookingStatus::Confirmed => (true, true),
        BookingStatus::Rejected => return Err(BookingError::AlreadyRejected),
        BookingStatus::Cancelled => return Err(BookingError::AlreadyCancelled),
    };
    let reason = command.reason.map(|reason| reason.trim().to_owned()).filter(|reason| !reason.is_empty());
    Ok(vec![BookingEvent::BookingCancelled {
        course_id: booking.course_id,
        reason,
        by_learner,
        seat_held,
        was_confirmed,
        cancelled_at: command.at,
    }])
}
