package client

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// Each validation rule, broken in a config, gives the same issues through this package as
// through `metald-host config-validate` (the Rust host running the same component).
func TestEveryValidationRuleMatchesTheRustHost(t *testing.T) {
	base := func() *VMConfig { return NewVMConfigFromTemplate(TemplateStandard).Build() }
	cases := map[string]func(c *VMConfig){
		"vcpu zero":               func(c *VMConfig) { c.Cpu.VcpuCount = 0 },
		"max vcpu below vcpu":     func(c *VMConfig) { c.Cpu.MaxVcpuCount = 1 },
		"memory zero":             func(c *VMConfig) { c.Memory.SizeBytes = 0 },
		"max memory below memory": func(c *VMConfig) { c.Memory.MaxSizeBytes = 1 << 20 },
		"kernel path empty":       func(c *VMConfig) { c.Boot.KernelPath = "" },
		"two root devices": func(c *VMConfig) {
			c.Storage = append(c.Storage, StorageDevice{Id: "root2", Path: "/r2", IsRootDevice: true, InterfaceType: "virtio-blk"})
		},
		"storage id empty":   func(c *VMConfig) { c.Storage[0].Id = "" },
		"storage path empty": func(c *VMConfig) { c.Storage[0].Path = "" },
		"no root device":     func(c *VMConfig) { c.Storage[0].IsRootDevice = false },
		"no storage":         func(c *VMConfig) { c.Storage = nil },
		"network id empty":   func(c *VMConfig) { c.Network[0].Id = "" },
		"duplicate network": func(c *VMConfig) {
			c.Network = append(c.Network, c.Network[0])
		},
		"everything at once": func(c *VMConfig) {
			c.Cpu.VcpuCount, c.Memory.SizeBytes, c.Boot.KernelPath, c.Storage[0].Path = 0, 0, "", ""
		},
	}
	dir := t.TempDir()
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base()
			breakIt(cfg)
			var goIssues []ValidationIssue
			if e, ok := ValidateVMConfig(cfg).(*Error); ok {
				goIssues = e.Issues()
			}
			if len(goIssues) == 0 {
				t.Fatal("the broken config validated")
			}
			f, err := FromVMConfigE(cfg, "n", "d")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".json")
			if err := SaveVMConfigToFile(f, path); err != nil {
				t.Fatal(err)
			}
			cmd := testenv.Command(testenv.MetaldHost(t), "config-validate", "--json", path)
			out, _ := cmd.Output() // exit 1 for an invalid file
			var rust struct {
				Valid  bool              `json:"valid"`
				Issues []ValidationIssue `json:"issues"`
			}
			if err := json.Unmarshal(out, &rust); err != nil {
				t.Fatalf("metald-host output: %v\n%s", err, out)
			}
			if rust.Valid || !reflect.DeepEqual(rust.Issues, goIssues) {
				t.Fatalf("issues differ:\ngo:   %+v\nrust: %+v", goIssues, rust.Issues)
			}
		})
	}
}
