//! Subscriptions over WebSocket: the log (admin) and one booking's changes.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actors::{RecordedEvent, WaitFor};
use futures::{Stream, StreamExt};
use juniper::{graphql_subscription, FieldError, ID};

use super::objects::{BookingObject, RecordedEventObject};
use super::{parse_id, parse_u64, Context};
use crate::app::AppError;
use crate::domain::booking::Booking;
use crate::read_models::BookingView;

type Updates<T> = Pin<Box<dyn Stream<Item = Result<T, FieldError>> + Send>>;

pub struct Subscription;

/// How long a booking update waits for the bookings read model to apply the event behind it.
const READ_MODEL_WAIT: Duration = Duration::from_secs(10);

#[graphql_subscription(context = Context)]
impl Subscription {
    /// Admin: every event committed from `fromPosition` on: first the history, then live, in position order.
    async fn events(
        context: &Context,
        #[graphql(default = Some("1".to_owned()))] from_position: Option<String>,
        types: Option<Vec<String>>,
    ) -> Result<Updates<RecordedEventObject>, AppError> {
        context.signed_in()?;
        let from = parse_u64(from_position.as_deref().unwrap_or("1"), "fromPosition")?;
        context.admin()?;
        let log = actors::follow(context.app.store().clone(), from);
        let stream = log.filter_map(move |event| {
            let keep = match &event {
                Ok(event) => types.as_ref().is_none_or(|types| types.contains(&event.event_type)),
                Err(_) => true,
            };
            let item = event.map(RecordedEventObject).map_err(|e| AppError::internal("the log could not be read", e).into());
            futures::future::ready(keep.then_some(item))
        });
        Ok(Box::pin(stream))
    }

    /// The booking's state each time it changes, starting with its current state (waiting for it if the read model has not seen it yet). Learner, teacher or admin.
    async fn booking_updated(context: &Context, id: ID) -> Result<Updates<BookingObject>, AppError> {
        let caller = context.signed_in()?;
        let booking_id = parse_id(&id)?;
        let app = context.app.clone();
        // The stream, not the read model, says whether the booking exists and whose it is.
        let (state, _) = app
            .runtime()
            .state_at::<Booking>(booking_id, None)
            .await
            .map_err(|e| AppError::internal("could not load a booking", e))?
            .ok_or_else(|| AppError::NotFound(format!("there is no booking {booking_id}")))?;
        let booking = state.ok_or_else(|| AppError::NotFound(format!("there is no booking {booking_id}")))?;
        let allowed = match caller {
            crate::app::Caller::Admin => true,
            crate::app::Caller::Member(member) => member == booking.learner_id || member == booking.teacher_id,
            crate::app::Caller::Anonymous => false,
        };
        if !allowed {
            return Err(AppError::Forbidden("only the learner, the course's teacher and the admin may follow this booking".into()));
        }
        let head = app.head().await?;
        let course_id = booking.course_id;
        // Its booking and payment streams share its id; seats are decided in its course's stream.
        let relevant = move |event: &RecordedEvent| event.stream.aggregate_id == booking_id || event.stream.aggregate_id == course_id;
        let changes = actors::follow(app.store().clone(), head + 1)
            .filter(move |event| futures::future::ready(event.as_ref().map_or(true, &relevant)));
        let positions = futures::stream::once(futures::future::ready(Ok(head))).chain(changes.map(|event| event.map(|e| e.position)));
        let stream = positions
            .then(move |position| {
                let app = app.clone();
                async move {
                    let position = position.map_err(|e| AppError::internal("the log could not be read", e))?;
                    // Every read model, not only `bookings`: the booking's payment and course come
                    // from theirs, and must show at least what this change of the booking did.
                    let subscribers = app.runtime().subscribers();
                    let _ = subscribers.wait_for(position, READ_MODEL_WAIT, WaitFor::ReadModels).await;
                    Ok::<Option<Arc<BookingView>>, AppError>(app.read_models().bookings.get(booking_id)?)
                }
            })
            .scan(None::<Arc<BookingView>>, |last, view| {
                let item = match view {
                    Ok(Some(view)) if last.as_ref() != Some(&view) => {
                        *last = Some(view.clone());
                        Some(Ok(BookingObject(view)))
                    }
                    Ok(_) => None,
                    Err(error) => Some(Err(error.into())),
                };
                futures::future::ready(Some(item))
            })
            .filter_map(futures::future::ready);
        Ok(Box::pin(stream))
    }
}
