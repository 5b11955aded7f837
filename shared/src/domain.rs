//! Domain rules shared by both binaries.

pub mod mapping;
pub mod user;
