//! The read models (the query side): what the API answers from, each kept by a projection of the log.
//!
//! | name | model | keyed by | queries |
//! |---|---|---|---|
//! | `members` | [`MembersReadModel`] | member id | [`MembersQuery`]: `get`, `count` |
//! | `courses` | [`CoursesReadModel`] | course id, newest first, per teacher | [`CoursesQuery`]: `get`, `list` |
//! | `bookings` | [`BookingsReadModel`] | booking id, newest first, per learner, per course | [`BookingsQuery`]: `get`, `list`, `count_by_status` |
//! | `payments` | [`PaymentsReadModel`] | booking id | [`PaymentsQuery`]: `get` |
//! | `stats` | [`StatsReadModel`] | counters | [`StatsQuery`]: `get`, `top_courses` |
//! | `reviews` | [`ReviewsReadModel`] | review id, newest first per course; ratings per course | [`ReviewsQuery`]: `get`, `of_course`, `rating` |
//!
//! Every read model sees every event of the log and decodes only those of the aggregate types it
//! follows. Each keeps all the state it needs in its own tree, so any of them can be rebuilt (or
//! added to an existing database) from position 1 alone. [`register`] adds all of them to a runtime
//! under the names above; [`ReadModels::from_runtime`] collects their query handles.
//!
//! Queries take the current tree from the [`actors::ReadModelHandle`] once per query (a rebuild swaps it)
//! and never write. Lists are newest first and paged with opaque [`Cursor`]s into a
//! [`Connection`]; a cursor that does not parse is [`QueryError::BadCursor`].

pub mod bookings;
pub mod courses;
pub mod members;
mod paging;
pub mod payments;
mod reader;
pub mod reviews;
pub mod stats;
mod stored_time;
mod trigrams;

#[cfg(test)]
mod tests;

use actors::{Runtime, RuntimeBuilder};
use thiserror::Error;

pub use bookings::{BookingFilter, BookingView, BookingsQuery, BookingsReadModel};
pub use courses::{CourseFilter, CourseView, CoursesQuery, CoursesReadModel};
pub use members::{MemberView, MembersQuery, MembersReadModel};
pub use paging::{Caller, Connection, Cursor, PageRequest, QueryError};
pub use payments::{PaymentView, PaymentsQuery, PaymentsReadModel};
pub use reviews::{CourseRating, ReviewView, ReviewsQuery, ReviewsReadModel};
pub use stats::{CourseBookings, Money, StatsQuery, StatsReadModel, StatsView};

/// The read models, listed once: their names, their registration and their query handles all
/// derive from this list, so a read model cannot be registered and forgotten (or the reverse).
macro_rules! read_models {
    ($($field:ident: $module:ident::$projection:ident => $query:ident),+ $(,)?) => {
        /// The names the read models are registered under, as `projections` shows them.
        pub const NAMES: &[&str] = &[$($module::NAME),+];

        /// Registers every read model of this module under its name.
        pub fn register(builder: RuntimeBuilder) -> RuntimeBuilder {
            builder$(.read_model($module::NAME, $module::$projection::default()))+
        }

        /// The query side of every read model, cheap to clone (each holds a handle).
        #[derive(Clone)]
        pub struct ReadModels {
            $(pub $field: $query,)+
            /// Moves whenever any of them may have changed: what was read from them under one
            /// reading is still their answer while the reading stays the same.
            pub version: actors::ReadVersion,
        }

        impl ReadModels {
            /// The query handles of a runtime built with [`register`].
            pub fn from_runtime(runtime: &Runtime) -> Result<Self, MissingReadModel> {
                let handle = |name: &'static str| runtime.read_model(name).ok_or(MissingReadModel(name));
                Ok(Self { $($field: $query::new(handle($module::NAME)?),)+ version: runtime.subscribers().read_version() })
            }
        }
    };
}

read_models! {
    members: members::MembersReadModel => MembersQuery,
    courses: courses::CoursesReadModel => CoursesQuery,
    bookings: bookings::BookingsReadModel => BookingsQuery,
    payments: payments::PaymentsReadModel => PaymentsQuery,
    stats: stats::StatsReadModel => StatsQuery,
    reviews: reviews::ReviewsReadModel => ReviewsQuery,
}

/// A read model that [`ReadModels::from_runtime`] expected but the runtime does not have.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the read model {0:?} is not registered with the runtime")]
pub struct MissingReadModel(pub &'static str);
