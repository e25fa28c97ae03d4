//! Test harness for the crate's users: pure aggregate tests and a whole runtime on a temp dir.

mod given;
mod runtime;

pub use given::{AggregateOutcome, AggregateTest};
pub use runtime::TestRuntime;
