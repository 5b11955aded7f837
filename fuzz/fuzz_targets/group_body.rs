//! Fuzzes a POST/PUT /Groups body; see `scim_api::fuzzing::group_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim_api::fuzzing::group_body(data));
