//! Test harness for the crate's users: pure aggregate tests, a whole runtime on a temp dir, and
//! a PostgreSQL schema per test.

mod given;
pub mod postgres;
mod runtime;

pub use given::{AggregateOutcome, AggregateTest};
pub use runtime::TestRuntime;
