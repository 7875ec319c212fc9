//! The config-file parser, then conversion and rendering of whatever it accepts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = metald_guest::config_file::parse(&text) {
        let _ = metald_guest::config_file::to_vm_config(&file);
        let rendered = metald_guest::config_file::render(&file);
        assert!(metald_guest::config_file::parse(&rendered).is_ok(), "a rendered file parses");
    }
});
