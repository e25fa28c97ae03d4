//! Bookings, payments and the catalogue's statistics.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use juniper::{graphql_object, GraphQLObject, ID};

use super::catalogue::{course, member};
use super::{millis, BookingStatusValue, CourseObject, MemberObject, PaymentStatusValue};
use crate::api::{id, Context};
use crate::app::AppError;
use crate::read_models::{BookingView, PaymentView, StatsView};

pub struct BookingObject(pub Arc<BookingView>);

#[graphql_object(name = "Booking", context = Context)]
impl BookingObject {
    fn id(&self) -> ID {
        id(self.0.id)
    }

    fn course(&self, context: &Context) -> Result<CourseObject, AppError> {
        course(context, self.0.course_id)
    }

    fn learner(&self, context: &Context) -> Result<MemberObject, AppError> {
        member(context, self.0.learner_id)
    }

    fn status(&self) -> BookingStatusValue {
        self.0.status.into()
    }

    /// Why it was rejected or cancelled.
    fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    fn price_cents(&self) -> i32 {
        i32::try_from(self.0.price_cents).unwrap_or(i32::MAX)
    }

    fn currency(&self) -> &str {
        &self.0.currency
    }

    fn payment(&self, context: &Context) -> Result<Option<PaymentObject>, AppError> {
        Ok(context.app.read_models().payments.get(self.0.id)?.map(PaymentObject))
    }

    fn requested_at(&self) -> DateTime<Utc> {
        millis(self.0.requested_at)
    }

    fn updated_at(&self) -> DateTime<Utc> {
        millis(self.0.updated_at)
    }

    fn version(&self) -> String {
        self.0.version.to_string()
    }
}

super::connection!(BookingConnection, BookingEdge, BookingObject, BookingView);

pub struct PaymentObject(pub Arc<PaymentView>);

#[graphql_object(name = "Payment", context = Context)]
impl PaymentObject {
    fn booking_id(&self) -> ID {
        id(self.0.booking_id)
    }

    fn status(&self) -> PaymentStatusValue {
        self.0.status.into()
    }

    fn amount_cents(&self) -> i32 {
        i32::try_from(self.0.amount_cents).unwrap_or(i32::MAX)
    }

    fn currency(&self) -> &str {
        &self.0.currency
    }

    fn failure_reason(&self) -> Option<&str> {
        self.0.failure_reason.as_deref()
    }

    fn updated_at(&self) -> DateTime<Utc> {
        millis(self.0.updated_at)
    }
}

#[derive(GraphQLObject)]
pub struct Money {
    pub amount_cents: String,
    pub currency: String,
}

#[derive(GraphQLObject)]
#[graphql(context = Context)]
pub struct CourseBookings {
    pub course: CourseObject,
    pub confirmed_bookings: i32,
}

/// Counts of what is true now (a booking cancelled after confirmation counts as cancelled, not confirmed).
pub struct StatsObject(pub StatsView);

#[graphql_object(name = "Stats", context = Context)]
impl StatsObject {
    fn members(&self) -> i32 {
        i32::try_from(self.0.members).unwrap_or(i32::MAX)
    }

    fn courses_published(&self) -> i32 {
        i32::try_from(self.0.courses_published).unwrap_or(i32::MAX)
    }

    fn bookings_confirmed(&self) -> i32 {
        i32::try_from(self.0.bookings_confirmed).unwrap_or(i32::MAX)
    }

    fn bookings_cancelled(&self) -> i32 {
        i32::try_from(self.0.bookings_cancelled).unwrap_or(i32::MAX)
    }

    /// Captured minus refunded, per currency.
    fn revenue(&self) -> Vec<Money> {
        self.0.revenue.iter().map(|m| Money { amount_cents: m.amount_cents.to_string(), currency: m.currency.clone() }).collect()
    }

    /// Courses by bookings now CONFIRMED, most first.
    fn top_courses(&self, context: &Context, first: Option<i32>) -> Result<Vec<CourseBookings>, AppError> {
        let first = context.page_size(first, 5)?;
        let read_models = context.app.read_models();
        let mut top = Vec::new();
        for entry in read_models.stats.top_courses(first)? {
            if let Some(view) = read_models.courses.get(entry.course_id)? {
                let confirmed_bookings = i32::try_from(entry.confirmed_bookings).unwrap_or(i32::MAX);
                top.push(CourseBookings { course: CourseObject(view), confirmed_bookings });
            }
        }
        Ok(top)
    }
}
