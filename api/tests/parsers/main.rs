//! The SCIM protocol parsers checked against the RFCs: table-driven cases for filters and PATCH,
//! property tests, the fuzz corpora replayed on the stable toolchain, and the SQL translation of
//! filters checked against the in-memory evaluator in a real Postgres database.

mod corpora;
mod filter_cases;
mod fixtures;
mod grammar;
mod patch_cases;
mod properties;
mod pushdown;
mod pushdown_props;
mod testdb;
