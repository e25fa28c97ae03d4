//! What happened to a review.

use actors::DomainEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a review. Stored by variant index: append new variants at the end only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReviewEvent {
    ReviewWritten {
        booking_id: Uuid,
        course_id: Uuid,
        author_id: Uuid,
        rating: u8,
        comment: String,
        written_at: DateTime<Utc>,
    },
    /// The whole editable review after the change.
    ReviewUpdated {
        rating: u8,
        comment: String,
        updated_at: DateTime<Utc>,
    },
}

impl DomainEvent for ReviewEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ReviewEvent::ReviewWritten { .. } => "ReviewWritten",
            ReviewEvent::ReviewUpdated { .. } => "ReviewUpdated",
        }
    }
}
