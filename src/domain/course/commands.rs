//! What can be asked of a course.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::command_from_structs;

/// Creates a draft course taught by `teacher_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateCourse {
    pub teacher_id: Uuid,
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: u32,
    pub created_at: DateTime<Utc>,
}

/// Changes the given details; `None` keeps a field and `city: Some(None)` clears the city.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCourse {
    pub actor_id: Uuid,
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub city: Option<Option<String>>,
    pub price_cents: Option<i64>,
    pub capacity: Option<u32>,
    pub at: DateTime<Utc>,
}

/// Opens a draft course for bookings.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishCourse {
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Closes a draft or published course for good.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveCourse {
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Asks for a seat for a booking; answered with `SeatReserved` or `SeatReservationRejected`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveSeat {
    pub booking_id: Uuid,
    pub learner_id: Uuid,
    pub at: DateTime<Utc>,
}

/// Gives back the seat a booking holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseSeat {
    pub booking_id: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CourseCommand {
    CreateCourse(CreateCourse),
    UpdateCourse(UpdateCourse),
    PublishCourse(PublishCourse),
    ArchiveCourse(ArchiveCourse),
    ReserveSeat(ReserveSeat),
    ReleaseSeat(ReleaseSeat),
}

command_from_structs!(CourseCommand { CreateCourse, UpdateCourse, PublishCourse, ArchiveCourse, ReserveSeat, ReleaseSeat });
