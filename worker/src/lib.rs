//! `scim-worker` as a library: the binary (`main.rs`) parses the command line and calls
//! `commands`. Applying a change: `consumer` (deliveries, batching, acks) → `apply` (dispatch by
//! kind) → `users`, `groups`, `memberships` (one module per product table family), which take
//! their locks through `key_locks`; `users::managers` links users to their managers and `upsert`
//! holds the single-row upserts' conflict rule.

mod apply;
pub mod cli;
pub mod commands;
mod consumer;
mod expected;
mod groups;
mod http;
mod key_locks;
mod memberships;
mod outcome;
mod reconcile;
mod upsert;
mod users;
mod verify;
