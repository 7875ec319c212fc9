//! The metald client component.
//!
//! Everything a metald client needs besides the network: the Go client's builder, templates
//! and validation, its JSON config files, the Connect unary codec, and a client that makes
//! every call through `wasi:http/outgoing-handler`. The logic is plain Rust that builds and
//! unit-tests on the native target; only [`runtime`] and [`wasi_transport`] are wasm-only.
//!
//! On wasm32 the crate is `no_std` + `alloc`: the Rust standard library would make the
//! component import `wasi:cli` (stdio, environment, exit) on top of `wasi:http`, and this
//! component imports nothing but `wasi:http` and the `wasi:io`/`wasi:clocks` types it uses.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

#[allow(missing_docs, clippy::all)]
pub mod bindings {
    //! Bindings generated from `wit/` (world `metald`).
    wit_bindgen::generate!({
        world: "metald",
        path: "../wit",
        generate_all,
        additional_derives: [PartialEq],
        // Carries a wasi:io error resource, which has no equality.
        additional_derives_ignore: ["stream-error"],
    });
}

pub mod builder;
pub mod call;
pub mod codec;
pub mod config_file;
pub mod errors;
#[cfg(target_arch = "wasm32")]
mod exports;
pub mod model;
pub mod options;
pub mod templates;
pub mod validation;

#[cfg(test)]
mod fuzz_properties;

#[cfg(target_arch = "wasm32")]
mod runtime;
#[cfg(target_arch = "wasm32")]
mod wasi_transport;
