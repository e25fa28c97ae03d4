//! Who may read which event stream: a member its own, those of the courses it teaches, of the
//! bookings where it is the learner or the teacher, of their payments, and its own reviews; the
//! admin all.

use actors::Aggregate;
use uuid::Uuid;

use super::Context;
use crate::app::{AppError, Caller};
use crate::domain::aggregates::AggregateKind;
use crate::domain::booking::Booking;
use crate::domain::course::Course;
use crate::domain::review::Review;

pub(super) async fn may_read_stream(context: &Context, caller: Caller, kind: AggregateKind, id: Uuid) -> Result<bool, AppError> {
    let member = match caller {
        Caller::Admin => return Ok(true),
        Caller::Member(member) => member,
        Caller::Anonymous => return Ok(false),
    };
    Ok(match kind {
        AggregateKind::Member => id == member,
        AggregateKind::Course => latest::<Course, _>(context, id).await?.is_some_and(|c| c.teacher_id == member),
        // A payment's id is its booking's.
        AggregateKind::Booking | AggregateKind::Payment => {
            latest::<Booking, _>(context, id).await?.is_some_and(|b| b.learner_id == member || b.teacher_id == member)
        }
        AggregateKind::Review => latest::<Review, _>(context, id).await?.is_some_and(|r| r.author_id == member),
        AggregateKind::EmailClaim => false,
    })
}

/// The current state of a stream whose state is `None` until it exists.
async fn latest<A: Aggregate<State = Option<S>>, S>(context: &Context, id: Uuid) -> Result<Option<S>, AppError> {
    let replayed = context.app.runtime().state_at::<A>(id, None).await;
    Ok(replayed.map_err(|e| AppError::internal("could not load a stream's owner", e))?.and_then(|(state, _)| state))
}
