package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// The program builds and runs a create-and-boot against the dev server.
func TestQuickstartRunsAgainstTheDevServer(t *testing.T) {
	server := testenv.DevServer(t)
	cmd := exec.Command("go", "run", ".")
	cmd.Env = append(os.Environ(),
		"UNKEY_METALD_SERVER_ADDRESS="+server,
		"UNKEY_METALD_TLS_MODE=disabled",
		"UNKEY_METALD_USER_ID=my-user-123",
		"UNKEY_METALD_TENANT_ID=my-tenant-456",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "is now running") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}
