//! Fuzzes a PATCH request body (RFC 7644 §3.5.2), applied to a sample user and group;
//! see `scim_api::fuzzing::patch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim_api::fuzzing::patch(data));
