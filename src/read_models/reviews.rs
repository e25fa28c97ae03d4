//! The `reviews` read model: each review, the reviews of a course newest first, and each course's
//! rating (count and sum of stars, so the mean costs one read).
//!
//! Storage: `v` + review id → [`ReviewView`]; `c` + course id + cursor → () (the course's list);
//! `s` + course id → [`CourseRating`].

use std::sync::Arc;

use actors::{Aggregate, EventCodec, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::{paginate, Connection, Cursor, PageRequest, QueryError};
use super::reader::{id_key, index_key, key, TreeReader};
use crate::domain::review::{Review, ReviewEvent};

/// The name this read model is registered under.
pub const NAME: &str = "reviews";

const REVIEW: u8 = b'v';
const BY_COURSE: u8 = b'c';
const RATING: u8 = b's';

/// A review as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewView {
    pub id: Uuid,
    pub booking_id: Uuid,
    pub course_id: Uuid,
    pub author_id: Uuid,
    pub rating: u8,
    pub comment: String,
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// The review stream's version after the last event applied here.
    pub version: Version,
}

/// How a course's reviews rate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CourseRating {
    pub count: u64,
    pub stars: u64,
}

impl CourseRating {
    /// The mean rating, `None` without any review.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.stars as f64 / self.count as f64)
    }
}

/// Keeps [`ReviewView`]s and ratings from the `review` streams.
#[derive(Clone, Default)]
pub struct ReviewsReadModel {
    codec: EventCodec<ReviewEvent>,
}

impl ReviewsReadModel {
    fn add_stars(tx: &mut ReadModelTx<'_>, course_id: Uuid, reviews: i64, stars: i64) -> Result<(), SubscriberError> {
        let rating_key = id_key(RATING, course_id);
        let rating: CourseRating = tx.fetch(&rating_key)?.unwrap_or_default();
        let rating = CourseRating { count: rating.count.saturating_add_signed(reviews), stars: rating.stars.saturating_add_signed(stars) };
        tx.put(rating_key, &rating)
    }
}

impl ReadModel for ReviewsReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        if event.stream.aggregate_type != Review::TYPE {
            return Ok(());
        }
        let id = event.stream.aggregate_id;
        let view_key = id_key(REVIEW, id);
        let existing: Option<ReviewView> = tx.fetch(&view_key)?;
        let view = match (self.codec.decode(event)?, existing) {
            // Written once per stream; a second one cannot be in the log.
            (ReviewEvent::ReviewWritten { .. }, Some(_)) => return Ok(()),
            (ReviewEvent::ReviewWritten { booking_id, course_id, author_id, rating, comment, written_at }, None) => {
                tx.insert(index_key(BY_COURSE, Some(course_id), &Cursor::new(event.position, id)), Vec::new())?;
                Self::add_stars(tx, course_id, 1, i64::from(rating))?;
                let created_at = written_at;
                ReviewView {
                    id,
                    booking_id,
                    course_id,
                    author_id,
                    rating,
                    comment,
                    created_at,
                    updated_at: written_at,
                    version: event.version,
                }
            }
            (ReviewEvent::ReviewUpdated { rating, comment, updated_at }, Some(view)) => {
                Self::add_stars(tx, view.course_id, 0, i64::from(rating) - i64::from(view.rating))?;
                ReviewView { rating, comment, updated_at, version: event.version, ..view }
            }
            // The aggregate refuses edits before the review is written.
            (ReviewEvent::ReviewUpdated { .. }, None) => return Ok(()),
        };
        tx.put(view_key, &view)
    }
}

/// Queries over the `reviews` read model.
#[derive(Clone)]
pub struct ReviewsQuery {
    handle: ReadModelHandle,
}

impl ReviewsQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    pub fn get(&self, id: Uuid) -> Result<Option<Arc<ReviewView>>, QueryError> {
        Ok(self.handle.fetch_shared(&id_key(REVIEW, id))?)
    }

    /// A course's reviews, newest first.
    pub fn of_course(&self, course_id: Uuid, page: &PageRequest) -> Result<Connection<Arc<ReviewView>>, QueryError> {
        let reader = TreeReader::open(&self.handle);
        paginate(reader.scan_views(&key(BY_COURSE, &[course_id.as_bytes()]), REVIEW), page)
    }

    /// How the reviews of a course rate it (no reviews: count 0).
    pub fn rating(&self, course_id: Uuid) -> Result<CourseRating, QueryError> {
        Ok(self.handle.fetch_shared::<CourseRating>(&id_key(RATING, course_id))?.map_or_else(CourseRating::default, |rating| *rating))
    }
}
