//! What the checker folds the log into: each aggregate's state as its own `apply` leaves it (so
//! the checker sees exactly what the aggregates decide on), plus the positions of the events the
//! invariants point at, and the payment provider's statement by booking.

use std::collections::BTreeMap;
use std::fmt;

use actors::{Aggregate, CodecError, EventCodec, Position, RecordedEvent, StreamId, Version};
use uuid::Uuid;

use crate::domain::booking::{Booking, BookingEvent, BookingState};
use crate::domain::course::{Course, CourseEvent, CourseState};
use crate::domain::member::{Member, MemberEvent, MemberState};
use crate::domain::payment::{Payment, PaymentEvent, PaymentState};
use crate::services::payments::ProviderEntry;

/// One stored event a violation points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    pub position: Position,
    pub event_type: String,
    pub stream: StreamId,
    pub version: Version,
}

impl EventRef {
    fn of(event: &RecordedEvent) -> Self {
        Self { position: event.position, event_type: event.event_type.clone(), stream: event.stream.clone(), version: event.version }
    }
}

impl fmt::Display for EventRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.position, self.event_type, self.stream)
    }
}

#[derive(Debug, Default)]
pub(super) struct CourseFacts {
    pub state: Option<CourseState>,
    /// The last seat event (reserved, rejected, released) of each booking.
    pub seat_events: BTreeMap<Uuid, EventRef>,
}

#[derive(Debug, Default)]
pub(super) struct BookingFacts {
    pub state: Option<BookingState>,
    pub requested: Option<EventRef>,
    /// The event that left the booking in its current status.
    pub last: Option<EventRef>,
}

#[derive(Debug, Default)]
pub(super) struct PaymentFacts {
    pub state: Option<PaymentState>,
    /// The charge request, if the charge went through one.
    pub requested: Option<EventRef>,
    /// Set once the payment was captured, whatever happened next.
    pub captured: Option<EventRef>,
    pub last: Option<EventRef>,
}

#[derive(Debug, Default)]
pub(super) struct MemberFacts {
    pub state: Option<MemberState>,
    pub registered: Option<EventRef>,
}

/// The decoders of the aggregates the invariants look at, with their upcasters built once.
#[derive(Default)]
struct Codecs {
    course: EventCodec<CourseEvent>,
    booking: EventCodec<BookingEvent>,
    payment: EventCodec<PaymentEvent>,
    member: EventCodec<MemberEvent>,
}

/// The whole log, folded. Streams of other aggregate types (e-mail claims) are counted, not kept.
#[derive(Default)]
pub(super) struct Model {
    codecs: Codecs,
    pub courses: BTreeMap<Uuid, CourseFacts>,
    pub bookings: BTreeMap<Uuid, BookingFacts>,
    pub payments: BTreeMap<Uuid, PaymentFacts>,
    pub members: BTreeMap<Uuid, MemberFacts>,
    pub events: u64,
    /// The provider's statement lines, by booking, in statement order.
    pub statement: BTreeMap<Uuid, Vec<ProviderEntry>>,
    pub provider_entries: u64,
}

impl Model {
    /// Folds one event in. Events must come in position order.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), CodecError> {
        self.events += 1;
        let (kind, id, at) = (event.stream.aggregate_type.as_str(), event.stream.aggregate_id, EventRef::of(event));
        if kind == Course::TYPE {
            let decoded = self.codecs.course.decode(event)?;
            let facts = self.courses.entry(id).or_default();
            if let CourseEvent::SeatReserved { booking_id, .. }
            | CourseEvent::SeatReleased { booking_id, .. }
            | CourseEvent::SeatReservationRejected { booking_id, .. } = &decoded
            {
                facts.seat_events.insert(*booking_id, at);
            }
            facts.state = Course::apply(facts.state.take(), &decoded);
        } else if kind == Booking::TYPE {
            let decoded = self.codecs.booking.decode(event)?;
            let facts = self.bookings.entry(id).or_default();
            if matches!(decoded, BookingEvent::BookingRequested { .. }) {
                facts.requested = Some(at.clone());
            }
            facts.last = Some(at);
            facts.state = Booking::apply(facts.state.take(), &decoded);
        } else if kind == Payment::TYPE {
            let decoded = self.codecs.payment.decode(event)?;
            let facts = self.payments.entry(id).or_default();
            match decoded {
                PaymentEvent::PaymentCaptured { .. } => facts.captured = Some(at.clone()),
                PaymentEvent::ChargeRequested { .. } => facts.requested = Some(at.clone()),
                _ => {}
            }
            facts.last = Some(at);
            facts.state = Payment::apply(facts.state.take(), &decoded);
        } else if kind == Member::TYPE {
            let decoded = self.codecs.member.decode(event)?;
            let facts = self.members.entry(id).or_default();
            if matches!(decoded, MemberEvent::MemberRegistered { .. }) {
                facts.registered = Some(at);
            }
            facts.state = Member::apply(facts.state.take(), &decoded);
        }
        Ok(())
    }

    /// Folds one line of the provider's statement in. Lines must come in statement order.
    pub fn apply_provider(&mut self, entry: ProviderEntry) {
        self.provider_entries += 1;
        self.statement.entry(entry.booking_id).or_default().push(entry);
    }

    pub fn course(&self, id: Uuid) -> Option<&CourseState> {
        self.courses.get(&id)?.state.as_ref()
    }

    pub fn booking(&self, id: Uuid) -> Option<&BookingState> {
        self.bookings.get(&id)?.state.as_ref()
    }

    pub fn payment(&self, id: Uuid) -> Option<&PaymentState> {
        self.payments.get(&id)?.state.as_ref()
    }

    pub fn member_exists(&self, id: Uuid) -> bool {
        self.members.get(&id).is_some_and(|member| member.state.is_some())
    }
}
