//! Konnektid: an event-sourced marketplace where members teach and learn skills.
pub mod domain;
