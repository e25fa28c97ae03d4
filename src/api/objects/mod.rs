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

/// A page of a list as the contract shapes it: `<Name>Connection { edges { cursor node } pageInfo
/// totalCount }` over a read model's [`Connection`](crate::read_models::Connection) of views. The
/// views move into the edges once, rather than being cloned each time `edges` resolves.
macro_rules! connection {
    ($connection:ident, $edge:ident, $object:ident, $view:ty) => {
        #[derive(juniper::GraphQLObject)]
        #[graphql(context = crate::api::Context)]
        pub struct $edge {
            pub cursor: String,
            pub node: $object,
        }

        pub struct $connection {
            edges: Vec<$edge>,
            page_info: super::PageInfo,
            total_count: usize,
        }

        impl From<crate::read_models::Connection<std::sync::Arc<$view>>> for $connection {
            fn from(page: crate::read_models::Connection<std::sync::Arc<$view>>) -> Self {
                let edges = page.items.into_iter().map(|(cursor, view)| $edge { cursor, node: $object(view) }).collect();
                let page_info = super::PageInfo { has_next_page: page.has_next_page, end_cursor: page.end_cursor };
                Self { edges, page_info, total_count: page.total_count }
            }
        }

        #[juniper::graphql_object(context = crate::api::Context)]
        impl $connection {
            fn edges(&self) -> &[$edge] {
                &self.edges
            }

            fn page_info(&self) -> &super::PageInfo {
                &self.page_info
            }

            fn total_count(&self) -> i32 {
                i32::try_from(self.total_count).unwrap_or(i32::MAX)
            }
        }
    };
}
pub(crate) use connection;

#[derive(Debug, Clone, GraphQLObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}
