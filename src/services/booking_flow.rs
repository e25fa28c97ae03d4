//! The booking flow: the process manager that carries each step of a booking to the aggregate
//! that takes the next one (course seats, booking status) and compensates when a step lost a race.
//!
//! It only sends commands, so it is safe to run over the whole history: every command's id
//! derives from the triggering event, and every step is idempotent in the domain. Its clock is
//! the triggering event's `recorded_at`, so a redelivery sends exactly the same command.

use actors::{CommandBus, CommandContext, ProcessManager, RecordedEvent, SubscriberError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::reaction::{decode, send};
use crate::domain::booking::{
    Booking, BookingError, BookingEvent, BookingStatus, CancelBooking, Canceller, ConfirmBooking, MarkSeatReserved, RejectBooking,
};
use crate::domain::course::{Course, CourseError, CourseEvent, ReleaseSeat, ReserveSeat};
use crate::domain::payment::{Payment, PaymentEvent};
use crate::domain::Refusal;

/// The subscriber name of [`BookingFlow`].
pub const BOOKING_FLOW: &str = "booking-flow";

/// The booking choreography's process manager. Stateless: what it needs is in the events.
#[derive(Debug, Clone, Copy, Default)]
pub struct BookingFlow;

#[async_trait]
impl ProcessManager for BookingFlow {
    fn event_types(&self) -> &[&'static str] {
        &["BookingRequested", "BookingCancelled", "SeatReserved", "SeatReservationRejected", "PaymentCaptured", "PaymentFailed"]
    }

    async fn react(&self, event: &RecordedEvent, commands: &CommandBus) -> Result<(), SubscriberError> {
        let step = Step { event, commands, at: event.recorded_at };
        if let Some(booking_event) = decode::<Booking>(event)? {
            step.on_booking(booking_event).await
        } else if let Some(course_event) = decode::<Course>(event)? {
            step.on_course(course_event).await
        } else if let Some(payment_event) = decode::<Payment>(event)? {
            step.on_payment(payment_event).await
        } else {
            Ok(())
        }
    }
}

/// One reaction in progress: the triggering event, where to send commands, and its time.
struct Step<'a> {
    event: &'a RecordedEvent,
    commands: &'a CommandBus,
    at: DateTime<Utc>,
}

impl Step<'_> {
    /// The context of the reaction's `index`-th command (0 for the step, 1 for a compensation).
    fn context(&self, index: u32) -> CommandContext {
        CommandContext::caused_by(self.event, BOOKING_FLOW, index)
    }

    /// The aggregate id of the triggering event: the booking's for booking and payment events.
    fn source_id(&self) -> Uuid {
        self.event.stream.aggregate_id
    }

    async fn on_booking(&self, event: BookingEvent) -> Result<(), SubscriberError> {
        let booking_id = self.source_id();
        match event {
            BookingEvent::BookingRequested { learner_id, course_id, .. } => {
                let reserve = ReserveSeat { booking_id, learner_id, at: self.at };
                // The course answers with an event (SeatReserved or SeatReservationRejected),
                // which is this flow's next trigger.
                match send::<Course>(self.commands, course_id, reserve.into(), self.context(0)).await? {
                    Ok(_) => Ok(()),
                    Err(CourseError::NotFound) => self.reject(booking_id, "the course does not exist".to_owned(), 1).await,
                    Err(refusal) => {
                        tracing::warn!(%booking_id, %course_id, %refusal, "the course refused to consider a seat");
                        Ok(())
                    }
                }
            }
            BookingEvent::BookingCancelled { course_id, seat_held: true, .. } => self.release_seat(course_id, booking_id, 0).await,
            _ => Ok(()),
        }
    }

    async fn on_course(&self, event: CourseEvent) -> Result<(), SubscriberError> {
        let course_id = self.source_id();
        match event {
            CourseEvent::SeatReserved { booking_id, .. } => {
                let mark = MarkSeatReserved { at: self.at };
                match send::<Booking>(self.commands, booking_id, mark.into(), self.context(0)).await? {
                    Ok(_) => Ok(()),
                    // The booking was cancelled (or never existed) while the course reserved
                    // the seat: nobody will use it, so give it back.
                    Err(refusal @ (BookingError::StepNoLongerApplies { .. } | BookingError::NotFound)) => {
                        tracing::info!(%booking_id, %course_id, %refusal, "the booking cannot take its seat; releasing it");
                        self.release_seat(course_id, booking_id, 1).await
                    }
                    Err(refusal) => log_refusal(booking_id, &refusal),
                }
            }
            CourseEvent::SeatReservationRejected { booking_id, reason, .. } => self.reject(booking_id, reason.to_string(), 0).await,
            _ => Ok(()),
        }
    }

    async fn on_payment(&self, event: PaymentEvent) -> Result<(), SubscriberError> {
        match event {
            PaymentEvent::PaymentCaptured { booking_id, .. } => {
                let confirm = ConfirmBooking { at: self.at };
                match send::<Booking>(self.commands, booking_id, confirm.into(), self.context(0)).await? {
                    Ok(_) => Ok(()),
                    Err(BookingError::StepNoLongerApplies { status: BookingStatus::Cancelled, .. }) => {
                        // The money moved through the provider, so giving it back is a side
                        // effect: the payments handler refunds a captured payment of a cancelled
                        // booking when it sees this same PaymentCaptured.
                        tracing::info!(%booking_id, "payment captured for a booking cancelled meanwhile; the payments handler refunds it");
                        Ok(())
                    }
                    Err(refusal) => log_refusal(booking_id, &refusal),
                }
            }
            PaymentEvent::PaymentFailed { booking_id, reason, .. } => {
                let cancel = CancelBooking { actor: Canceller::System, reason: Some(format!("payment failed: {reason}")), at: self.at };
                match send::<Booking>(self.commands, booking_id, cancel.into(), self.context(0)).await? {
                    Ok(_) => Ok(()),
                    // Already over: nothing left to cancel.
                    Err(BookingError::AlreadyCancelled | BookingError::AlreadyRejected) => Ok(()),
                    Err(refusal) => log_refusal(booking_id, &refusal),
                }
            }
            PaymentEvent::PaymentRefunded { .. } | PaymentEvent::ChargeRequested { .. } => Ok(()),
        }
    }

    async fn reject(&self, booking_id: Uuid, reason: String, index: u32) -> Result<(), SubscriberError> {
        let reject = RejectBooking { reason, at: self.at };
        match send::<Booking>(self.commands, booking_id, reject.into(), self.context(index)).await? {
            Ok(_) => Ok(()),
            // Cancelled by its learner before the course answered: it is over either way.
            Err(BookingError::StepNoLongerApplies { .. }) => Ok(()),
            Err(refusal) => log_refusal(booking_id, &refusal),
        }
    }

    async fn release_seat(&self, course_id: Uuid, booking_id: Uuid, index: u32) -> Result<(), SubscriberError> {
        let release = ReleaseSeat { booking_id, at: self.at };
        match send::<Course>(self.commands, course_id, release.into(), self.context(index)).await? {
            Ok(_) => Ok(()),
            Err(refusal) => {
                tracing::warn!(%booking_id, %course_id, %refusal, "the course refused to release a seat");
                Ok(())
            }
        }
    }
}

/// A refusal the flow has no answer to: logged, and the event counts as handled, since sending
/// the same command again would be refused again.
fn log_refusal(booking_id: Uuid, refusal: &BookingError) -> Result<(), SubscriberError> {
    tracing::warn!(%booking_id, %refusal, kind = ?refusal.kind(), "the booking refused a step of its flow");
    Ok(())
}
