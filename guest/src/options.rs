//! Client options with their defaults resolved, and the server URL taken apart.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::errors::issue;
use crate::model::{ClientOptions, Codec, Error, ValidationIssue};
use crate::validation::identity_issues;

/// Default per-call deadline: 30 s, like the Go client.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// Default extra attempts for reads.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default response body cap: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 16 << 20;

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// Validated options with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Scheme of the server URL.
    pub scheme: Scheme,
    /// `host[:port]` of the server URL.
    pub authority: String,
    /// Path prefix of the server URL, without a trailing `/` (often empty).
    pub path_prefix: String,
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
}

impl Resolved {
    /// Validates `options`, reporting every problem at once.
    pub fn new(options: &ClientOptions) -> Result<Resolved, Error> {
        let mut issues = identity_issues(&options.user_id, &options.tenant_id);
        let server = parse_server(&options.server).map_err(|message| issues.push(issue("server", message)));
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
            Ok((scheme, authority, path_prefix)) if issues.is_empty() => Ok(Resolved {
                scheme,
                authority,
                path_prefix,
                user_id: options.user_id.clone(),
                tenant_id: options.tenant_id.clone(),
                // Any u32 fits the protocol's 10-digit Connect-Timeout-Ms.
                timeout_ms,
                route_prefix,
                codec: options.codec.unwrap_or(Codec::Proto),
                retries: options.retries.unwrap_or(DEFAULT_RETRIES),
                max_response_bytes,
            }),
            _ => Err(Error::InvalidConfig(issues)),
        }
    }

    /// The options as a record, defaults filled in.
    pub fn to_options(&self) -> ClientOptions {
        ClientOptions {
            server: self.base_url(),
            user_id: self.user_id.clone(),
            tenant_id: self.tenant_id.clone(),
            timeout_ms: Some(self.timeout_ms),
            route_prefix: Some(self.route_prefix.clone()),
            codec: Some(self.codec),
            retries: Some(self.retries),
            max_response_bytes: Some(self.max_response_bytes),
        }
    }

    /// `scheme://authority/prefix`.
    pub fn base_url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.authority, self.path_prefix)
    }
}

/// Splits `scheme://authority[/prefix]`, rejecting anything else with a reason.
fn parse_server(server: &str) -> Result<(Scheme, String, String), String> {
    let (scheme, rest) = if let Some(rest) = server.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = server.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if server.is_empty() {
        return Err("must not be empty; expected a URL like https://metald:8080".into());
    } else {
        return Err(format!("{server:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("{server:?} has no host"));
    }
    if let Some(bad) = authority.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._:[]%".contains(*c))) {
        return Err(format!("{server:?} has {bad:?} in its host"));
    }
    if let Some(bad) = path.chars().find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control()) {
        return Err(format!("{server:?} has {bad:?} in its path; only a path prefix is allowed"));
    }
    Ok((scheme, authority.to_string(), path.trim_end_matches('/').to_string()))
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
        }
    }

    #[test]
    fn fills_in_defaults() {
        let resolved = Resolved::new(&options("https://metald:8080")).unwrap();
        assert_eq!(resolved.scheme, Scheme::Https);
        assert_eq!(resolved.authority, "metald:8080");
        assert_eq!(resolved.path_prefix, "");
        assert_eq!(resolved.timeout_ms, 30_000);
        assert_eq!(resolved.route_prefix, "metal.vmprovisioner.v1");
        assert_eq!(resolved.codec, Codec::Proto);
        assert_eq!(resolved.retries, 2);
        assert_eq!(resolved.max_response_bytes, 16 << 20);
        assert_eq!(Resolved::new(&resolved.to_options()).unwrap(), resolved);
    }

    #[test]
    fn keeps_a_path_prefix_and_drops_trailing_slashes() {
        let resolved = Resolved::new(&options("http://[::1]:9000/gateway/metald/")).unwrap();
        assert_eq!(
            (resolved.authority.as_str(), resolved.path_prefix.as_str()),
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

    #[test]
    fn rejects_malformed_servers() {
        for server in ["", "metald:8080", "http://", "http://a b", "https://h/p?q=1", "http://h/#f"] {
            assert!(Resolved::new(&options(server)).is_err(), "{server}");
        }
        assert!(Resolved::new(&options("http://127.0.0.1:8080")).is_ok());
    }
}
