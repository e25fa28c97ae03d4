//! End-to-end tests of the GraphQL API: a real server on port 0 with a temporary data
//! directory, spoken to over HTTP and WebSocket as the frontend does, checked against the
//! contract (`shared/api/schema.graphql`).

pub mod harness;

mod answers;
mod booking;
mod consistency;
mod errors;
mod idempotency;
mod log;
mod operations;
mod payments;
mod restart;
mod reviews;
mod schema;
pub(crate) mod subscriptions;
mod transport;
mod visibility;
