package client

import "github.com/metald/metald-client/go/metald"

// The config types are the component's WIT records (go/metald, generated from wit/), named
// as the Go client's protobuf types are: a field added to the WIT appears here unchanged.
type (
	// VMConfig is a complete VM description (proto VmConfig).
	VMConfig = metald.VmConfig
	// VmConfig is VMConfig under its protobuf name.
	VmConfig = metald.VmConfig
	// CpuConfig is the vCPU config (proto CpuConfig).
	CpuConfig = metald.CpuConfig
	// CpuTopology is the CPU topology (proto CpuTopology).
	CpuTopology = metald.CpuTopology
	// MemoryConfig is the memory config, in bytes (proto MemoryConfig).
	MemoryConfig = metald.MemoryConfig
	// BootConfig is the kernel and boot arguments (proto BootConfig).
	BootConfig = metald.BootConfig
	// StorageDevice is one disk (proto StorageDevice).
	StorageDevice = metald.StorageDevice
	// NetworkInterface is one network interface (proto NetworkInterface).
	NetworkInterface = metald.NetworkInterface
	// IPv4Config is an interface's IPv4 settings (proto IPv4Config).
	IPv4Config = metald.Ipv4Config
	// IPv6Config is an interface's IPv6 settings (proto IPv6Config).
	IPv6Config = metald.Ipv6Config
	// RateLimit is a token-bucket rate limit (proto RateLimit).
	RateLimit = metald.RateLimit
	// ConsoleConfig is the serial console (proto ConsoleConfig).
	ConsoleConfig = metald.ConsoleConfig
	// NetworkMode is an interface's address families (proto NetworkMode).
	NetworkMode = metald.NetworkMode
	// VMState is a VM's lifecycle state (proto VmState).
	VMState = metald.VmState
	// ValidationIssue is one problem found by validation, named by its field path.
	ValidationIssue = metald.ValidationIssue
)

// Network modes.
const (
	NetworkModeUnspecified = metald.NetworkModeUnspecified
	NetworkModeDualStack   = metald.NetworkModeDualStack
	NetworkModeIPv4Only    = metald.NetworkModeIpv4Only
	NetworkModeIPv6Only    = metald.NetworkModeIpv6Only
)

// VM states.
const (
	VMStateUnspecified = metald.VmStateUnspecified
	VMStateCreated     = metald.VmStateCreated
	VMStateRunning     = metald.VmStateRunning
	VMStatePaused      = metald.VmStatePaused
	VMStateShutdown    = metald.VmStateShutdown
)
