//! Domain rules shared by both binaries.

pub mod user;
