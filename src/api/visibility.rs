//! Who may read which event stream: a member its own, those of the courses it teaches, of the
//! bookings where it is the learner or the teacher, and of their payments; the admin all.

use uuid::Uuid;

use super::objects::AggregateType;
use super::Context;
use crate::app::{AppError, Caller};
use crate::domain::booking::Booking;
use crate::domain::course::Course;

pub(super) async fn may_read_stream(context: &Context, caller: Caller, aggregate: AggregateType, id: Uuid) -> Result<bool, AppError> {
    let member = match caller {
        Caller::Admin => return Ok(true),
        Caller::Member(member) => member,
        Caller::Anonymous => return Ok(false),
    };
    let runtime = context.app.runtime();
    let load = |e: actors::LoadError| AppError::internal("could not load a stream's owner", e);
    Ok(match aggregate {
        AggregateType::Member => id == member,
        AggregateType::Course => {
            runtime.state_at::<Course>(id, None).await.map_err(load)?.and_then(|(state, _)| state).is_some_and(|c| c.teacher_id == member)
        }
        // A payment's id is its booking's.
        AggregateType::Booking | AggregateType::Payment => runtime
            .state_at::<Booking>(id, None)
            .await
            .map_err(load)?
            .and_then(|(state, _)| state)
            .is_some_and(|b| b.learner_id == member || b.teacher_id == member),
        AggregateType::EmailClaim => false,
    })
}
