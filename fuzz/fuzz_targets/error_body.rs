//! The Connect error-body parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let status = data.first().map_or(500, |b| 400 + u16::from(*b));
    let _ = metald_guest::codec::error_body::parse(status, data);
});
