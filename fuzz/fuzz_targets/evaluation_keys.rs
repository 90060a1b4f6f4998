#![no_main]
//! Fuzzes the evaluation_keys decoder: any input is an `Ok` or a typed error, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fhe_dsl_fuzz::decode_evaluation_keys(data);
});
