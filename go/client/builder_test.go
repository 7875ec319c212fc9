package client

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// step is one builder method, as a `metald-host run` statement on builder `b` and as the
// same call through this package.
type step struct {
	wave  string
	apply func(b *VMConfigBuilder)
}

var builderSteps = []step{
	{`b.with-cpu(3, 9)`, func(b *VMConfigBuilder) { b.WithCPU(3, 9) }},
	{`b.with-memory(1073741824, 2147483648, true)`, func(b *VMConfigBuilder) { b.WithMemory(1<<30, 2<<30, true) }},
	{`b.with-memory-mb(1536, 4096, false)`, func(b *VMConfigBuilder) { b.WithMemoryMB(1536, 4096, false) }},
	{`b.with-memory-gb(2, 8, true)`, func(b *VMConfigBuilder) { b.WithMemoryGB(2, 8, true) }},
	{`b.with-boot("/k/vmlinux", "/k/initrd", "console=ttyS1")`, func(b *VMConfigBuilder) { b.WithBoot("/k/vmlinux", "/k/initrd", "console=ttyS1") }},
	{`b.with-default-boot("")`, func(b *VMConfigBuilder) { b.WithDefaultBoot("") }},
	{`b.add-storage("d1", "/d1.ext4", true, false, "")`, func(b *VMConfigBuilder) { b.AddStorage("d1", "/d1.ext4", true, false, "") }},
	{`b.add-data-storage("d2", "/d2.ext4", false)`, func(b *VMConfigBuilder) { b.AddDataStorage("d2", "/d2.ext4", false) }},
	{`b.add-storage-with-options("d3", "/d3.ext4", false, false, "virtio-scsi", [("cache", "none"), ("aio", "io_uring")])`, func(b *VMConfigBuilder) {
		b.AddStorageWithOptions("d3", "/d3.ext4", false, false, "virtio-scsi", map[string]string{"cache": "none", "aio": "io_uring"})
	}},
	{`b.add-network("eth1", "", unspecified)`, func(b *VMConfigBuilder) { b.AddNetwork("eth1", "", NetworkModeUnspecified) }},
	{`b.add-ipv4-only-network("eth2")`, func(b *VMConfigBuilder) { b.AddIPv4OnlyNetwork("eth2") }},
	{`b.add-ipv6-only-network("eth3")`, func(b *VMConfigBuilder) { b.AddIPv6OnlyNetwork("eth3") }},
	{`b.add-network-with-custom-config("eth4", "virtio-net", ipv4-only, some({address: "10.0.0.5", netmask: "255.255.255.0", gateway: "10.0.0.1", dns-servers: ["1.1.1.1"], dhcp: false}), none)`, func(b *VMConfigBuilder) {
		b.AddNetworkWithCustomConfig("eth4", "virtio-net", NetworkModeIPv4Only, &IPv4Config{Address: "10.0.0.5", Netmask: "255.255.255.0", Gateway: "10.0.0.1", DnsServers: []string{"1.1.1.1"}}, nil)
	}},
	{`b.with-console(true, "/var/log/c.log", "virtio")`, func(b *VMConfigBuilder) { b.WithConsole(true, "/var/log/c.log", "virtio") }},
	{`b.add-metadata("owner", "platform")`, func(b *VMConfigBuilder) { b.AddMetadata("owner", "platform") }},
	{`b.for-docker-image("nginx:alpine")`, func(b *VMConfigBuilder) { b.ForDockerImage("nginx:alpine") }},
	{`b.force-build(true)`, func(b *VMConfigBuilder) { b.ForceBuild(true) }},
	{`b.with-default-console("")`, func(b *VMConfigBuilder) { b.WithDefaultConsole("") }},
	{`b.with-metadata([("a", "1"), ("b", "2")])`, func(b *VMConfigBuilder) { b.WithMetadata(map[string]string{"b": "2", "a": "1"}) }},
	{`b.add-default-network()`, func(b *VMConfigBuilder) { b.AddDefaultNetwork() }},
	{`b.disable-console()`, func(b *VMConfigBuilder) { b.DisableConsole() }},
	{`b.force-build(false)`, func(b *VMConfigBuilder) { b.ForceBuild(false) }},
}

// runRendered runs a script whose last statement renders a config file, and returns it.
func runRendered(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "steps.wave")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(testenv.Run(t, "run", "--json", path))), "\n")
	var last struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("metald-host run output: %v\n%s", err, lines[len(lines)-1])
	}
	return last.Result
}

func TestEveryBuilderMethodMatchesTheRustHost(t *testing.T) {
	starts := map[string]func() *VMConfigBuilder{
		"vm-config-builder()": NewVMConfigBuilder,
	}
	for _, n := range []string{TemplateMinimal, TemplateStandard, TemplateHighCPU, TemplateHighMemory, TemplateDevelopment} {
		starts["vm-config-builder.from-template("+n+")"] = func() *VMConfigBuilder { return NewVMConfigFromTemplate(n) }
	}
	for start, newBuilder := range starts {
		t.Run(start, func(t *testing.T) {
			script := "let b = " + start + "\n"
			b := newBuilder()
			for _, s := range builderSteps {
				script += s.wave + "\n"
				s.apply(b)
			}
			if start == "vm-config-builder()" {
				script += `b.add-root-storage("/opt/root.ext4")` + "\n"
				b.AddRootStorage("/opt/root.ext4")
			}
			script += "let c = b.build()\nlet f = from-vm-config(c, \"n\", \"d\")\nrender-config-file(f)\n"
			want := runRendered(t, script)
			cfg, err := b.BuildE()
			if err != nil {
				t.Fatal(err)
			}
			f, err := FromVMConfigE(cfg, "n", "d")
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Render()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want {
				t.Fatalf("Go builder differs from metald-host:\n--- go\n%s\n--- metald-host\n%s", got, want)
			}
		})
	}
}

func TestBuilderErrorsNameTheFieldAndStopLaterSteps(t *testing.T) {
	b := NewVMConfigBuilder().WithCPU(1<<31, 4).AddMetadata("after", "error")
	var e *Error
	if !errors.As(b.Err(), &e) || e.Code() != CodeInvalidArgument || len(e.Issues()) != 1 || e.Issues()[0].Field != "vcpu-count" {
		t.Fatalf("WithCPU(2^31): %v", b.Err())
	}
	if _, ok := b.Build().Metadata["after"]; ok {
		t.Fatal("a step after the failed one ran")
	}
	if err := b.Validate(); !errors.Is(err, b.Err()) {
		t.Fatalf("Validate = %v, want the step's error", err)
	}
	if _, err := b.BuildE(); err == nil {
		t.Fatal("BuildE after a failed step succeeded")
	}
	if err := NewVMConfigBuilder().WithMemoryGB(1<<40, 1<<40, false).Err(); err == nil || !strings.Contains(err.Error(), "WithMemoryGB") {
		t.Fatalf("WithMemoryGB overflow: %v", err)
	}
}

func TestUnknownTemplateIsAnErrorListingTheValidNames(t *testing.T) {
	err := NewVMConfigFromTemplate("huge").Err()
	if err == nil || !strings.Contains(err.Error(), "huge") || !strings.Contains(err.Error(), "high-memory") {
		t.Fatalf("unknown template: %v", err)
	}
}

func TestTemplatesHaveTheGoClientsShapes(t *testing.T) {
	want := map[string]struct {
		vcpu, maxVcpu int32
		mem, maxMem   int64
		disks         int
	}{
		TemplateMinimal:     {1, 2, 512 << 20, 1 << 30, 1},
		TemplateStandard:    {2, 4, 2 << 30, 8 << 30, 1},
		TemplateHighCPU:     {8, 16, 4 << 30, 16 << 30, 1},
		TemplateHighMemory:  {4, 8, 16 << 30, 64 << 30, 1},
		TemplateDevelopment: {4, 8, 8 << 30, 32 << 30, 2},
	}
	for name, w := range want {
		cfg := NewVMConfigFromTemplate(name).Build()
		if cfg.Cpu.VcpuCount != w.vcpu || cfg.Cpu.MaxVcpuCount != w.maxVcpu || cfg.Memory.SizeBytes != w.mem ||
			cfg.Memory.MaxSizeBytes != w.maxMem || len(cfg.Storage) != w.disks || cfg.Metadata["template"] != name {
			t.Errorf("%s: %+v %+v %d disks %v", name, *cfg.Cpu, *cfg.Memory, len(cfg.Storage), cfg.Metadata)
		}
		if err := ValidateVMConfig(cfg); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
	}
}
