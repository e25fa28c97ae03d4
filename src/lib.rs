//! Konnektid: an event-sourced marketplace where members teach and learn skills.
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod memory;
pub mod read_models;
pub mod server;
pub mod services;
pub mod logging;
pub mod verify;
