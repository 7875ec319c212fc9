package client

import (
	"strconv"
	"strings"

	"github.com/metald/metald-client/go/metald"
)

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

// Network modes. NetworkMode is a struct (the WIT variant network-mode): protobuf enums are
// open, so a mode number this SDK does not know is kept as NetworkModeUnknown(n). Values
// compare with ==.
var (
	NetworkModeUnspecified = NetworkMode{Tag: metald.NetworkModeTagUnspecified}
	NetworkModeDualStack   = NetworkMode{Tag: metald.NetworkModeTagDualStack}
	NetworkModeIPv4Only    = NetworkMode{Tag: metald.NetworkModeTagIpv4Only}
	NetworkModeIPv6Only    = NetworkMode{Tag: metald.NetworkModeTagIpv6Only}
)

// VM states. VMState is a struct (the WIT variant vm-state): protobuf enums are open, so a
// state number this SDK does not know (a newer server's) is kept as VMStateUnknown(n),
// never read as VMStateUnspecified. Values compare with ==.
var (
	VMStateUnspecified = VMState{Tag: metald.VmStateTagUnspecified}
	VMStateCreated     = VMState{Tag: metald.VmStateTagCreated}
	VMStateRunning     = VMState{Tag: metald.VmStateTagRunning}
	VMStatePaused      = VMState{Tag: metald.VmStateTagPaused}
	VMStateShutdown    = VMState{Tag: metald.VmStateTagShutdown}
)

// The known cases are declared in protobuf-number order from 0, before unknown.
const (
	knownVMStates     = int32(metald.VmStateTagUnknown)
	knownNetworkModes = int32(metald.NetworkModeTagUnknown)
)

// VMStateUnknown is the state numbered n; a known n gives that state (VMStateUnknown(2) ==
// VMStateRunning), so states compare by number.
func VMStateUnknown(n int32) VMState {
	if n >= 0 && n < knownVMStates {
		return VMState{Tag: metald.VmStateTag(n)}
	}
	return VMState{Tag: metald.VmStateTagUnknown, Unknown: n}
}

// VMStateNumber is the protobuf number of s (VMStateRunning is 2; VMStateUnknown(5) is 5).
func VMStateNumber(s VMState) int32 {
	if s.Tag == metald.VmStateTagUnknown {
		return s.Unknown
	}
	return int32(s.Tag)
}

// VMStateName is s as metald-cli prints it: VM_STATE_RUNNING, or the number of a state this
// SDK does not know ("5").
func VMStateName(s VMState) string {
	if s.Tag == metald.VmStateTagUnknown {
		return strconv.Itoa(int(s.Unknown))
	}
	return "VM_STATE_" + strings.ToUpper(s.Tag.String())
}

// NetworkModeUnknown is the mode numbered n; a known n gives that mode.
func NetworkModeUnknown(n int32) NetworkMode {
	if n >= 0 && n < knownNetworkModes {
		return NetworkMode{Tag: metald.NetworkModeTag(n)}
	}
	return NetworkMode{Tag: metald.NetworkModeTagUnknown, Unknown: n}
}

// NetworkModeNumber is the protobuf number of m.
func NetworkModeNumber(m NetworkMode) int32 {
	if m.Tag == metald.NetworkModeTagUnknown {
		return m.Unknown
	}
	return int32(m.Tag)
}
