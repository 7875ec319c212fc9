#![allow(clippy::expect_used)]
//! Builds the guest component (`metald-guest` for `wasm32-wasip2`, profile `component`) so the
//! host can embed it: a fresh clone needs no manual step.
//!
//! The nested build uses the workspace target directory with its own profile, so its lock
//! never collides with the outer build's (`debug` or `release`). Set `METALD_COMPONENT` to
//! embed a prebuilt component instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=METALD_COMPONENT");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let embedded = out.join("metald_guest.wasm");
    let built = match std::env::var_os("METALD_COMPONENT") {
        Some(path) => PathBuf::from(path),
        None => build_guest(),
    };
    std::fs::copy(&built, &embedded).unwrap_or_else(|e| {
        panic!("cannot copy the component {} to {}: {e}", built.display(), embedded.display())
    });
    println!("cargo:rustc-env=METALD_COMPONENT_FILE={}", embedded.display());
    println!("cargo:rustc-env=METALD_COMPONENT_BUILT={}", built.display());
}

fn build_guest() -> PathBuf {
    let host_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = host_dir.parent().expect("host/ sits in the workspace");
    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "proto/src",
        "proto/build.rs",
        "proto/metal",
        "Cargo.lock",
        // The `component` profile lives in the workspace manifest.
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--package", "metald-guest", "--target", "wasm32-wasip2", "--profile", "component"])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy, coverage) are for the host, not the guest.
    for variable in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(variable);
    }
    // Reproducible bytes wherever the crate registry lives: the component embeds panic
    // locations, and go/metald/metald_guest.wasm must equal a fresh build (scripts/test.sh).
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(cargo_home) = cargo_home {
        let registry = cargo_home.join("registry/src");
        command.env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!("--remap-path-prefix={}=/cargo/registry/src", registry.display()),
        );
    }
    let status = command.status().unwrap_or_else(|e| panic!("cannot run cargo to build the component: {e}"));
    assert!(
        status.success(),
        "building the component failed; is the wasm32-wasip2 target installed? Run `rustup toolchain install` in the repository"
    );
    target_dir.join("wasm32-wasip2/component/metald_guest.wasm")
}
