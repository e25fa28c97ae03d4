//! The course aggregate: a catalogue entry's lifecycle and the one place that decides its seats.
//!
//! Seats are never over-sold because only this aggregate hands them out, one command at a time.
//! Seat commands are idempotent per booking so the choreography may deliver them more than once.

mod commands;
mod events;
mod state;

#[cfg(test)]
mod tests;

use actors::Aggregate;
use thiserror::Error;
use uuid::Uuid;

pub use self::commands::*;
pub use self::events::{CourseEvent, RejectionReason};
pub use self::state::{CourseState, CourseStatus};
use super::values::{self, ValueError};
use super::{Refusal, RefusalKind};

/// The course aggregate (stream type `course`).
pub struct Course;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CourseError {
    #[error(transparent)]
    Invalid(#[from] ValueError),
    #[error("there is no course with this id")]
    NotFound,
    #[error("only the course's teacher can change it")]
    NotTeacher,
    #[error("this course already exists")]
    AlreadyExists,
    #[error("this course is archived and can no longer be changed")]
    Archived,
    #[error("only a draft course can be published, but this one is {status}")]
    NotDraft { status: CourseStatus },
    #[error("this course is already archived")]
    AlreadyArchived,
    #[error("the capacity cannot be {capacity}: {seats_taken} seats are already taken")]
    CapacityBelowSeatsTaken { capacity: u32, seats_taken: u32 },
}

impl Refusal for CourseError {
    fn kind(&self) -> RefusalKind {
        match self {
            CourseError::Invalid(_) => RefusalKind::BadInput,
            CourseError::NotFound => RefusalKind::NotFound,
            CourseError::NotTeacher => RefusalKind::Forbidden,
            CourseError::AlreadyExists => RefusalKind::AlreadyExists,
            CourseError::Archived
            | CourseError::NotDraft { .. }
            | CourseError::AlreadyArchived
            | CourseError::CapacityBelowSeatsTaken { .. } => RefusalKind::RuleViolation,
        }
    }
}

type Decision = Result<Vec<CourseEvent>, CourseError>;

impl Aggregate for Course {
    const TYPE: &'static str = "course";

    type Command = CourseCommand;
    type Event = CourseEvent;
    type Error = CourseError;
    type State = Option<CourseState>;

    fn handle(state: &Self::State, command: CourseCommand) -> Decision {
        match command {
            CourseCommand::CreateCourse(command) => create(state, command),
            CourseCommand::UpdateCourse(command) => update(state, command),
            CourseCommand::PublishCourse(command) => publish(state, command),
            CourseCommand::ArchiveCourse(command) => archive(state, command),
            CourseCommand::ReserveSeat(command) => reserve_seat(state, command),
            CourseCommand::ReleaseSeat(command) => release_seat(state, command),
        }
    }

    fn apply(state: Self::State, event: &CourseEvent) -> Self::State {
        state::apply(state, event)
    }
}

fn create(state: &Option<CourseState>, command: CreateCourse) -> Decision {
    let event = CourseEvent::CourseCreated {
        teacher_id: command.teacher_id,
        title: values::normalize_title(&command.title)?,
        description: values::normalize_description(&command.description)?,
        category: values::normalize_category(&command.category)?,
        city: values::normalize_city(command.city.as_deref())?,
        price_cents: values::check_price(command.price_cents)?,
        currency: values::check_currency(&command.currency)?,
        capacity: values::check_capacity(command.capacity)?,
        created_at: command.created_at,
    };
    if state.is_some() {
        return Err(CourseError::AlreadyExists);
    }
    Ok(vec![event])
}

/// An update that changes nothing records nothing: it succeeds with no events.
fn update(state: &Option<CourseState>, command: UpdateCourse) -> Decision {
    let title = command.title.as_deref().map(values::normalize_title).transpose()?;
    let description = command.description.as_deref().map(values::normalize_description).transpose()?;
    let category = command.category.as_deref().map(values::normalize_category).transpose()?;
    let city = command.city.map(|city| values::normalize_city(city.as_deref())).transpose()?;
    let price_cents = command.price_cents.map(values::check_price).transpose()?;
    let capacity = command.capacity.map(values::check_capacity).transpose()?;

    let course = taught_by(state, command.actor_id)?;
    if course.status == CourseStatus::Archived {
        return Err(CourseError::Archived);
    }
    let capacity = capacity.unwrap_or(course.capacity);
    if capacity < course.seats_taken() {
        return Err(CourseError::CapacityBelowSeatsTaken { capacity, seats_taken: course.seats_taken() });
    }
    let title = title.unwrap_or_else(|| course.title.clone());
    let description = description.unwrap_or_else(|| course.description.clone());
    let category = category.unwrap_or_else(|| course.category.clone());
    let city = city.unwrap_or_else(|| course.city.clone());
    let price_cents = price_cents.unwrap_or(course.price_cents);
    let unchanged = title == course.title
        && description == course.description
        && category == course.category
        && city == course.city
        && price_cents == course.price_cents
        && capacity == course.capacity;
    if unchanged {
        return Ok(vec![]);
    }
    Ok(vec![CourseEvent::CourseUpdated { title, description, category, city, price_cents, capacity, updated_at: command.at }])
}

fn publish(state: &Option<CourseState>, command: PublishCourse) -> Decision {
    let course = taught_by(state, command.actor_id)?;
    if course.status != CourseStatus::Draft {
        return Err(CourseError::NotDraft { status: course.status });
    }
    Ok(vec![CourseEvent::CoursePublished { published_at: command.at }])
}

fn archive(state: &Option<CourseState>, command: ArchiveCourse) -> Decision {
    let course = taught_by(state, command.actor_id)?;
    if course.status == CourseStatus::Archived {
        return Err(CourseError::AlreadyArchived);
    }
    Ok(vec![CourseEvent::CourseArchived { archived_at: command.at }])
}

/// A booking that already holds a seat, or whose seat was refused or released, changes nothing.
fn reserve_seat(state: &Option<CourseState>, command: ReserveSeat) -> Decision {
    let course = state.as_ref().ok_or(CourseError::NotFound)?;
    let booking_id = command.booking_id;
    if course.seat_holders.contains(&booking_id) || course.closed_bookings.contains(&booking_id) {
        return Ok(vec![]);
    }
    let refusal = match course.status {
        CourseStatus::Draft => Some(RejectionReason::NotPublished),
        CourseStatus::Archived => Some(RejectionReason::Archived),
        CourseStatus::Published if command.learner_id == course.teacher_id => Some(RejectionReason::OwnCourse),
        CourseStatus::Published if course.seats_available() == 0 => Some(RejectionReason::Full),
        CourseStatus::Published => None,
    };
    Ok(vec![match refusal {
        Some(reason) => CourseEvent::SeatReservationRejected { booking_id, reason, rejected_at: command.at },
        None => CourseEvent::SeatReserved { booking_id, learner_id: command.learner_id, reserved_at: command.at },
    }])
}

/// Releasing a seat the booking does not hold (never reserved, or already released) changes nothing.
fn release_seat(state: &Option<CourseState>, command: ReleaseSeat) -> Decision {
    let course = state.as_ref().ok_or(CourseError::NotFound)?;
    if !course.seat_holders.contains(&command.booking_id) {
        return Ok(vec![]);
    }
    Ok(vec![CourseEvent::SeatReleased { booking_id: command.booking_id, released_at: command.at }])
}

/// The course, if it exists and `actor_id` teaches it.
fn taught_by(state: &Option<CourseState>, actor_id: Uuid) -> Result<&CourseState, CourseError> {
    let course = state.as_ref().ok_or(CourseError::NotFound)?;
    if course.teacher_id != actor_id {
        return Err(CourseError::NotTeacher);
    }
    Ok(course)
}
