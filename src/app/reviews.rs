//! Reviews' use cases: the learner of a confirmed booking writes its review; its author edits it.

use actors::Version;
use serde::Serialize;
use uuid::Uuid;

use super::dispatch::{Committed, MemberCommand};
use super::{now, App, AppError, Caller};
use crate::domain::booking::{Booking, BookingState};
use crate::domain::review::{review_id, Review, ReviewedBooking, UpdateReview, WriteReview};

#[derive(Debug, Clone, Serialize)]
pub struct NewReview {
    pub booking_id: Uuid,
    pub rating: i64,
    pub comment: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReviewChanges {
    pub rating: Option<i64>,
    pub comment: Option<String>,
    pub expected_version: Option<Version>,
}

impl App {
    /// Writes the review of a booking. The booking is read in its live actor (current, never a
    /// lagging read model) and handed to the review, which decides.
    pub async fn write_review(&self, caller: Caller, review: NewReview, key: Option<&str>) -> Result<Committed, AppError> {
        let author = caller.member_or_admin()?;
        let booking_id = review.booking_id;
        let found = move |booking: &Option<BookingState>, _| {
            booking.as_ref().map(|b| ReviewedBooking { booking_id, learner_id: b.learner_id, course_id: b.course_id, status: b.status })
        };
        let booking = self.runtime.commands().inspect::<Booking, _>(review.booking_id, 0, found).await?;
        let id = review_id(review.booking_id);
        let command = WriteReview {
            author_id: author.unwrap_or_default(),
            booking,
            rating: review.rating,
            comment: review.comment.clone(),
            at: now(),
        };
        if author.is_none() {
            return Err(self.refuse_admin::<Review>(id, command.into()).await);
        }
        let ticket = self.idempotency.ticket("writeReview", &caller.scope(), key, &review).await?;
        let executed = self.execute::<Review>(id, command.into(), ticket.context("write-review"), None).await?;
        self.committed(id, executed).await
    }

    pub async fn update_review(
        &self,
        caller: Caller,
        review_id: Uuid,
        changes: ReviewChanges,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let fingerprint = (review_id, changes.clone());
        let ReviewChanges { rating, comment, expected_version } = changes;
        let request =
            MemberCommand { caller, id: review_id, mutation: "updateReview", fingerprint: &fingerprint, expected: expected_version, key };
        self.as_member::<Review, _>(request, |actor_id| UpdateReview { actor_id, rating, comment, at: now() }.into()).await
    }
}
