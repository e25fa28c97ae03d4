//! What can be asked of a review: its learner writes it once, then its author edits it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::booking::BookingStatus;
use crate::domain::command_from_structs;

/// The booking a review is written about, as the application found it before dispatch.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedBooking {
    pub booking_id: Uuid,
    pub learner_id: Uuid,
    pub course_id: Uuid,
    pub status: BookingStatus,
}

/// Writes the review of a booking. `booking` is `None` when no such booking exists.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteReview {
    pub author_id: Uuid,
    pub booking: Option<ReviewedBooking>,
    /// Stars as the person sent them; checked to be 1 to 5.
    pub rating: i64,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// Edits a review. `None` keeps a field as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReview {
    pub actor_id: Uuid,
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReviewCommand {
    WriteReview(WriteReview),
    UpdateReview(UpdateReview),
}

command_from_structs!(ReviewCommand { WriteReview, UpdateReview });
