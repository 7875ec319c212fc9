//! The `metald-fake-workload-api` program, as the JS and Python tests run it: it serves the
//! SVIDs of its files, the first as the default, re-reads them on SIGHUP (rotation), and
//! issues no identity without `--svid`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

/// A CA and a way to issue SVIDs as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bundle.pem"), cert.pem()).unwrap();
        Pki { dir, issuer: Issuer::new(params, key) }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle.pem")
    }

    /// Writes an SVID for `id` to `name.pem`/`name.key`; returns `CERT:KEY` and the leaf DER.
    fn svid(&self, name: &str, id: &str) -> (String, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) =
            (self.dir.path().join(format!("{name}.pem")), self.dir.path().join(format!("{name}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (format!("{}:{}", cert_path.display(), key_path.display()), cert.der().to_vec())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }
}

/// The program, stopped (SIGKILL) when dropped.
struct Program(Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(socket: &Path, bundle: &Path, svids: &[&str]) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metald-fake-workload-api"));
    command.arg("--socket").arg(socket).arg("--bundle").arg(bundle).stdout(Stdio::piped());
    for svid in svids {
        command.args(["--svid", svid]);
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    assert_eq!(line.trim_end(), format!("unix:{}", socket.display()), "prints its endpoint when ready");
    Program(child)
}

async fn source(socket: &Path) -> Result<std::sync::Arc<spiffe::X509Source>, String> {
    spiffe::X509Source::builder()
        .endpoint(format!("unix:{}", socket.display()))
        .initial_sync_timeout(Duration::from_secs(3))
        .build()
        .await
        .map(std::sync::Arc::new)
        .map_err(|e| e.to_string())
}

fn leaf_der(source: &spiffe::X509Source) -> Vec<u8> {
    source.svid().unwrap().leaf().as_bytes().to_vec()
}

#[tokio::test]
async fn serves_its_svids_and_rotates_on_sighup() {
    let pki = Pki::new();
    let (client, client_der) = pki.svid("client", "spiffe://example.org/client");
    let (other, _) = pki.svid("other", "spiffe://example.org/other");
    let program = start(&pki.socket(), &pki.bundle(), &[&client, &other]);
    let source = source(&pki.socket()).await.unwrap();
    assert_eq!(
        source.svid().unwrap().spiffe_id().to_string(),
        "spiffe://example.org/client",
        "the first is the default"
    );
    assert_eq!(leaf_der(&source), client_der);

    let (_, rotated_der) = pki.svid("client", "spiffe://example.org/client");
    assert!(Command::new("kill").args(["-HUP", &program.0.id().to_string()]).status().unwrap().success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while leaf_der(&source) != rotated_der {
        assert!(tokio::time::Instant::now() < deadline, "the rotated SVID never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn issues_no_identity_without_an_svid() {
    let pki = Pki::new();
    let _program = start(&pki.socket(), &pki.bundle(), &[]);
    assert!(source(&pki.socket()).await.is_err(), "no SVID, no source");
}

#[test]
fn names_the_file_it_cannot_read() {
    let pki = Pki::new();
    let output = Command::new(env!("CARGO_BIN_EXE_metald-fake-workload-api"))
        .arg("--socket")
        .arg(pki.socket())
        .arg("--bundle")
        .arg(pki.bundle())
        .args(["--svid", "/nonexistent/cert.pem:/nonexistent/key.pem"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}
