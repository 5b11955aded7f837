//! Fuzzes an attribute path as `sortBy`, `attributes` and PATCH `path` carry it;
//! see `scim_api::fuzzing::attr_path`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim_api::fuzzing::attr_path(data));
