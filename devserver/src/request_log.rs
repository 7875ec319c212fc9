//! A log of the requests the dev server answered: the `Accept-Encoding` each asked for and the
//! `Content-Encoding` it got, so tests can check what a client really put on the wire. With
//! [`RequestLog::to_file`] each record is also appended to a file as a JSON line, for tests in
//! other processes and languages (`metald-host dev-server --request-log`).

use std::path::Path;
use std::sync::Mutex;

use crate::json_lines::JsonLines;

/// One answered request (a line of a request log file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestRecord {
    /// The RPC, the last segment of the path (`GetVmInfo`).
    pub rpc: String,
    /// The request's `Accept-Encoding`, if it sent one.
    pub accept_encoding: Option<String>,
    /// The answer's HTTP status.
    pub status: u16,
    /// The answer's `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
}

/// Why a request log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot open the request log: {source}")]
pub struct RequestLogError {
    /// The file.
    pub path: String,
    /// The cause.
    pub source: std::io::Error,
}

/// The requests answered so far, in order; with [`RequestLog::to_file`] also appended to a
/// file.
#[derive(Debug, Default)]
pub struct RequestLog {
    seen: Mutex<Vec<RequestRecord>>,
    file: Option<JsonLines>,
}

impl RequestLog {
    /// A log that also appends every record to `path` (created if missing).
    pub fn to_file(path: &Path) -> Result<RequestLog, RequestLogError> {
        let file = JsonLines::open(path, "request log")
            .map_err(|source| RequestLogError { path: path.display().to_string(), source })?;
        Ok(RequestLog { seen: Mutex::default(), file: Some(file) })
    }

    /// Every request answered so far.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub(crate) fn record(&self, record: RequestRecord) {
        if let Some(file) = &self.file {
            file.append(&record);
        }
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_kept_and_appended_to_the_file_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let log = RequestLog::to_file(&path).unwrap();
        let record = RequestRecord {
            rpc: "GetVmInfo".into(),
            accept_encoding: Some("identity".into()),
            status: 200,
            content_encoding: None,
        };
        log.record(record.clone());
        assert_eq!(log.records(), [record]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"rpc\":\"GetVmInfo\",\"accept_encoding\":\"identity\",\"status\":200,\"content_encoding\":null}\n"
        );
    }

    #[test]
    fn an_unopenable_file_is_an_error_naming_it() {
        let error = RequestLog::to_file(Path::new("/nonexistent-dir/requests.jsonl")).unwrap_err();
        assert!(error.to_string().starts_with("/nonexistent-dir/requests.jsonl: cannot open"), "{error}");
    }
}
