//! Writes: each mutation sends its command through the application and answers with the state
//! it produced, read from the read model once that has applied the mutation's position (a new
//! booking's view follows from its one event, so `requestBooking` does not wait).

use std::sync::Arc;

use actors::WaitFor;
use juniper::graphql_object;

use super::objects::{
    change, AuthPayload, BookingObject, BookingPayload, CancelBookingInput, CourseCommandInput, CourseObject, CoursePayload,
    CreateCourseInput, MemberObject, MemberPayload, ProjectionStatusObject, RecordedEventObject, RegisterMemberInput, RequestBookingInput,
    ReviewObject, ReviewPayload, UpdateCourseInput, UpdateProfileInput, UpdateReviewInput, WriteReviewInput,
};
use super::{parse_id, parse_u64, Context};
use crate::app::{AppError, Committed, CourseChanges, NewCourse, NewMember, NewReview, ProfileChanges, ReviewChanges};
use crate::read_models::{bookings, courses, members, reviews};

pub struct Mutation;

fn expected_version(value: Option<&str>) -> Result<Option<u64>, AppError> {
    value.map(|v| parse_u64(v, "expectedVersion")).transpose()
}

/// Reads what a mutation produced from `read_model` once it has applied `position`.
async fn settled<T>(
    context: &Context,
    read_model: &str,
    position: u64,
    read: impl Fn() -> Result<Option<T>, AppError>,
) -> Result<T, AppError> {
    let waited = context.app.runtime().subscribers().wait_for(position, context.app.command_timeout(), WaitFor::One(read_model)).await;
    match read()? {
        Some(value) => Ok(value),
        None if waited.is_err() => {
            Err(AppError::Timeout(format!("committed at position {position}, but the {read_model} read model has not caught up yet")))
        }
        None => Err(AppError::internal("a committed change is missing from its read model", read_model)),
    }
}

fn events(committed: &Committed) -> Vec<RecordedEventObject> {
    committed.events.iter().cloned().map(RecordedEventObject).collect()
}

async fn member_payload(context: &Context, committed: Committed) -> Result<MemberPayload, AppError> {
    let members = &context.app.read_models().members;
    let member = settled(context, members::NAME, committed.position, || Ok(members.get(committed.id)?)).await?;
    Ok(MemberPayload { member: MemberObject::new(member), position: committed.position.to_string(), events: events(&committed) })
}

async fn course_payload(context: &Context, committed: Committed) -> Result<CoursePayload, AppError> {
    let courses = &context.app.read_models().courses;
    let course = settled(context, courses::NAME, committed.position, || Ok(courses.get(committed.id)?)).await?;
    Ok(CoursePayload { course: CourseObject(course), position: committed.position.to_string(), events: events(&committed) })
}

async fn review_payload(context: &Context, committed: Committed) -> Result<ReviewPayload, AppError> {
    let reviews = &context.app.read_models().reviews;
    let review = settled(context, reviews::NAME, committed.position, || Ok(reviews.get(committed.id)?)).await?;
    Ok(ReviewPayload { review: ReviewObject(review), position: committed.position.to_string(), events: events(&committed) })
}

async fn booking_payload(context: &Context, committed: Committed) -> Result<BookingPayload, AppError> {
    let bookings = &context.app.read_models().bookings;
    // A new booking's view follows from its one event alone (the read model stores exactly this
    // at first), so a `requestBooking` answers without waiting for the read model to catch up.
    let new_booking = match committed.events.as_slice() {
        [requested] => bookings::view_of_new_booking(requested).map_err(|e| AppError::internal("could not decode a booking event", e))?,
        _ => None,
    };
    let booking = match new_booking {
        Some(view) => Arc::new(view),
        None => settled(context, bookings::NAME, committed.position, || Ok(bookings.get(committed.id)?)).await?,
    };
    Ok(BookingPayload { booking: BookingObject(booking), position: committed.position.to_string(), events: events(&committed) })
}

#[graphql_object(context = Context)]
impl Mutation {
    async fn register_member(context: &Context, input: RegisterMemberInput) -> Result<AuthPayload, AppError> {
        let member = NewMember { email: input.email, display_name: input.display_name, password: input.password, city: input.city };
        let (token, committed) = context.app.register_member(member, input.idempotency_key.as_deref()).await?;
        let members = &context.app.read_models().members;
        let member = settled(context, members::NAME, committed.position, || Ok(members.get(committed.id)?)).await?;
        Ok(AuthPayload { token, member: MemberObject::itself(member), position: committed.position.to_string() })
    }

    async fn login(context: &Context, email: String, password: String) -> Result<AuthPayload, AppError> {
        let (token, member_id, position) = context.app.login(&email, &password).await?;
        let members = &context.app.read_models().members;
        let member = settled(context, members::NAME, position, || Ok(members.get(member_id)?)).await?;
        Ok(AuthPayload { token, member: MemberObject::itself(member), position: position.to_string() })
    }

    async fn update_profile(context: &Context, input: UpdateProfileInput) -> Result<MemberPayload, AppError> {
        context.signed_in()?;
        let changes = ProfileChanges {
            display_name: input.display_name,
            city: change(input.city),
            expected_version: expected_version(input.expected_version.as_deref())?,
        };
        let committed = context.app.update_profile(context.caller, changes, input.idempotency_key.as_deref()).await?;
        member_payload(context, committed).await
    }

    async fn create_course(context: &Context, input: CreateCourseInput) -> Result<CoursePayload, AppError> {
        let course = NewCourse {
            title: input.title,
            description: input.description,
            category: input.category,
            city: input.city,
            price_cents: i64::from(input.price_cents),
            currency: input.currency.unwrap_or_else(|| "EUR".to_owned()),
            capacity: i64::from(input.capacity),
        };
        let committed = context.app.create_course(context.caller, course, input.idempotency_key.as_deref()).await?;
        course_payload(context, committed).await
    }

    async fn update_course(context: &Context, input: UpdateCourseInput) -> Result<CoursePayload, AppError> {
        context.signed_in()?;
        let course_id = parse_id(&input.id)?;
        let changes = CourseChanges {
            title: input.title,
            description: input.description,
            category: input.category,
            city: change(input.city),
            price_cents: input.price_cents.map(i64::from),
            capacity: input.capacity.map(i64::from),
            expected_version: expected_version(input.expected_version.as_deref())?,
        };
        let committed = context.app.update_course(context.caller, course_id, changes, input.idempotency_key.as_deref()).await?;
        course_payload(context, committed).await
    }

    async fn publish_course(context: &Context, input: CourseCommandInput) -> Result<CoursePayload, AppError> {
        context.signed_in()?;
        let course_id = parse_id(&input.id)?;
        let expected = expected_version(input.expected_version.as_deref())?;
        let committed = context.app.publish_course(context.caller, course_id, expected, input.idempotency_key.as_deref()).await?;
        course_payload(context, committed).await
    }

    async fn archive_course(context: &Context, input: CourseCommandInput) -> Result<CoursePayload, AppError> {
        context.signed_in()?;
        let course_id = parse_id(&input.id)?;
        let expected = expected_version(input.expected_version.as_deref())?;
        let committed = context.app.archive_course(context.caller, course_id, expected, input.idempotency_key.as_deref()).await?;
        course_payload(context, committed).await
    }

    /// Starts the booking choreography: the course reserves a seat, payments charges, the market confirms.
    async fn request_booking(context: &Context, input: RequestBookingInput) -> Result<BookingPayload, AppError> {
        context.signed_in()?;
        let course_id = parse_id(&input.course_id)?;
        let committed =
            context.app.request_booking(context.caller, course_id, input.payment_method, input.idempotency_key.as_deref()).await?;
        booking_payload(context, committed).await
    }

    /// Cancels a booking of the caller's; releases the seat and refunds a captured payment.
    async fn cancel_booking(context: &Context, input: CancelBookingInput) -> Result<BookingPayload, AppError> {
        context.signed_in()?;
        let booking_id = parse_id(&input.id)?;
        let expected = expected_version(input.expected_version.as_deref())?;
        let committed =
            context.app.cancel_booking(context.caller, booking_id, input.reason, expected, input.idempotency_key.as_deref()).await?;
        booking_payload(context, committed).await
    }

    /// Only the learner of a CONFIRMED booking may review it, once.
    async fn write_review(context: &Context, input: WriteReviewInput) -> Result<ReviewPayload, AppError> {
        context.signed_in()?;
        let review = NewReview {
            booking_id: parse_id(&input.booking_id)?,
            rating: i64::from(input.rating),
            comment: input.comment.unwrap_or_default(),
        };
        let committed = context.app.write_review(context.caller, review, input.idempotency_key.as_deref()).await?;
        review_payload(context, committed).await
    }

    /// Only the review's author; fields left out stay as they are.
    async fn update_review(context: &Context, input: UpdateReviewInput) -> Result<ReviewPayload, AppError> {
        context.signed_in()?;
        let review_id = parse_id(&input.id)?;
        let changes = ReviewChanges {
            rating: input.rating.map(i64::from),
            comment: input.comment,
            expected_version: expected_version(input.expected_version.as_deref())?,
        };
        let committed = context.app.update_review(context.caller, review_id, changes, input.idempotency_key.as_deref()).await?;
        review_payload(context, committed).await
    }

    /// Admin: applies a parked event again (after its cause was fixed); on success it is no longer parked.
    async fn retry_parked_event(context: &Context, subscriber: String, position: String) -> Result<ProjectionStatusObject, AppError> {
        let position = parse_u64(&position, "position")?;
        Ok(ProjectionStatusObject(context.app.retry_parked_event(context.caller, &subscriber, position).await?))
    }

    /// Admin: gives up on a parked event for good.
    async fn skip_parked_event(context: &Context, subscriber: String, position: String) -> Result<ProjectionStatusObject, AppError> {
        let position = parse_u64(&position, "position")?;
        Ok(ProjectionStatusObject(context.app.skip_parked_event(context.caller, &subscriber, position).await?))
    }

    /// Admin: rebuilds one read model from the whole event log. Returns at once with state REBUILDING;
    /// the old read model keeps serving (and `consistent` waits on it) until the new one has caught up,
    /// then they swap.
    async fn rebuild_projection(context: &Context, name: String) -> Result<ProjectionStatusObject, AppError> {
        context.signed_in()?;
        Ok(ProjectionStatusObject(context.app.rebuild_projection(context.caller, &name).await?))
    }
}
