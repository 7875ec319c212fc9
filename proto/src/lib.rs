//! The metald wire schema, `metal.vmprovisioner.v1`, as [prost] types.
//!
//! Generated at build time from `proto/metal/vmprovisioner/v1/vmprovisioner.proto` with
//! `protox` (no `protoc` binary needed). The crate is `no_std` + `alloc`, so the same types
//! serve the wasm32-wasip2 guest and native code. Maps are `BTreeMap`s, which makes encoded
//! map entries deterministic (sorted by key).
//!
//! [`connect`] (Connect error codes and descriptions) and [`server_url`] (the server URL
//! parser) are the one copy of those facts for the component and native hosts.
//!
//! With the default `json` feature every message also (de)serializes with serde following the
//! protobuf JSON mapping; see [`json`].
#![no_std]

extern crate alloc;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/metal.vmprovisioner.v1.rs"));
}
pub use generated::*;

pub mod connect;
#[cfg(feature = "json")]
pub mod json;
pub mod route;
pub mod server_url;

#[cfg(test)]
mod wire_tests;
