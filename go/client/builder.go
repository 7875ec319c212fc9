package client

import (
	"context"

	"github.com/metald/metald-client/go/metald"
)

// Template names of the Go client's built-in templates (metald's TemplateMinimal, …).
const (
	TemplateMinimal     = "minimal"
	TemplateStandard    = "standard"
	TemplateHighCPU     = "high-cpu"
	TemplateHighMemory  = "high-memory"
	TemplateDevelopment = "development"
)

// VMConfigBuilder builds a VMConfig step by step with the Go client's methods. Every step
// runs in the component (go/metald), so the rules are the same in every language.
//
// Methods chain like the Go client's. A step that fails (an out-of-range value, an unknown
// template) does not panic: it is kept, later steps are skipped, and Err, Validate and
// Build's companion BuildE report it. A builder is not safe for concurrent use.
type VMConfigBuilder struct {
	config VMConfig
	err    error
}

// NewVMConfigBuilder returns a builder with the Go client's defaults: 2 vCPUs (max 4),
// 1 GiB memory (max 4 GiB, hotplug), kernel /opt/vm-assets/vmlinux, a serial console to
// /tmp/vm-console.log, no disks, no network, no metadata.
func NewVMConfigBuilder() *VMConfigBuilder {
	b := &VMConfigBuilder{}
	b.err = offline.do(context.Background(), func(x metald.Exports) error {
		r, err := x.NewVmConfigBuilder(context.Background())
		if err != nil {
			return err
		}
		return b.take(x, r)
	})
	return b
}

// NewVMConfigFromTemplate returns a builder holding a built-in template's config. An
// unknown name is an error (the Go client silently used "standard"); see Err.
func NewVMConfigFromTemplate(templateName string) *VMConfigBuilder {
	b := &VMConfigBuilder{}
	b.err = offline.do(context.Background(), func(x metald.Exports) error {
		ctx := context.Background()
		t, err := x.TemplatesParseTemplate(ctx, templateName)
		if err != nil {
			return wrapErr("parse template", err)
		}
		r, err := x.VmConfigBuilderFromTemplate(ctx, t)
		if err != nil {
			return err
		}
		return b.take(x, r)
	})
	return b
}

// NewVMConfigBuilderFrom returns a builder holding a copy of cfg, to adjust it.
func NewVMConfigBuilderFrom(cfg *VMConfig) *VMConfigBuilder {
	b := &VMConfigBuilder{}
	if cfg != nil {
		b.config = *cfg
	}
	return b
}

// take copies the guest builder's config into b and drops the guest builder.
func (b *VMConfigBuilder) take(x metald.Exports, r *metald.VmConfigBuilder) error {
	ctx := context.Background()
	cfg, err := r.Build(ctx)
	if dropErr := r.Drop(ctx); err == nil {
		err = dropErr
	}
	if err == nil {
		b.config = cfg
	}
	return err
}

// step runs one builder method in the component on a copy of the config.
func (b *VMConfigBuilder) step(name string, fn func(ctx context.Context, r *metald.VmConfigBuilder) error) *VMConfigBuilder {
	if b.err != nil {
		return b
	}
	b.err = offline.do(context.Background(), func(x metald.Exports) error {
		ctx := context.Background()
		r, err := x.VmConfigBuilderFromConfig(ctx, b.config)
		if err != nil {
			return err
		}
		if err := fn(ctx, r); err != nil {
			_ = r.Drop(ctx)
			return wrapErr(name, err)
		}
		return b.take(x, r)
	})
	return b
}

// WithCPU replaces the CPU config. Counts above 2147483647 are an error.
func (b *VMConfigBuilder) WithCPU(vcpuCount, maxVcpuCount uint32) *VMConfigBuilder {
	return b.step("WithCPU", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithCpu(ctx, vcpuCount, maxVcpuCount)
	})
}

// WithMemory replaces the memory config, in bytes.
func (b *VMConfigBuilder) WithMemory(sizeBytes, maxSizeBytes uint64, hotplugEnabled bool) *VMConfigBuilder {
	return b.step("WithMemory", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithMemory(ctx, sizeBytes, maxSizeBytes, hotplugEnabled)
	})
}

// WithMemoryMB replaces the memory config, in MiB (2^20 bytes). Overflow is an error.
func (b *VMConfigBuilder) WithMemoryMB(sizeMB, maxSizeMB uint64, hotplugEnabled bool) *VMConfigBuilder {
	return b.step("WithMemoryMB", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithMemoryMb(ctx, sizeMB, maxSizeMB, hotplugEnabled)
	})
}

// WithMemoryGB replaces the memory config, in GiB (2^30 bytes). Overflow is an error.
func (b *VMConfigBuilder) WithMemoryGB(sizeGB, maxSizeGB uint64, hotplugEnabled bool) *VMConfigBuilder {
	return b.step("WithMemoryGB", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithMemoryGb(ctx, sizeGB, maxSizeGB, hotplugEnabled)
	})
}

// WithBoot replaces the boot config.
func (b *VMConfigBuilder) WithBoot(kernelPath, initrdPath, kernelArgs string) *VMConfigBuilder {
	return b.step("WithBoot", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithBoot(ctx, kernelPath, initrdPath, kernelArgs)
	})
}

// WithDefaultBoot boots /opt/vm-assets/vmlinux without initrd; empty kernelArgs means
// "console=ttyS0 reboot=k panic=1 pci=off".
func (b *VMConfigBuilder) WithDefaultBoot(kernelArgs string) *VMConfigBuilder {
	return b.step("WithDefaultBoot", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithDefaultBoot(ctx, kernelArgs)
	})
}

// AddStorage appends a disk; empty interfaceType means virtio-blk.
func (b *VMConfigBuilder) AddStorage(id, path string, readOnly, isRoot bool, interfaceType string) *VMConfigBuilder {
	return b.step("AddStorage", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddStorage(ctx, id, path, readOnly, isRoot, interfaceType)
	})
}

// AddRootStorage appends the root disk: id rootfs, read-write, virtio-blk. Templates
// already have one; a second root disk fails validation.
func (b *VMConfigBuilder) AddRootStorage(path string) *VMConfigBuilder {
	return b.step("AddRootStorage", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddRootStorage(ctx, path)
	})
}

// AddDataStorage appends a non-root virtio-blk disk.
func (b *VMConfigBuilder) AddDataStorage(id, path string, readOnly bool) *VMConfigBuilder {
	return b.step("AddDataStorage", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddDataStorage(ctx, id, path, readOnly)
	})
}

// AddStorageWithOptions appends a disk with options (nil allowed).
func (b *VMConfigBuilder) AddStorageWithOptions(id, path string, readOnly, isRoot bool, interfaceType string, options map[string]string) *VMConfigBuilder {
	return b.step("AddStorageWithOptions", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddStorageWithOptions(ctx, id, path, readOnly, isRoot, interfaceType, options)
	})
}

// AddNetwork appends an interface; empty interfaceType means virtio-net and
// NetworkModeUnspecified means dual stack. It gets DHCP and/or SLAAC as the mode asks (a
// NetworkModeUnknown(n) this SDK does not know gets neither).
func (b *VMConfigBuilder) AddNetwork(id, interfaceType string, mode NetworkMode) *VMConfigBuilder {
	return b.step("AddNetwork", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddNetwork(ctx, id, interfaceType, mode)
	})
}

// AddDefaultNetwork appends eth0, virtio-net, dual stack.
func (b *VMConfigBuilder) AddDefaultNetwork() *VMConfigBuilder {
	return b.step("AddDefaultNetwork", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddDefaultNetwork(ctx)
	})
}

// AddIPv4OnlyNetwork appends an IPv4-only virtio-net interface with DHCP.
func (b *VMConfigBuilder) AddIPv4OnlyNetwork(id string) *VMConfigBuilder {
	return b.step("AddIPv4OnlyNetwork", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddIpv4OnlyNetwork(ctx, id)
	})
}

// AddIPv6OnlyNetwork appends an IPv6-only virtio-net interface with SLAAC and privacy
// extensions.
func (b *VMConfigBuilder) AddIPv6OnlyNetwork(id string) *VMConfigBuilder {
	return b.step("AddIPv6OnlyNetwork", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddIpv6OnlyNetwork(ctx, id)
	})
}

// AddNetworkWithCustomConfig appends an interface with explicit settings (nil allowed);
// the mode is taken as given.
func (b *VMConfigBuilder) AddNetworkWithCustomConfig(id, interfaceType string, mode NetworkMode, ipv4 *IPv4Config, ipv6 *IPv6Config) *VMConfigBuilder {
	return b.step("AddNetworkWithCustomConfig", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddNetworkWithCustomConfig(ctx, id, interfaceType, mode, ipv4, ipv6)
	})
}

// WithConsole replaces the console config.
func (b *VMConfigBuilder) WithConsole(enabled bool, output, consoleType string) *VMConfigBuilder {
	return b.step("WithConsole", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithConsole(ctx, enabled, output, consoleType)
	})
}

// WithDefaultConsole enables a serial console writing to output (empty:
// /tmp/vm-console.log).
func (b *VMConfigBuilder) WithDefaultConsole(output string) *VMConfigBuilder {
	return b.step("WithDefaultConsole", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithDefaultConsole(ctx, output)
	})
}

// DisableConsole disables the console.
func (b *VMConfigBuilder) DisableConsole() *VMConfigBuilder {
	return b.step("DisableConsole", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.DisableConsole(ctx)
	})
}

// AddMetadata sets one metadata key.
func (b *VMConfigBuilder) AddMetadata(key, value string) *VMConfigBuilder {
	return b.step("AddMetadata", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.AddMetadata(ctx, key, value)
	})
}

// WithMetadata replaces all metadata (the map is copied, unlike the Go client's aliasing).
func (b *VMConfigBuilder) WithMetadata(metadata map[string]string) *VMConfigBuilder {
	return b.step("WithMetadata", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.WithMetadata(ctx, metadata)
	})
}

// ForDockerImage prepares the VM for a Docker image: metadata docker_image and
// runtime=docker, every root disk replaced by /opt/vm-assets/rootfs.ext4 carrying the image.
func (b *VMConfigBuilder) ForDockerImage(imageName string) *VMConfigBuilder {
	return b.step("ForDockerImage", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.ForDockerImage(ctx, imageName)
	})
}

// ForceBuild sets (true) or removes (false) metadata force_rebuild=true.
func (b *VMConfigBuilder) ForceBuild(force bool) *VMConfigBuilder {
	return b.step("ForceBuild", func(ctx context.Context, r *metald.VmConfigBuilder) error {
		return r.ForceBuild(ctx, force)
	})
}

// Build returns a copy of the config built so far. Check Err (or use BuildE) when a step
// could have failed.
func (b *VMConfigBuilder) Build() *VMConfig {
	cfg := b.config
	return &cfg
}

// GetConfig is Build, as the Go client names it too.
func (b *VMConfigBuilder) GetConfig() *VMConfig { return b.Build() }

// BuildE returns the config, or the first failed step's error.
func (b *VMConfigBuilder) BuildE() (*VMConfig, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.Build(), nil
}

// Err returns the first failed step's error, or nil.
func (b *VMConfigBuilder) Err() error { return b.err }

// Validate reports the first failed step, else validates the config (see ValidateVMConfig).
func (b *VMConfigBuilder) Validate() error {
	if b.err != nil {
		return b.err
	}
	return ValidateVMConfig(&b.config)
}

// ValidateVMConfig checks cfg against the Go client's rules and the server's own (a disk
// is required), and reports every problem at once: an *Error with code invalid_argument
// whose Issues name each field.
func ValidateVMConfig(cfg *VMConfig) error {
	if cfg == nil {
		return invalidConfig("validate config", []ValidationIssue{{Field: "config", Message: "is nil"}})
	}
	return offline.do(context.Background(), func(x metald.Exports) error {
		return wrapErr("validate config", x.ValidationValidateConfig(context.Background(), *cfg))
	})
}

// TemplateNames lists the built-in template names, in the component's order.
func TemplateNames() ([]string, error) {
	var names []string
	err := offline.do(context.Background(), func(x metald.Exports) error {
		ctx := context.Background()
		all, err := x.TemplatesAllTemplates(ctx)
		if err != nil {
			return err
		}
		for _, t := range all {
			n, err := x.TemplatesTemplateName(ctx, t)
			if err != nil {
				return err
			}
			names = append(names, n)
		}
		return nil
	})
	return names, err
}
