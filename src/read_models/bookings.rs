//! The `bookings` read model: each booking's status as the booking, its course and its payment move it along.
//!
//! Storage: `b` + id → [`BookingView`]; `n` + cursor → () lists every booking newest first (by
//! the position of `BookingRequested`); `l` + learner + cursor and `k` + course + cursor → ()
//! list one learner's and one course's bookings; `s` + status → the number of bookings in it.
//! A `learner_id` or `course_id` filter walks its index; other lists walk the primary index.
//!
//! The status only moves forward (see `may_move`): the course's answer and the payment's
//! outcome usually arrive before the booking's own event saying the same, and a late event must
//! never take a booking back from a final status.

use std::sync::Arc;

use actors::{Aggregate, EventCodec, Position, ReadModel, ReadModelHandle, ReadModelTx, RecordedEvent, SubscriberError, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::paging::{paginate, Caller, Connection, Cursor, PageRequest, QueryError};
use super::reader::{add_to_counter, id_key, index_key, key, read_count, TreeReader};
pub use crate::domain::booking::BookingStatus;
use crate::domain::booking::{Booking, BookingEvent};
use crate::domain::course::{Course, CourseEvent};
use crate::domain::payment::{Payment, PaymentEvent};

/// The name this read model is registered under.
pub const NAME: &str = "bookings";

const BOOKING: u8 = b'b';
const NEWEST: u8 = b'n';
const BY_LEARNER: u8 = b'l';
const BY_COURSE: u8 = b'k';
const STATUS_COUNT: u8 = b's';

/// A booking as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingView {
    pub id: Uuid,
    pub course_id: Uuid,
    pub learner_id: Uuid,
    pub teacher_id: Uuid,
    pub status: BookingStatus,
    /// Why it was rejected or cancelled, or why its payment failed.
    pub reason: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub requested_at: DateTime<Utc>,
    /// When the last event that changed this view was recorded.
    #[serde(deserialize_with = "super::stored_time::deserialize")]
    pub updated_at: DateTime<Utc>,
    /// The booking stream's version after the last booking event applied here.
    pub version: Version,
    /// The global position of `BookingRequested`: the booking's place in newest-first lists.
    pub requested_position: Position,
}

impl BookingView {
    /// The learner, the course's teacher and the admin may see a booking.
    pub fn visible_to(&self, viewer: &Caller) -> bool {
        match viewer {
            Caller::Admin => true,
            Caller::Member(member) => *member == self.learner_id || *member == self.teacher_id,
            Caller::Anonymous => false,
        }
    }

    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.requested_position, self.id)
    }
}

/// Whether a booking may go from `from` to `to`: forward only; REJECTED and CANCELLED are final,
/// and only a cancellation follows CONFIRMED.
pub(crate) fn may_move(from: BookingStatus, to: BookingStatus) -> bool {
    fn rank(status: BookingStatus) -> u8 {
        match status {
            BookingStatus::Requested => 0,
            BookingStatus::SeatReserved => 1,
            BookingStatus::Confirmed => 2,
            BookingStatus::Rejected | BookingStatus::Cancelled => 3,
        }
    }
    rank(to) > rank(from)
}

fn status_key(status: BookingStatus) -> Vec<u8> {
    let code = match status {
        BookingStatus::Requested => b'q',
        BookingStatus::SeatReserved => b'r',
        BookingStatus::Confirmed => b'c',
        BookingStatus::Rejected => b'j',
        BookingStatus::Cancelled => b'x',
    };
    key(STATUS_COUNT, &[&[code]])
}

/// Keeps [`BookingView`]s from the `booking`, `course` and `payment` streams.
#[derive(Clone, Default)]
pub struct BookingsReadModel {
    bookings: EventCodec<BookingEvent>,
    courses: EventCodec<CourseEvent>,
    payments: EventCodec<PaymentEvent>,
}

impl ReadModel for BookingsReadModel {
    fn apply(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent) -> Result<(), SubscriberError> {
        let stream = &event.stream;
        match stream.aggregate_type.as_str() {
            Booking::TYPE => self.apply_booking(tx, event, self.bookings.decode(event)?),
            Course::TYPE => match self.courses.decode(event)? {
                CourseEvent::SeatReserved { booking_id, .. } => {
                    update(tx, event, booking_id, |view| advance(view, BookingStatus::SeatReserved, None))
                }
                CourseEvent::SeatReservationRejected { booking_id, reason, .. } => {
                    update(tx, event, booking_id, |view| advance(view, BookingStatus::Rejected, Some(reason.to_string())))
                }
                _ => Ok(()),
            },
            // A payment's stream id is its booking's id.
            Payment::TYPE => match self.payments.decode(event)? {
                PaymentEvent::PaymentFailed { reason, .. } => update(tx, event, stream.aggregate_id, |view| {
                    if may_move(view.status, BookingStatus::Cancelled) {
                        view.reason = Some(reason);
                    }
                }),
                PaymentEvent::PaymentCaptured { .. } | PaymentEvent::PaymentRefunded { .. } | PaymentEvent::ChargeRequested { .. } => {
                    Ok(())
                }
            },
            _ => Ok(()),
        }
    }
}

/// The view a booking has from its `BookingRequested` on, as this model first stores it: what a
/// `requestBooking` produced, known without waiting for the model to apply it.
pub fn view_of_new_booking(event: &RecordedEvent) -> Result<Option<BookingView>, SubscriberError> {
    if event.stream.aggregate_type != Booking::TYPE || event.version != 1 {
        return Ok(None);
    }
    Ok(requested_view(event, &EventCodec::<BookingEvent>::default().decode(event)?))
}

/// The first view of a booking, when `decoded` is its `BookingRequested`.
fn requested_view(event: &RecordedEvent, decoded: &BookingEvent) -> Option<BookingView> {
    let BookingEvent::BookingRequested { learner_id, course_id, teacher_id, price_cents, currency, requested_at, .. } = decoded else {
        return None;
    };
    Some(BookingView {
        id: event.stream.aggregate_id,
        course_id: *course_id,
        learner_id: *learner_id,
        teacher_id: *teacher_id,
        status: BookingStatus::Requested,
        reason: None,
        price_cents: *price_cents,
        currency: currency.clone(),
        requested_at: *requested_at,
        updated_at: event.recorded_at,
        version: event.version,
        requested_position: event.position,
    })
}

impl BookingsReadModel {
    fn apply_booking(&self, tx: &mut ReadModelTx<'_>, event: &RecordedEvent, decoded: BookingEvent) -> Result<(), SubscriberError> {
        let id = event.stream.aggregate_id;
        if let Some(view) = requested_view(event, &decoded) {
            if tx.get(&id_key(BOOKING, id))?.is_some() {
                return Ok(());
            }
            let cursor = view.cursor();
            tx.insert(index_key(NEWEST, None, &cursor), Vec::new())?;
            tx.insert(index_key(BY_LEARNER, Some(view.learner_id), &cursor), Vec::new())?;
            tx.insert(index_key(BY_COURSE, Some(view.course_id), &cursor), Vec::new())?;
            add_to_counter(tx, &status_key(BookingStatus::Requested), 1)?;
            return tx.put(id_key(BOOKING, id), &view);
        }
        update(tx, event, id, |view| {
            view.version = event.version;
            match decoded {
                BookingEvent::BookingRequested { .. } => {}
                BookingEvent::BookingSeatReserved { .. } => advance(view, BookingStatus::SeatReserved, None),
                BookingEvent::BookingConfirmed { .. } => advance(view, BookingStatus::Confirmed, None),
                // The booking's own word on why wins over the course's, which may have come first.
                BookingEvent::BookingRejected { reason, .. } => advance(view, BookingStatus::Rejected, Some(reason)),
                BookingEvent::BookingCancelled { reason, .. } => {
                    let reason = reason.or_else(|| view.reason.clone());
                    advance(view, BookingStatus::Cancelled, reason)
                }
            }
        })
    }
}

/// Moves `view` to `to` if allowed, taking `reason` when it reaches (or already is in) `to`.
fn advance(view: &mut BookingView, to: BookingStatus, reason: Option<String>) {
    if may_move(view.status, to) || view.status == to {
        view.status = to;
        if reason.is_some() {
            view.reason = reason;
        }
    }
}

/// Applies `change` to a stored booking; if it changed anything, stamps `updated_at`, keeps the
/// status counters right and stores it. Events about a booking this model never saw requested
/// cannot occur (every reaction starts from `BookingRequested`) and are ignored.
fn update(tx: &mut ReadModelTx<'_>, event: &RecordedEvent, id: Uuid, change: impl FnOnce(&mut BookingView)) -> Result<(), SubscriberError> {
    let key = id_key(BOOKING, id);
    let Some(before) = tx.fetch::<BookingView>(&key)? else { return Ok(()) };
    let mut after = before.clone();
    change(&mut after);
    if after == before {
        return Ok(());
    }
    after.updated_at = event.recorded_at;
    if after.status != before.status {
        add_to_counter(tx, &status_key(before.status), -1)?;
        add_to_counter(tx, &status_key(after.status), 1)?;
    }
    tx.put(key, &after)
}

/// Which bookings a list shows; `None` matches all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookingFilter {
    pub learner_id: Option<Uuid>,
    pub course_id: Option<Uuid>,
    pub status: Option<BookingStatus>,
    pub visible_to: Caller,
}

impl BookingFilter {
    fn matches(&self, booking: &BookingView) -> bool {
        booking.visible_to(&self.visible_to)
            && self.learner_id.is_none_or(|learner| learner == booking.learner_id)
            && self.course_id.is_none_or(|course| course == booking.course_id)
            && self.status.is_none_or(|status| status == booking.status)
    }
}

/// Queries over the `bookings` read model.
#[derive(Clone)]
pub struct BookingsQuery {
    handle: ReadModelHandle,
}

impl BookingsQuery {
    pub fn new(handle: ReadModelHandle) -> Self {
        Self { handle }
    }

    /// The booking, whoever may see it: the caller checks [`BookingView::visible_to`].
    pub fn get(&self, id: Uuid) -> Result<Option<Arc<BookingView>>, QueryError> {
        Ok(self.handle.fetch_shared(&id_key(BOOKING, id))?)
    }

    /// The bookings matching `filter`, newest first, one page of them.
    pub fn list(&self, filter: &BookingFilter, page: &PageRequest) -> Result<Connection<Arc<BookingView>>, QueryError> {
        let reader = TreeReader::open(&self.handle);
        let prefix = match (filter.learner_id, filter.course_id) {
            (Some(learner), _) => id_key(BY_LEARNER, learner),
            (None, Some(course)) => id_key(BY_COURSE, course),
            (None, None) => vec![NEWEST],
        };
        let matches = reader
            .scan_views::<BookingView>(&prefix, BOOKING)
            .filter(|entry| entry.as_ref().map_or(true, |(_, view)| filter.matches(view)));
        paginate(matches, page)
    }

    /// How many bookings are in `status` now.
    pub fn count_by_status(&self, status: BookingStatus) -> Result<u64, QueryError> {
        read_count(&TreeReader::open(&self.handle), &status_key(status))
    }
}
