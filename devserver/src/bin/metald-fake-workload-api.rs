//! `metald-fake-workload-api`: the fake SPIFFE Workload API (`metald_devserver::workload_api`)
//! as a program, for tests in languages that cannot link it (JS, Python).
//!
//! ```text
//! metald-fake-workload-api --socket /tmp/x/agent.sock --bundle ca.pem \
//!     --svid client.pem:client.key [--svid other.pem:other.key]
//! ```
//!
//! Prints `unix:<socket>` on stdout once it listens. Each `--svid` is a PEM certificate chain
//! (leaf first; its SPIFFE ID is the leaf's URI SAN) and a PEM PKCS#8 key; the first is the
//! default SVID. Without `--svid` no identity is issued (the client gets PermissionDenied, as
//! from a SPIRE agent with no matching entry). On SIGHUP every file is read again and the
//! result pushed to open streams (rotation); a file that is now missing withdraws the
//! identity. Stops on SIGINT or SIGTERM and removes the socket.

use std::path::{Path, PathBuf};

use clap::Parser;
use metald_devserver::tls::{TlsSetupError, read_certificates};
use metald_devserver::workload_api::{FakeWorkloadApi, Svid};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use tokio::signal::unix::{SignalKind, signal};

/// Command-line flags.
#[derive(Parser)]
#[command(version, about = "A fake SPIFFE Workload API serving SVIDs from PEM files (for tests)")]
struct Args {
    /// The unix socket to listen on (replaced if it exists).
    #[arg(long, value_name = "PATH")]
    socket: PathBuf,
    /// The trust bundle: PEM CA certificates of the SVIDs' trust domain.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// An SVID as CERT:KEY (PEM chain, leaf first; PEM PKCS#8 key); repeatable, the first is
    /// the default.
    #[arg(long = "svid", value_name = "CERT:KEY")]
    svids: Vec<String>,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError::File { path: path.display().to_string(), reason: reason.to_string() }
}

/// The leaf's first `spiffe://` URI SAN.
fn spiffe_id(path: &Path, leaf: &CertificateDer<'_>) -> Result<String, TlsSetupError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| file_error(path, e))?;
    let san = cert.subject_alternative_name().map_err(|e| file_error(path, e))?;
    san.into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .find_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) if uri.starts_with("spiffe://") => {
                Some(uri.to_string())
            }
            _ => None,
        })
        .ok_or_else(|| file_error(path, "the leaf certificate has no spiffe:// URI SAN"))
}

/// Reads every `--svid` and the bundle.
fn load(args: &Args) -> Result<Vec<Svid>, TlsSetupError> {
    let bundle_der: Vec<u8> = read_certificates(&args.bundle)?.iter().flat_map(|c| c.to_vec()).collect();
    args.svids
        .iter()
        .map(|spec| {
            let (cert, key) =
                spec.split_once(':').ok_or_else(|| file_error(Path::new(spec), "--svid expects CERT:KEY"))?;
            let (cert, key) = (Path::new(cert), Path::new(key));
            let chain = read_certificates(cert)?;
            let key_der = PrivatePkcs8KeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
            Ok(Svid {
                spiffe_id: spiffe_id(cert, &chain[0])?,
                chain_der: chain.iter().flat_map(|c| c.to_vec()).collect(),
                key_der: key_der.secret_pkcs8_der().to_vec(),
                bundle_der: bundle_der.clone(),
            })
        })
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match serve(&args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("metald-fake-workload-api: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let svids = load(args)?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let api = FakeWorkloadApi::start_with(&args.socket, &svids)
        .map_err(|e| format!("--socket {}: {e}", args.socket.display()))?;
    println!("{}", api.endpoint());
    loop {
        tokio::select! {
            _ = hangup.recv() => match load(args) {
                Ok(svids) => api.set_svids(&svids),
                Err(error) => {
                    eprintln!("metald-fake-workload-api: {error}; the identity is withdrawn");
                    api.set_svids(&[]);
                }
            },
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}
