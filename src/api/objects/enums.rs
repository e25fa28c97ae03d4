//! The contract's enums and their mapping from the domain's.

use juniper::GraphQLEnum;

use crate::domain::aggregates::AggregateKind;
use crate::domain::booking::BookingStatus;
use crate::domain::course::CourseStatus;
use crate::domain::payment::PaymentStatus;

/// The stream types as the API names them; `EMAIL_CLAIM` is the internal aggregate that keeps
/// e-mail addresses unique. One value per [`AggregateKind`]: the two conversions below are
/// exhaustive matches, so an aggregate added to the domain does not compile until it is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, GraphQLEnum)]
pub enum AggregateType {
    Member,
    Course,
    Booking,
    Payment,
    EmailClaim,
    Review,
}

impl From<AggregateKind> for AggregateType {
    fn from(kind: AggregateKind) -> Self {
        match kind {
            AggregateKind::Member => Self::Member,
            AggregateKind::EmailClaim => Self::EmailClaim,
            AggregateKind::Course => Self::Course,
            AggregateKind::Booking => Self::Booking,
            AggregateKind::Payment => Self::Payment,
            AggregateKind::Review => Self::Review,
        }
    }
}

impl From<AggregateType> for AggregateKind {
    fn from(aggregate: AggregateType) -> Self {
        match aggregate {
            AggregateType::Member => Self::Member,
            AggregateType::EmailClaim => Self::EmailClaim,
            AggregateType::Course => Self::Course,
            AggregateType::Booking => Self::Booking,
            AggregateType::Payment => Self::Payment,
            AggregateType::Review => Self::Review,
        }
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

impl From<&actors::SubscriberStatus> for ProjectionStateValue {
    fn from(status: &actors::SubscriberStatus) -> Self {
        match status.state {
            actors::SubscriberState::CatchingUp => Self::CatchingUp,
            actors::SubscriberState::Live => Self::Live,
            actors::SubscriberState::Rebuilding => Self::Rebuilding,
            actors::SubscriberState::Stopped => Self::Stopped,
            // A reaction another node runs: as far as the position it recorded shows.
            actors::SubscriberState::Standby if status.lag == 0 => Self::Live,
            actors::SubscriberState::Standby => Self::CatchingUp,
        }
    }
}
