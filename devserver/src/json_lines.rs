//! A file that test logs append one JSON document per line to: the peer log
//! ([`crate::tls::PeerLog`], `--peer-log`) and the request log
//! ([`crate::request_log::RequestLog`], `--request-log`), read by tests in other processes
//! and languages.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// An append-only JSON-lines file, shared by the server's tasks.
#[derive(Debug)]
pub(crate) struct JsonLines {
    file: Mutex<std::fs::File>,
    /// What the file is, for the warning when a line cannot be written (`peer log`).
    what: &'static str,
}

impl JsonLines {
    /// Opens `path` for appending, creating it if missing.
    pub(crate) fn open(path: &Path, what: &'static str) -> std::io::Result<JsonLines> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLines { file: Mutex::new(file), what })
    }

    /// Appends `record` as one line; a failure is logged, never fatal to the request.
    pub(crate) fn append(&self, record: &impl serde::Serialize) {
        let Ok(line) = serde_json::to_string(record) else { return };
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(error) = writeln!(file, "{line}") {
            tracing::warn!(%error, "cannot append to the {}", self.what);
        }
    }
}
