//! Integration tests of the runtime: one test binary, one module per concern.

#[path = "../../examples/account/domain.rs"]
#[allow(dead_code)]
mod account;
mod actor_faults;
mod crash;
mod decoding;
mod given;
mod hooked_store;
mod projection_faults;
mod reaction_leases;
mod runtime_actors;
mod runtime_projections;
mod snapshots;
mod store_conformance;
mod store_faults;
mod store_import;
mod store_upgrade;
mod support;
mod upcasting;
