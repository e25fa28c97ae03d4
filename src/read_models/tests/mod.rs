//! Tests of the read models, driven through a real runtime: domain events are appended to its
//! store, its driver applies them through real `ReadModelTx`s, and queries read its handles.

mod bookings;
mod courses;
mod members;
mod paging;
mod payments;
mod reviews;
mod stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actors::testing::TestRuntime;
use actors::{Aggregate, CommandContext, EventCodec, ExpectedVersion, Position, RuntimeBuilder, StreamId};
use uuid::Uuid;

use super::{register, ReadModels};
use crate::domain::booking::{Booking, BookingEvent};
use crate::domain::course::{Course, CourseEvent};
use crate::domain::member::{Member, MemberEvent};
use crate::domain::payment::{Payment, PaymentEvent};
use crate::domain::review::{Review, ReviewEvent};
pub(super) use crate::domain::testing::at;

/// A runtime with every read model, fed by appending events to its store directly.
pub(super) struct Log {
    test: TestRuntime,
    /// Whether the setup registers the read models: off for a history written before they exist.
    with_models: Arc<AtomicBool>,
}

impl Log {
    pub async fn start() -> Self {
        Self::start_with_models(true).await
    }

    /// A runtime whose read models appear only after [`Log::add_read_models`]: a backfill.
    pub async fn start_without_models() -> Self {
        Self::start_with_models(false).await
    }

    async fn start_with_models(on: bool) -> Self {
        let with_models = Arc::new(AtomicBool::new(on));
        let flag = with_models.clone();
        let test =
            TestRuntime::start(move |builder: RuntimeBuilder| if flag.load(Ordering::SeqCst) { register(builder) } else { builder }).await;
        Self { test, with_models }
    }

    /// Restarts the runtime with the read models registered; they catch up from position 1.
    pub async fn add_read_models(&mut self) {
        self.with_models.store(true, Ordering::SeqCst);
        self.test.restart().await;
    }

    /// Appends `events` to the stream of `A` with id `id`; returns the last position.
    pub async fn append<A: Aggregate>(&self, id: Uuid, events: impl IntoIterator<Item = A::Event>) -> Position {
        let codec = EventCodec::<A::Event>::default();
        let events = events.into_iter().map(|event| codec.encode(&event).expect("the event encodes")).collect();
        let appended = self
            .test
            .store()
            .append(&StreamId::new(A::TYPE, id), ExpectedVersion::Any, events, &CommandContext::new_request())
            .await
            .expect("the store appends")
            .expect("no conflict with ExpectedVersion::Any");
        appended.events.last().map_or(0, |event| event.position)
    }

    pub async fn member(&self, id: Uuid, events: impl IntoIterator<Item = MemberEvent>) -> Position {
        self.append::<Member>(id, events).await
    }

    pub async fn course(&self, id: Uuid, events: impl IntoIterator<Item = CourseEvent>) -> Position {
        self.append::<Course>(id, events).await
    }

    pub async fn booking(&self, id: Uuid, events: impl IntoIterator<Item = BookingEvent>) -> Position {
        self.append::<Booking>(id, events).await
    }

    pub async fn payment(&self, booking_id: Uuid, events: impl IntoIterator<Item = PaymentEvent>) -> Position {
        self.append::<Payment>(booking_id, events).await
    }

    pub async fn review(&self, id: Uuid, events: impl IntoIterator<Item = ReviewEvent>) -> Position {
        self.append::<Review>(id, events).await
    }

    /// The whole log.
    pub async fn events(&self) -> Vec<actors::RecordedEvent> {
        self.test.events().await
    }

    /// Waits until every read model has applied the whole log, then hands out their queries.
    pub async fn read(&self) -> ReadModels {
        self.test.settle().await;
        ReadModels::from_runtime(self.test.runtime()).expect("every read model is registered")
    }
}

pub(super) fn registered(member_id: Uuid, name: &str) -> MemberEvent {
    MemberEvent::MemberRegistered {
        member_id,
        email: format!("{}@example.org", name.to_lowercase()),
        display_name: name.to_owned(),
        city: Some("Utrecht".to_owned()),
        joined_at: at(0),
    }
}

/// A course of `teacher` in `category`, priced 2500 EUR cents, with `capacity` seats.
pub(super) fn created(teacher_id: Uuid, title: &str, category: &str, capacity: u32) -> CourseEvent {
    CourseEvent::CourseCreated {
        teacher_id,
        title: title.to_owned(),
        description: format!("Learn {title} with us"),
        category: category.to_owned(),
        city: Some("Amsterdam".to_owned()),
        price_cents: 2500,
        currency: "EUR".to_owned(),
        capacity,
        created_at: at(1),
    }
}

pub(super) fn published() -> CourseEvent {
    CourseEvent::CoursePublished { published_at: at(2) }
}

pub(super) fn seat_reserved(booking_id: Uuid, learner_id: Uuid) -> CourseEvent {
    CourseEvent::SeatReserved { booking_id, learner_id, reserved_at: at(4) }
}

pub(super) fn requested(learner_id: Uuid, course_id: Uuid, teacher_id: Uuid) -> BookingEvent {
    BookingEvent::BookingRequested {
        learner_id,
        course_id,
        teacher_id,
        price_cents: 2500,
        currency: "EUR".to_owned(),
        payment_method: "tok_visa".to_owned(),
        requested_at: at(3),
    }
}

pub(super) fn cancelled(course_id: Uuid, reason: Option<&str>, was_confirmed: bool) -> BookingEvent {
    BookingEvent::BookingCancelled {
        course_id,
        reason: reason.map(str::to_owned),
        by_learner: reason.is_none(),
        seat_held: true,
        was_confirmed,
        cancelled_at: at(9),
    }
}

pub(super) fn captured(booking_id: Uuid, amount_cents: i64, currency: &str) -> PaymentEvent {
    PaymentEvent::PaymentCaptured {
        booking_id,
        amount_cents,
        currency: currency.to_owned(),
        payment_method: "tok_visa".to_owned(),
        provider_reference: format!("ch_{booking_id}"),
        captured_at: at(5),
    }
}

pub(super) fn failed(booking_id: Uuid, reason: &str) -> PaymentEvent {
    PaymentEvent::PaymentFailed {
        booking_id,
        amount_cents: 2500,
        currency: "EUR".to_owned(),
        payment_method: "tok_decline".to_owned(),
        reason: reason.to_owned(),
        failed_at: at(5),
    }
}

pub(super) fn refunded(booking_id: Uuid, amount_cents: i64, currency: &str) -> PaymentEvent {
    PaymentEvent::PaymentRefunded {
        amount_cents,
        currency: currency.to_owned(),
        provider_reference: format!("re_{booking_id}"),
        refunded_at: at(10),
    }
}

/// A booking's whole happy path, in the order the choreography writes it.
pub(super) async fn confirmed_booking(log: &Log, course_id: Uuid, learner_id: Uuid, teacher_id: Uuid) -> Uuid {
    let booking_id = Uuid::new_v4();
    log.booking(booking_id, [requested(learner_id, course_id, teacher_id)]).await;
    log.course(course_id, [seat_reserved(booking_id, learner_id)]).await;
    log.booking(booking_id, [BookingEvent::BookingSeatReserved { reserved_at: at(4) }]).await;
    log.payment(booking_id, [captured(booking_id, 2500, "EUR")]).await;
    log.booking(booking_id, [BookingEvent::BookingConfirmed { confirmed_at: at(6) }]).await;
    booking_id
}
