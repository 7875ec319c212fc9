//! The `metald-host run` statement parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = metald_script::parse(&String::from_utf8_lossy(data));
});
