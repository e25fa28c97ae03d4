//! Reviews of courses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use juniper::{graphql_object, GraphQLInputObject, GraphQLObject, ID};

use super::catalogue::{course, member};
use super::{millis, CourseObject, MemberObject, RecordedEventObject};
use crate::api::{id, Context};
use crate::app::AppError;
use crate::read_models::ReviewView;

pub struct ReviewObject(pub Arc<ReviewView>);

/// A learner's review of a course, one per confirmed booking. Public; the author is shown.
#[graphql_object(name = "Review", context = Context)]
impl ReviewObject {
    fn id(&self) -> ID {
        id(self.0.id)
    }

    fn course(&self, context: &Context) -> Result<CourseObject, AppError> {
        course(context, self.0.course_id)
    }

    fn author(&self, context: &Context) -> Result<MemberObject, AppError> {
        member(context, self.0.author_id)
    }

    fn booking_id(&self) -> ID {
        id(self.0.booking_id)
    }

    /// 1 to 5.
    fn rating(&self) -> i32 {
        i32::from(self.0.rating)
    }

    /// Up to 2,000 characters; may be empty.
    fn comment(&self) -> &str {
        &self.0.comment
    }

    fn created_at(&self) -> DateTime<Utc> {
        millis(self.0.created_at)
    }

    fn updated_at(&self) -> DateTime<Utc> {
        millis(self.0.updated_at)
    }

    fn version(&self) -> String {
        self.0.version.to_string()
    }
}

super::connection!(ReviewConnection, ReviewEdge, ReviewObject, ReviewView);

#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct ReviewPayload {
    pub review: ReviewObject,
    pub position: String,
    pub events: Vec<RecordedEventObject>,
}

/// Only the learner of a CONFIRMED booking may review it, once (a second writeReview for the same
/// booking is ALREADY_EXISTS); a booking cancelled later keeps its review. Rating outside 1..5 or a
/// comment over 2,000 characters is BAD_INPUT.
#[derive(Debug, GraphQLInputObject)]
pub struct WriteReviewInput {
    pub booking_id: ID,
    pub rating: i32,
    #[graphql(default = Some(String::new()))]
    pub comment: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Only the review's author; fields left out stay as they are.
#[derive(Debug, GraphQLInputObject)]
pub struct UpdateReviewInput {
    pub id: ID,
    pub rating: Option<i32>,
    pub comment: Option<String>,
    pub expected_version: Option<String>,
    pub idempotency_key: Option<String>,
}
