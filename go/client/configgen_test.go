package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// genCase is one `metald-host config-gen` invocation and the same steps through this
// package's API (cli/src/vm_config.rs, `build`).
type genCase struct {
	template    string
	cpu         uint32
	memoryMB    uint64
	dockerImage string
	forceBuild  bool
}

func (c genCase) args() []string {
	args := []string{"-template=" + c.template}
	if c.cpu > 0 {
		args = append(args, "-cpu="+strconv.Itoa(int(c.cpu)))
	}
	if c.memoryMB > 0 {
		args = append(args, "-memory="+strconv.FormatUint(c.memoryMB, 10))
	}
	if c.dockerImage != "" {
		args = append(args, "-docker-image="+c.dockerImage)
	}
	if c.forceBuild {
		args = append(args, "-force-build")
	}
	return append(args, "config-gen")
}

// build replays the CLI's steps: template, Docker image, CPU and memory overrides (max at
// least twice the value), the CLI's metadata, validation.
func (c genCase) build(t *testing.T, creationTime string) []byte {
	t.Helper()
	start := NewVMConfigFromTemplate(c.template)
	base := start.Build()
	b := NewVMConfigBuilderFrom(base)
	if c.dockerImage != "" {
		b.ForDockerImage(c.dockerImage)
		if c.forceBuild {
			b.ForceBuild(true)
		}
	}
	if c.cpu > 0 {
		b.WithCPU(c.cpu, max(2*c.cpu, uint32(base.Cpu.MaxVcpuCount)))
	}
	if c.memoryMB > 0 {
		b.WithMemoryMB(c.memoryMB, max(2*c.memoryMB, uint64(base.Memory.MaxSizeBytes>>20)), base.Memory.HotplugEnabled)
	}
	b.AddMetadata("created_by", "metald-host").AddMetadata("creation_time", creationTime)
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	f, err := FromVMConfigE(b.Build(), c.template, fmt.Sprintf("Generated %s VM configuration", c.template))
	if err != nil {
		t.Fatal(err)
	}
	f.Template = c.template
	text, err := f.Render()
	if err != nil {
		t.Fatal(err)
	}
	return append(text, '\n')
}

func TestConfigGenMatchesMetaldHostByteForByte(t *testing.T) {
	names, err := TemplateNames()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 5 {
		t.Fatalf("templates: %v", names)
	}
	var cases []genCase
	for _, n := range names {
		cases = append(cases,
			genCase{template: n},
			genCase{template: n, cpu: 3, memoryMB: 1536},
			genCase{template: n, cpu: 32, memoryMB: 131072, dockerImage: "nginx:alpine", forceBuild: true},
			genCase{template: n, dockerImage: "ubuntu:22.04"},
		)
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.args()), func(t *testing.T) {
			want := testenv.Run(t, c.args()...)
			var parsed struct {
				Metadata map[string]string `json:"metadata"`
			}
			if err := json.Unmarshal(want, &parsed); err != nil {
				t.Fatalf("metald-host output does not parse: %v\n%s", err, want)
			}
			got := c.build(t, parsed.Metadata["creation_time"])
			if string(got) != string(want) {
				t.Fatalf("Go output differs from metald-host config-gen:\n--- go\n%s\n--- metald-host\n%s", got, want)
			}
		})
	}
}
