package client

import (
	"context"
	"slices"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// Answers whose content used to be dropped without a word: a state newer than the schema
// (protobuf enums are open) and gzip bodies of several members (RFC 1952 §2.2).
func TestStatesUnknownToTheSDKAreKeptAsTheirNumbers(t *testing.T) {
	server := testenv.DevServer(t, "--fault", "GetVmInfo=state:5", "--fault", "ListVms=state:5")
	for _, codec := range []string{"proto", "json"} {
		t.Run(codec, func(t *testing.T) {
			ctx := context.Background()
			c := newCodecClient(t, server, codec)
			created, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.BootVM(ctx, created.VMID); err != nil {
				t.Fatal(err)
			}
			info, err := c.GetVMInfo(ctx, created.VMID)
			if err != nil {
				t.Fatal(err)
			}
			if info.State != VMStateUnknown(5) || VMStateNumber(info.State) != 5 || VMStateName(info.State) != "5" {
				t.Fatalf("GetVMInfo state = %+v (%s), want 5", info.State, VMStateName(info.State))
			}
			if info.State == VMStateUnspecified || info.State == VMStateRunning {
				t.Fatalf("state 5 compares equal to a known state")
			}
			page, err := c.ListVMs(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(page.VMs, func(vm *VmInfo) bool { return vm.VmId == created.VMID })
			if i < 0 || page.VMs[i].State != VMStateUnknown(5) {
				t.Fatalf("ListVMs: %+v", page.VMs)
			}
			for vm, err := range c.AllVMs(ctx, VMStateRunning) {
				if err != nil {
					t.Fatal(err)
				}
				t.Fatalf("a VM in state %s matched the filter running", VMStateName(vm.State))
			}
			found := false
			for vm, err := range c.AllVMs(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				found = found || (vm.VmId == created.VMID && vm.State == VMStateUnknown(5))
			}
			if !found {
				t.Fatal("AllVMs() did not list the VM in state 5")
			}
		})
	}
}

func TestOpenEnumHelpers(t *testing.T) {
	if VMStateUnknown(2) != VMStateRunning || VMStateNumber(VMStateShutdown) != 4 || VMStateName(VMStatePaused) != "VM_STATE_PAUSED" {
		t.Fatal("known states")
	}
	if NetworkModeUnknown(3) != NetworkModeIPv6Only || NetworkModeNumber(NetworkModeUnknown(9)) != 9 {
		t.Fatal("network modes")
	}
	cfg, err := NewVMConfigFromTemplate(TemplateMinimal).AddNetwork("eth1", "", NetworkModeUnknown(9)).BuildE()
	if err != nil {
		t.Fatal(err)
	}
	nic := cfg.Network[len(cfg.Network)-1]
	if nic.Mode != NetworkModeUnknown(9) || nic.Ipv4Config != nil || nic.Ipv6Config != nil {
		t.Fatalf("AddNetwork with mode 9: %+v", nic)
	}
}

func TestAnAnswerInTwoGzipMembersIsReadWhole(t *testing.T) {
	server := testenv.DevServer(t, "--fault", "GetVmInfo=gzip-members", "--fault", "ListVms=gzip-members")
	for _, codec := range []string{"proto", "json"} {
		t.Run(codec, func(t *testing.T) {
			ctx := context.Background()
			c := newCodecClient(t, server, codec)
			var ids []string
			for range 2 {
				created, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, created.VMID)
			}
			if _, err := c.BootVM(ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			info, err := c.GetVMInfo(ctx, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if info.State != VMStateRunning || info.Config == nil || info.Config.Cpu == nil || info.Config.Cpu.VcpuCount != 1 {
				t.Fatalf("GetVMInfo = %+v", info)
			}
			page, err := c.ListVMs(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if !slices.ContainsFunc(page.VMs, func(vm *VmInfo) bool { return vm.VmId == id }) {
					t.Fatalf("ListVMs lost %s: %d VMs", id, len(page.VMs))
				}
			}
		})
	}
}

// newCodecClient is a plain-HTTP client of server speaking codec, closed with the test.
func newCodecClient(t *testing.T, server, codec string) *Client {
	t.Helper()
	c, err := New(context.Background(), Config{ServerAddress: server, UserID: "alice", TenantID: "acme", TLSMode: "disabled", Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
