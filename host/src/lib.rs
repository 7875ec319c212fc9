//! metald-host: runs the metald client component natively with wasmtime, and supplies what
//! the component must not hold: its outbound connections (pooled, with timeouts and an
//! allow-list) and their TLS identity.
//!
//! The crate carries the component it runs ([`component::EMBEDDED_COMPONENT`], the file
//! `component/metald_guest.wasm`), so depending on it needs no wasm toolchain. To run another
//! build, set [`RuntimeConfig::component`] to [`component::ComponentSource::File`] or
//! [`component::ComponentSource::Bytes`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), metald_host::Error> {
//! use metald_host::{Runtime, RuntimeConfig, bindings::types::ClientOptions};
//! let runtime = Runtime::new(RuntimeConfig::new(metald_host::plain_transport("http://127.0.0.1:8080")?))?;
//! let mut client = runtime
//!     .client(ClientOptions {
//!         server: "http://127.0.0.1:8080".into(),
//!         user_id: "alice".into(),
//!         tenant_id: "acme".into(),
//!         timeout_ms: None,
//!         route_prefix: None,
//!         codec: None,
//!         retries: None,
//!         max_response_bytes: None,
//!         compression: None,
//!     })
//!     .await?;
//! let vms = client.list_all_vms(&[]).await?;
//! # Ok(()) }
//! ```

pub mod bindings;
mod client;
pub mod component;
pub mod error;
mod limits;
pub mod plugin;
mod runtime;
mod state;
pub mod tls;
pub mod transport;

pub use client::Client;
pub use error::{Error, code_name, describe};
pub use runtime::{Instance, Runtime, RuntimeConfig};
pub use state::HostState;

/// A transport for `server` without a client certificate (`--tls-mode disabled`): the
/// component may reach only that server (its scheme, host and port; a path prefix such as
/// `http://127.0.0.1:8080/metald` is fine).
pub fn plain_transport(server: &str) -> Result<transport::TransportConfig, Error> {
    let allowed = transport::AllowedHost::for_server(server)?;
    let tls = tls::ServerAuthOnly::new()?;
    Ok(transport::TransportConfig::new(std::sync::Arc::new(tls), transport::AllowList::new(vec![allowed])))
}
