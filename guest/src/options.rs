//! Client options with their defaults resolved, and the server URL taken apart by
//! [`metald_proto::server_url`].

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use metald_proto::server_url::{self, ServerUrl};

use crate::bindings::exports::metald::client::endpoint;
use crate::errors::{invalid, issue};
use crate::model::{ClientOptions, Codec, Compression, Error, ValidationIssue};
use crate::validation::identity_issues;

/// Default per-call deadline: 30 s, like the Go client.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Default extra attempts for reads.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default response body cap: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 16 << 20;

/// Validated options with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The server URL, taken apart.
    pub server: ServerUrl,
    /// User id.
    pub user_id: String,
    /// Tenant id.
    pub tenant_id: String,
    /// Per-call deadline in milliseconds.
    pub timeout_ms: u32,
    /// Proto package of the routes.
    pub route_prefix: String,
    /// Wire codec.
    pub codec: Codec,
    /// Extra attempts for reads.
    pub retries: u32,
    /// Response body cap in bytes.
    pub max_response_bytes: u32,
    /// Response compression asked for.
    pub compression: Compression,
}

impl Resolved {
    /// Validates `options`, reporting every problem at once.
    pub fn new(options: &ClientOptions) -> Result<Resolved, Error> {
        let mut issues = identity_issues(&options.user_id, &options.tenant_id);
        let server = server_url::parse(&options.server)
            .map_err(|e| issues.push(issue(server_url::FIELD, format!("{e}"))));
        let route_prefix =
            options.route_prefix.clone().unwrap_or_else(|| metald_proto::route::DEFAULT_PACKAGE.into());
        if let Some(problem) = route_prefix_problem(&route_prefix) {
            issues.push(problem);
        }
        let timeout_ms = options.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            issues.push(issue("timeout-ms", "must be greater than 0"));
        }
        let max_response_bytes = options.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes == 0 {
            issues.push(issue("max-response-bytes", "must be greater than 0"));
        }
        match server {
            Ok(server) if issues.is_empty() => Ok(Resolved {
                server,
                user_id: options.user_id.clone(),
                tenant_id: options.tenant_id.clone(),
                // Any u32 fits the protocol's 10-digit Connect-Timeout-Ms.
                timeout_ms,
                route_prefix,
                codec: options.codec.unwrap_or(Codec::Proto),
                retries: options.retries.unwrap_or(DEFAULT_RETRIES),
                max_response_bytes,
                compression: options.compression.unwrap_or(Compression::Gzip),
            }),
            _ => Err(Error::InvalidConfig(issues)),
        }
    }

    /// The options as a record, defaults filled in.
    pub fn to_options(&self) -> ClientOptions {
        ClientOptions {
            server: self.server.base_url(),
            user_id: self.user_id.clone(),
            tenant_id: self.tenant_id.clone(),
            timeout_ms: Some(self.timeout_ms),
            route_prefix: Some(self.route_prefix.clone()),
            codec: Some(self.codec),
            retries: Some(self.retries),
            max_response_bytes: Some(self.max_response_bytes),
            compression: Some(self.compression),
        }
    }

    /// `scheme://authority/prefix`, where every request's path starts.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }
}

/// `endpoint.parse-server-url`: the server URL as a record, or `invalid-config` with one
/// issue for field `server` (the issue [`Resolved::new`] reports for the same URL).
pub fn parse_server_url(url: &str) -> Result<endpoint::ServerUrl, Error> {
    let ServerUrl { scheme, authority, host, port, path_prefix } =
        server_url::parse(url).map_err(|e| invalid(server_url::FIELD, format!("{e}")))?;
    let scheme = match scheme {
        server_url::Scheme::Http => endpoint::Scheme::Http,
        server_url::Scheme::Https => endpoint::Scheme::Https,
    };
    Ok(endpoint::ServerUrl { scheme, authority, host, port, path_prefix })
}

fn route_prefix_problem(prefix: &str) -> Option<ValidationIssue> {
    let segments: Vec<&str> = prefix.split('.').collect();
    let valid = segments.iter().all(|s| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    (!valid).then(|| {
        issue("route-prefix", format!("{prefix:?} is not a proto package name like metal.vmprovisioner.v1"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(server: &str) -> ClientOptions {
        ClientOptions {
            server: server.into(),
            user_id: "alice".into(),
            tenant_id: "acme".into(),
            timeout_ms: None,
            route_prefix: None,
            codec: None,
            retries: None,
            max_response_bytes: None,
            compression: None,
        }
    }

    #[test]
    fn fills_in_defaults() {
        let resolved = Resolved::new(&options("https://metald:8080")).unwrap();
        assert_eq!(resolved.server.scheme, server_url::Scheme::Https);
        assert_eq!(resolved.server.authority, "metald:8080");
        assert_eq!(resolved.server.path_prefix, "");
        assert_eq!(resolved.timeout_ms, 30_000);
        assert_eq!(resolved.route_prefix, "metal.vmprovisioner.v1");
        assert_eq!(resolved.codec, Codec::Proto);
        assert_eq!(resolved.retries, 2);
        assert_eq!(resolved.max_response_bytes, 16 << 20);
        assert_eq!(resolved.compression, Compression::Gzip);
        assert_eq!(resolved.to_options().compression, Some(Compression::Gzip));
        assert_eq!(Resolved::new(&resolved.to_options()).unwrap(), resolved);
    }

    #[test]
    fn keeps_a_path_prefix_and_drops_trailing_slashes() {
        let resolved = Resolved::new(&options("http://[::1]:9000/gateway/metald/")).unwrap();
        assert_eq!(
            (resolved.server.authority.as_str(), resolved.server.path_prefix.as_str()),
            ("[::1]:9000", "/gateway/metald")
        );
        assert_eq!(resolved.base_url(), "http://[::1]:9000/gateway/metald");
    }

    #[test]
    fn reports_every_bad_option() {
        let mut bad = options("ftp://x");
        bad.user_id = String::new();
        bad.timeout_ms = Some(0);
        bad.route_prefix = Some("metal..v1".into());
        let Err(Error::InvalidConfig(issues)) = Resolved::new(&bad) else { panic!() };
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["user-id", "server", "route-prefix", "timeout-ms"]);
    }

    /// testdata/server-urls.json, the vectors the Go and JS tests read too.
    fn server_url_vectors(kind: &str) -> Vec<serde_json::Value> {
        let all: serde_json::Value =
            serde_json::from_str(include_str!("../../testdata/server-urls.json")).unwrap();
        all[kind].as_array().unwrap().clone()
    }

    #[test]
    fn parse_server_url_gives_every_valid_vector_as_a_record() {
        for v in server_url_vectors("valid") {
            let url = v["url"].as_str().unwrap();
            let parsed = parse_server_url(url).unwrap();
            let scheme = match parsed.scheme {
                endpoint::Scheme::Http => "http",
                endpoint::Scheme::Https => "https",
            };
            assert_eq!(scheme, v["scheme"], "{url}");
            assert_eq!(parsed.authority, v["authority"], "{url}");
            assert_eq!(parsed.host, v["host"], "{url}");
            assert_eq!(u64::from(parsed.port), v["port"], "{url}");
            assert_eq!(parsed.path_prefix, v["path_prefix"], "{url}");
            assert!(Resolved::new(&options(url)).is_ok(), "{url}");
        }
    }

    #[test]
    fn a_bad_server_url_is_one_server_issue_wherever_it_is_parsed() {
        for v in server_url_vectors("invalid") {
            let url = v["url"].as_str().unwrap();
            let expected = vec![issue("server", v["message"].as_str().unwrap())];
            assert_eq!(parse_server_url(url), Err(Error::InvalidConfig(expected.clone())), "{url:?}");
            assert_eq!(Resolved::new(&options(url)), Err(Error::InvalidConfig(expected)), "{url:?}");
        }
    }
}
