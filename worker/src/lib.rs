//! `scim-worker` as a library: the binary (`main.rs`) parses the command line and calls
//! `commands`. Applying a change: `consumer` (deliveries, batching, acks) → `apply` (dispatch by
//! kind) → `users`, `groups`, `memberships` (one module per product table family), which take
//! their locks through `key_locks` and link managers through `managers`.

mod apply;
pub mod cli;
pub mod commands;
mod consumer;
mod expected;
mod groups;
mod http;
mod key_locks;
mod managers;
mod memberships;
mod outcome;
mod reconcile;
mod users;
mod verify;
