//! Availability against hostile and noisy clients: what one client or tenant sends must not take
//! memory, the database pool or the api's concurrency from everyone else. Each test here failed
//! on the code before the fix it guards (issue 13).

mod fairness;
mod hosts;
mod lists;
mod methods;
mod removals;

pub use tests::World;
