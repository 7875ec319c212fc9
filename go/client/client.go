package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"os"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
	"github.com/metald/metald-client/go/tlsmode"
	"github.com/metald/metald-client/go/transport"
)

// DefaultTimeout is the per-call deadline when Config.Timeout is zero, as in the Go client.
const DefaultTimeout = 30 * time.Second

// Config says how a Client reaches metald and who it acts as. Empty fields fall back to the
// UNKEY_METALD_* environment variables metald-cli reads, then to the Go client's defaults.
type Config struct {
	// ServerAddress is metald's base URL, e.g. https://metald:8080 (a path prefix is kept).
	// Fallback: UNKEY_METALD_SERVER_ADDRESS.
	ServerAddress string
	// UserID is sent as `Authorization: Bearer dev_user_<UserID>` and as CreateVm's
	// customer_id. Fallback: UNKEY_METALD_USER_ID.
	UserID string
	// TenantID is sent as X-Tenant-ID. Fallback: UNKEY_METALD_TENANT_ID.
	TenantID string
	// TLSMode is "spiffe" (default), "file" or "disabled". Fallback: UNKEY_METALD_TLS_MODE.
	TLSMode string
	// SPIFFESocketPath is the Workload API socket (a path, unix:PATH or unix://PATH).
	// Fallback: UNKEY_METALD_SPIFFE_SOCKET, SPIFFE_ENDPOINT_SOCKET,
	// /var/lib/spire/agent/agent.sock.
	SPIFFESocketPath string
	// SPIFFETimeout bounds the wait for the first SVID. Default 10 s.
	SPIFFETimeout time.Duration
	// ServerSPIFFEID accepts only this server SPIFFE ID (default: any ID in our trust
	// domain; in file mode also used for servers whose certificate has only a SPIFFE ID).
	ServerSPIFFEID string
	// ClientSPIFFEID picks one of several SVIDs of this workload (default: the first).
	ClientSPIFFEID string
	// TLSCertFile and TLSKeyFile are presented as the client certificate in file mode;
	// TLSCAFile is the root set (system roots otherwise).
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// Timeout is the per-call deadline (connect, request and response together), sent as
	// Connect-Timeout-Ms; a nearer context deadline wins. Default 30 s.
	Timeout time.Duration
	// EnableCertCaching and CertCacheTTL are the Go client's: with caching on, renewed
	// certificate files are re-read every CertCacheTTL (default 5 s); off, they are read
	// once.
	EnableCertCaching bool
	CertCacheTTL      time.Duration
	// H2C speaks HTTP/2 with prior knowledge to http:// servers (HTTP/1.1 otherwise);
	// https negotiates HTTP/2 by ALPN.
	H2C bool
	// Codec is "proto" (default, as the Go client) or "json".
	Codec string
	// Compression is the response compression asked for: "gzip" (default, as metald-cli:
	// Accept-Encoding: gzip) or "identity" (Accept-Encoding: identity, an uncompressed
	// answer; a gzip answer is still decoded).
	Compression string
	// Retries is the number of extra attempts of reads (GetVMInfo, ListVMs) after
	// unavailable or a connection failure before any response byte; nil means 2. Writes
	// are never retried.
	Retries *uint32
}

func envOr(v, key string) string {
	if v != "" {
		return v
	}
	return os.Getenv(key)
}

// Client is a metald client. It is safe for concurrent use by many goroutines: each call
// runs on a component instance of its own.
type Client struct {
	cfg       Config
	options   metald.ClientOptions
	transport *transport.Transport
	tls       *tlsmode.Provider
	pool      *pool
}

// New checks cfg, sets up TLS (in spiffe mode it waits for the first SVID, and fails with
// the cause rather than falling back to plain text) and returns a client. Nothing is sent.
func New(ctx context.Context, cfg Config) (*Client, error) {
	cfg.ServerAddress = envOr(cfg.ServerAddress, "UNKEY_METALD_SERVER_ADDRESS")
	cfg.UserID = envOr(cfg.UserID, "UNKEY_METALD_USER_ID")
	cfg.TenantID = envOr(cfg.TenantID, "UNKEY_METALD_TENANT_ID")
	cfg.TLSMode = envOr(cfg.TLSMode, "UNKEY_METALD_TLS_MODE")
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("metald client: Config.Timeout is negative (%v)", cfg.Timeout)
	}
	if cfg.ServerAddress == "" {
		return nil, errors.New("metald client: Config.ServerAddress is empty (and UNKEY_METALD_SERVER_ADDRESS is not set)")
	}
	// The component's parser, the one its client uses, gives the origin to allow.
	var server metald.ServerUrl
	if err := offline.do(ctx, func(x metald.Exports) error {
		var err error
		server, err = x.EndpointParseServerUrl(ctx, cfg.ServerAddress)
		return err
	}); err != nil {
		return nil, fmt.Errorf("metald client: Config.ServerAddress: %w", wrapErr("parse server URL", err))
	}
	mode, err := tlsmode.ParseMode(cfg.TLSMode)
	if err != nil {
		return nil, fmt.Errorf("metald client: Config.TLSMode: %w", err)
	}
	options, err := clientOptions(cfg)
	if err != nil {
		return nil, err
	}
	// The component checks the options (URL, user and tenant ids) before any TLS set-up.
	if err := offline.do(ctx, func(x metald.Exports) error {
		c, err := x.ClientOpen(ctx, options)
		if err != nil {
			return err
		}
		return c.Drop(ctx)
	}); err != nil {
		return nil, wrapErr("invalid client config", err)
	}
	reload := time.Duration(0)
	if cfg.EnableCertCaching {
		reload = cfg.CertCacheTTL
		if reload == 0 {
			reload = 5 * time.Second
		}
	}
	provider, err := tlsmode.New(ctx, tlsmode.Options{
		Mode:             mode,
		SPIFFESocketPath: cfg.SPIFFESocketPath,
		SPIFFETimeout:    cfg.SPIFFETimeout,
		ServerSPIFFEID:   cfg.ServerSPIFFEID,
		ClientSPIFFEID:   cfg.ClientSPIFFEID,
		CertFile:         cfg.TLSCertFile,
		KeyFile:          cfg.TLSKeyFile,
		CAFile:           cfg.TLSCAFile,
		ReloadInterval:   reload,
	})
	if err != nil {
		return nil, fmt.Errorf("metald client: TLS: %w", err)
	}
	tr, err := transport.New(transport.Config{
		AllowList: []string{transport.ServerOrigin(server).String()},
		H2C:       cfg.H2C,
		TLSConfig: provider.TLSConfig,
	})
	if err != nil {
		_ = provider.Close()
		return nil, fmt.Errorf("metald client: %w", err)
	}
	c := &Client{cfg: cfg, options: options, transport: tr, tls: provider}
	c.pool = newPool(func() metald.Host { return tr.NewHost() })
	return c, nil
}

func clientOptions(cfg Config) (metald.ClientOptions, error) {
	o := metald.ClientOptions{Server: cfg.ServerAddress, UserId: cfg.UserID, TenantId: cfg.TenantID, Retries: cfg.Retries}
	var err error
	if o.Codec, err = choice("Codec", cfg.Codec, "proto", "json", metald.CodecJson); err != nil {
		return o, err
	}
	if o.Compression, err = choice("Compression", cfg.Compression, "gzip", "identity", metald.CompressionIdentity); err != nil {
		return o, err
	}
	return o, nil
}

// choice maps the string of the two-valued Config field `field` to the WIT enum case it
// names: "" or dflt leave the option unset (the component's default, the same case), alt
// gives altCase, and anything else is an error naming the field.
func choice[T any](field, value, dflt, alt string, altCase T) (*T, error) {
	switch value {
	case "", dflt:
		return nil, nil
	case alt:
		return &altCase, nil
	}
	return nil, fmt.Errorf("metald client: Config.%s %q: use %q or %q", field, value, dflt, alt)
}

// Close releases the client's connections and TLS source. Calls in flight finish first.
func (c *Client) Close() error {
	c.pool.close()
	c.transport.Close()
	return c.tls.Close()
}

// GetTenantID returns the tenant the client acts for.
func (c *Client) GetTenantID() string { return c.cfg.TenantID }

// GetServerAddress returns the server's base URL.
func (c *Client) GetServerAddress() string { return c.cfg.ServerAddress }

// call runs one RPC: the deadline is the nearer of ctx's and Config.Timeout, sent as
// Connect-Timeout-Ms; ctx cancellation ends the call at once.
func (c *Client) call(ctx context.Context, op string, fn func(ctx context.Context, g *metald.Client) error) error {
	timeout := c.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return &Error{op: op, code: CodeDeadlineExceeded, message: "the context's deadline passed before the call", cause: context.DeadlineExceeded}
		}
		timeout = min(timeout, left)
	}
	if err := ctx.Err(); err != nil {
		return ctxError(op, err)
	}
	ms := uint32(min(math.Ceil(float64(timeout)/float64(time.Millisecond)), math.MaxUint32))
	options := c.options
	options.TimeoutMs = &ms
	err := c.pool.doClient(ctx, options, func(g *metald.Client) error { return fn(ctx, g) })
	if err == nil {
		return nil
	}
	var trap *cabi.TrapError
	if errors.As(err, &trap) && ctx.Err() != nil {
		return ctxError(op, ctx.Err())
	}
	return wrapErr(op, err)
}

func ctxError(op string, err error) *Error {
	code := CodeCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return &Error{op: op, code: code, message: err.Error(), cause: err}
}

// CreateVM validates the config, then creates a VM. Use the returned VMID: the server
// assigns it (a VMID in the request is ignored by metald).
func (c *Client) CreateVM(ctx context.Context, req *CreateVMRequest) (*CreateVMResponse, error) {
	if req == nil || req.Config == nil {
		return nil, invalidConfig("failed to create VM", []ValidationIssue{{Field: "config", Message: "is required"}})
	}
	var out metald.CreateVmResponse
	err := c.call(ctx, "failed to create VM", func(ctx context.Context, g *metald.Client) (err error) {
		out, err = g.CreateVm(ctx, *req.Config)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &CreateVMResponse{VMID: out.VmId, State: out.State}, nil
}

// BootVM boots a VM (from created or shutdown).
func (c *Client) BootVM(ctx context.Context, vmID string) (*BootVMResponse, error) {
	return c.stateChange(ctx, "failed to boot VM", func(ctx context.Context, g *metald.Client) (metald.StateChangeResponse, error) {
		return g.BootVm(ctx, vmID)
	})
}

// ShutdownVM shuts a VM down (from running or paused), gracefully within TimeoutSeconds
// unless Force.
func (c *Client) ShutdownVM(ctx context.Context, req *ShutdownVMRequest) (*ShutdownVMResponse, error) {
	if req == nil {
		return nil, invalidConfig("failed to shutdown VM", []ValidationIssue{{Field: "request", Message: "is required"}})
	}
	if req.TimeoutSeconds > math.MaxInt32 {
		return nil, invalidConfig("failed to shutdown VM", []ValidationIssue{{Field: "timeout-seconds", Message: fmt.Sprintf("%d is above the maximum of %d", req.TimeoutSeconds, math.MaxInt32)}})
	}
	return c.stateChange(ctx, "failed to shutdown VM", func(ctx context.Context, g *metald.Client) (metald.StateChangeResponse, error) {
		return g.ShutdownVm(ctx, metald.ShutdownVmRequest{VmId: req.VMID, Force: req.Force, TimeoutSeconds: int32(req.TimeoutSeconds)})
	})
}

// PauseVM pauses a running VM.
func (c *Client) PauseVM(ctx context.Context, vmID string) (*PauseVMResponse, error) {
	return c.stateChange(ctx, "failed to pause VM", func(ctx context.Context, g *metald.Client) (metald.StateChangeResponse, error) {
		return g.PauseVm(ctx, vmID)
	})
}

// ResumeVM resumes a paused VM.
func (c *Client) ResumeVM(ctx context.Context, vmID string) (*ResumeVMResponse, error) {
	return c.stateChange(ctx, "failed to resume VM", func(ctx context.Context, g *metald.Client) (metald.StateChangeResponse, error) {
		return g.ResumeVm(ctx, vmID)
	})
}

// RebootVM reboots a running VM.
func (c *Client) RebootVM(ctx context.Context, req *RebootVMRequest) (*RebootVMResponse, error) {
	if req == nil {
		return nil, invalidConfig("failed to reboot VM", []ValidationIssue{{Field: "request", Message: "is required"}})
	}
	return c.stateChange(ctx, "failed to reboot VM", func(ctx context.Context, g *metald.Client) (metald.StateChangeResponse, error) {
		return g.RebootVm(ctx, metald.RebootVmRequest{VmId: req.VMID, Force: req.Force})
	})
}

func (c *Client) stateChange(ctx context.Context, op string, fn func(context.Context, *metald.Client) (metald.StateChangeResponse, error)) (*StateChangeResponse, error) {
	var out metald.StateChangeResponse
	err := c.call(ctx, op, func(ctx context.Context, g *metald.Client) (err error) {
		out, err = fn(ctx, g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &StateChangeResponse{Success: out.Success, State: out.State}, nil
}

// DeleteVM deletes a VM.
func (c *Client) DeleteVM(ctx context.Context, req *DeleteVMRequest) (*DeleteVMResponse, error) {
	if req == nil {
		return nil, invalidConfig("failed to delete VM", []ValidationIssue{{Field: "request", Message: "is required"}})
	}
	var out metald.DeleteVmResponse
	err := c.call(ctx, "failed to delete VM", func(ctx context.Context, g *metald.Client) (err error) {
		out, err = g.DeleteVm(ctx, metald.DeleteVmRequest{VmId: req.VMID, Force: req.Force})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &DeleteVMResponse{Success: out.Success}, nil
}

// GetVMInfo returns a VM's config, live state, metrics, network details and backend info
// (the Go client dropped the backend info).
func (c *Client) GetVMInfo(ctx context.Context, vmID string) (*VMInfo, error) {
	var out metald.GetVmInfoResponse
	err := c.call(ctx, "failed to get VM info", func(ctx context.Context, g *metald.Client) (err error) {
		out, err = g.GetVmInfo(ctx, vmID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &VMInfo{VMID: out.VmId, State: out.State, Config: out.Config, Metrics: out.Metrics, NetworkInfo: out.NetworkInfo, BackendInfo: out.BackendInfo}, nil
}

// ListVMs returns one page of the caller's VMs (newest first on the development server).
func (c *Client) ListVMs(ctx context.Context, req *ListVMsRequest) (*ListVMsResponse, error) {
	if req == nil {
		req = &ListVMsRequest{}
	}
	var out metald.ListVmsResponse
	err := c.call(ctx, "failed to list VMs", func(ctx context.Context, g *metald.Client) (err error) {
		out, err = g.ListVms(ctx, metald.ListVmsRequest{StateFilter: req.StateFilter, PageSize: req.PageSize, PageToken: req.PageToken})
		return err
	})
	if err != nil {
		return nil, err
	}
	vms := make([]*VmInfo, len(out.Vms))
	for i := range out.Vms {
		vms[i] = &out.Vms[i]
	}
	return &ListVMsResponse{VMs: vms, NextPageToken: out.NextPageToken, TotalCount: out.TotalCount}, nil
}

// AllVMs iterates over every VM of the caller in the given states (none: all), following
// NextPageToken page by page. The filter is sent and also applied to what comes back (the
// real metald ignores it), by state number: VMStateUnknown(5) matches only 5. An error ends
// the iteration after being yielded.
func (c *Client) AllVMs(ctx context.Context, stateFilter ...VMState) iter.Seq2[*VmInfo, error] {
	return func(yield func(*VmInfo, error) bool) {
		token := ""
		for {
			page, err := c.ListVMs(ctx, &ListVMsRequest{StateFilter: stateFilter, PageToken: token})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, vm := range page.VMs {
				if !inStateFilter(vm.State, stateFilter) {
					continue
				}
				if !yield(vm, nil) {
					return
				}
			}
			if page.NextPageToken == "" || page.NextPageToken == token {
				return
			}
			token = page.NextPageToken
		}
	}
}

// inStateFilter says whether s passes filter (empty: every state), comparing numbers.
func inStateFilter(s VMState, filter []VMState) bool {
	for _, f := range filter {
		if VMStateNumber(f) == VMStateNumber(s) {
			return true
		}
	}
	return len(filter) == 0
}
