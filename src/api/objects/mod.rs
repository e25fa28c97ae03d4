//! The contract's object, enum and input types, each wrapping a read-model view.

mod catalogue;
mod enums;
mod inputs;
mod log;
mod market;
mod node;
mod payloads;
mod provider;
mod review;

pub use catalogue::{CourseConnection, CourseObject, MemberObject};
pub use enums::{AggregateType, BookingStatusValue, CourseStatusValue, PaymentStatusValue, ProjectionKind, ProjectionStateValue};
pub use inputs::*;
pub(crate) use log::event_data;
pub use log::{ParkedEventObject, ProjectionStatusObject, RecordedEventObject, StreamObject};
pub use market::{BookingConnection, BookingObject, PaymentObject, StatsObject};
pub use node::NodeInfoObject;
pub use payloads::{AuthPayload, BookingPayload, CoursePayload, MemberPayload};
pub use provider::ProviderEntryObject;
pub use review::{ReviewConnection, ReviewObject, ReviewPayload, UpdateReviewInput, WriteReviewInput};

use chrono::{DateTime, Utc};
use juniper::GraphQLObject;

/// Times go out to the millisecond, as the contract shows them.
pub(crate) fn millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

#[derive(Debug, Clone, GraphQLObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}
