#![no_main]
//! Fuzzes `ddstream::fuzz_entry::config`: it must not panic on any bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ddstream::fuzz_entry::config(data));
