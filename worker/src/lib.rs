//! `scim-worker` as a library: the binary (`main.rs`) parses the command line and calls
//! `commands`. Applying a change: `consumer` (deliveries, batching, acks) → `apply` (dispatch by
//! kind) → `users`, `groups`, `memberships`, `nesting` (one module per product table family), which take
//! their locks through `key_locks`; `users::managers` links users to their managers and `rows`
//! holds the rules the row writes share. `deliver` pushes change events to push streams.

mod apply;
pub mod cli;
pub mod commands;
mod consumer;
pub mod deliver;
mod expected;
mod groups;
mod http;
mod key_locks;
mod memberships;
mod nesting;
mod outcome;
mod reconcile;
mod roles;
mod rows;
mod users;
mod verify;
