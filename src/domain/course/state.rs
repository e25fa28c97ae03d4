//! A course as its events leave it: what decides commands and what time travel shows.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::CourseEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CourseStatus {
    Draft,
    Published,
    Archived,
}

impl fmt::Display for CourseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CourseStatus::Draft => "draft",
            CourseStatus::Published => "published",
            CourseStatus::Archived => "archived",
        })
    }
}

/// A created course; the aggregate's state is `None` until `CourseCreated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseState {
    pub teacher_id: Uuid,
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: u32,
    pub status: CourseStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    /// The bookings holding a seat; seats taken is its size.
    pub seat_holders: BTreeSet<Uuid>,
    /// The bookings whose seat was refused or released. Remembered so that a late duplicate
    /// `ReserveSeat` for one of them changes nothing instead of taking a seat again.
    pub closed_bookings: BTreeSet<Uuid>,
}

impl CourseState {
    pub fn seats_taken(&self) -> u32 {
        // At most the capacity, a u32.
        u32::try_from(self.seat_holders.len()).unwrap_or(u32::MAX)
    }

    pub fn seats_available(&self) -> u32 {
        self.capacity.saturating_sub(self.seats_taken())
    }
}

/// Folds one event into the course: bookkeeping only, every decision was taken in `handle`.
pub(super) fn apply(state: Option<CourseState>, event: &CourseEvent) -> Option<CourseState> {
    match (state, event) {
        (_, CourseEvent::CourseCreated { teacher_id, title, description, category, city, price_cents, currency, capacity, created_at }) => {
            Some(CourseState {
                teacher_id: *teacher_id,
                title: title.clone(),
                description: description.clone(),
                category: category.clone(),
                city: city.clone(),
                price_cents: *price_cents,
                currency: currency.clone(),
                capacity: *capacity,
                status: CourseStatus::Draft,
                created_at: *created_at,
                updated_at: *created_at,
                published_at: None,
                archived_at: None,
                seat_holders: BTreeSet::new(),
                closed_bookings: BTreeSet::new(),
            })
        }
        (Some(course), event) => Some(course.evolve(event)),
        (None, _) => None,
    }
}

impl CourseState {
    fn evolve(mut self, event: &CourseEvent) -> Self {
        match event {
            CourseEvent::CourseCreated { .. } => {}
            CourseEvent::CourseUpdated { title, description, category, city, price_cents, capacity, updated_at } => {
                self.title = title.clone();
                self.description = description.clone();
                self.category = category.clone();
                self.city = city.clone();
                self.price_cents = *price_cents;
                self.capacity = *capacity;
                self.updated_at = *updated_at;
            }
            CourseEvent::CoursePublished { published_at } => {
                self.status = CourseStatus::Published;
                self.published_at = Some(*published_at);
                self.updated_at = *published_at;
            }
            CourseEvent::CourseArchived { archived_at } => {
                self.status = CourseStatus::Archived;
                self.archived_at = Some(*archived_at);
                self.updated_at = *archived_at;
            }
            CourseEvent::SeatReserved { booking_id, .. } => {
                self.seat_holders.insert(*booking_id);
            }
            CourseEvent::SeatReservationRejected { booking_id, .. } => {
                self.closed_bookings.insert(*booking_id);
            }
            CourseEvent::SeatReleased { booking_id, .. } => {
                self.seat_holders.remove(booking_id);
                self.closed_bookings.insert(*booking_id);
            }
        }
        self
    }
}
