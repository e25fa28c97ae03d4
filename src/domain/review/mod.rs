//! The review aggregate: a learner's review of a course, one per confirmed booking.
//!
//! A review's stream id derives from its booking's ([`review_id`]), so "one review per booking"
//! is the stream's own rule: a second `WriteReview` for a booking finds the review written. The
//! application looks the booking up before dispatch and hands its learner, course and status in
//! with the command; a booking cancelled after the review keeps it.

mod commands;
mod events;
mod state;

#[cfg(test)]
mod tests;

use actors::Aggregate;
use thiserror::Error;
use uuid::Uuid;

pub use self::commands::*;
pub use self::events::ReviewEvent;
pub use self::state::ReviewState;
use super::booking::BookingStatus;
use super::values::{check_rating, normalize_comment, ValueError};
use super::{Refusal, RefusalKind};

/// The review aggregate (stream type `review`).
pub struct Review;

const REVIEWS: Uuid = Uuid::from_u128(0x6b6f_6e6e_656b_7469_6400_0000_0000_0003);

/// The id of the review of `booking_id`: one booking, one review.
pub fn review_id(booking_id: Uuid) -> Uuid {
    Uuid::new_v5(&REVIEWS, booking_id.as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReviewError {
    #[error(transparent)]
    Invalid(#[from] ValueError),
    #[error("there is no booking with this id")]
    BookingNotFound,
    #[error("there is no review with this id")]
    NotFound,
    #[error("only the learner of a booking can review it")]
    NotYourBooking,
    #[error("only the author of a review can edit it")]
    NotYourReview,
    #[error("this booking has a review already: edit it with updateReview")]
    AlreadyWritten,
    #[error("this booking is {status}; only a confirmed booking can be reviewed")]
    NotConfirmed { status: BookingStatus },
}

impl Refusal for ReviewError {
    fn kind(&self) -> RefusalKind {
        match self {
            ReviewError::Invalid(_) => RefusalKind::BadInput,
            ReviewError::BookingNotFound | ReviewError::NotFound => RefusalKind::NotFound,
            ReviewError::NotYourBooking | ReviewError::NotYourReview => RefusalKind::Forbidden,
            ReviewError::AlreadyWritten => RefusalKind::AlreadyExists,
            ReviewError::NotConfirmed { .. } => RefusalKind::RuleViolation,
        }
    }
}

type Decision = Result<Vec<ReviewEvent>, ReviewError>;

impl Aggregate for Review {
    const TYPE: &'static str = "review";

    type Command = ReviewCommand;
    type Event = ReviewEvent;
    type Error = ReviewError;
    type State = Option<ReviewState>;

    fn handle(state: &Self::State, command: ReviewCommand) -> Decision {
        match command {
            ReviewCommand::WriteReview(command) => write(state, command),
            ReviewCommand::UpdateReview(command) => update(state, command),
        }
    }

    fn apply(state: Self::State, event: &ReviewEvent) -> Self::State {
        state::apply(state, event)
    }
}

fn write(state: &Option<ReviewState>, command: WriteReview) -> Decision {
    let rating = check_rating(command.rating)?;
    let comment = normalize_comment(&command.comment)?;
    let booking = command.booking.ok_or(ReviewError::BookingNotFound)?;
    if booking.learner_id != command.author_id {
        return Err(ReviewError::NotYourBooking);
    }
    if state.is_some() {
        return Err(ReviewError::AlreadyWritten);
    }
    if booking.status != BookingStatus::Confirmed {
        return Err(ReviewError::NotConfirmed { status: booking.status });
    }
    Ok(vec![ReviewEvent::ReviewWritten {
        booking_id: booking.booking_id,
        course_id: booking.course_id,
        author_id: command.author_id,
        rating,
        comment,
        written_at: command.at,
    }])
}

fn update(state: &Option<ReviewState>, command: UpdateReview) -> Decision {
    let rating = command.rating.map(check_rating).transpose()?;
    let comment = command.comment.as_deref().map(normalize_comment).transpose()?;
    let review = state.as_ref().ok_or(ReviewError::NotFound)?;
    if review.author_id != command.actor_id {
        return Err(ReviewError::NotYourReview);
    }
    let rating = rating.unwrap_or(review.rating);
    let comment = comment.unwrap_or_else(|| review.comment.clone());
    if rating == review.rating && comment == review.comment {
        return Ok(vec![]);
    }
    Ok(vec![ReviewEvent::ReviewUpdated { rating, comment, updated_at: command.at }])
}
