//! The `stats` read model: counts of what is true now, and the courses with the most confirmed bookings.
//!
//! It is added to databases that already have a history, so it backfills from position 1 and
//! keeps in its own tree every bit of state its counters depend on:
//! `c` + course → the course's status; `b` + booking → its course and status;
//! `q` + course → its confirmed bookings; `o` + inverted count + course → [`CourseBookings`] ranks courses
//! by that count (absent at zero); `r` + currency → revenue; `#...` → the counters.

use actors::{Aggregate, EventCodec, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bookings::may_move;
use super::paging::QueryError;
use super::reader::{add_to_counter, id_key, key, read_count, TreeReader};
use crate::domain::booking::{Booking, BookingEvent, BookingStatus};
use crate::domain::course::{Course, CourseEvent, CourseStatus};
use crate::domain::member::{Member, MemberEvent};
use crate::domain::payment::{Payment, PaymentEvent};

/// The name this read model is registered under.
pub const NAME: &str = "stats";

const COURSE: u8 = b'c';
const BOOKING: u8 = b'b';
const CONFIRMED_PER_COURSE: u8 = b'q';
const RANKING: u8 = b'o';
const REVENUE: u8 = b'r';
const MEMBERS: &[u8] = b"#members";
const PUBLISHED: &[u8] = b"#published";
const CONFIRMED: &[u8] = b"#confirmed";
const CANCELLED: &[u8] = b"#cancelled";

/// Money summed per currency; may be negative in theory, so signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount_cents: i64,
    pub currency: String,
}

/// A course and its bookings that are CONFIRMED now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseBookings {
    pub course_id: Uuid,
    pub confirmed_bookings: u64,
}

/// The counters of the catalogue now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsView {
    pub members: u64,
    /// Courses PUBLISHED now (not archived ones).
    pub courses_published: u64,
    /// Bookings CONFIRMED now (one cancelled after confirmation counts as cancelled only).
    pub bookings_confirmed: u64,
    pub bookings_cancelled: u64,
    /// Captured minus refunded, per currency, in currency order.
    pub revenue: Vec<Money>,
}

/// What the model remembers of a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BookingState {
    course_id: Uuid,
    status: BookingStatus,
}

/// Keeps [`StatsView`] counters from the `member`, `course`, `booking` and `payment` streams.
#[derive(Clone, Default)]
pub struct StatsReadModel {
    members: EventCodec<MemberEvent>,
    courses: EventCodec<CourseEvent>,
    bookings: EventCodec<BookingEvent>,
    payments: EventCodec<PaymentEvent>,
}

impl ReadModel for StatsReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        let id = event.stream.aggregate_id;
        match event.stream.aggregate_type.as_str() {
            Member::TYPE => match self.members.decode(event)? {
                MemberEvent::MemberRegistered { .. } => add_to_counter(tx, MEMBERS, 1),
                MemberEvent::ProfileUpdated { .. } => Ok(()),
            },
            Course::TYPE => {
                let status = match self.courses.decode(event)? {
                    CourseEvent::CourseCreated { .. } => CourseStatus::Draft,
                    CourseEvent::CoursePublished { .. } => CourseStatus::Published,
                    CourseEvent::CourseArchived { .. } => CourseStatus::Archived,
                    _ => return Ok(()),
                };
                set_course_status(tx, id, status)
            }
            Booking::TYPE => {
                let status = match self.bookings.decode(event)? {
                    BookingEvent::BookingRequested { course_id, .. } => {
                        return tx.put(id_key(BOOKING, id), &BookingState { course_id, status: BookingStatus::Requested })
                    }
                    BookingEvent::BookingSeatReserved { .. } => BookingStatus::SeatReserved,
                    BookingEvent::BookingConfirmed { .. } => BookingStatus::Confirmed,
                    BookingEvent::BookingRejected { .. } => BookingStatus::Rejected,
                    BookingEvent::BookingCancelled { .. } => BookingStatus::Cancelled,
                };
                set_booking_status(tx, id, status)
            }
            Payment::TYPE => match self.payments.decode(event)? {
                PaymentEvent::PaymentCaptured { amount_cents, currency, .. } => add_revenue(tx, &currency, amount_cents),
                PaymentEvent::PaymentRefunded { amount_cents, currency, .. } => add_revenue(tx, &currency, amount_cents.saturating_neg()),
                PaymentEvent::PaymentFailed { .. } | PaymentEvent::ChargeRequested { .. } => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

fn set_course_status(tx: &mut ReadModelTx<'_>, course: Uuid, status: CourseStatus) -> Result<(), SubscriberError> {
    let key = id_key(COURSE, course);
    let before: Option<CourseStatus> = tx.fetch(&key)?;
    let was_published = before == Some(CourseStatus::Published);
    let is_published = status == CourseStatus::Published;
    if was_published != is_published {
        add_to_counter(tx, PUBLISHED, if is_published { 1 } else { -1 })?;
    }
    tx.put(key, &status)
}

fn set_booking_status(tx: &mut ReadModelTx<'_>, booking: Uuid, status: BookingStatus) -> Result<(), SubscriberError> {
    let key = id_key(BOOKING, booking);
    // Every booking event follows `BookingRequested`, which is never missed.
    let Some(mut state) = tx.fetch::<BookingState>(&key)? else { return Ok(()) };
    if !may_move(state.status, status) {
        return Ok(());
    }
    let before = state.status;
    state.status = status;
    tx.put(key, &state)?;
    if before == BookingStatus::Confirmed {
        add_to_counter(tx, CONFIRMED, -1)?;
        add_confirmed_to_course(tx, state.course_id, -1)?;
    }
    match status {
        BookingStatus::Confirmed => {
            add_to_counter(tx, CONFIRMED, 1)?;
            add_confirmed_to_course(tx, state.course_id, 1)
        }
        BookingStatus::Cancelled => add_to_counter(tx, CANCELLED, 1),
        BookingStatus::Requested | BookingStatus::SeatReserved | BookingStatus::Rejected => Ok(()),
    }
}

fn ranking_key(course: Uuid, count: u64) -> Vec<u8> {
    key(RANKING, &[&(u64::MAX - count).to_be_bytes(), course.as_bytes()])
}

/// Moves the course's entry in the ranking from its old count to its new one.
fn add_confirmed_to_course(tx: &mut ReadModelTx<'_>, course: Uuid, delta: i64) -> Result<(), SubscriberError> {
    let key = id_key(CONFIRMED_PER_COURSE, course);
    let before: u64 = tx.fetch(&key)?.unwrap_or(0);
    let after = before.saturating_add_signed(delta);
    if before > 0 {
        tx.remove(ranking_key(course, before))?;
    }
    if after > 0 {
        tx.put(ranking_key(course, after), &CourseBookings { course_id: course, confirmed_bookings: after })?;
    }
    tx.put(key, &after)
}

fn add_revenue(tx: &mut ReadModelTx<'_>, currency: &str, delta: i64) -> Result<(), SubscriberError> {
    add_to_counter(tx, &key(REVENUE, &[currency.as_bytes()]), delta)
}

/// Queries over the `stats` read model.
#[derive(Clone)]
pub struct StatsQuery {
    handle: ReadModelHandle,
}

impl StatsQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    /// Every counter, read from one copy of the model.
    pub fn get(&self) -> Result<StatsView, QueryError> {
        let reader = TreeReader::open(&self.handle);
        let revenue = reader
            .scan_values::<i64>(&[REVENUE])
            .map(|entry| {
                let (key, amount_cents) = entry?;
                // The key is the tag and the currency code, which is ASCII.
                Ok(Money { amount_cents, currency: String::from_utf8_lossy(&key[1..]).into_owned() })
            })
            .collect::<Result<_, QueryError>>()?;
        Ok(StatsView {
            members: read_count(&reader, MEMBERS)?,
            courses_published: read_count(&reader, PUBLISHED)?,
            bookings_confirmed: read_count(&reader, CONFIRMED)?,
            bookings_cancelled: read_count(&reader, CANCELLED)?,
            revenue,
        })
    }

    /// At most `first` courses by bookings CONFIRMED now, most first, ties by course id;
    /// courses without any are left out.
    pub fn top_courses(&self, first: usize) -> Result<Vec<CourseBookings>, QueryError> {
        let reader = TreeReader::open(&self.handle);
        reader.scan_values::<CourseBookings>(&[RANKING]).take(first).map(|entry| entry.map(|(_, ranked)| ranked)).collect()
    }
}
