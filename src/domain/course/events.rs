//! What happened to a course.

use std::fmt;

use actors::DomainEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A course's events. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CourseEvent {
    CourseCreated {
        teacher_id: Uuid,
        title: String,
        description: String,
        category: String,
        city: Option<String>,
        price_cents: i64,
        currency: String,
        capacity: u32,
        created_at: DateTime<Utc>,
    },
    /// The whole editable description of the course after the change.
    CourseUpdated {
        title: String,
        description: String,
        category: String,
        city: Option<String>,
        price_cents: i64,
        capacity: u32,
        updated_at: DateTime<Utc>,
    },
    CoursePublished {
        published_at: DateTime<Utc>,
    },
    CourseArchived {
        archived_at: DateTime<Utc>,
    },
    SeatReserved {
        booking_id: Uuid,
        learner_id: Uuid,
        reserved_at: DateTime<Utc>,
    },
    /// A refusal the booking choreography reacts to, so an event rather than an error.
    SeatReservationRejected {
        booking_id: Uuid,
        reason: RejectionReason,
        rejected_at: DateTime<Utc>,
    },
    SeatReleased {
        booking_id: Uuid,
        released_at: DateTime<Utc>,
    },
}

impl DomainEvent for CourseEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CourseEvent::CourseCreated { .. } => "CourseCreated",
            CourseEvent::CourseUpdated { .. } => "CourseUpdated",
            CourseEvent::CoursePublished { .. } => "CoursePublished",
            CourseEvent::CourseArchived { .. } => "CourseArchived",
            CourseEvent::SeatReserved { .. } => "SeatReserved",
            CourseEvent::SeatReservationRejected { .. } => "SeatReservationRejected",
            CourseEvent::SeatReleased { .. } => "SeatReleased",
        }
    }
}

/// Why the course refused a seat. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionReason {
    NotPublished,
    Archived,
    OwnCourse,
    Full,
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectionReason::NotPublished => "the course is not published yet",
            RejectionReason::Archived => "the course has been archived",
            RejectionReason::OwnCourse => "you cannot book your own course",
            RejectionReason::Full => "the course is full",
        })
    }
}
