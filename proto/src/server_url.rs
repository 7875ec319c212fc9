//! The server URL a client is opened with, taken apart: `http[s]://host[:port][/prefix]`.
//!
//! One parser for every host: the component resolves its client options with it and exports
//! it as `endpoint.parse-server-url` (wit/endpoint.wit), and a host derives the one origin its
//! allow-list lets through from the same result. The accepted forms are a subset of RFC 3986
//! URIs: no user info, query or fragment, and the host a registered name, an IPv4 address or
//! a bracketed IPv6 address.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;

/// The option field a server URL comes from; every [`ServerUrlError`] is about this field.
pub const FIELD: &str = "server";

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (default port 80).
    Http,
    /// HTTP over TLS (default port 443).
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL of this scheme without one means (RFC 9110 §4.2).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A server URL that parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// The scheme.
    pub scheme: Scheme,
    /// `host[:port]` as written; requests go to `scheme://authority/prefix/…`.
    pub authority: String,
    /// The host in lower case (RFC 3986 §3.2.2: hosts are case-insensitive); an IPv6 address
    /// keeps its brackets (`[::1]`).
    pub host: String,
    /// The port: the one written, else the scheme's default.
    pub port: u16,
    /// The path prefix without a trailing `/` (`/gateway/metald`, often empty).
    pub path_prefix: String,
}

impl ServerUrl {
    /// `scheme://authority/prefix`: the URL again, trailing `/` dropped.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme.as_str(), self.authority, self.path_prefix)
    }
}

/// Why a server URL did not parse. The message (its `Display`) quotes the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerUrlError {
    /// The URL is empty.
    Empty,
    /// It does not start with `http://` or `https://`.
    Scheme(String),
    /// Nothing between the scheme and the path.
    NoHost(String),
    /// A character that cannot be in a host (user info, a wildcard, a space, …).
    HostChar(String, char),
    /// A port that is not a number from 1 to 65535.
    Port(String, String),
    /// A query, fragment, space or control character in the path.
    PathChar(String, char),
}

impl fmt::Display for ServerUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerUrlError::Empty => {
                f.write_str("must not be empty; expected a URL like https://metald:8080")
            }
            ServerUrlError::Scheme(url) => write!(f, "{url:?} must start with http:// or https://"),
            ServerUrlError::NoHost(url) => write!(f, "{url:?} has no host"),
            ServerUrlError::HostChar(url, c) => write!(f, "{url:?} has {c:?} in its host"),
            ServerUrlError::Port(url, port) => {
                write!(f, "{url:?} has port {port:?}; expected a number from 1 to 65535")
            }
            ServerUrlError::PathChar(url, c) => {
                write!(f, "{url:?} has {c:?} in its path; only a path prefix is allowed")
            }
        }
    }
}

impl core::error::Error for ServerUrlError {}

/// Parses `http[s]://host[:port][/prefix]`.
pub fn parse(url: &str) -> Result<ServerUrl, ServerUrlError> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if url.is_empty() {
        return Err(ServerUrlError::Empty);
    } else {
        return Err(ServerUrlError::Scheme(url.into()));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(ServerUrlError::NoHost(url.into()));
    }
    let (host, port) = split_authority(url, authority)?;
    let port = match port {
        None => scheme.default_port(),
        Some(text) => parse_port(text).ok_or_else(|| ServerUrlError::Port(url.into(), text.into()))?,
    };
    if let Some(bad) = path.chars().find(|c| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control()) {
        return Err(ServerUrlError::PathChar(url.into(), bad));
    }
    Ok(ServerUrl {
        scheme,
        authority: authority.into(),
        host: host.to_ascii_lowercase(),
        port,
        path_prefix: path.trim_end_matches('/').to_string(),
    })
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`, checking the host's characters.
fn split_authority<'a>(url: &str, authority: &'a str) -> Result<(&'a str, Option<&'a str>), ServerUrlError> {
    let bad = |c: char| ServerUrlError::HostChar(url.into(), c);
    if authority.starts_with('[') {
        let end = authority.find(']').ok_or(bad('['))?;
        let (host, after) = authority.split_at(end + 1);
        let inner = &host[1..end];
        if let Some(c) = inner.chars().find(|c| !(c.is_ascii_alphanumeric() || ":.%".contains(*c))) {
            return Err(bad(c));
        }
        if !inner.contains(':') {
            return Err(bad(']'));
        }
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None => after.chars().next().map_or(Ok((host, None)), |c| Err(bad(c))),
        };
    }
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(c) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || "-._%".contains(*c))) {
        return Err(bad(c));
    }
    if host.is_empty() {
        return Err(ServerUrlError::NoHost(url.into()));
    }
    Ok((host, port))
}

/// A port number from 1 to 65535, in decimal digits only.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|port| *port != 0)
}

#[cfg(test)]
mod tests;
