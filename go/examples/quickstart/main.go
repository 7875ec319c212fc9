// Command quickstart is the Go client README's "Basic Usage" program on this SDK: only the
// import line differs. Two changes to the README's code, both marked: the server and
// identity come from the UNKEY_METALD_* environment (client.Config falls back to it), and
// the template's VM gets no second root disk or eth0 (the README's AddRootStorage and
// AddDefaultNetwork on a template fail validation: a template already has both).
//
//	UNKEY_METALD_SERVER_ADDRESS=http://127.0.0.1:8080 UNKEY_METALD_TLS_MODE=disabled \
//	UNKEY_METALD_USER_ID=my-user-123 UNKEY_METALD_TENANT_ID=my-tenant-456 go run ./examples/quickstart
package main

import (
	"context"
	"log"
	"time"

	"github.com/metald/metald-client/go/client"
)

func main() {
	ctx := context.Background()

	// Changed: ServerAddress, UserID, TenantID and TLSMode from UNKEY_METALD_*.
	config := client.Config{
		Timeout: 30 * time.Second,
	}

	metaldClient, err := client.New(ctx, config)
	if err != nil {
		log.Fatalf("Failed to create client: %v", err)
	}
	defer metaldClient.Close()

	// Create VM using a template (changed: no second root disk, no second eth0).
	vmConfig := client.NewVMConfigFromTemplate(client.TemplateStandard).
		WithCPU(4, 8).
		WithMemoryGB(4, 16, true).
		AddMetadata("purpose", "web-server").
		Build()

	createResp, err := metaldClient.CreateVM(ctx, &client.CreateVMRequest{
		Config: vmConfig,
	})
	if err != nil {
		log.Fatalf("Failed to create VM: %v", err)
	}

	bootResp, err := metaldClient.BootVM(ctx, createResp.VMID)
	if err != nil {
		log.Fatalf("Failed to boot VM: %v", err)
	}

	log.Printf("VM %s is now %s", createResp.VMID, bootResp.State)
}
