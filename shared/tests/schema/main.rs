//! The database schema against real Postgres: the entities match the migrated tables (drift),
//! and the migrations run, record and adopt as `shared::migration` says. Each test works in a
//! throwaway database of its own.

// As in the end-to-end tests package: a panic is how a test, and its helpers, fail.
#![allow(clippy::unwrap_used)]

mod drift;
mod migrations;
mod statistics;
mod testdb;
