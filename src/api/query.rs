//! Reads: read models (eventually consistent), the event store (`stream`, `events`, `flow`),
//! and `consistent` to read your own writes.

use std::time::Duration;

use actors::{StreamId, WaitFor};
use juniper::{graphql_object, ID};

use super::log_page::{self, LogFilter, Range};
use super::objects::{
    AggregateType, BookingConnection, BookingObject, BookingStatusValue, CourseConnection, CourseFilterInput, CourseObject, MemberObject,
    NodeInfoObject, ParkedEventObject, PaymentObject, ProjectionStatusObject, ProviderEntryObject, RecordedEventObject, ReviewConnection,
    StatsObject, StreamObject,
};
use super::{parse_id, parse_u64, Context};
use crate::app::{AppError, Caller};
use crate::domain::aggregates::AggregateKind;
use crate::read_models::{BookingFilter, CourseFilter, PageRequest};

pub struct Query;

/// The root fields whose answers come from the read models (and the caller) alone, so a query
/// made of them may be answered again from `answers` while the read models have not moved.
/// `stream`, `events` and `flow` read the log, `projections` the subscribers' progress, and
/// `consistent` waits: those are always executed.
pub(super) const READ_MODEL_FIELDS: &[&str] =
    &["me", "member", "course", "courses", "booking", "bookings", "payment", "stats", "reviews", "__typename", "__schema", "__type"];
/// Types with an async field (they replay streams): never reachable from [`READ_MODEL_FIELDS`],
/// whose operations juniper's sync executor runs (see `prepared`; checked by a test).
#[cfg(test)]
const TYPES_WITH_ASYNC_FIELDS: &[&str] = &["Stream", "ParkedEvent"];
/// The rest, listed so that a new root field cannot be added without deciding (see the test).
#[cfg(test)]
const EXECUTED_EVERY_TIME: &[&str] =
    &["stream", "events", "head", "flow", "projections", "consistent", "parkedEvents", "providerStatement", "node"];

#[graphql_object(context = Context)]
impl Query {
    /// The member behind the bearer token, or null without one.
    fn me(context: &Context) -> Result<Option<MemberObject>, AppError> {
        match context.caller {
            Caller::Member(member_id) => Ok(context.app.read_models().members.get(member_id)?.map(MemberObject::new)),
            _ => Ok(None),
        }
    }

    fn member(context: &Context, id: ID) -> Result<Option<MemberObject>, AppError> {
        Ok(context.app.read_models().members.get(parse_id(&id)?)?.map(MemberObject::new))
    }

    fn course(context: &Context, id: ID) -> Result<Option<CourseObject>, AppError> {
        let Some(course) = context.app.read_models().courses.get(parse_id(&id)?)? else { return Ok(None) };
        if !course.visible_to(&context.caller) {
            return Err(match context.caller {
                Caller::Anonymous => AppError::Unauthenticated("this course is a draft: only its teacher may see it".into()),
                _ => AppError::Forbidden("this course is a draft: only its teacher may see it".into()),
            });
        }
        Ok(Some(CourseObject(course)))
    }

    /// Newest first. `after` is the `cursor` of the last edge of the previous page.
    fn courses(
        context: &Context,
        filter: Option<CourseFilterInput>,
        #[graphql(default = Some(20))] first: Option<i32>,
        after: Option<String>,
    ) -> Result<CourseConnection, AppError> {
        let filter = filter.unwrap_or_default();
        let filter = CourseFilter {
            status: filter.status.map(Into::into),
            teacher_id: filter.teacher_id.as_ref().map(parse_id).transpose()?,
            category: filter.category,
            city: filter.city,
            text: filter.text,
            visible_to: context.caller,
        };
        let page = PageRequest { first: context.page_size(first, 20)?, after };
        Ok(CourseConnection::from(context.app.read_models().courses.list(&filter, &page)?))
    }

    fn booking(context: &Context, id: ID) -> Result<Option<BookingObject>, AppError> {
        let caller = context.signed_in()?;
        let booking_id = parse_id(&id)?;
        let Some(booking) = context.app.read_models().bookings.get(booking_id)? else { return Ok(None) };
        if !booking.visible_to(&caller) {
            return Err(AppError::Forbidden("only the learner, the course's teacher and the admin may see this booking".into()));
        }
        Ok(Some(BookingObject(booking)))
    }

    fn bookings(
        context: &Context,
        learner_id: Option<ID>,
        course_id: Option<ID>,
        status: Option<BookingStatusValue>,
        #[graphql(default = Some(20))] first: Option<i32>,
        after: Option<String>,
    ) -> Result<BookingConnection, AppError> {
        let caller = context.signed_in()?;
        let learner_id = learner_id.as_ref().map(parse_id).transpose()?;
        let course_id = course_id.as_ref().map(parse_id).transpose()?;
        let filter = BookingFilter { learner_id, course_id, status: status.map(Into::into), visible_to: caller };
        let page = PageRequest { first: context.page_size(first, 20)?, after };
        Ok(BookingConnection::from(context.app.read_models().bookings.list(&filter, &page)?))
    }

    fn payment(context: &Context, booking_id: ID) -> Result<Option<PaymentObject>, AppError> {
        let caller = context.signed_in()?;
        let booking_id = parse_id(&booking_id)?;
        let read_models = context.app.read_models();
        let Some(booking) = read_models.bookings.get(booking_id)? else { return Ok(None) };
        if !booking.visible_to(&caller) {
            return Err(AppError::Forbidden("only the learner, the course's teacher and the admin may see this payment".into()));
        }
        Ok(read_models.payments.get(booking_id)?.map(PaymentObject))
    }

    /// A course's reviews, newest first.
    fn reviews(
        context: &Context,
        course_id: ID,
        #[graphql(default = Some(20))] first: Option<i32>,
        after: Option<String>,
    ) -> Result<ReviewConnection, AppError> {
        let page = PageRequest { first: context.page_size(first, 20)?, after };
        Ok(ReviewConnection::from(context.app.read_models().reviews.of_course(parse_id(&course_id)?, &page)?))
    }

    /// Catalogue analytics, kept by a projection over the whole history.
    fn stats(context: &Context) -> Result<StatsObject, AppError> {
        Ok(StatsObject(context.app.read_models().stats.get()?))
    }

    /// One aggregate's own event stream, read from the event store (never stale). Null if it has no events. Owner or admin.
    async fn stream(context: &Context, aggregate: AggregateType, id: ID) -> Result<Option<StreamObject>, AppError> {
        let caller = context.signed_in()?;
        let aggregate_id = parse_id(&id)?;
        let kind = AggregateKind::from(aggregate);
        let stream = StreamId::new(kind.stream_type(), aggregate_id);
        let version = context.app.store().stream_version(&stream).await.map_err(|e| AppError::internal("could not read a stream", e))?;
        if version == 0 {
            return Ok(None);
        }
        if !super::visibility::may_read_stream(context, caller, kind, aggregate_id).await? {
            return Err(AppError::Forbidden("only the owner of this stream and the admin may read it".into()));
        }
        Ok(Some(StreamObject { aggregate, id: aggregate_id, version }))
    }

    /// Admin: the global log in commit order (`newestFirst`: from `beforePosition` (excluded; default: the head) down to `fromPosition`), only `types`, only events of `aggregate` and of `aggregateId`.
    #[allow(clippy::too_many_arguments)]
    async fn events(
        context: &Context,
        #[graphql(default = Some("1".to_owned()))] from_position: Option<String>,
        #[graphql(default = Some(100))] first: Option<i32>,
        types: Option<Vec<String>>,
        #[graphql(default = Some(false))] newest_first: Option<bool>,
        before_position: Option<String>,
        aggregate: Option<AggregateType>,
        aggregate_id: Option<ID>,
    ) -> Result<Vec<RecordedEventObject>, AppError> {
        // UNAUTHENTICATED, then LIMIT and BAD_INPUT, then FORBIDDEN: the contract's order.
        context.signed_in()?;
        let from = parse_u64(from_position.as_deref().unwrap_or("1"), "fromPosition")?.max(1);
        let first = context.page_size(first, 100)?;
        let before = before_position.as_deref().map(|p| parse_u64(p, "beforePosition")).transpose()?;
        let filter = LogFilter {
            types,
            stream_type: aggregate.map(|aggregate| AggregateKind::from(aggregate).stream_type()),
            aggregate_id: aggregate_id.as_ref().map(parse_id).transpose()?,
        };
        context.admin()?;
        let range = Range { from, to: before.map_or(u64::MAX, |before| before.saturating_sub(1)) };
        let events = log_page::page(context.app.store(), range, first, &filter, newest_first.unwrap_or(false)).await?;
        Ok(events.into_iter().map(RecordedEventObject).collect())
    }

    /// Admin: the position of the last event committed ("0" for an empty log).
    async fn head(context: &Context) -> Result<String, AppError> {
        context.admin()?;
        Ok(context.app.head().await?.to_string())
    }

    /// Admin: every event that one request caused, directly or through other services' reactions, in position order.
    async fn flow(context: &Context, correlation_id: ID) -> Result<Vec<RecordedEventObject>, AppError> {
        context.signed_in()?;
        let correlation_id = parse_id(&correlation_id)?;
        context.admin()?;
        Ok(context.app.flow(correlation_id).await?.into_iter().map(RecordedEventObject).collect())
    }

    /// Every subscriber of the log (read models, process managers, side-effect handlers) and how far it has caught up.
    async fn projections(context: &Context) -> Result<Vec<ProjectionStatusObject>, AppError> {
        let statuses = context
            .app
            .runtime()
            .subscribers()
            .statuses()
            .await
            .map_err(|e| AppError::internal("could not read projection statuses", e))?;
        Ok(statuses.into_iter().map(ProjectionStatusObject).collect())
    }

    /// Admin: the events subscribers gave up on after their retries (dead letters), of one subscriber or all.
    fn parked_events(context: &Context, subscriber: Option<String>) -> Result<Vec<ParkedEventObject>, AppError> {
        let parked = context.app.parked_events(context.caller, subscriber.as_deref())?;
        Ok(parked.into_iter().map(|(subscriber, parked)| ParkedEventObject { subscriber, parked }).collect())
    }

    /// Admin: the payment provider's own statement, oldest first; `offset` entries skipped, at most `first`; only one booking's with `bookingId`.
    async fn provider_statement(
        context: &Context,
        booking_id: Option<ID>,
        #[graphql(default = Some(100))] first: Option<i32>,
        #[graphql(default = Some(0))] offset: Option<i32>,
    ) -> Result<Vec<ProviderEntryObject>, AppError> {
        // UNAUTHENTICATED, then LIMIT and BAD_INPUT, then FORBIDDEN: the contract's order.
        context.signed_in()?;
        let first = context.page_size(first, 100)?;
        let offset = usize::try_from(offset.unwrap_or(0)).map_err(|_| AppError::BadInput("`offset` must not be negative".into()))?;
        let booking_id = booking_id.as_ref().map(parse_id).transpose()?;
        context.admin()?;
        let statement = context.app.gateway().statement(booking_id, offset, first).await;
        let entries = statement.map_err(|e| AppError::internal("could not read the payment provider's statement", e))?;
        Ok(entries.into_iter().map(ProviderEntryObject).collect())
    }

    /// This node and the cluster it belongs to.
    fn node() -> NodeInfoObject {
        NodeInfoObject
    }

    /// Waits until every read model has applied `minPosition`, then answers the nested query. TIMEOUT after `timeoutMs`.
    async fn consistent(
        context: &Context,
        min_position: String,
        #[graphql(default = Some(2000))] timeout_ms: Option<i32>,
    ) -> Result<Query, AppError> {
        let position = parse_u64(&min_position, "minPosition")?;
        let timeout_ms = timeout_ms.unwrap_or(2000);
        let max = context.app.limits().max_timeout_ms;
        let timeout_ms = u64::try_from(timeout_ms).map_err(|_| AppError::BadInput("timeoutMs must not be negative".into()))?;
        if timeout_ms > max {
            return Err(AppError::Limit(format!("timeoutMs may be at most {max}")));
        }
        let projections = context.app.runtime().subscribers();
        match projections.wait_for(position, Duration::from_millis(timeout_ms), WaitFor::ReadModels).await {
            Ok(()) => Ok(Query),
            Err(timeout) => Err(AppError::Timeout(format!(
                "the read models had not reached position {position} after {timeout_ms} ms (behind: {})",
                timeout.behind.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use graphql_parser::schema::{Definition, Field, Type, TypeDefinition};

    use super::{EXECUTED_EVERY_TIME, READ_MODEL_FIELDS, TYPES_WITH_ASYNC_FIELDS};

    #[test]
    fn no_type_with_an_async_field_is_reachable_from_a_read_model_field() {
        let sdl = super::super::sdl();
        let document = graphql_parser::parse_schema::<String>(&sdl).expect("the served SDL parses");
        let mut fields_of: HashMap<&str, Vec<&Field<String>>> = HashMap::new();
        for definition in &document.definitions {
            match definition {
                Definition::TypeDefinition(TypeDefinition::Object(object)) => {
                    fields_of.insert(&object.name, object.fields.iter().collect());
                }
                Definition::TypeDefinition(TypeDefinition::Interface(interface)) => {
                    fields_of.insert(&interface.name, interface.fields.iter().collect());
                }
                _ => {}
            }
        }
        fn named<'a>(field_type: &'a Type<String>) -> &'a str {
            match field_type {
                Type::NamedType(name) => name,
                Type::ListType(inner) | Type::NonNullType(inner) => named(inner),
            }
        }
        let roots = fields_of["Query"].iter().filter(|field| READ_MODEL_FIELDS.contains(&field.name.as_str()));
        let mut waiting: Vec<&str> = roots.map(|field| named(&field.field_type)).collect();
        let mut reachable = BTreeSet::new();
        while let Some(name) = waiting.pop() {
            if reachable.insert(name) {
                waiting.extend(fields_of.get(name).into_iter().flatten().map(|field| named(&field.field_type)));
            }
        }
        assert!(reachable.contains("Course") && reachable.contains("Booking"), "the walk follows field types: {reachable:?}");
        for name in TYPES_WITH_ASYNC_FIELDS {
            assert!(fields_of.contains_key(name), "{name} is a type of the schema");
            assert!(!reachable.contains(name), "{name} has async fields but is reachable from a read-model field");
        }
    }

    #[test]
    fn every_root_field_is_either_answered_from_the_read_models_or_executed_every_time() {
        let sdl = super::super::sdl();
        let document = graphql_parser::parse_schema::<String>(&sdl).expect("the served SDL parses");
        let fields: Vec<String> = document
            .definitions
            .iter()
            .find_map(|definition| match definition {
                Definition::TypeDefinition(TypeDefinition::Object(object)) if object.name == "Query" => {
                    Some(object.fields.iter().map(|field| field.name.clone()).collect())
                }
                _ => None,
            })
            .expect("a Query type");
        for field in &fields {
            let listed = [READ_MODEL_FIELDS, EXECUTED_EVERY_TIME].iter().filter(|list| list.contains(&field.as_str())).count();
            assert_eq!(listed, 1, "Query.{field} must be in exactly one of READ_MODEL_FIELDS and EXECUTED_EVERY_TIME");
        }
    }
}
