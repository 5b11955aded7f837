//! Pieces shared by `scim-api` and `scim-worker`: configuration, database and broker plumbing,
//! the change message both sides agree on, and the retry policy.

pub mod amqp;
pub mod config;
pub mod db;
pub mod dlq;
pub mod domain;
pub mod entity;
pub mod events;
pub mod fault;
pub mod healthcheck;
pub mod messages;
pub mod migration;
pub mod retry;
pub mod secrets;
pub mod shutdown;
pub mod statistics;
pub mod telemetry;
pub mod tenant_buckets;
pub mod trace;
