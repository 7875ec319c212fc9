//! The one SPIFFE authorization rule set for a server's leaf certificate, used by file mode
//! (for SPIFFE-only server certificates) and by spiffe mode (its policy part), and checked
//! against the shared vectors in `testdata/spiffe-authorization.json` that the Go and JS
//! hosts check too.
//!
//! X509-SVID leaf rules first: exactly one URI SAN, a `spiffe://` URI that is a valid SPIFFE
//! ID, not a CA, no `keyCertSign`, no `cRLSign`, a non-empty path. Then the policy: exactly
//! the configured server ID when there is one, else any member of our own trust domain, else
//! nothing (fail closed).

use std::fmt;

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Setting;

/// The properties of a leaf certificate the SPIFFE rules look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeafFacts {
    /// URI SANs.
    pub uris: Vec<String>,
    /// Whether any DNS or IP SAN is present.
    pub dns_or_ip: bool,
    /// The basic-constraints CA flag.
    pub is_ca: bool,
    /// The `keyCertSign` key usage.
    pub key_cert_sign: bool,
    /// The `cRLSign` key usage.
    pub crl_sign: bool,
}

impl LeafFacts {
    /// Reads the facts of a DER certificate.
    pub fn of(cert: &CertificateDer<'_>) -> Result<LeafFacts, String> {
        let (_, parsed) =
            X509Certificate::from_der(cert.as_ref()).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let mut facts = LeafFacts { is_ca: parsed.is_ca(), ..LeafFacts::default() };
        let san = parsed.subject_alternative_name().map_err(|e| format!("malformed SAN extension: {e}"))?;
        for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
            match name {
                GeneralName::URI(uri) => facts.uris.push((*uri).to_string()),
                GeneralName::DNSName(_) | GeneralName::IPAddress(_) => facts.dns_or_ip = true,
                _ => {}
            }
        }
        if let Some(usage) = parsed.key_usage().map_err(|e| format!("malformed key usage extension: {e}"))? {
            facts.key_cert_sign = usage.value.key_cert_sign();
            facts.crl_sign = usage.value.crl_sign();
        }
        Ok(facts)
    }
}

/// Whether file mode verifies a server's leaf the SPIFFE way (chain to the CA file, then
/// [`authorize_server`]) rather than by host name: it has no DNS or IP SAN and a
/// `spiffe://` URI SAN.
pub fn uses_spiffe_verification(leaf: &LeafFacts) -> bool {
    !leaf.dns_or_ip && leaf.uris.iter().any(|u| u.starts_with("spiffe://"))
}

/// A SPIFFE ID, validated as the SPIFFE ID specification (and go-spiffe) require: scheme
/// `spiffe://`, a trust domain of `[a-z0-9._-]`, path segments of `[A-Za-z0-9._-]`, no empty,
/// `.` or `..` segment, no trailing `/`, no port, query or fragment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeIdText {
    id: String,
    domain_end: usize,
}

/// Why a text is not a SPIFFE ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpiffeIdError {
    /// It does not start with `spiffe://`.
    #[error("the scheme must be spiffe://")]
    Scheme,
    /// Nothing between `spiffe://` and the path.
    #[error("the trust domain is empty")]
    EmptyTrustDomain,
    /// A character outside `[a-z0-9._-]` in the trust domain.
    #[error("the trust domain may only contain lower-case letters, digits, '.', '-' and '_'")]
    TrustDomainCharacters,
    /// `//` in the path, or a trailing `/`.
    #[error("the path has an empty segment or a trailing '/'")]
    EmptySegment,
    /// A `.` or `..` path segment.
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    /// A character outside `[A-Za-z0-9._-]` in a path segment.
    #[error("path segments may only contain letters, digits, '.', '-' and '_'")]
    SegmentCharacters,
}

impl SpiffeIdText {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<SpiffeIdText, SpiffeIdError> {
        let rest = text.strip_prefix("spiffe://").ok_or(SpiffeIdError::Scheme)?;
        let domain_end = rest.find('/').unwrap_or(rest.len());
        let (domain, path) = rest.split_at(domain_end);
        if domain.is_empty() {
            return Err(SpiffeIdError::EmptyTrustDomain);
        }
        if !domain.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c)) {
            return Err(SpiffeIdError::TrustDomainCharacters);
        }
        if !path.is_empty() {
            for segment in path[1..].split('/') {
                if segment.is_empty() {
                    return Err(SpiffeIdError::EmptySegment);
                }
                if segment == "." || segment == ".." {
                    return Err(SpiffeIdError::DotSegment);
                }
                if !segment.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)) {
                    return Err(SpiffeIdError::SegmentCharacters);
                }
            }
        }
        Ok(SpiffeIdText { id: text.to_string(), domain_end: "spiffe://".len() + domain_end })
    }

    /// The whole ID.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The trust domain name (`example.org`).
    pub fn trust_domain(&self) -> &str {
        &self.id["spiffe://".len()..self.domain_end]
    }

    /// The path (`/metald`), empty for a bare trust domain.
    pub fn path(&self) -> &str {
        &self.id[self.domain_end..]
    }
}

impl fmt::Display for SpiffeIdText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// Why a server certificate was refused; the keywords are the shared vectors' `reason`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No URI SAN, or more than one.
    UriSanCount,
    /// The URI SAN is not a `spiffe://` URI.
    NotSpiffeUri,
    /// A `spiffe://` URI that is not a valid SPIFFE ID.
    MalformedId,
    /// The leaf is a CA.
    CaLeaf,
    /// The leaf has the `keyCertSign` key usage.
    KeyCertSign,
    /// The leaf has the `cRLSign` key usage.
    CrlSign,
    /// The ID is a bare trust domain, naming no workload.
    NoPath,
    /// The ID is not the configured server ID.
    IdMismatch,
    /// The ID is outside our trust domain.
    TrustDomainMismatch,
    /// Neither a configured server ID nor a trust domain of our own: refused (fail closed).
    NoPolicy,
}

impl Reason {
    /// The shared keyword (`uri-san-count`, `no-policy`, ...).
    pub fn keyword(self) -> &'static str {
        match self {
            Reason::UriSanCount => "uri-san-count",
            Reason::NotSpiffeUri => "not-spiffe-uri",
            Reason::MalformedId => "malformed-id",
            Reason::CaLeaf => "ca-leaf",
            Reason::KeyCertSign => "key-cert-sign",
            Reason::CrlSign => "crl-sign",
            Reason::NoPath => "no-path",
            Reason::IdMismatch => "id-mismatch",
            Reason::TrustDomainMismatch => "trust-domain-mismatch",
            Reason::NoPolicy => "no-policy",
        }
    }
}

/// A refused server certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Which rule refused it.
    pub reason: Reason,
    /// What was refused and how to fix it.
    pub detail: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server certificate refused ({}): {}", self.reason.keyword(), self.detail)
    }
}

impl std::error::Error for Refusal {}

fn refuse(reason: Reason, detail: String) -> Refusal {
    Refusal { reason, detail }
}

/// Why a [`ServerPolicy`] could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The expected server SPIFFE ID is not a SPIFFE ID.
    #[error("{} {id:?} is not a SPIFFE ID", super::Setting::ServerSpiffeId)]
    ServerIdMalformed {
        /// The configured text.
        id: String,
        /// What is wrong with it.
        source: SpiffeIdError,
    },
    /// The expected server SPIFFE ID names a trust domain, not a workload.
    #[error(
        "{} {id:?} is a bare trust domain; name the workload (spiffe://{trust_domain}/...)",
        super::Setting::ServerSpiffeId
    )]
    ServerIdBareTrustDomain {
        /// The configured text.
        id: String,
        /// Its trust domain.
        trust_domain: String,
    },
    /// Our own trust domain (from our certificate or SVID) is not a valid trust domain.
    #[error("our trust domain {trust_domain:?} is not valid")]
    TrustDomain {
        /// The trust domain.
        trust_domain: String,
        /// What is wrong with it.
        source: SpiffeIdError,
    },
}

impl PolicyError {
    /// The setting to change: the expected server SPIFFE ID, for its errors.
    pub fn setting(&self) -> Option<super::Setting> {
        match self {
            PolicyError::ServerIdMalformed { .. } | PolicyError::ServerIdBareTrustDomain { .. } => {
                Some(super::Setting::ServerSpiffeId)
            }
            PolicyError::TrustDomain { .. } => None,
        }
    }
}

/// Which server SPIFFE IDs are acceptable: exactly `server_id` when set, else any member of
/// `trust_domain` when set, else none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerPolicy {
    server_id: Option<SpiffeIdText>,
    trust_domain: Option<String>,
}

impl ServerPolicy {
    /// A policy from the expected server SPIFFE ID (which must name a workload) and our own
    /// trust domain (from our certificate's SPIFFE ID).
    pub fn new(server_id: Option<&str>, trust_domain: Option<&str>) -> Result<ServerPolicy, PolicyError> {
        let server_id = server_id
            .map(|id| {
                let parsed = SpiffeIdText::parse(id)
                    .map_err(|source| PolicyError::ServerIdMalformed { id: id.to_string(), source })?;
                if parsed.path().is_empty() {
                    return Err(PolicyError::ServerIdBareTrustDomain {
                        id: id.to_string(),
                        trust_domain: parsed.trust_domain().to_string(),
                    });
                }
                Ok(parsed)
            })
            .transpose()?;
        let trust_domain = trust_domain
            .map(|domain| {
                SpiffeIdText::parse(&format!("spiffe://{domain}"))
                    .map(|_| domain.to_string())
                    .map_err(|source| PolicyError::TrustDomain { trust_domain: domain.to_string(), source })
            })
            .transpose()?;
        Ok(ServerPolicy { server_id, trust_domain })
    }

    /// The policy part alone, for an ID whose certificate already passed the leaf rules.
    pub fn authorize_id(&self, id: &SpiffeIdText) -> Result<(), Refusal> {
        match (&self.server_id, &self.trust_domain) {
            (Some(expected), _) if expected != id => Err(refuse(
                Reason::IdMismatch,
                format!(
                    "the server's SPIFFE ID {id} is not the expected {expected} ({})",
                    Setting::ServerSpiffeId
                ),
            )),
            (Some(_), _) => Ok(()),
            (None, Some(domain)) if id.trust_domain() != domain => Err(refuse(
                Reason::TrustDomainMismatch,
                format!(
                    "the server's SPIFFE ID {id} is outside our trust domain {domain} \
                     (set {} to accept it)",
                    Setting::ServerSpiffeId
                ),
            )),
            (None, Some(_)) => Ok(()),
            (None, None) => Err(refuse(
                Reason::NoPolicy,
                format!(
                    "no way to authorize the server's SPIFFE ID {id}: set {} to the ID the server must \
                     have, or present a client certificate with a SPIFFE ID, whose trust domain is then \
                     accepted",
                    Setting::ServerSpiffeId
                ),
            )),
        }
    }
}

/// Applies the X509-SVID leaf rules and `policy` to a server's leaf and returns its SPIFFE
/// ID. The chain is verified by the caller (against the CA file or the trust bundle).
pub fn authorize_server(leaf: &LeafFacts, policy: &ServerPolicy) -> Result<SpiffeIdText, Refusal> {
    let uri = match leaf.uris.as_slice() {
        [one] => one,
        uris => {
            return Err(refuse(
                Reason::UriSanCount,
                format!(
                    "an X509-SVID has exactly one URI SAN, the server's certificate has {} ({})",
                    uris.len(),
                    uris.join(", ")
                ),
            ));
        }
    };
    if !uri.starts_with("spiffe://") {
        return Err(refuse(Reason::NotSpiffeUri, format!("the server's URI SAN {uri:?} is not a SPIFFE ID")));
    }
    let id = SpiffeIdText::parse(uri).map_err(|e| {
        refuse(Reason::MalformedId, format!("the server's SPIFFE ID {uri:?} is malformed: {e}"))
    })?;
    if leaf.is_ca {
        return Err(refuse(Reason::CaLeaf, format!("the server's leaf certificate ({id}) is a CA")));
    }
    if leaf.key_cert_sign {
        return Err(refuse(
            Reason::KeyCertSign,
            format!("the server's leaf certificate ({id}) has the keyCertSign key usage"),
        ));
    }
    if leaf.crl_sign {
        return Err(refuse(
            Reason::CrlSign,
            format!("the server's leaf certificate ({id}) has the cRLSign key usage"),
        ));
    }
    if id.path().is_empty() {
        return Err(refuse(
            Reason::NoPath,
            format!("the server's SPIFFE ID {id} is a bare trust domain, not a workload"),
        ));
    }
    policy.authorize_id(&id)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    };
    use serde::Deserialize;

    /// One case of `testdata/spiffe-authorization.json` (written for the Go tests; the JS tests
    /// read it too).
    #[derive(Debug, Deserialize)]
    struct Vector {
        name: String,
        server: Server,
        trust_domain: String,
        server_spiffe_id: String,
        file_mode_verification: String,
        expect: String,
        #[serde(default)]
        spiffe_id: String,
        #[serde(default)]
        reason: String,
    }

    #[derive(Debug, Deserialize)]
    struct Server {
        uri_sans: Vec<String>,
        dns_or_ip_san: bool,
        is_ca: bool,
        key_usage: Vec<String>,
    }

    fn vectors() -> Vec<Vector> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/spiffe-authorization.json");
        let text = std::fs::read_to_string(path).expect("the shared vectors");
        let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vectors parse");
        assert!(!vectors.is_empty());
        vectors
    }

    fn non_empty(text: &str) -> Option<&str> {
        (!text.is_empty()).then_some(text)
    }

    fn key_usage(name: &str) -> KeyUsagePurpose {
        match name {
            "digitalSignature" => KeyUsagePurpose::DigitalSignature,
            "contentCommitment" => KeyUsagePurpose::ContentCommitment,
            "keyEncipherment" => KeyUsagePurpose::KeyEncipherment,
            "dataEncipherment" => KeyUsagePurpose::DataEncipherment,
            "keyAgreement" => KeyUsagePurpose::KeyAgreement,
            "keyCertSign" => KeyUsagePurpose::KeyCertSign,
            "cRLSign" => KeyUsagePurpose::CrlSign,
            "encipherOnly" => KeyUsagePurpose::EncipherOnly,
            "decipherOnly" => KeyUsagePurpose::DecipherOnly,
            other => panic!("unknown key usage {other:?}"),
        }
    }

    /// A real certificate with the vector's properties, issued by `issuer`.
    fn issue(issuer: &Issuer<'static, KeyPair>, server: &Server) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca =
            if server.is_ca { IsCa::Ca(BasicConstraints::Unconstrained) } else { IsCa::ExplicitNoCa };
        params.key_usages = server.key_usage.iter().map(|name| key_usage(name)).collect();
        let mut sans: Vec<SanType> =
            server.uri_sans.iter().map(|uri| SanType::URI(uri.as_str().try_into().unwrap())).collect();
        if server.dns_or_ip_san {
            sans.push(SanType::DnsName("metald.example.org".try_into().unwrap()));
        }
        params.subject_alt_names = sans;
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, issuer).unwrap().der().clone()
    }

    fn check(vector: &Vector, facts: &LeafFacts) -> Result<(), String> {
        let route = if uses_spiffe_verification(facts) { "spiffe" } else { "hostname" };
        if route != vector.file_mode_verification {
            return Err(format!("file mode verifies by {route}, want {}", vector.file_mode_verification));
        }
        let policy =
            ServerPolicy::new(non_empty(&vector.server_spiffe_id), non_empty(&vector.trust_domain)).unwrap();
        match (vector.expect.as_str(), authorize_server(facts, &policy)) {
            ("accept", Ok(id)) if id.as_str() == vector.spiffe_id => Ok(()),
            ("accept", Ok(id)) => Err(format!("accepted as {id}, want {}", vector.spiffe_id)),
            ("accept", Err(refusal)) => Err(format!("refused: {refusal}")),
            ("reject", Ok(id)) => Err(format!("accepted as {id}, want refused ({})", vector.reason)),
            ("reject", Err(refusal)) if refusal.reason.keyword() == vector.reason => Ok(()),
            ("reject", Err(refusal)) => Err(format!("refused for {refusal}, want {}", vector.reason)),
            (other, _) => Err(format!("expect {other:?} is neither accept nor reject")),
        }
    }

    /// Every shared case twice: on the properties as given, and on a real certificate made
    /// with them (read back through `LeafFacts::of`).
    #[test]
    fn shared_authorization_vectors() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "vectors CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let mut failures = Vec::new();
        let mut outcomes = std::collections::BTreeSet::new();
        for vector in vectors() {
            let server = &vector.server;
            let given = LeafFacts {
                uris: server.uri_sans.clone(),
                dns_or_ip: server.dns_or_ip_san,
                is_ca: server.is_ca,
                key_cert_sign: server.key_usage.iter().any(|u| u == "keyCertSign"),
                crl_sign: server.key_usage.iter().any(|u| u == "cRLSign"),
            };
            if let Err(error) = check(&vector, &given) {
                failures.push(format!("{} (properties): {error}", vector.name));
            }
            let read = LeafFacts::of(&issue(&issuer, server)).unwrap();
            assert_eq!(read, given, "{}: the certificate reads back as made", vector.name);
            if let Err(error) = check(&vector, &read) {
                failures.push(format!("{} (certificate): {error}", vector.name));
            }
            outcomes.insert(if vector.expect == "accept" { "accept".to_string() } else { vector.reason });
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        for outcome in [
            "accept",
            "uri-san-count",
            "not-spiffe-uri",
            "malformed-id",
            "ca-leaf",
            "key-cert-sign",
            "crl-sign",
            "no-path",
            "id-mismatch",
            "trust-domain-mismatch",
            "no-policy",
        ] {
            assert!(outcomes.contains(outcome), "no vector with outcome {outcome}");
        }
    }

    #[test]
    fn messages_name_the_ids_and_the_setting_not_a_flag() {
        let facts = LeafFacts { uris: vec!["spiffe://example.org/metald".into()], ..LeafFacts::default() };
        let closed = authorize_server(&facts, &ServerPolicy::default()).unwrap_err();
        assert_eq!(closed.reason, Reason::NoPolicy);
        assert!(closed.to_string().contains("set the expected server SPIFFE ID"), "{closed}");
        assert!(!closed.to_string().contains("--"), "{closed}");
        let policy = ServerPolicy::new(Some("spiffe://example.org/other"), None).unwrap();
        let mismatch = authorize_server(&facts, &policy).unwrap_err().to_string();
        assert!(
            mismatch.contains("spiffe://example.org/metald is not the expected spiffe://example.org/other")
        );
    }

    #[test]
    fn the_configured_server_id_must_name_a_workload() {
        for bad in ["example.org", "spiffe://example.org", "spiffe://example.org/", "https://example.org/x"] {
            let error = ServerPolicy::new(Some(bad), None).unwrap_err();
            assert_eq!(error.setting(), Some(Setting::ServerSpiffeId), "{bad}");
            let text = crate::error::chain(&error);
            assert!(
                text.starts_with("the expected server SPIFFE ID") && !text.contains("--"),
                "{bad}: {text}"
            );
        }
        assert!(matches!(
            ServerPolicy::new(Some("spiffe://example.org/a//b"), None),
            Err(PolicyError::ServerIdMalformed { source: SpiffeIdError::EmptySegment, .. })
        ));
        assert!(ServerPolicy::new(Some("spiffe://example.org/metald"), Some("example.org")).is_ok());
        assert!(ServerPolicy::new(None, Some("Example.org")).is_err());
    }

    #[test]
    fn spiffe_ids_parse_strictly() {
        let id = SpiffeIdText::parse("spiffe://example.org/ns/metald").unwrap();
        assert_eq!((id.trust_domain(), id.path()), ("example.org", "/ns/metald"));
        assert_eq!(SpiffeIdText::parse("spiffe://example.org").unwrap().path(), "");
        for bad in [
            "spiffe://",
            "SPIFFE://example.org/x",
            "spiffe://Example.org/x",
            "spiffe://example.org:8443/x",
            "spiffe://example.org/x/",
            "spiffe://example.org//x",
            "spiffe://example.org/./x",
            "spiffe://example.org/x?y",
            "spiffe://example.org/x#y",
            "spiffe://user@example.org/x",
        ] {
            assert!(SpiffeIdText::parse(bad).is_err(), "{bad}");
        }
    }
}
