//! A throwaway PKI for TLS tests: CAs per trust domain, leaf certificates with DNS, IP or
//! SPIFFE URI SANs, made with rcgen at test time.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};

/// A subject alternative name.
pub enum San {
    /// A DNS name.
    Dns(&'static str),
    /// An IP address.
    Ip(IpAddr),
    /// A URI, e.g. a SPIFFE ID.
    Uri(String),
}

/// A certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
    /// The CA certificate, DER.
    pub der: Vec<u8>,
}

/// A leaf certificate and its key.
pub struct Leaf {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Key, PEM (PKCS#8).
    pub key_pem: String,
    /// Certificate, DER.
    pub der: Vec<u8>,
    /// Key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl Ca {
    /// A CA whose certificate carries the trust domain's SPIFFE ID.
    pub fn new(trust_domain: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.subject_alt_names = vec![SanType::URI(format!("spiffe://{trust_domain}").try_into().unwrap())];
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("{trust_domain} test CA"));
        params.distinguished_name = name;
        let cert = params.self_signed(&key).unwrap();
        Ca { pem: cert.pem(), der: cert.der().to_vec(), issuer: Issuer::new(params, key) }
    }

    /// A leaf with these SANs, valid now.
    pub fn issue(&self, sans: Vec<San>) -> Leaf {
        self.issue_with(sans, |_| {})
    }

    /// A leaf that expired in 2020.
    pub fn issue_expired(&self, sans: Vec<San>) -> Leaf {
        self.issue_with(sans, |params| {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        })
    }

    /// A leaf with these SANs, its parameters adjusted by `adjust` (key usages, CA flag, ...).
    pub fn issue_with(&self, sans: Vec<San>, adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
        params.extended_key_usages =
            vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = sans
            .into_iter()
            .map(|san| match san {
                San::Dns(name) => SanType::DnsName(name.try_into().unwrap()),
                San::Ip(ip) => SanType::IpAddress(ip),
                San::Uri(uri) => SanType::URI(uri.as_str().try_into().unwrap()),
            })
            .collect();
        adjust(&mut params);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }
}

impl Ca {
    /// An X.509-SVID for `spiffe_id`, as a Workload API hands it out.
    pub fn svid(&self, spiffe_id: &str) -> (metald_devserver::workload_api::Svid, Leaf) {
        let leaf = self.issue(vec![San::Uri(spiffe_id.to_string())]);
        let svid = metald_devserver::workload_api::Svid {
            spiffe_id: spiffe_id.to_string(),
            chain_der: leaf.der.clone(),
            key_der: leaf.key_der.clone(),
            bundle_der: self.der.clone(),
        };
        (svid, leaf)
    }
}

/// The SANs of a server on 127.0.0.1 / localhost.
pub fn loopback() -> Vec<San> {
    vec![San::Dns("localhost"), San::Ip(IpAddr::from([127, 0, 0, 1]))]
}

/// Writes `contents` to `dir/name`.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}
