//! The outbound allow-list: which `scheme://host:port` the component may reach.

use std::fmt;

use metald_proto::server_url::{self, ServerUrlError};

/// One allowed destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    /// `http` or `https`; `None` allows both.
    pub scheme: Option<String>,
    /// Host name or IP, lower case (IPv6 in brackets).
    pub host: String,
    /// Port; `None` means the scheme's default port.
    pub port: Option<u16>,
}

/// Why an allow-list entry or a server URL cannot be an allow-list entry.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllowError {
    /// An allow-list entry ([`AllowedHost::parse`]).
    #[error("invalid allow-list entry {entry:?}: {problem}")]
    Entry {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// A server URL ([`AllowedHost::for_server`]) that the component's parser refuses
    /// (`metald_proto::server_url`; the message quotes the URL).
    #[error("invalid server URL: {0}")]
    Server(#[source] ServerUrlError),
}

/// What is wrong with an allow-list entry.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryProblem {
    /// A scheme other than `http` or `https`.
    #[error("the scheme must be http or https")]
    Scheme,
    /// A path, query, fragment, user info or wildcard, or nothing at all.
    #[error("expected scheme://host:port, host:port or host; paths and wildcards are not allowed")]
    Shape,
    /// A port that is not a number 1-65535.
    #[error("the port must be a number 1-65535")]
    Port,
    /// An empty host, or port 0.
    #[error("the host and port must not be empty or zero")]
    Empty,
}

impl AllowedHost {
    /// Parses `scheme://host[:port]`, `host:port` or `host`; the host is a name, an IPv4
    /// address or an IPv6 address in brackets (the rules of `testdata/allow-list.json`).
    pub fn parse(entry: &str) -> Result<AllowedHost, AllowError> {
        AllowedHost::parse_origin(entry).map_err(|problem| AllowError::Entry { entry: entry.into(), problem })
    }

    fn parse_origin(entry: &str) -> Result<AllowedHost, EntryProblem> {
        let (scheme, rest) = match entry.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (Some(scheme.to_string()), rest),
            Some(_) => return Err(EntryProblem::Scheme),
            None => (None, entry),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
            return Err(EntryProblem::Shape);
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, Some(port.parse::<u16>().map_err(|_| EntryProblem::Port)?))
            }
            _ => (rest, None),
        };
        if host.is_empty() || port == Some(0) {
            return Err(EntryProblem::Empty);
        }
        if !valid_host(host) {
            return Err(EntryProblem::Shape);
        }
        Ok(AllowedHost { scheme, host: host.to_ascii_lowercase(), port })
    }

    /// The entry of a server URL (`scheme://host[:port][/prefix]`): its scheme, host and
    /// port, as the component reads the URL (`metald_proto::server_url::parse`, the parser
    /// behind the component's `endpoint.parse-server-url`). A path prefix (`/metald`, which
    /// the component keeps in every request's path) is not part of the entry.
    pub fn for_server(url: &str) -> Result<AllowedHost, AllowError> {
        let server = server_url::parse(url).map_err(AllowError::Server)?;
        Ok(AllowedHost {
            scheme: Some(server.scheme.as_str().into()),
            host: server.host,
            port: Some(server.port),
        })
    }

    fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        let default_port = if scheme == "https" { 443 } else { 80 };
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self.host == host
            && self.port.unwrap_or(default_port) == port
    }
}

/// Whether `host` is an IPv6 address in brackets, or a host name or IPv4 address made of
/// RFC 3986 reg-name characters (letters, digits, `-._~%`).
fn valid_host(host: &str) -> bool {
    match host.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// The destinations the component may reach; everything else is denied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(Vec<AllowedHost>);

impl AllowList {
    /// A list with these entries.
    pub fn new(entries: Vec<AllowedHost>) -> Self {
        AllowList(entries)
    }

    /// Adds an entry.
    pub fn push(&mut self, entry: AllowedHost) {
        self.0.push(entry);
    }

    /// The entries.
    pub fn entries(&self) -> &[AllowedHost] {
        &self.0
    }

    /// Whether a request to `uri` may go out. An authority with user info
    /// (`user@host`) never may: no entry has one (`testdata/allow-list.json`).
    pub fn allows(&self, uri: &http::Uri) -> bool {
        if uri.authority().is_some_and(|authority| authority.as_str().contains('@')) {
            return false;
        }
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else { return false };
        let host = host.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        self.0.iter().any(|entry| entry.matches(scheme, &host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> http::Uri {
        text.parse().unwrap()
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(
            AllowedHost::parse("https://Metald:8443").unwrap(),
            AllowedHost { scheme: Some("https".into()), host: "metald".into(), port: Some(8443) }
        );
        assert_eq!(
            AllowedHost::parse("10.0.0.1:80").unwrap(),
            AllowedHost { scheme: None, host: "10.0.0.1".into(), port: Some(80) }
        );
        assert_eq!(AllowedHost::parse("[::1]:9").unwrap().host, "[::1]");
        assert_eq!(AllowedHost::parse("example.org").unwrap().port, None);
    }

    #[test]
    fn rejects_paths_wildcards_and_bad_ports() {
        for (entry, problem) in [
            ("ftp://x", EntryProblem::Scheme),
            ("h/path", EntryProblem::Shape),
            ("*.example.org", EntryProblem::Shape),
            ("h:0", EntryProblem::Empty),
            ("h:99999", EntryProblem::Port),
            ("", EntryProblem::Shape),
            ("http://", EntryProblem::Shape),
        ] {
            let error = AllowedHost::parse(entry).unwrap_err();
            assert_eq!(error, AllowError::Entry { entry: entry.into(), problem }, "{entry}");
            assert!(error.to_string().starts_with("invalid allow-list entry"), "{error}");
        }
    }

    #[test]
    fn allows_exactly_the_listed_scheme_host_and_port() {
        let list = AllowList::new(vec![AllowedHost::parse("http://127.0.0.1:8080").unwrap()]);
        assert!(list.allows(&uri("http://127.0.0.1:8080/x")));
        assert!(!list.allows(&uri("https://127.0.0.1:8080/x")));
        assert!(!list.allows(&uri("http://127.0.0.1:8081/x")));
        assert!(!list.allows(&uri("http://localhost:8080/x")));
        assert!(!AllowList::default().allows(&uri("http://127.0.0.1:8080/")), "empty denies everything");
    }

    #[test]
    fn a_server_url_allows_its_origin_whatever_its_path_prefix() {
        for server in
            ["http://127.0.0.1:8080/metald", "http://127.0.0.1:8080/metald/", "http://127.0.0.1:8080/a/b"]
        {
            let entry = AllowedHost::for_server(server).unwrap();
            assert_eq!(entry, AllowedHost::parse("http://127.0.0.1:8080").unwrap(), "{server}");
            let list = AllowList::new(vec![entry]);
            assert!(
                list.allows(&uri("http://127.0.0.1:8080/metald/metal.vmprovisioner.v1.VmService/ListVms"))
            );
            assert!(!list.allows(&uri("http://127.0.0.1:8081/metald/x")));
        }
        assert_eq!(AllowedHost::for_server("https://Metald:8443").unwrap().host, "metald");
        for bad in ["ftp://h/x", "http:///metald", "http://h:0/x", "http://*.h/x"] {
            let error = AllowedHost::for_server(bad).unwrap_err();
            assert!(matches!(error, AllowError::Server(_)), "{bad}: {error:?}");
            assert!(error.to_string().starts_with("invalid server URL: \""), "{error}");
        }
        // An --allow-host entry still has no path: it would read as a path restriction.
        assert!(AllowedHost::parse("http://127.0.0.1:8080/metald").is_err());
    }

    /// The shared vectors (`testdata/allow-list.json`), which the Go, JS and Python hosts
    /// read too.
    #[derive(serde::Deserialize)]
    struct Vectors {
        entries: Vec<EntryVector>,
        requests: Vec<RequestVector>,
    }

    #[derive(serde::Deserialize)]
    struct EntryVector {
        entry: String,
        canonical: Option<String>,
        problem: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct RequestVector {
        allow: Vec<String>,
        scheme: String,
        authority: String,
        allowed: bool,
    }

    fn vectors() -> Vectors {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/allow-list.json");
        let text = std::fs::read_to_string(path).expect("the shared vectors");
        serde_json::from_str(&text).expect("vectors parse")
    }

    #[test]
    fn entries_parse_as_the_shared_vectors_say() {
        let vectors = vectors();
        assert!(!vectors.entries.is_empty());
        for case in vectors.entries {
            match (AllowedHost::parse(&case.entry), case.canonical, case.problem) {
                (Ok(entry), Some(canonical), None) => {
                    assert_eq!(entry.to_string(), canonical, "{:?}", case.entry)
                }
                (Err(error), None, Some(problem)) => {
                    let message = error.to_string();
                    assert!(message.starts_with("invalid allow-list entry "), "{message}");
                    assert!(message.ends_with(&format!(": {problem}")), "{:?}: {message}", case.entry);
                }
                (outcome, canonical, problem) => {
                    panic!("{:?}: got {outcome:?}, want {canonical:?} / {problem:?}", case.entry)
                }
            }
        }
    }

    #[test]
    fn requests_are_allowed_as_the_shared_vectors_say() {
        let vectors = vectors();
        assert!(!vectors.requests.is_empty());
        for case in vectors.requests {
            let entries = case.allow.iter().map(|e| AllowedHost::parse(e).expect("a valid entry")).collect();
            let list = AllowList::new(entries);
            let url =
                format!("{}://{}/metal.vmprovisioner.v1.VmService/ListVms", case.scheme, case.authority);
            let allowed = url.parse::<http::Uri>().is_ok_and(|uri| list.allows(&uri));
            assert_eq!(allowed, case.allowed, "{url} with {:?}", case.allow);
        }
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        let list = AllowList::new(vec![AllowedHost::parse("Example.org").unwrap()]);
        assert!(list.allows(&uri("https://example.org/")));
        assert!(list.allows(&uri("http://EXAMPLE.org:80/")));
        assert!(!list.allows(&uri("http://example.org:8080/")));
    }
}
