#![no_main]
//! Fuzzes the public_key decoder: any input is an `Ok` or a typed error, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fhe_dsl_fuzz::decode_public_key(data);
});
