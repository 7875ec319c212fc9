//! Reading what TLS decisions need out of an X.509 certificate: SANs, validity, CA flag.

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The parts of a certificate that TLS policy looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    /// URI SANs (SPIFFE IDs live here).
    pub uris: Vec<String>,
    /// Whether any DNS or IP SAN is present.
    pub has_dns_or_ip: bool,
    /// Whether the certificate is a CA.
    pub is_ca: bool,
    /// Not valid before (Unix seconds).
    pub not_before: i64,
    /// Not valid after (Unix seconds).
    pub not_after: i64,
    /// Serial number, hex.
    pub serial: String,
}

impl CertSummary {
    /// The single SPIFFE ID of a certificate with exactly one URI SAN, a `spiffe://` one.
    pub fn spiffe_id(&self) -> Option<&str> {
        match self.uris.as_slice() {
            [one] if one.starts_with("spiffe://") => Some(one),
            _ => None,
        }
    }
}

/// DER bytes that are not an X.509 certificate.
#[derive(Debug, thiserror::Error)]
#[error("not an X.509 certificate")]
pub struct NotACertificate(#[source] x509_parser::nom::Err<x509_parser::error::X509Error>);

/// Parses a DER certificate.
pub fn summarize(cert: &CertificateDer<'_>) -> Result<CertSummary, NotACertificate> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref()).map_err(NotACertificate)?;
    let mut uris = Vec::new();
    let mut has_dns_or_ip = false;
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(uri) => uris.push((*uri).to_string()),
                GeneralName::DNSName(_) | GeneralName::IPAddress(_) => has_dns_or_ip = true,
                _ => {}
            }
        }
    }
    Ok(CertSummary {
        uris,
        has_dns_or_ip,
        is_ca: parsed.is_ca(),
        not_before: parsed.validity().not_before.timestamp(),
        not_after: parsed.validity().not_after.timestamp(),
        serial: parsed.raw_serial_as_string().replace(':', ""),
    })
}
