package client_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/metald/metald-client/go/client"
)

// The Go client README's builder example, unchanged but for the import line.
func Example_builder() {
	vmConfig := client.NewVMConfigBuilder().
		WithCPU(8, 16).
		WithMemoryGB(16, 64, true).
		WithDefaultBoot("console=ttyS0 reboot=k panic=1").
		AddRootStorage("/opt/vm-assets/ubuntu-rootfs.ext4").
		AddDataStorage("data", "/opt/vm-assets/data.ext4", false).
		AddDefaultNetwork().
		WithDefaultConsole("/var/log/vm-console.log").
		AddMetadata("environment", "production").
		AddMetadata("owner", "platform-team").
		Build()
	if err := client.ValidateVMConfig(vmConfig); err != nil {
		log.Fatalf("Invalid VM configuration: %v", err)
	}
	fmt.Println(vmConfig.Cpu.VcpuCount, vmConfig.Memory.SizeBytes>>30, len(vmConfig.Storage), vmConfig.Network[0].Id)
	// Output: 8 16 2 eth0
}

// The Go client README's configuration-file example.
func Example_configFile() {
	config := client.NewVMConfigFromTemplate(client.TemplateStandard).
		WithCPU(4, 8).
		WithMemoryGB(8, 32, true).
		Build()
	configFile := client.FromVMConfig(config, "web-server", "Configuration for web server VMs")
	path := filepath.Join(os.TempDir(), fmt.Sprintf("metald-example-%d", os.Getpid()), "web-server.json")
	defer os.RemoveAll(filepath.Dir(path))
	if err := client.SaveVMConfigToFile(configFile, path); err != nil {
		log.Fatal(err)
	}
	loaded, err := client.LoadVMConfigFromFile(path)
	if err != nil {
		log.Fatalf("Failed to load config: %v", err)
	}
	vmConfig, err := loaded.ToVMConfig()
	if err != nil {
		log.Fatalf("Failed to convert config: %v", err)
	}
	fmt.Println(loaded.Name, vmConfig.Cpu.VcpuCount, vmConfig.Memory.SizeBytes>>30, vmConfig.Metadata["config_name"])
	// Output: web-server 4 8 web-server
}

// The README's template trap: a template already has a root disk, so adding another fails
// validation, every problem named by its field (the Go client reported only the first).
func Example_validation() {
	cfg := client.NewVMConfigFromTemplate(client.TemplateStandard).
		AddRootStorage("/opt/vm-assets/rootfs.ext4").
		Build()
	err := client.ValidateVMConfig(cfg)
	fmt.Println(err)
	// Output: validate config: invalid_argument: invalid VM config: storage[1].is-root-device: multiple root devices found - only one root device is allowed (storage[0] "rootfs" is root too); storage[1].id: duplicate storage device ID "rootfs" (also storage[0])
}
