//! Fuzzes a POST/PUT /Users body; see `scim_api::fuzzing::user_body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scim_api::fuzzing::user_body(data));
