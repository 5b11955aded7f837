//! The SCIM directory in Postgres (`scim` schema). Every write goes through here, together with
//! its outbox row, in one transaction.

pub mod filter_sql;
pub mod group_filter;
pub mod groups;
pub mod memberships;
pub mod user_filter;
pub mod users;
