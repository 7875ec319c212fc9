package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SPIRE is a running SPIRE server and agent started by the fixture tools/spire/spire.sh
// (the JSON its start command prints; see tools/spire/fixture/main.go).
type SPIRE struct {
	Dir            string `json:"dir"`
	TrustDomain    string `json:"trust_domain"`
	WorkloadSocket string `json:"workload_socket"`
	Bundle         string `json:"bundle"`
	ServerPID      int    `json:"server_pid"`
	AgentPID       int    `json:"agent_pid"`
}

// spireNotBuilt is spire.sh's exit status when the SPIRE binaries are not built.
const spireNotBuilt = 3

func spireScript() string { return filepath.Join(RepoRoot(), "tools", "spire", "spire.sh") }

// StartSPIRE starts SPIRE with the workload registrations entries (spire.sh start --entry
// specs, e.g. "id=/client,path=/abs/binary") and stops it when the test ends. When SPIRE is
// not built (tools/spire/spire.sh build), the test is skipped with that message, or fails
// under CI=true.
func StartSPIRE(t testing.TB, entries ...string) *SPIRE {
	t.Helper()
	args := []string{"start"}
	for _, e := range entries {
		args = append(args, "--entry", e)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(spireScript(), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == spireNotBuilt && os.Getenv("CI") != "true":
		t.Skipf("SPIRE is not built (run tools/spire/spire.sh build): %s", bytes.TrimSpace(stderr.Bytes()))
	case errors.As(err, &exit) && exit.ExitCode() == spireNotBuilt:
		t.Fatalf("CI=true and SPIRE is not built: %s", stderr.Bytes())
	case err != nil:
		t.Fatalf("tools/spire/spire.sh start: %v\n%s", err, stderr.Bytes())
	}
	var s SPIRE
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || s.WorkloadSocket == "" {
		t.Fatalf("tools/spire/spire.sh start printed no deployment (%v): %s", err, stdout.Bytes())
	}
	t.Cleanup(func() {
		if out, err := exec.Command(spireScript(), "stop", s.Dir).CombinedOutput(); err != nil {
			t.Errorf("tools/spire/spire.sh stop %s: %v\n%s", s.Dir, err, out)
		}
	})
	return &s
}

// Minted is an X.509-SVID minted by the SPIRE server's CA, as PEM files.
type Minted struct {
	Cert   string `json:"cert"`
	Key    string `json:"key"`
	Bundle string `json:"bundle"`
}

// Mint mints an X.509-SVID for spiffeID with the server's CA (spire.sh mint).
func (s *SPIRE) Mint(t testing.TB, spiffeID string) Minted {
	t.Helper()
	out, err := exec.Command(spireScript(), "mint", "--dir", s.Dir, "--spiffe-id", spiffeID).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("tools/spire/spire.sh mint: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("tools/spire/spire.sh mint: %v", err)
	}
	var m Minted
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("tools/spire/spire.sh mint printed %s: %v", out, err)
	}
	return m
}
