//! Integration tests of the konnektid crate: one test binary, one module per concern.

mod api;
mod chaos;
mod choreography;
mod cli;
mod decoders;
mod nodes;
mod process;
mod stored_format;
mod verify;
mod web;
