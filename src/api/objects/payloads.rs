//! What mutations answer: the state they produced, the position to read it at, their events.

use juniper::GraphQLObject;

use super::{BookingObject, CourseObject, MemberObject, RecordedEventObject};
use crate::api::Context;

/// `position`: the global position of the last event this mutation committed (for `consistent`).
#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct AuthPayload {
    pub token: String,
    pub member: MemberObject,
    pub position: String,
}

#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct MemberPayload {
    pub member: MemberObject,
    pub position: String,
    pub events: Vec<RecordedEventObject>,
}

#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct CoursePayload {
    pub course: CourseObject,
    pub position: String,
    pub events: Vec<RecordedEventObject>,
}

#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct BookingPayload {
    pub booking: BookingObject,
    pub position: String,
    pub events: Vec<RecordedEventObject>,
}
