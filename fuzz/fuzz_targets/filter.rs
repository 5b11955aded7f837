//! Fuzzes a `filter` query parameter (RFC 7644 §3.4.2.2); see `scim_api::fuzzing::filter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim_api::fuzzing::filter(data));
