//! Client-side instructions per call, counted by `valgrind --tool=callgrind`: a figure that
//! does not move with the load of a shared machine, as wall-clock time does.
//!
//! The benchmark runs itself again under callgrind as a *client process* (the dev server stays
//! in the parent, outside valgrind, so its instructions are not counted), once with
//! [`Counts::few`] calls and once with [`Counts::many`]; the difference divided by the extra
//! calls is the cost of one call, free of process start, engine creation, component load and
//! connection setup. `callgrind_annotate` gives each function's own (exclusive) count, summed
//! into [`Bucket`]s by the crate its symbol belongs to.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// The environment variable that makes the benchmark a callgrind client process:
/// `component`, `native`, `component-identity` or `native-identity`.
pub const CHILD_ENV: &str = "METALD_BENCH_CALLGRIND_CLIENT";
/// The server URL, VM id and call count of a client process.
pub const URL_ENV: &str = "METALD_BENCH_URL";
pub const VM_ENV: &str = "METALD_BENCH_VM";
pub const CALLS_ENV: &str = "METALD_BENCH_CALLS";
/// The component cache directory a client process loads the compiled component from.
pub const CACHE_ENV: &str = "METALD_CACHE_DIR";

/// Which client a process runs.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// The component through metald-host (compression gzip, the default).
    Component,
    /// The native connectrpc client (its default `Accept-Encoding`).
    Native,
    /// The component with compression `identity`: uncompressed answers.
    ComponentIdentity,
    /// The native client without `Accept-Encoding`: uncompressed answers.
    NativeIdentity,
}

impl Side {
    /// The value of [`CHILD_ENV`] for this side.
    pub fn name(self) -> &'static str {
        match self {
            Side::Component => "component",
            Side::Native => "native",
            Side::ComponentIdentity => "component-identity",
            Side::NativeIdentity => "native-identity",
        }
    }
}

/// Call counts of the two runs.
#[derive(Clone, Copy)]
pub struct Counts {
    /// Calls in the short run.
    pub few: usize,
    /// Calls in the long run.
    pub many: usize,
}

/// Where a function's instructions are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// JIT-compiled code: the guest's wasm and wasmtime's trampolines (no symbols).
    GuestWasm,
    /// wasmtime and its WASI implementations: host-call glue, canonical ABI lift/lower,
    /// resource tables, fibers.
    Wasmtime,
    /// HTTP and the async runtime: hyper, h2, http, tokio, mio, our transport, connectrpc.
    Transport,
    /// rustls and ring.
    Tls,
    /// gzip (flate2, miniz_oxide, zlib-rs) on the native side; inside the component it is
    /// guest wasm.
    Gzip,
    /// Protobuf/JSON encoding outside the guest (buffa, prost, serde).
    Codec,
    /// malloc, memcpy and the rest of libc and the kernel interface.
    Libc,
    /// Everything else.
    Other,
}

impl Bucket {
    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Bucket::GuestWasm => "guest wasm (JIT code)",
            Bucket::Wasmtime => "wasmtime + WASI glue",
            Bucket::Transport => "hyper/tokio/transport",
            Bucket::Tls => "TLS",
            Bucket::Gzip => "gzip (native)",
            Bucket::Codec => "protobuf/JSON (native)",
            Bucket::Libc => "libc (malloc, memcpy, syscalls)",
            Bucket::Other => "other",
        }
    }

    /// The bucket of a demangled symbol and its object file, as callgrind_annotate prints them.
    pub fn of(symbol: &str, object: &str) -> Bucket {
        if symbol.starts_with("0x") || symbol == "???" {
            return if object.contains("libc") || object.contains("ld-linux") {
                Bucket::Libc
            } else {
                Bucket::GuestWasm
            };
        }
        if object.contains("libc.so") || object.contains("ld-linux") || object.contains("libm.so") {
            return Bucket::Libc;
        }
        let path = symbol.trim_start_matches(['<', '&', '*', '(']).trim_start_matches("dyn ");
        let krate = path.split(['<', ':', ' ', '(']).next().unwrap_or(path);
        match krate {
            k if k.starts_with("wasmtime") || k.starts_with("cranelift") || k.starts_with("wasmparser") => {
                Bucket::Wasmtime
            }
            "hyper" | "hyper_util" | "h2" | "http" | "http_body" | "http_body_util" | "tokio" | "mio"
            | "want" | "futures_util" | "futures_core" | "futures_channel" | "tower" | "tower_service"
            | "connectrpc" | "bytes" | "httparse" | "socket2" | "metald_host" | "metald_devserver"
            | "tracing" | "tracing_core" => Bucket::Transport,
            "rustls" | "ring" | "webpki" | "rustls_webpki" | "tokio_rustls" | "hyper_rustls"
            | "spiffe_rustls" => Bucket::Tls,
            "flate2" | "miniz_oxide" | "zlib_rs" | "libz_rs_sys" => Bucket::Gzip,
            "buffa" | "prost" | "serde" | "serde_json" | "metald_proto" | "base64" => Bucket::Codec,
            "malloc"
            | "free"
            | "realloc"
            | "calloc"
            | "memcpy"
            | "memmove"
            | "memset"
            | "memcmp"
            | "__memcpy_avx_unaligned_erms" => Bucket::Libc,
            k if k.starts_with("__")
                || k.starts_with("_int_")
                || k.starts_with("mem")
                || k.starts_with("pthread") =>
            {
                Bucket::Libc
            }
            _ => Bucket::Other,
        }
    }
}

/// Instructions of one client run: the total and the per-bucket exclusive sums.
#[derive(Debug, Default)]
pub struct Profile {
    /// Every instruction of the process.
    pub total: u64,
    /// Per bucket.
    pub buckets: BTreeMap<Bucket, u64>,
}

/// Instructions per call: total and per bucket, from two runs.
#[derive(Debug)]
pub struct PerCall {
    /// All client-side instructions of one call.
    pub total: f64,
    /// Per bucket, in [`Bucket`] order.
    pub buckets: Vec<(Bucket, f64)>,
}

/// Whether valgrind can be run here.
pub fn available() -> bool {
    Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Runs `benchmark` (this program) as a `side` client under callgrind for both counts and
/// returns the instructions of one call.
pub fn measure(
    benchmark: &Path,
    side: Side,
    url: &str,
    vm_id: &str,
    cache: &Path,
    counts: Counts,
) -> Result<PerCall, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    if let Side::Component | Side::ComponentIdentity = side {
        // Compiles the component into the cache under valgrind (whose CPU lacks some of the
        // host's features, so an artifact compiled outside would not be used), so that both
        // measured runs load it from there.
        run(benchmark, side, url, vm_id, cache, 0, dir.path())?;
    }
    let few = run(benchmark, side, url, vm_id, cache, counts.few, dir.path())?;
    let many = run(benchmark, side, url, vm_id, cache, counts.many, dir.path())?;
    let calls = (counts.many - counts.few) as f64;
    let per = |a: u64, b: u64| (b as f64 - a as f64) / calls;
    let buckets = many
        .buckets
        .iter()
        .map(|(&bucket, &n)| (bucket, per(few.buckets.get(&bucket).copied().unwrap_or(0), n)))
        .collect();
    Ok(PerCall { total: per(few.total, many.total), buckets })
}

fn run(
    benchmark: &Path,
    side: Side,
    url: &str,
    vm_id: &str,
    cache: &Path,
    calls: usize,
    dir: &Path,
) -> Result<Profile, String> {
    let out = dir.join(format!("callgrind.{}.{calls}", side.name()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        // The component's code is generated at run time (or mapped from the cache file).
        .arg("--smc-check=all-non-file")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(benchmark)
        .env(CHILD_ENV, side.name())
        .env(URL_ENV, url)
        .env(VM_ENV, vm_id)
        .env(CALLS_ENV, calls.to_string())
        .env(CACHE_ENV, cache)
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the {} client under callgrind failed ({}): {}",
            side.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().rev().take(15).collect::<Vec<_>>().join("\n")
        ));
    }
    annotate(&out)
}

/// Reads a callgrind output file through `callgrind_annotate` (exclusive counts, every
/// function, with object files).
fn annotate(file: &Path) -> Result<Profile, String> {
    let output = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100", "--show-percs=no"])
        .arg(file)
        .output()
        .map_err(|e| format!("callgrind_annotate: {e}"))?;
    if !output.status.success() {
        return Err(format!("callgrind_annotate failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(parse_annotate(&String::from_utf8_lossy(&output.stdout)))
}

/// Parses callgrind_annotate's report: the `PROGRAM TOTALS` line and one line per function,
/// `  1,234  file:symbol [object]`.
pub fn parse_annotate(text: &str) -> Profile {
    let mut profile = Profile::default();
    let number = |field: &str| field.replace(',', "").parse::<u64>().ok();
    for line in text.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(char::is_whitespace) else { continue };
        let Some(count) = number(count) else { continue };
        let rest = rest.trim();
        if rest.starts_with("PROGRAM TOTALS") || rest.starts_with("(PROGRAM TOTALS)") {
            profile.total = count;
            continue;
        }
        let (location, object) = match rest.rsplit_once(" [") {
            Some((location, object)) => (location, object.trim_end_matches(']')),
            None => (rest, ""),
        };
        let symbol = location.split_once(':').map_or(location, |(file, symbol)| {
            if file == "???" || file.contains('/') || file.contains('.') { symbol } else { location }
        });
        *profile.buckets.entry(Bucket::of(symbol, object)).or_default() += count;
    }
    profile
}
