//! Domain rules shared by both binaries.

pub mod deprovisioning;
pub mod mapping;
pub mod roles;
pub mod user;
