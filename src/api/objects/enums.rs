//! The contract's enums and their mapping from the domain's.

use juniper::GraphQLEnum;

use crate::domain::booking::BookingStatus;
use crate::domain::course::CourseStatus;
use crate::domain::payment::PaymentStatus;

/// The stream types; `EMAIL_CLAIM` is the internal aggregate that keeps e-mail addresses unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
pub enum AggregateType {
    Member,
    Course,
    Booking,
    Payment,
    EmailClaim,
}

impl AggregateType {
    pub fn stream_type(self) -> &'static str {
        use actors::Aggregate;
        match self {
            AggregateType::Member => crate::domain::member::Member::TYPE,
            AggregateType::Course => crate::domain::course::Course::TYPE,
            AggregateType::Booking => crate::domain::booking::Booking::TYPE,
            AggregateType::Payment => crate::domain::payment::Payment::TYPE,
            AggregateType::EmailClaim => crate::domain::email_claim::EmailClaim::TYPE,
        }
    }

    /// The enum value as GraphQL spells it.
    pub fn graphql_name(self) -> &'static str {
        match self {
            AggregateType::Member => "MEMBER",
            AggregateType::Course => "COURSE",
            AggregateType::Booking => "BOOKING",
            AggregateType::Payment => "PAYMENT",
            AggregateType::EmailClaim => "EMAIL_CLAIM",
        }
    }

    pub fn from_stream_type(name: &str) -> Option<Self> {
        [AggregateType::Member, AggregateType::Course, AggregateType::Booking, AggregateType::Payment, AggregateType::EmailClaim]
            .into_iter()
            .find(|t| t.stream_type() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
#[graphql(name = "CourseStatus")]
pub enum CourseStatusValue {
    Draft,
    Published,
    Archived,
}

impl From<CourseStatus> for CourseStatusValue {
    fn from(status: CourseStatus) -> Self {
        match status {
            CourseStatus::Draft => Self::Draft,
            CourseStatus::Published => Self::Published,
            CourseStatus::Archived => Self::Archived,
        }
    }
}

impl From<CourseStatusValue> for CourseStatus {
    fn from(status: CourseStatusValue) -> Self {
        match status {
            CourseStatusValue::Draft => Self::Draft,
            CourseStatusValue::Published => Self::Published,
            CourseStatusValue::Archived => Self::Archived,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
#[graphql(name = "BookingStatus")]
pub enum BookingStatusValue {
    Requested,
    SeatReserved,
    Confirmed,
    Rejected,
    Cancelled,
}

impl From<BookingStatus> for BookingStatusValue {
    fn from(status: BookingStatus) -> Self {
        match status {
            BookingStatus::Requested => Self::Requested,
            BookingStatus::SeatReserved => Self::SeatReserved,
            BookingStatus::Confirmed => Self::Confirmed,
            BookingStatus::Rejected => Self::Rejected,
            BookingStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<BookingStatusValue> for BookingStatus {
    fn from(status: BookingStatusValue) -> Self {
        match status {
            BookingStatusValue::Requested => Self::Requested,
            BookingStatusValue::SeatReserved => Self::SeatReserved,
            BookingStatusValue::Confirmed => Self::Confirmed,
            BookingStatusValue::Rejected => Self::Rejected,
            BookingStatusValue::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
#[graphql(name = "PaymentStatus")]
pub enum PaymentStatusValue {
    Pending,
    Captured,
    Failed,
    Refunded,
}

impl From<PaymentStatus> for PaymentStatusValue {
    fn from(status: PaymentStatus) -> Self {
        match status {
            PaymentStatus::Pending => Self::Pending,
            PaymentStatus::Captured => Self::Captured,
            PaymentStatus::Failed => Self::Failed,
            PaymentStatus::Refunded => Self::Refunded,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
pub enum ProjectionKind {
    ReadModel,
    ProcessManager,
    Handler,
}

impl From<actors::SubscriberKind> for ProjectionKind {
    fn from(kind: actors::SubscriberKind) -> Self {
        match kind {
            actors::SubscriberKind::ReadModel => Self::ReadModel,
            actors::SubscriberKind::ProcessManager => Self::ProcessManager,
            actors::SubscriberKind::Handler => Self::Handler,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
#[graphql(name = "ProjectionState")]
pub enum ProjectionStateValue {
    CatchingUp,
    Live,
    Rebuilding,
    Stopped,
}

impl From<actors::ProjectorState> for ProjectionStateValue {
    fn from(state: actors::ProjectorState) -> Self {
        match state {
            actors::ProjectorState::CatchingUp => Self::CatchingUp,
            actors::ProjectorState::Live => Self::Live,
            actors::ProjectorState::Rebuilding => Self::Rebuilding,
            actors::ProjectorState::Stopped => Self::Stopped,
        }
    }
}
