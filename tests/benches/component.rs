//! The component path against a native Rust client, side by side, on loopback.
//!
//! `cargo bench -p metald-e2e --bench component` measures and writes the table to
//! `target/benchmark.md`; run through `cargo test` (no `--bench` argument) it does a smoke run
//! with a handful of iterations and writes `target/benchmark-smoke.md`. Nothing here asserts
//! timing. Arguments that are not flags select sections by name, as a test filter does:
//! `cargo bench -p metald-e2e --bench component -- throughput` runs only the throughput
//! rows (sections: latency, throughput, host-calls, instructions, instantiate, offline, load,
//! memory, size, cold-cli); a filtered run prints its rows and writes no file.
//!
//! `instructions` counts client-side instructions per call under `valgrind --tool=callgrind`
//! (component/callgrind.rs): this program runs itself as the client process, the server stays
//! outside valgrind.
//!
//! The dev server gzips every answer a client asks gzip for (as metald does), which both clients
//! do by default; `latency` and `instructions` also measure both asking for uncompressed
//! answers: the component with client option `compression: identity`, the native client with
//! no compression registered (no `Accept-Encoding`).
//!
//! The native client is the official `connectrpc` crate's generated `VmServiceClient` over its
//! pooled hyper-util `HttpClient`: what a Rust user would pick to call metald without wasm.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "component/callgrind.rs"]
mod callgrind;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use connectrpc::client::{CallOptions, ClientConfig, HttpClient};
use metald_devserver::pb::{GetVmInfoRequest, VmServiceClient};
use metald_devserver::{DevServer, DevServerConfig};
use metald_host::bindings::templates::Template;
use metald_host::bindings::types::{ClientOptions, Compression, ListVmsRequest};
use metald_host::component::{CacheMode, ComponentSource, EMBEDDED_COMPONENT, EngineLimits};
use metald_host::{Runtime, RuntimeConfig};

/// Iteration counts of a full run and of a smoke run.
struct Plan {
    latency_calls: usize,
    /// Calls per throughput measurement, split evenly across the callers.
    throughput_calls: usize,
    instantiations: usize,
    held_instances: usize,
    cold_runs: usize,
    compiles: usize,
}

const FULL: Plan = Plan {
    latency_calls: 3000,
    throughput_calls: 6400,
    instantiations: 2000,
    held_instances: 1000,
    cold_runs: 25,
    compiles: 5,
};
const SMOKE: Plan = Plan {
    latency_calls: 20,
    throughput_calls: 64,
    instantiations: 20,
    held_instances: 20,
    cold_runs: 3,
    compiles: 1,
};

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn options(server: &str) -> ClientOptions {
    ClientOptions {
        server: server.into(),
        user_id: "bench".into(),
        tenant_id: "bench".into(),
        timeout_ms: Some(30_000),
        route_prefix: None,
        codec: None,
        retries: None,
        max_response_bytes: None,
        compression: None,
    }
}

/// [`options`] asking for uncompressed answers (`Accept-Encoding: identity`).
fn identity_options(server: &str) -> ClientOptions {
    ClientOptions { compression: Some(Compression::Identity), ..options(server) }
}

fn call_options() -> CallOptions {
    CallOptions::default()
        .with_header("authorization", "Bearer dev_user_bench")
        .with_header("x-tenant-id", "bench")
}

fn runtime(server: &str, http2: bool) -> Runtime {
    let mut transport = metald_host::plain_transport(server).unwrap();
    transport.http2_prior_knowledge = http2;
    let mut config = RuntimeConfig::new(transport);
    config.limits = EngineLimits { max_instances: 1100, memory_cap: 64 << 20 };
    Runtime::new(config).unwrap()
}

fn native(server: &str, http2: bool) -> VmServiceClient<HttpClient> {
    let http = if http2 { HttpClient::plaintext_http2_only() } else { HttpClient::plaintext() };
    VmServiceClient::new(http, ClientConfig::new(server.parse().unwrap()))
}

/// [`native`] with no compression registered: it sends no `Accept-Encoding`, and the server
/// answers uncompressed.
fn native_identity(server: &str, http2: bool) -> VmServiceClient<HttpClient> {
    let http = if http2 { HttpClient::plaintext_http2_only() } else { HttpClient::plaintext() };
    let config = ClientConfig::new(server.parse().unwrap())
        .with_compression(connectrpc::compression::CompressionRegistry::new());
    VmServiceClient::new(http, config)
}

/// Creates one VM and returns its id.
async fn seed(runtime: &Runtime, server: &str) -> String {
    let config = runtime.instantiate().await.unwrap().template_config(Template::Standard).await.unwrap();
    let mut client = runtime.client(options(server)).await.unwrap();
    client.create_vm(&config).await.unwrap().vm_id
}

async fn latency_component(
    runtime: &Runtime,
    options: ClientOptions,
    vm_id: &str,
    calls: usize,
) -> (Duration, Duration) {
    let mut client = runtime.client(options).await.unwrap();
    for _ in 0..calls.min(50) {
        client.get_vm_info(vm_id).await.unwrap();
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        client.get_vm_info(vm_id).await.unwrap();
        samples.push(started.elapsed());
    }
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99))
}

async fn latency_native(
    client: &VmServiceClient<HttpClient>,
    vm_id: &str,
    calls: usize,
) -> (Duration, Duration) {
    let request = || GetVmInfoRequest { vm_id: vm_id.to_string(), ..Default::default() };
    for _ in 0..calls.min(50) {
        client.get_vm_info_with_options(request(), call_options()).await.unwrap();
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        std::hint::black_box(
            client.get_vm_info_with_options(request(), call_options()).await.unwrap().into_owned(),
        );
        samples.push(started.elapsed());
    }
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99))
}

/// Calls per second with `callers` concurrent callers, each with its own instance.
async fn throughput_component(
    runtime: &Runtime,
    server: &str,
    vm_id: &str,
    callers: usize,
    calls: usize,
) -> f64 {
    let mut clients = Vec::new();
    for _ in 0..callers {
        clients.push(runtime.client(options(server)).await.unwrap());
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let vm_id = vm_id.to_string();
            tokio::spawn(async move {
                for _ in 0..calls {
                    client.get_vm_info(&vm_id).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (callers * calls) as f64 / started.elapsed().as_secs_f64()
}

async fn throughput_native(
    client: &VmServiceClient<HttpClient>,
    vm_id: &str,
    callers: usize,
    calls: usize,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let client = client.clone();
            let vm_id = vm_id.to_string();
            tokio::spawn(async move {
                for _ in 0..calls {
                    let request = GetVmInfoRequest { vm_id: vm_id.clone(), ..Default::default() };
                    std::hint::black_box(
                        client.get_vm_info_with_options(request, call_options()).await.unwrap().into_owned(),
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (callers * calls) as f64 / started.elapsed().as_secs_f64()
}

/// Client-side instructions per GetVmInfo over HTTP/1.1, component and native, with the
/// per-bucket breakdown (component/callgrind.rs).
async fn instruction_rows(rows: &mut Vec<Row>, full: bool, url: &str, vm_id: &str) {
    if !callgrind::available() {
        rows.push(row("client instructions per GetVmInfo (callgrind)", "valgrind not found", "—", "", ""));
        return;
    }
    let counts =
        if full { callgrind::Counts { few: 20, many: 220 } } else { callgrind::Counts { few: 1, many: 3 } };
    // The component client processes share this compiled-component cache (callgrind::measure).
    let cache = tempfile::tempdir().unwrap();
    let benchmark = std::env::current_exe().unwrap();
    let (url, vm_id, dir) = (url.to_string(), vm_id.to_string(), cache.path().to_path_buf());
    let measured = tokio::task::spawn_blocking(move || {
        let side = |side| {
            callgrind::measure(&benchmark, side, &url, &vm_id, &dir, counts)
                .unwrap_or_else(|error| panic!("callgrind ({}): {error}", side.name()))
        };
        // A debug build compiles the component under valgrind for many minutes: the smoke run
        // measures the native sides only, which exercises the same measuring code.
        let component =
            full.then(|| (side(callgrind::Side::Component), side(callgrind::Side::ComponentIdentity)));
        (component, side(callgrind::Side::Native), side(callgrind::Side::NativeIdentity))
    })
    .await
    .unwrap();
    let (component, native, native_identity) = measured;
    let count = |n: f64| format!("{:.0}", n);
    let Some((component, component_identity)) = component else {
        rows.push(row(
            "client instructions per GetVmInfo, HTTP/1.1, gzip / identity (callgrind; smoke: native side only)",
            "—",
            format!("{} / {}", count(native.total), count(native_identity.total)),
            "",
            "",
        ));
        return;
    };
    let calls = format!("{} − {} calls", counts.many, counts.few);
    instruction_breakdown(rows, &format!("HTTP/1.1 (callgrind, {calls})"), &component, &native, "≤ 2.5");
    instruction_breakdown(
        rows,
        &format!("HTTP/1.1, compression identity (no Accept-Encoding natively; callgrind, {calls})"),
        &component_identity,
        &native_identity,
        "",
    );
    rows.push(row(
        "client instructions per GetVmInfo saved by identity (gzip − identity)",
        count(component.total - component_identity.total),
        count(native.total - native_identity.total),
        "",
        "",
    ));
}

/// The total row of a component/native pair of callgrind measurements, then one row per bucket.
fn instruction_breakdown(
    rows: &mut Vec<Row>,
    label: &str,
    component: &callgrind::PerCall,
    native: &callgrind::PerCall,
    goal: &'static str,
) {
    let count = |n: f64| format!("{:.0}", n);
    rows.push(row(
        format!("client instructions per GetVmInfo, {label}"),
        count(component.total),
        count(native.total),
        format!("{:.2}", component.total / native.total),
        goal,
    ));
    let native_of = |bucket| native.buckets.iter().find(|(b, _)| *b == bucket).map_or(0.0, |(_, n)| *n);
    for &(bucket, n) in &component.buckets {
        rows.push(row(format!("… {}", bucket.label()), count(n), count(native_of(bucket)), "", ""));
    }
    for &(bucket, n) in &native.buckets {
        if !component.buckets.iter().any(|(b, _)| *b == bucket) {
            rows.push(row(format!("… {}", bucket.label()), "0", count(n), "", ""));
        }
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn file_size(path: &std::path::Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

struct Row {
    metric: String,
    component: String,
    native: String,
    ratio: String,
    goal: &'static str,
}

fn row(
    metric: impl Into<String>,
    component: impl Into<String>,
    native: impl Into<String>,
    ratio: impl Into<String>,
    goal: &'static str,
) -> Row {
    Row {
        metric: metric.into(),
        component: component.into(),
        native: native.into(),
        ratio: ratio.into(),
        goal,
    }
}

/// A callgrind client process ([`callgrind::CHILD_ENV`]): a few warm-up calls, then the
/// given number of GetVmInfo calls over HTTP/1.1, and nothing else.
async fn callgrind_client(side: &str) {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"));
    let (url, vm_id) = (var(callgrind::URL_ENV), var(callgrind::VM_ENV));
    let calls: usize = var(callgrind::CALLS_ENV).parse().unwrap();
    match side {
        "component" | "component-identity" => {
            let runtime = runtime(&url, false);
            let options = if side == "component" { options(&url) } else { identity_options(&url) };
            let mut client = runtime.client(options).await.unwrap();
            for _ in 0..3 + calls {
                std::hint::black_box(client.get_vm_info(&vm_id).await.unwrap());
            }
        }
        "native" | "native-identity" => {
            let client = if side == "native" { native(&url, false) } else { native_identity(&url, false) };
            for _ in 0..3 + calls {
                let request = GetVmInfoRequest { vm_id: vm_id.clone(), ..Default::default() };
                std::hint::black_box(
                    client.get_vm_info_with_options(request, call_options()).await.unwrap().into_owned(),
                );
            }
        }
        other => panic!(
            "{}={other}: expected component, native, component-identity or native-identity",
            callgrind::CHILD_ENV
        ),
    }
}

/// Guest-to-host calls (wasmtime's `CallHook::CallingHost`) per call of `rpc` on a warm
/// client.
async fn host_calls_per_call<F>(client: &mut metald_host::Client, calls: usize, mut rpc: F) -> f64
where
    F: AsyncFnMut(&mut metald_host::Client),
{
    rpc(client).await;
    let before = client.host_calls();
    for _ in 0..calls {
        rpc(client).await;
    }
    (client.host_calls() - before) as f64 / calls as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(side) = std::env::var(callgrind::CHILD_ENV) {
        return callgrind_client(&side).await;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |section: &str| filters.is_empty() || filters.iter().any(|f| section.contains(f.as_str()));
    let plan = if full { FULL } else { SMOKE };
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let url = server.url();
    let mut rows = Vec::new();

    let h1 = runtime(&url, false);
    let h2 = runtime(&url, true);
    let vm_id = seed(&h1, &url).await;

    let protocols =
        if wanted("latency") { &[("HTTP/1.1", &h1, false), ("HTTP/2 (h2c)", &h2, true)][..] } else { &[] };
    for &(label, runtime, http2) in protocols {
        let (c50, c99) = latency_component(runtime, options(&url), &vm_id, plan.latency_calls).await;
        let native_client = native(&url, http2);
        let (n50, n99) = latency_native(&native_client, &vm_id, plan.latency_calls).await;
        let ratio = |a: Duration, b: Duration| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64());
        rows.push(row(
            format!("GetVmInfo latency p50, {label}"),
            micros(c50),
            micros(n50),
            ratio(c50, n50),
            "≤ 1.10",
        ));
        rows.push(row(
            format!("GetVmInfo latency p99, {label}"),
            micros(c99),
            micros(n99),
            ratio(c99, n99),
            "",
        ));
    }
    if wanted("latency") {
        // Both clients asking for uncompressed answers from the same always-compressing server.
        let (c50, c99) = latency_component(&h1, identity_options(&url), &vm_id, plan.latency_calls).await;
        let native_client = native_identity(&url, false);
        let (n50, n99) = latency_native(&native_client, &vm_id, plan.latency_calls).await;
        rows.push(row(
            "GetVmInfo latency p50 / p99, HTTP/1.1, compression identity (no Accept-Encoding natively)",
            format!("{} / {}", micros(c50), micros(c99)),
            format!("{} / {}", micros(n50), micros(n99)),
            format!("{:.2}", c50.as_secs_f64() / n50.as_secs_f64()),
            "",
        ));
    }

    let native_h1 = native(&url, false);
    let caller_counts: &[usize] = if wanted("throughput") { &[1, 16, 64] } else { &[] };
    for &callers in caller_counts {
        let component =
            throughput_component(&h1, &url, &vm_id, callers, plan.throughput_calls / callers).await;
        let native = throughput_native(&native_h1, &vm_id, callers, plan.throughput_calls / callers).await;
        rows.push(row(
            format!("throughput, {callers} caller(s), HTTP/1.1"),
            format!("{component:.0} calls/s"),
            format!("{native:.0} calls/s"),
            format!("{:.2}", component / native),
            if callers == 64 { "≥ 0.90" } else { "" },
        ));
    }

    if wanted("host-calls") {
        for (label, runtime) in [("HTTP/1.1", &h1), ("HTTP/2 (h2c)", &h2)] {
            let mut client = runtime.client(options(&url)).await.unwrap();
            let info = host_calls_per_call(&mut client, 10, async |c| {
                c.get_vm_info(&vm_id).await.unwrap();
            })
            .await;
            let list = host_calls_per_call(&mut client, 10, async |c| {
                let request =
                    ListVmsRequest { state_filter: Vec::new(), page_size: 0, page_token: String::new() };
                c.list_vms(&request).await.unwrap();
            })
            .await;
            rows.push(row(
                format!("guest→host calls per GetVmInfo / ListVms, {label}"),
                format!("{info:.0} / {list:.0}"),
                "—",
                "",
                "",
            ));
        }
    }

    if wanted("instructions") {
        instruction_rows(&mut rows, full, &url, &vm_id).await;
    }

    if wanted("instantiate") {
        let mut samples = Vec::with_capacity(plan.instantiations);
        for _ in 0..plan.instantiations {
            let started = Instant::now();
            let instance = h1.instantiate().await.unwrap();
            samples.push(started.elapsed());
            drop(instance);
        }
        let (i50, i99) = (percentile(&mut samples, 0.5), percentile(&mut samples, 0.99));
        rows.push(row(
            "instantiate from InstancePre (pooling), median / p99",
            format!("{} / {}", micros(i50), micros(i99)),
            "—",
            "",
            "≤ 20 µs",
        ));
    }

    if wanted("offline") {
        // One offline export call on a warm instance: the figure go/metald's
        // BenchmarkTemplateConfigCall measures for the Go host.
        let mut instance = h1.instantiate().await.unwrap();
        let mut samples = Vec::with_capacity(plan.latency_calls);
        for _ in 0..plan.latency_calls {
            let started = Instant::now();
            instance.template_config(Template::Standard).await.unwrap();
            samples.push(started.elapsed());
        }
        rows.push(row(
            "offline call template-config(standard), median",
            micros(percentile(&mut samples, 0.5)),
            "—",
            "",
            "",
        ));
    }

    if wanted("load") {
        let engine = metald_host::component::engine(EngineLimits::default()).unwrap();
        let mut compile = Vec::new();
        let mut cached = Vec::new();
        let cache = tempfile::tempdir().unwrap();
        for _ in 0..plan.compiles {
            let started = Instant::now();
            metald_host::component::load(&engine, &ComponentSource::Embedded, &CacheMode::Off).unwrap();
            compile.push(started.elapsed());
        }
        metald_host::component::load(
            &engine,
            &ComponentSource::Embedded,
            &CacheMode::Dir(cache.path().into()),
        )
        .unwrap();
        for _ in 0..plan.compiles.max(5) {
            let started = Instant::now();
            metald_host::component::load(
                &engine,
                &ComponentSource::Embedded,
                &CacheMode::Dir(cache.path().into()),
            )
            .unwrap();
            cached.push(started.elapsed());
        }
        rows.push(row(
            "component load: Cranelift compile / cached artifact (median)",
            format!("{} / {}", millis(percentile(&mut compile, 0.5)), millis(percentile(&mut cached, 0.5))),
            "—",
            format!(
                "{:.0}×",
                percentile(&mut compile, 0.5).as_secs_f64() / percentile(&mut cached, 0.5).as_secs_f64()
            ),
            "",
        ));
    }

    if wanted("memory") {
        let before = rss_bytes();
        let mut held = Vec::with_capacity(plan.held_instances);
        for _ in 0..plan.held_instances {
            held.push(h1.instantiate().await.unwrap());
        }
        let per_instance = rss_bytes().saturating_sub(before) / plan.held_instances as u64;
        drop(held);
        rows.push(row(
            format!("memory per live instance ({} held)", plan.held_instances),
            format!("{:.0} KiB", per_instance as f64 / 1024.0),
            "—",
            "",
            "≤ 1 MiB",
        ));
    }

    // cli/src/main.rs built by this package under another name (tests/Cargo.toml).
    let host_binary = PathBuf::from(env!("CARGO_BIN_EXE_metald-host-e2e"));
    if wanted("size") {
        rows.push(row(
            "component size (component profile, stripped)",
            format!("{:.1} KB", EMBEDDED_COMPONENT.len() as f64 / 1000.0),
            "—",
            "",
            "≤ 400 KB",
        ));
        rows.push(row(
            "metald-host binary size (cli/src/main.rs, built here as metald-host-e2e)",
            file_size(&host_binary).map_or("n/a".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            "—",
            "",
            "",
        ));
    }

    if wanted("cold-cli") {
        // Cold CLI: a fresh process each time, component cache warm.
        let cache_dir = tempfile::tempdir().unwrap();
        let cli = |args: &[&str]| {
            std::process::Command::new(&host_binary)
                .args(["--server", &url, "--tls-mode", "disabled", "--user", "bench", "--tenant", "bench"])
                .args(args)
                .env("METALD_CACHE_DIR", cache_dir.path())
                .output()
                .unwrap()
        };
        assert!(cli(&["info", &vm_id]).status.success(), "warm-up");
        let mut cold = Vec::new();
        for _ in 0..plan.cold_runs {
            let started = Instant::now();
            let output = cli(&["info", &vm_id]);
            cold.push(started.elapsed());
            assert!(output.status.success());
        }
        rows.push(row(
            format!("cold CLI `metald-host info ID` (median of {})", plan.cold_runs),
            millis(percentile(&mut cold, 0.5)),
            "—",
            "",
            "≤ 30 ms",
        ));
    }

    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let mut table = String::from(
        "| metric | component + host | native (connectrpc) | ratio | goal |\n|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.metric, r.component, r.native, r.ratio, r.goal
        ));
    }
    let note = format!(
        "\n{} run, {profile} build, {} CPUs, dev server in-process on 127.0.0.1, {} calls per latency sample set.\n",
        if full { "Full" } else { "Smoke" },
        std::thread::available_parallelism().map_or(0, usize::from),
        plan.latency_calls
    );
    println!("{table}{note}");
    if !filters.is_empty() {
        return;
    }
    let out =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().map_or_else(|| PathBuf::from("."), PathBuf::from);
    let file = out.join(if full { "benchmark.md" } else { "benchmark-smoke.md" });
    std::fs::write(&file, format!("{table}{note}")).unwrap();
    eprintln!("written to {}", file.display());
}
