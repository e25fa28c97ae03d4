//! Members and courses.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use juniper::{graphql_object, ID};

use super::{millis, CourseStatusValue};
use crate::api::{id, Context};
use crate::app::{AppError, Caller};
use crate::read_models::{CourseFilter, CourseView, MemberView, PageRequest};

/// A member; `itself` when the payload goes to that very member (registration, login), whose
/// token the request did not carry yet.
pub struct MemberObject {
    view: Arc<MemberView>,
    itself: bool,
}

impl MemberObject {
    pub fn new(view: Arc<MemberView>) -> Self {
        Self { view, itself: false }
    }

    pub fn itself(view: Arc<MemberView>) -> Self {
        Self { view, itself: true }
    }
}

#[graphql_object(name = "Member", context = Context)]
impl MemberObject {
    fn id(&self) -> ID {
        id(self.view.id)
    }

    /// Only to the member itself and to admins; null for anyone else.
    fn email(&self, context: &Context) -> Option<&str> {
        match context.caller {
            _ if self.itself => Some(&self.view.email),
            Caller::Admin => Some(&self.view.email),
            Caller::Member(me) if me == self.view.id => Some(&self.view.email),
            _ => None,
        }
    }

    fn display_name(&self) -> &str {
        &self.view.display_name
    }

    fn city(&self) -> Option<&str> {
        self.view.city.as_deref()
    }

    fn joined_at(&self) -> DateTime<Utc> {
        millis(self.view.joined_at)
    }

    fn version(&self) -> String {
        self.view.version.to_string()
    }

    /// The courses this member teaches that the caller may see, newest first.
    fn teaching(&self, context: &Context, first: Option<i32>, after: Option<String>) -> Result<CourseConnection, AppError> {
        let page = PageRequest { first: context.page_size(first, 20)?, after };
        let filter = CourseFilter { teacher_id: Some(self.view.id), visible_to: context.caller, ..CourseFilter::default() };
        Ok(CourseConnection::from(context.app.read_models().courses.list(&filter, &page)?))
    }
}

/// Loads a member a course or booking refers to; its absence means the read models disagree.
pub(crate) fn member(context: &Context, member_id: uuid::Uuid) -> Result<MemberObject, AppError> {
    match context.app.read_models().members.get(member_id)? {
        Some(view) => Ok(MemberObject::new(view)),
        None => Err(AppError::internal("a referenced member is missing from the read model", member_id)),
    }
}

/// Loads a course a booking or review refers to; its absence means the read models disagree.
pub(crate) fn course(context: &Context, course_id: uuid::Uuid) -> Result<CourseObject, AppError> {
    match context.app.read_models().courses.get(course_id)? {
        Some(view) => Ok(CourseObject(view)),
        None => Err(AppError::internal("a referenced course is missing from the read model", course_id)),
    }
}

pub struct CourseObject(pub Arc<CourseView>);

#[graphql_object(name = "Course", context = Context)]
impl CourseObject {
    fn id(&self) -> ID {
        id(self.0.id)
    }

    fn teacher(&self, context: &Context) -> Result<MemberObject, AppError> {
        member(context, self.0.teacher_id)
    }

    fn title(&self) -> &str {
        &self.0.title
    }

    fn description(&self) -> &str {
        &self.0.description
    }

    fn category(&self) -> &str {
        &self.0.category
    }

    fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }

    fn price_cents(&self) -> i32 {
        i32::try_from(self.0.price_cents).unwrap_or(i32::MAX)
    }

    fn currency(&self) -> &str {
        &self.0.currency
    }

    fn capacity(&self) -> i32 {
        i32::try_from(self.0.capacity).unwrap_or(i32::MAX)
    }

    fn seats_taken(&self) -> i32 {
        i32::try_from(self.0.seats_taken).unwrap_or(i32::MAX)
    }

    fn seats_available(&self) -> i32 {
        i32::try_from(self.0.seats_available()).unwrap_or(i32::MAX)
    }

    fn status(&self) -> CourseStatusValue {
        self.0.status.into()
    }

    fn created_at(&self) -> DateTime<Utc> {
        millis(self.0.created_at)
    }

    fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at.map(millis)
    }

    fn version(&self) -> String {
        self.0.version.to_string()
    }

    /// Mean rating of its reviews, null without any.
    fn rating(&self, context: &Context) -> Result<Option<f64>, AppError> {
        Ok(context.app.read_models().reviews.rating(self.0.id)?.mean())
    }

    fn review_count(&self, context: &Context) -> Result<i32, AppError> {
        Ok(i32::try_from(context.app.read_models().reviews.rating(self.0.id)?.count).unwrap_or(i32::MAX))
    }
}

super::connection!(CourseConnection, CourseEdge, CourseObject, CourseView);
