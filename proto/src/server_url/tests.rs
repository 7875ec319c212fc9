use alloc::string::String;
use alloc::vec::Vec;

use super::*;

/// testdata/server-urls.json, the vectors every language's tests read.
const VECTORS: &str = include_str!("../../../testdata/server-urls.json");

fn vectors(kind: &str) -> Vec<serde_json::Value> {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    all[kind].as_array().unwrap().clone()
}

fn text(vector: &serde_json::Value, key: &str) -> String {
    vector[key].as_str().unwrap().into()
}

#[test]
fn parses_every_valid_vector_into_its_parts() {
    for v in vectors("valid") {
        let url = text(&v, "url");
        let parsed = parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed.scheme.as_str(), text(&v, "scheme"), "{url}");
        assert_eq!(parsed.authority, text(&v, "authority"), "{url}");
        assert_eq!(parsed.host, text(&v, "host"), "{url}");
        assert_eq!(u64::from(parsed.port), v["port"].as_u64().unwrap(), "{url}");
        assert_eq!(parsed.path_prefix, text(&v, "path_prefix"), "{url}");
        assert_eq!(parse(&parsed.base_url()).as_ref(), Ok(&parsed), "{url}: the base URL parses the same");
    }
}

#[test]
fn rejects_every_invalid_vector_with_its_message() {
    for v in vectors("invalid") {
        let url = text(&v, "url");
        match parse(&url) {
            Ok(parsed) => panic!("{url:?} parsed as {parsed:?}"),
            Err(error) => assert_eq!(alloc::format!("{error}"), text(&v, "message"), "{url:?}"),
        }
    }
}

#[test]
fn default_ports_follow_the_scheme() {
    assert_eq!(Scheme::Http.default_port(), 80);
    assert_eq!(Scheme::Https.default_port(), 443);
}
