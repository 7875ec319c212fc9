package client

import "github.com/metald/metald-client/go/metald"

// CreateVMRequest is CreateVM's request.
type CreateVMRequest struct {
	// VMID is ignored by metald, which assigns its own id: use CreateVMResponse.VMID.
	VMID string
	// Config is the VM to create (validated before it is sent).
	Config *VMConfig
}

// CreateVMResponse is CreateVM's result.
type CreateVMResponse struct {
	VMID  string
	State VMState
}

// StateChangeResponse is the result of BootVM, ShutdownVM, PauseVM, ResumeVM and RebootVM.
type StateChangeResponse struct {
	Success bool
	State   VMState
}

// Responses of the state changes, named as the Go client names them.
type (
	BootVMResponse     = StateChangeResponse
	ShutdownVMResponse = StateChangeResponse
	PauseVMResponse    = StateChangeResponse
	ResumeVMResponse   = StateChangeResponse
	RebootVMResponse   = StateChangeResponse
)

// ShutdownVMRequest is ShutdownVM's request.
type ShutdownVMRequest struct {
	VMID string
	// Force stops the VMM at once instead of a graceful shutdown.
	Force bool
	// TimeoutSeconds allowed for the graceful shutdown (at most 2147483647).
	TimeoutSeconds uint32
}

// DeleteVMRequest is DeleteVM's request.
type DeleteVMRequest struct {
	VMID  string
	Force bool
}

// DeleteVMResponse is DeleteVM's result.
type DeleteVMResponse struct {
	Success bool
}

// RebootVMRequest is RebootVM's request.
type RebootVMRequest struct {
	VMID  string
	Force bool
}

// VMInfo is GetVMInfo's result.
type VMInfo struct {
	VMID        string
	State       VMState
	Config      *VMConfig
	Metrics     *VmMetrics
	NetworkInfo *VmNetworkInfo
	// BackendInfo is what the server reports about its backend (the Go client dropped it).
	BackendInfo map[string]string
}

// ListVMsRequest is ListVMs's request.
type ListVMsRequest struct {
	// PageSize is the page size; 0 lets the server choose.
	PageSize int32
	// PageToken is the previous page's NextPageToken; empty for the first page.
	PageToken string
	// StateFilter keeps only VMs in these states; empty for all (the Go client could not
	// filter).
	StateFilter []VMState
}

// ListVMsResponse is one page of ListVMs.
type ListVMsResponse struct {
	VMs           []*VmInfo
	NextPageToken string
	TotalCount    int32
}

// Types of GetVMInfo's and ListVMs's results (the component's WIT records).
type (
	// VmInfo is one VM of a listing (proto VmInfo).
	VmInfo = metald.VmInfo
	// VmMetrics is a VM's resource usage (proto VmMetrics).
	VmMetrics = metald.VmMetrics
	// VmNetworkInfo is a booted VM's network details (proto VmNetworkInfo).
	VmNetworkInfo = metald.VmNetworkInfo
)
