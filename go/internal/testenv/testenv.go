// Package testenv finds what the Go tests use from the rest of the repository: the
// metald-host binary (built by `cargo build -p metald-host-cli`, which scripts/test.sh runs
// before the Go tests) and the shared test data.
package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// RepoRoot is the repository root (the parent of go/).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// MetaldHost returns the path of the metald-host binary: $METALD_HOST_BIN, else
// target/debug/metald-host. A missing binary fails the test (it never skips silently).
func MetaldHost(t testing.TB) string {
	t.Helper()
	path := os.Getenv("METALD_HOST_BIN")
	if path == "" {
		path = filepath.Join(RepoRoot(), "target", "debug", "metald-host")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("metald-host not found at %s (build it with `cargo build -p metald-host-cli` or set METALD_HOST_BIN): %v", path, err)
	}
	return path
}

// Command is metald-host with args, sharing one compiled-component cache across runs
// (target/ holds the build caches).
func Command(metaldHost string, args ...string) *exec.Cmd {
	cmd := exec.Command(metaldHost, args...)
	cmd.Env = append(os.Environ(), "METALD_CACHE_DIR="+filepath.Join(RepoRoot(), "target", "metald-host-cache"))
	return cmd
}

// Run runs metald-host with args and returns its stdout; a failure fails the test.
func Run(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := Command(MetaldHost(t), args...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("metald-host %v: %v\n%s", args, err, stderr)
	}
	return out
}

// DevServer starts `metald-host dev-server` on a free loopback port with extra args
// (plain HTTP/1.1 and h2c unless args set a TLS mode), and returns its URL. The server is
// killed when the test ends.
func DevServer(t testing.TB, args ...string) string {
	t.Helper()
	url, stop, err := StartDevServer(MetaldHost(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}

// StartDevServer is DevServer for a whole test binary (TestMain): the caller stops it.
func StartDevServer(metaldHost string, args ...string) (url string, stop func(), err error) {
	full := append([]string{"dev-server", "--listen", "127.0.0.1:0"}, args...)
	if !slices.Contains(args, "--tls-mode") {
		full = append(full, "--tls-mode", "disabled")
	}
	cmd := Command(metaldHost, full...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("the dev server printed no URL: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// Vectors decodes testdata/<name>, the test vectors every host's tests share (the allow-list,
// SPIFFE Workload API rules), into T; a file that is missing or does not decode fails t.
func Vectors[T any](t testing.TB, name string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return v
}
