//! The pure domain: one folder per aggregate, each a decision function and a fold.
//!
//! Nothing here does I/O, reads a clock or draws a random id: time and ids come in with the
//! command, and lookups in other aggregates happen before dispatch (a booking is told its
//! teacher and price). That keeps every `handle` replayable and every test a plain function call.
//!
//! | aggregate | stream | decides |
//! |---|---|---|
//! | [`member`] | `member` | registration and profile edits |
//! | [`email_claim`] | `email_claim`, one per normalized address | that an e-mail address has one owner |
//! | [`course`] | `course` | the catalogue entry, its lifecycle and its seats |
//! | [`booking`] | `booking` | a learner's booking as the choreography moves it along |
//! | [`payment`] | `payment`, id = the booking's | the recorded outcome of the charge and refund |
//! | [`review`] | `review`, id derived from the booking's | a learner's review of a confirmed booking |
//!
//! A refused command is an error value whose [`RefusalKind`] the API maps to its error code.
//! When a command breaks several rules, the checks run in the contract's order of precedence:
//! bad input, then not found, then forbidden, then already exists, then the domain rules.
//!
//! Events are stored as bincode, which encodes an enum by variant index: event variants are only
//! ever appended at the end of their enum, never reordered, renamed or removed.

pub mod aggregates;
pub mod booking;
pub mod course;
pub mod email_claim;
pub mod member;
pub mod payment;
pub mod review;
pub mod values;

/// Why a command was refused, in the words of the API contract's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Malformed or out-of-range input (`BAD_INPUT`).
    BadInput,
    /// The command names an aggregate that does not exist (`NOT_FOUND`).
    NotFound,
    /// The actor may not do this (`FORBIDDEN`).
    Forbidden,
    /// A domain rule refuses the command (`RULE_VIOLATION`).
    RuleViolation,
    /// A unique value or the aggregate itself already exists (`ALREADY_EXISTS`).
    AlreadyExists,
}

/// A domain error that knows which kind of refusal it is; every aggregate's error is one.
pub trait Refusal: std::error::Error {
    fn kind(&self) -> RefusalKind;
}

/// Implements `From<Struct> for Enum` for command enums whose variants wrap a struct of the same
/// name, so callers and tests can write `PublishCourse { .. }.into()`.
macro_rules! command_from_structs {
    ($enum:ident { $($variant:ident),+ $(,)? }) => {
        $(
            impl From<$variant> for $enum {
                fn from(command: $variant) -> Self {
                    $enum::$variant(command)
                }
            }
        )+
    };
}
pub(crate) use command_from_structs;

/// Test helpers shared by the aggregates' tests.
#[cfg(test)]
pub(crate) mod testing {
    use actors::{decode_bytes, encode_bytes};
    use actors::DomainEvent;
    use chrono::{DateTime, Utc};

    /// A fixed instant, `minute` minutes after a reference time.
    pub fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + minute * 60, 0).expect("a valid timestamp")
    }

    /// Asserts each event survives the store's encoding unchanged.
    #[track_caller]
    pub fn assert_round_trips<E: DomainEvent + PartialEq>(events: &[E]) {
        for event in events {
            let bytes = encode_bytes(event).expect("the event encodes");
            let decoded: E = decode_bytes(&bytes).expect("the event decodes");
            assert_eq!(&decoded, event, "{} changed on the way through bincode", event.event_type());
        }
    }
}
