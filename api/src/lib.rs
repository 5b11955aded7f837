//! `scim-api` as a library: the binary (`main.rs`) is a thin shell over it, and the parser
//! tests, property tests and fuzz targets reach the SCIM protocol code through it.
//!
//! Public: what the binary, the tests and the fuzzers call (the protocol in `scim`, the
//! directory queries, startup, the admin commands, and the fuzz entry points in `fuzzing`).
//! Everything else stays crate-private.

mod access;
mod activity;
mod admin;
mod admission;
mod api_tokens;
mod auth;
mod auth_cache;
pub mod cli;
mod client;
mod connections;
mod deprovisioning;
pub mod directory;
mod error;
pub mod events;
mod extract;
pub mod fuzzing;
mod hosts;
mod mappings;
mod outbox;
mod rate_limit;
mod routes;
pub mod scim;
pub mod startup;
mod state;
mod tenant_schemas;
mod tenants;
mod tls;
pub mod tokens;
mod trace_context;
mod unread_body;
