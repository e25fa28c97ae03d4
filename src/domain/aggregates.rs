//! Every aggregate type of the domain, listed once.
//!
//! Whatever must be done for each aggregate type (registering it with the runtime, mapping its
//! refusals to error codes, showing its events and states as JSON, deciding who may read its
//! stream) starts from [`AggregateKind`]: either a `match` over it, which the compiler checks
//! is exhaustive, or [`AggregateKind::visit`], which hands the aggregate's type to generic code.
//! Adding an aggregate is one line in `aggregates!` below; the compiler then names every place
//! that has to say something about it.

use actors::{Aggregate, CodecError, EventCodec, RecordedEvent};
use serde::Serialize;

use super::booking::Booking;
use super::course::Course;
use super::email_claim::EmailClaim;
use super::member::Member;
use super::payment::Payment;
use super::review::Review;
use super::Refusal;

/// What the domain promises of every aggregate in the list, beyond the runtime's trait: its
/// refusals know their kind, and its state can be shown as JSON.
pub trait DomainAggregate: Aggregate<Error: Refusal, State: Serialize> {}

impl<A: Aggregate<Error: Refusal, State: Serialize>> DomainAggregate for A {}

/// Generic code run for one aggregate type, chosen at run time by [`AggregateKind::visit`].
pub trait AggregateVisitor {
    type Output;

    fn visit<A: DomainAggregate>(self) -> Self::Output;
}

macro_rules! aggregates {
    ($($kind:ident => $aggregate:ty),+ $(,)?) => {
        /// An aggregate type of the domain.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AggregateKind {
            $($kind),+
        }

        impl AggregateKind {
            /// Every aggregate type, in the order of the list.
            pub const ALL: &'static [AggregateKind] = &[$(AggregateKind::$kind),+];

            /// The stream type its events are stored under (`Aggregate::TYPE`).
            pub fn stream_type(self) -> &'static str {
                match self {
                    $(AggregateKind::$kind => <$aggregate as Aggregate>::TYPE),+
                }
            }

            /// Runs `visitor` with this kind's aggregate type.
            pub fn visit<V: AggregateVisitor>(self, visitor: V) -> V::Output {
                match self {
                    $(AggregateKind::$kind => visitor.visit::<$aggregate>()),+
                }
            }
        }
    };
}

aggregates! {
    Member => Member,
    EmailClaim => EmailClaim,
    Course => Course,
    Booking => Booking,
    Payment => Payment,
    Review => Review,
}

impl AggregateKind {
    /// The kind whose stream type is `name`.
    pub fn from_stream_type(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.stream_type() == name)
    }

    /// Its name in upper snake case, as the API's enum and the CLI's output spell it.
    pub fn name(self) -> String {
        self.stream_type().to_uppercase()
    }
}

/// Why an event could not be shown as JSON.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    #[error("events of stream type {0:?} belong to no aggregate of the domain")]
    UnknownStreamType(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("could not be shown as JSON: {0}")]
    Json(String),
}

/// An event's payload as JSON: the fields of its variant (the variant's name is the event type).
pub fn event_data(event: &RecordedEvent) -> Result<serde_json::Value, RenderError> {
    struct Render<'a>(&'a RecordedEvent);

    impl AggregateVisitor for Render<'_> {
        type Output = Result<serde_json::Value, RenderError>;

        fn visit<A: DomainAggregate>(self) -> Self::Output {
            let decoded = EventCodec::<A::Event>::default().decode(self.0)?;
            match serde_json::to_value(&decoded).map_err(|e| RenderError::Json(e.to_string()))? {
                // Externally tagged: {"CourseCreated": {...}} repeats the event type.
                serde_json::Value::Object(mut tagged) if tagged.len() == 1 => {
                    Ok(tagged.remove(&self.0.event_type).unwrap_or(serde_json::Value::Object(tagged)))
                }
                other => Ok(other),
            }
        }
    }
    let kind = AggregateKind::from_stream_type(&event.stream.aggregate_type)
        .ok_or_else(|| RenderError::UnknownStreamType(event.stream.aggregate_type.clone()))?;
    kind.visit(Render(event))
}

/// An aggregate's state as JSON.
pub fn state_data<A: DomainAggregate>(state: &A::State) -> Result<serde_json::Value, RenderError> {
    serde_json::to_value(state).map_err(|e| RenderError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_stream_type_and_named_once() {
        let mut names = std::collections::HashSet::new();
        for kind in AggregateKind::ALL {
            assert_eq!(AggregateKind::from_stream_type(kind.stream_type()), Some(*kind));
            assert!(names.insert(kind.name()), "{kind:?} shares its name");
        }
        assert_eq!(AggregateKind::from_stream_type("nothing"), None);
        assert_eq!(AggregateKind::EmailClaim.name(), "EMAIL_CLAIM");
    }
}
