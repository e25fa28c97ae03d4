//! Bookings' use cases: a learner requests a seat (starting the choreography) and may cancel.

use actors::Version;
use uuid::Uuid;

use super::dispatch::{Committed, MemberCommand};
use super::{now, App, AppError, Caller};
use crate::domain::booking::{Booking, CancelBooking, Canceller, RequestBooking};
use crate::domain::course::{Course, CourseState, CourseStatus};
use crate::domain::values;

impl App {
    /// Starts the booking choreography. The course is read in its live actor (never stale, and
    /// no replay of its reservations): an unknown course is NOT_FOUND at once, and so is a draft
    /// its teacher has not published.
    pub async fn request_booking(
        &self,
        caller: Caller,
        course_id: Uuid,
        payment_method: String,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let learner = caller.member_or_admin()?;
        let payment_method = values::normalize_payment_method(&payment_method).map_err(AppError::bad_input)?;
        let not_found = || AppError::NotFound(format!("there is no course {course_id}"));
        let terms = |course: &Option<CourseState>, _| course.as_ref().map(|c| (c.status, c.teacher_id, c.price_cents, c.currency.clone()));
        let course = self.runtime.commands().inspect::<Course, _>(course_id, 0, terms).await?;
        let (status, teacher_id, price_cents, currency) = course.ok_or_else(not_found)?;
        if status == CourseStatus::Draft && Some(teacher_id) != learner {
            return Err(not_found());
        }
        let Some(learner_id) = learner else { return Err(super::auth::admin_is_not_a_member()) };
        let ticket = self.idempotency.ticket("requestBooking", &caller.scope(), key, &(course_id, &payment_method)).await?;
        let booking_id = ticket.id("booking");
        let command = RequestBooking { learner_id, course_id, teacher_id, price_cents, currency, payment_method, requested_at: now() };
        let executed = self.execute::<Booking>(booking_id, command.into(), ticket.context("request-booking"), None).await?;
        self.committed(booking_id, executed).await
    }

    pub async fn cancel_booking(
        &self,
        caller: Caller,
        booking_id: Uuid,
        reason: Option<String>,
        expected: Option<Version>,
        key: Option<&str>,
    ) -> Result<Committed, AppError> {
        let fingerprint = (booking_id, reason.clone(), expected);
        let request = MemberCommand { caller, id: booking_id, mutation: "cancelBooking", fingerprint: &fingerprint, expected, key };
        self.as_member::<Booking, _>(request, |learner_id| {
            CancelBooking { actor: Canceller::Learner(learner_id), reason, at: now() }.into()
        })
        .await
    }
}
