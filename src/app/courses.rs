//! Courses' use cases: a teacher creates, edits, publishes and archives its courses.

use actors::Version;
use serde::Serialize;
use uuid::Uuid;

use super::dispatch::{Committed, MemberCommand};
use super::{now, App, AppError, Caller};
use crate::domain::course::{ArchiveCourse, Course, CreateCourse, PublishCourse, UpdateCourse};

#[derive(Debug, Clone, Serialize)]
pub struct NewCourse {
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CourseChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub city: Option<Option<String>>,
    pub price_cents: Option<i64>,
    pub capacity: Option<i64>,
    pub expected_version: Option<Version>,
}

fn capacity(seats: i64) -> Result<u32, AppError> {
    u32::try_from(seats).map_err(|_| AppError::BadInput("capacity must be between 1 and 10000".into()))
}

impl App {
    pub async fn create_course(&self, caller: Caller, course: NewCourse, key: Option<&str>) -> Result<Committed, AppError> {
        let teacher = caller.member_or_admin()?;
        let ticket_input = course.clone();
        let command = CreateCourse {
            teacher_id: teacher.unwrap_or_default(),
            title: course.title,
            description: course.description,
            category: course.category,
            city: course.city,
            price_cents: course.price_cents,
            currency: course.currency,
            capacity: capacity(course.capacity)?,
            created_at: now(),
        };
        if teacher.is_none() {
            return Err(self.refuse_admin::<Course>(Uuid::nil(), command.into()).await);
        }
        let ticket = self.idempotency.ticket("createCourse", &caller.scope(), key, &ticket_input).await?;
        let course_id = ticket.id("course");
        let executed = self.execute::<Course>(course_id, command.into(), ticket.context("create-course"), None).await?;
        self.committed(course_id, executed).await
    }

    pub async fn update_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        changes: CourseChanges,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let capacity = changes.capacity.map(capacity).transpose()?;
        let fingerprint = (course_id, changes.clone());
        let CourseChanges { title, description, category, city, price_cents, expected_version, .. } = changes;
        let request =
            MemberCommand { caller, id: course_id, mutation: "updateCourse", fingerprint: &fingerprint, expected: expected_version, key };
        self.as_member::<Course, _>(request, |actor_id| {
            UpdateCourse { actor_id, title, description, category, city, price_cents, capacity, at: now() }.into()
        })
        .await
    }

    pub async fn publish_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let request =
            MemberCommand { caller, id: course_id, mutation: "publishCourse", fingerprint: &(course_id, expected), expected, key };
        self.as_member::<Course, _>(request, |actor_id| PublishCourse { actor_id, at: now() }.into()).await
    }

    pub async fn archive_course(
        &self,
        caller: Caller,
        course_id: Uuid,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let request =
            MemberCommand { caller, id: course_id, mutation: "archiveCourse", fingerprint: &(course_id, expected), expected, key };
        self.as_member::<Course, _>(request, |actor_id| ArchiveCourse { actor_id, at: now() }.into()).await
    }
}
