//! Users pipeline, end to end: HTTP request → directory + outbox → RabbitMQ → worker →
//! `product.users`, with real processes, Postgres and RabbitMQ.

mod auth;
mod enterprise;
mod errors;
mod hostile;
mod lifecycle;
mod outages;
mod outbox;
mod reads;
mod secrets;
mod statistics;
mod tracing;
mod worker;

pub use tests::World;
