//! The event store seen from the API: recorded events, streams with time travel, and the
//! subscribers' progress.

use actors::{RecordedEvent, SubscriberStatus, Version};
use chrono::{DateTime, Utc};
use juniper::{graphql_object, BoxFuture, ID};
use uuid::Uuid;

use super::{millis, AggregateType, ProjectionKind, ProjectionStateValue};
use crate::api::{id, parse_u64, Context, Json};
use crate::app::AppError;
use crate::domain::aggregates::{self, AggregateKind, AggregateVisitor, DomainAggregate};

/// An event's payload as JSON; `null` (and an error in the log) for one that cannot be shown.
pub(crate) fn event_data(event: &RecordedEvent) -> serde_json::Value {
    aggregates::event_data(event).unwrap_or_else(|error| {
        tracing::error!(%error, position = event.position, "an event could not be shown as JSON");
        serde_json::Value::Null
    })
}

/// An aggregate's state after `version` (default: the latest), replayed from its stream.
async fn state_at(context: &Context, kind: AggregateKind, id: Uuid, version: Option<Version>) -> Result<serde_json::Value, AppError> {
    struct Replay<'a> {
        context: &'a Context,
        id: Uuid,
        version: Option<Version>,
    }

    impl<'a> AggregateVisitor for Replay<'a> {
        type Output = BoxFuture<'a, Result<serde_json::Value, AppError>>;

        fn visit<A: DomainAggregate>(self) -> Self::Output {
            Box::pin(async move {
                let replayed = self.context.app.runtime().state_at::<A>(self.id, self.version).await;
                match replayed.map_err(|e| AppError::internal("could not replay a stream", e))? {
                    Some((state, _)) => {
                        aggregates::state_data::<A>(&state).map_err(|e| AppError::internal("a state could not be shown as JSON", e))
                    }
                    None => Ok(serde_json::Value::Null),
                }
            })
        }
    }
    kind.visit(Replay { context, id, version }).await
}

pub struct RecordedEventObject(pub RecordedEvent);

#[graphql_object(name = "RecordedEvent", context = Context)]
impl RecordedEventObject {
    fn position(&self) -> String {
        self.0.position.to_string()
    }

    fn event_id(&self) -> ID {
        id(self.0.event_id)
    }

    fn aggregate(&self) -> Result<AggregateType, AppError> {
        AggregateKind::from_stream_type(&self.0.stream.aggregate_type)
            .map(AggregateType::from)
            .ok_or_else(|| AppError::internal("an event of an unknown stream type", &self.0.stream.aggregate_type))
    }

    fn aggregate_id(&self) -> ID {
        id(self.0.stream.aggregate_id)
    }

    fn version(&self) -> String {
        self.0.version.to_string()
    }

    /// The event's name.
    #[graphql(name = "type")]
    fn event_type(&self) -> &str {
        &self.0.event_type
    }

    fn schema_version(&self) -> i32 {
        i32::try_from(self.0.schema_version).unwrap_or(i32::MAX)
    }

    fn data(&self) -> Json {
        Json::camel_case(event_data(&self.0))
    }

    fn recorded_at(&self) -> DateTime<Utc> {
        millis(self.0.recorded_at)
    }

    /// Shared by every event that one request caused.
    fn correlation_id(&self) -> ID {
        id(self.0.correlation_id)
    }

    /// The eventId of the event whose reaction produced this one; null for events a request produced directly.
    fn causation_id(&self) -> Option<ID> {
        self.0.causation_id.map(id)
    }

    /// What the command that produced it carried besides its data (e.g. `repair`: the violation a repair fixed), as an object of strings.
    fn metadata(&self) -> Json {
        Json(serde_json::to_value(&self.0.metadata).unwrap_or_default())
    }
}

/// A stream that exists (has at least one event), as the owner or the admin sees it.
pub struct StreamObject {
    pub aggregate: AggregateType,
    pub id: Uuid,
    pub version: Version,
}

#[graphql_object(name = "Stream", context = Context)]
impl StreamObject {
    fn aggregate(&self) -> AggregateType {
        self.aggregate
    }

    fn id(&self) -> ID {
        id(self.id)
    }

    fn version(&self) -> String {
        self.version.to_string()
    }

    async fn events(
        &self,
        context: &Context,
        from_version: Option<String>,
        first: Option<i32>,
    ) -> Result<Vec<RecordedEventObject>, AppError> {
        let from = parse_u64(from_version.as_deref().unwrap_or("1"), "fromVersion")?;
        let first = context.page_size(first, 100)?;
        let stream = actors::StreamId::new(AggregateKind::from(self.aggregate).stream_type(), self.id);
        let events = context
            .app
            .store()
            .read_stream(&stream, from.max(1), first)
            .await
            .map_err(|e| AppError::internal("could not read a stream", e))?;
        Ok(events.into_iter().map(RecordedEventObject).collect())
    }

    /// The aggregate's state after `atVersion` (default: the latest), rebuilt by replaying the stream: time travel.
    async fn state(&self, context: &Context, at_version: Option<String>) -> Result<Json, AppError> {
        let version = at_version.as_deref().map(|v| parse_u64(v, "atVersion")).transpose()?;
        if let Some(version) = version {
            if version == 0 || version > self.version {
                return Err(AppError::BadInput(format!("atVersion must be between 1 and {}", self.version)));
            }
        }
        Ok(Json::camel_case(state_at(context, self.aggregate.into(), self.id, version).await?))
    }
}

pub struct ProjectionStatusObject(pub SubscriberStatus);

#[graphql_object(name = "ProjectionStatus", context = Context)]
impl ProjectionStatusObject {
    /// Read models are named at least: members, courses, bookings, payments, stats.
    fn name(&self) -> &str {
        &self.0.name
    }

    fn kind(&self) -> ProjectionKind {
        self.0.kind.into()
    }

    /// Last global position applied.
    fn position(&self) -> String {
        self.0.position.to_string()
    }

    /// Events committed but not yet applied.
    fn lag(&self) -> String {
        self.0.lag.to_string()
    }

    fn state(&self) -> ProjectionStateValue {
        (&self.0).into()
    }

    /// Events this subscriber gave up on after its retries (dead letters).
    fn parked(&self) -> i32 {
        i32::try_from(self.0.parked).unwrap_or(i32::MAX)
    }
}

/// An event a subscriber gave up on after its retries (a dead letter), with the last error.
pub struct ParkedEventObject {
    pub subscriber: String,
    pub parked: actors::ParkedEvent,
}

#[graphql_object(name = "ParkedEvent", context = Context)]
impl ParkedEventObject {
    fn subscriber(&self) -> &str {
        &self.subscriber
    }

    fn position(&self) -> String {
        self.parked.position.to_string()
    }

    fn event_id(&self) -> ID {
        id(self.parked.event_id)
    }

    /// The last error the subscriber met on it.
    fn error(&self) -> &str {
        &self.parked.error
    }

    async fn event(&self, context: &Context) -> Result<Option<RecordedEventObject>, AppError> {
        let events = context
            .app
            .store()
            .read_all(self.parked.position, 1, None)
            .await
            .map_err(|e| AppError::internal("could not read the log", e))?;
        Ok(events.into_iter().find(|e| e.position == self.parked.position).map(RecordedEventObject))
    }
}
