//! A review as its events leave it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::ReviewEvent;

/// A written review; the aggregate's state is `None` until it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    pub booking_id: Uuid,
    pub course_id: Uuid,
    pub author_id: Uuid,
    pub rating: u8,
    pub comment: String,
    pub written_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Folds one event into the review: bookkeeping only, every decision was taken in `handle`.
pub(super) fn apply(state: Option<ReviewState>, event: &ReviewEvent) -> Option<ReviewState> {
    match event {
        ReviewEvent::ReviewWritten { booking_id, course_id, author_id, rating, comment, written_at } => Some(ReviewState {
            booking_id: *booking_id,
            course_id: *course_id,
            author_id: *author_id,
            rating: *rating,
            comment: comment.clone(),
            written_at: *written_at,
            updated_at: *written_at,
        }),
        ReviewEvent::ReviewUpdated { rating, comment, updated_at } => {
            state.map(|review| ReviewState { rating: *rating, comment: comment.clone(), updated_at: *updated_at, ..review })
        }
    }
}
