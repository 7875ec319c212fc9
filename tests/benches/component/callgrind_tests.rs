//! The unit tests of the benchmark's callgrind module (benches/component/callgrind.rs), which
//! cannot run inside the benchmark: it has no test harness.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

// The benchmark uses the rest of the module.
#[allow(dead_code)]
#[path = "callgrind.rs"]
mod callgrind;

use callgrind::{Bucket, parse_annotate};

#[test]
fn symbols_fall_into_their_crates_bucket() {
    for (symbol, object, bucket) in [
        ("0x000000000401a2c0", "???", Bucket::GuestWasm),
        ("wasmtime::runtime::component::func::host::HostFunc::entrypoint", "/x/component", Bucket::Wasmtime),
        ("<wasmtime_wasi_http::p2::types_impl::X as Y>::set_method", "/x/component", Bucket::Wasmtime),
        ("<hyper::proto::h1::conn::Conn<I,B,T>>::poll_read_head", "/x/component", Bucket::Transport),
        ("tokio::runtime::task::raw::poll", "/x/component", Bucket::Transport),
        ("miniz_oxide::inflate::core::decompress", "/x/component", Bucket::Gzip),
        ("ring::aead::gcm::gcm_gmult", "/x/component", Bucket::Tls),
        ("malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6", Bucket::Libc),
        ("core::fmt::write", "/x/component", Bucket::Other),
    ] {
        assert_eq!(Bucket::of(symbol, object), bucket, "{symbol}");
    }
}

#[test]
fn annotate_report_lines_are_summed_per_bucket() {
    let text = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
10,000  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir     file:function
--------------------------------------------------------------------------------
4,000  ???:0x0000000004a1b2c0 [???]
3,000  /rustc/x/library/core/src/ptr/mod.rs:hyper::proto::h1::role::parse_headers [/t/component]
2,000  ???:wasmtime::runtime::vm::libcalls::raw::memory_grow [/t/component]
1,000  ./malloc/malloc.c:malloc [/usr/lib/x86_64-linux-gnu/libc.so.6]
";
    let profile = parse_annotate(text);
    assert_eq!(profile.total, 10_000);
    assert_eq!(profile.buckets[&Bucket::GuestWasm], 4_000);
    assert_eq!(profile.buckets[&Bucket::Transport], 3_000);
    assert_eq!(profile.buckets[&Bucket::Wasmtime], 2_000);
    assert_eq!(profile.buckets[&Bucket::Libc], 1_000);
}
