//! sea-orm entities for the tables other code reads through the ORM.

pub mod product_user;
