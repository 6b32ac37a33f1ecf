#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rsflow_fuzz::graphql(data));
