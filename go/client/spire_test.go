package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// SPIFFE mode against a real SPIRE server and agent (tools/spire/spire.sh); tls_test.go
// keeps the fake Workload API for what SPIRE cannot be made to do on demand.

// realPath is path with symlinks resolved, as SPIRE's unix attestor sees a binary.
func realPath(t *testing.T, path string) string {
	t.Helper()
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return resolved
}

func TestSPIRELifecycleWithSVIDsOnBothSides(t *testing.T) {
	// Real SPIRE: this test binary and the metald-host dev server are two workloads of its
	// agent, each with an SVID from its CA.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	host := realPath(t, testenv.MetaldHost(t))
	const serverID = "spiffe://example.org/metald"
	spire := testenv.StartSPIRE(t, "id=/go-client,path="+realPath(t, self), "id="+serverID+",path="+host)
	url, stop, err := testenv.StartDevServer(host, "--tls-mode", "spiffe", "--spiffe-socket", spire.WorkloadSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c := mustTLSTestClient(t, Config{ServerAddress: url, TLSMode: "spiffe", SPIFFESocketPath: spire.WorkloadSocket, ServerSPIFFEID: serverID})
	ctx := context.Background()
	created, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
	if err != nil || created.State != VMStateCreated {
		t.Fatalf("create: %+v %v", created, err)
	}
	bootPauseResumeRebootShutdown(ctx, t, c, created.VMID)
	info, err := c.GetVMInfo(ctx, created.VMID)
	if err != nil || info.State != VMStateShutdown {
		t.Fatalf("info: %+v %v", info, err)
	}
	listed, err := c.ListVMs(ctx, &ListVMsRequest{})
	if err != nil || listed.TotalCount != 1 {
		t.Fatalf("list: %+v %v", listed, err)
	}
	if del, err := c.DeleteVM(ctx, &DeleteVMRequest{VMID: created.VMID}); err != nil || !del.Success {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if listed, err := c.ListVMs(ctx, &ListVMsRequest{}); err != nil || listed.TotalCount != 0 {
		t.Fatalf("list after delete: %+v %v", listed, err)
	}

	// The server's SVID names it: another expected server ID is refused.
	other := mustTLSTestClient(t, Config{ServerAddress: url, TLSMode: "spiffe", SPIFFESocketPath: spire.WorkloadSocket,
		ServerSPIFFEID: "spiffe://example.org/someone-else"})
	_, err = other.ListVMs(ctx, &ListVMsRequest{})
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeUnauthenticated || !strings.Contains(err.Error(), "someone-else") {
		t.Fatalf("a server with another SPIFFE ID: %v", err)
	}
}
