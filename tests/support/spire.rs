//! A real SPIRE server and agent for a test, through the fixture tools/spire/spire.sh (its
//! `start` registers the workloads and waits until the agent serves SVIDs; `stop` kills both
//! by PID). Dropping a [`Spire`] stops it, also when the test panics; the fixture's watchdog
//! stops it when the test process dies without unwinding.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit status of `spire.sh` when the SPIRE binaries are not built.
const NOT_BUILT: i32 = 3;

/// The fixture script.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/spire/spire.sh")
}

/// A running SPIRE deployment (the JSON `spire.sh start` printed).
pub struct Spire {
    info: serde_json::Value,
}

/// PEM files of an X.509-SVID minted by the SPIRE server's CA (`spire.sh mint`).
pub struct Minted {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub bundle: PathBuf,
}

impl Spire {
    /// Starts SPIRE with the workload registrations `entries` (`spire.sh start --entry`
    /// specs). `None` after printing why when SPIRE is not built (`tools/spire/spire.sh
    /// build`) and `CI` is not `true`; under CI a missing build fails the test.
    pub fn start(entries: &[String]) -> Option<Spire> {
        let mut command = Command::new(script());
        command.arg("start");
        for entry in entries {
            command.args(["--entry", entry]);
        }
        let output = command.output().expect("runs tools/spire/spire.sh");
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => {}
            Some(NOT_BUILT) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED (SPIRE is not built; run tools/spire/spire.sh build): {}", stderr.trim());
                return None;
            }
            Some(NOT_BUILT) => panic!("CI=true and SPIRE is not built: {stderr}"),
            _ => panic!("tools/spire/spire.sh start failed ({:?}): {stderr}", output.status),
        }
        let info = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!("spire.sh start printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout))
        });
        Some(Spire { info })
    }

    fn text(&self, key: &str) -> &str {
        self.info[key].as_str().unwrap_or_else(|| panic!("spire.sh start printed no {key}: {}", self.info))
    }

    /// The agent's Workload API socket (a file path).
    pub fn socket(&self) -> &str {
        self.text("workload_socket")
    }

    /// The trust domain's X.509 bundle (PEM).
    pub fn bundle(&self) -> &Path {
        Path::new(self.text("bundle"))
    }

    /// An X.509-SVID for `spiffe_id` from the server's CA, valid for an hour.
    pub fn mint(&self, spiffe_id: &str) -> Minted {
        let output = Command::new(script())
            .args(["mint", "--dir", self.text("dir"), "--spiffe-id", spiffe_id])
            .output()
            .expect("runs tools/spire/spire.sh mint");
        assert!(output.status.success(), "spire.sh mint: {}", String::from_utf8_lossy(&output.stderr));
        let minted: serde_json::Value = serde_json::from_slice(&output.stdout).expect("mint prints JSON");
        let path = |key: &str| PathBuf::from(minted[key].as_str().expect("a path"));
        Minted { cert: path("cert"), key: path("key"), bundle: path("bundle") }
    }
}

impl Drop for Spire {
    fn drop(&mut self) {
        let stopped = Command::new(script()).args(["stop", self.text("dir")]).output();
        match stopped {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!("spire.sh stop: {}", String::from_utf8_lossy(&output.stderr)),
            Err(error) => eprintln!("spire.sh stop: {error}"),
        }
    }
}

/// A copy of the binary `original` at a path of its own (a hard link where possible): the
/// unix workload attestor tells workloads apart by the path of their binary, so the copy
/// matches only the entries registered for its path.
pub fn workload_copy(original: &Path, dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("a directory for workload copies");
    let copy = dir.join(name);
    if std::fs::hard_link(original, &copy).is_err() {
        std::fs::copy(original, &copy).expect("copies the binary");
    }
    copy
}
