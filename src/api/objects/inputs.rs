//! The contract's input objects.

use juniper::{GraphQLInputObject, Nullable, ID};

use super::CourseStatusValue;

/// Keeps absent apart from null: absent keeps a field, null clears it.
pub(crate) fn change<T>(value: Nullable<T>) -> Option<Option<T>> {
    match value {
        Nullable::ImplicitNull => None,
        Nullable::ExplicitNull => Some(None),
        Nullable::Some(value) => Some(Some(value)),
    }
}

/// `idempotencyKey`: the same key sent again by the same caller returns the first result and stores nothing new.
#[derive(Debug, GraphQLInputObject)]
pub struct RegisterMemberInput {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub city: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, GraphQLInputObject)]
pub struct UpdateProfileInput {
    pub display_name: Option<String>,
    pub city: Nullable<String>,
    pub expected_version: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, GraphQLInputObject)]
pub struct CreateCourseInput {
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i32,
    #[graphql(default = Some("EUR".to_owned()))]
    pub currency: Option<String>,
    pub capacity: i32,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, GraphQLInputObject)]
pub struct UpdateCourseInput {
    pub id: ID,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub city: Nullable<String>,
    pub price_cents: Option<i32>,
    pub capacity: Option<i32>,
    pub expected_version: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, GraphQLInputObject)]
pub struct CourseCommandInput {
    pub id: ID,
    pub expected_version: Option<String>,
    pub idempotency_key: Option<String>,
}

/// `paymentMethod` is the payment provider's token. The simulated provider declines `tok_decline` and captures anything else.
#[derive(Debug, GraphQLInputObject)]
pub struct RequestBookingInput {
    pub course_id: ID,
    pub payment_method: String,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, GraphQLInputObject)]
pub struct CancelBookingInput {
    pub id: ID,
    pub reason: Option<String>,
    pub expected_version: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Default, GraphQLInputObject)]
#[graphql(name = "CourseFilter")]
pub struct CourseFilterInput {
    pub status: Option<CourseStatusValue>,
    pub teacher_id: Option<ID>,
    pub category: Option<String>,
    pub city: Option<String>,
    pub text: Option<String>,
}
