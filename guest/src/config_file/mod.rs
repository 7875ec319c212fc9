//! The Go client's JSON config-file format (wire facts §9), read strictly and written
//! exactly as Go writes it, plus the fields Go dropped (see the WIT docs of `config-file`).
//!
//! [`parse`] reads a file (strictly, through `read`), [`render`] writes one (through
//! `write`), and [`to_vm_config`] / [`from_vm_config`] convert it to and from a `vm-config`.

mod convert;
mod parse;
mod read;
mod render;
mod write;

pub use crate::bindings::exports::metald::client::config_file::{
    FileBoot, FileConsole, FileCpu, FileIpv4, FileIpv6, FileMemory, FileNetwork, FileStorage, VmConfigFile,
};
pub use convert::{from_vm_config, to_vm_config};
pub use parse::parse;
pub use render::render;

#[cfg(test)]
mod tests;
