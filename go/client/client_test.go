package client

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/testenv"
	"github.com/metald/metald-client/go/metald"
)

func newPlainClient(t *testing.T, server string, h2c bool) *Client {
	t.Helper()
	c, err := New(context.Background(), Config{ServerAddress: server, UserID: "alice", TenantID: "acme", TLSMode: "disabled", H2C: h2c})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestWholeLifecycleAgainstTheDevServer(t *testing.T) {
	server := testenv.DevServer(t)
	for _, h2c := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2c {
			name = "h2c"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newPlainClient(t, server, h2c)
			cfg := NewVMConfigFromTemplate(TemplateMinimal).AddMetadata("test", name).Build()
			created, err := c.CreateVM(ctx, &CreateVMRequest{Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(created.VMID, "ud-") || created.State != VMStateCreated {
				t.Fatalf("created %+v", created)
			}
			bootPauseResumeRebootShutdown(ctx, t, c, created.VMID)
			info, err := c.GetVMInfo(ctx, created.VMID)
			if err != nil || info.State != VMStateShutdown || info.Config.Metadata["test"] != name {
				t.Fatalf("info %+v %v", info, err)
			}
			var seen bool
			for vm, err := range c.AllVMs(ctx, VMStateShutdown) {
				if err != nil {
					t.Fatal(err)
				}
				seen = seen || vm.VmId == created.VMID
			}
			if !seen {
				t.Fatal("AllVMs(shutdown) missed the VM")
			}
			del, err := c.DeleteVM(ctx, &DeleteVMRequest{VMID: created.VMID})
			if err != nil || !del.Success {
				t.Fatalf("delete %+v %v", del, err)
			}
			_, err = c.GetVMInfo(ctx, created.VMID)
			var e *Error
			if !errors.As(err, &e) || e.Code() != CodeNotFound || e.HTTPStatus() != 404 {
				t.Fatalf("deleted VM: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "failed to get VM info: not_found: ") {
				t.Fatalf("error text %q is not the Go client's", err)
			}
		})
	}
}

func TestPagesFollowNextPageToken(t *testing.T) {
	server := testenv.DevServer(t)
	ctx := context.Background()
	c := newPlainClient(t, server, false)
	cfg := NewVMConfigFromTemplate(TemplateMinimal).Build()
	made := map[string]bool{}
	for range 7 {
		r, err := c.CreateVM(ctx, &CreateVMRequest{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		made[r.VMID] = true
	}
	page, err := c.ListVMs(ctx, &ListVMsRequest{PageSize: 3})
	if err != nil || len(page.VMs) != 3 || page.NextPageToken == "" || page.TotalCount != 7 {
		t.Fatalf("first page %+v %v", page, err)
	}
	n := 0
	for vm, err := range c.AllVMs(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if !made[vm.VmId] {
			t.Fatalf("unexpected VM %s", vm.VmId)
		}
		n++
	}
	if n != 7 {
		t.Fatalf("AllVMs saw %d VMs, want 7", n)
	}
}

func TestContextDeadlineAndCancel(t *testing.T) {
	server := testenv.DevServer(t, "--fault", "GetVmInfo=latency:2s")
	c := newPlainClient(t, server, false)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetVMInfo(ctx, "ud-0123456789abcdef")
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeDeadlineExceeded {
		t.Fatalf("ctx deadline: %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the call ended %v after a 300 ms deadline", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.GetVMInfo(ctx, "ud-0123456789abcdef")
	if !errors.As(err, &e) || e.Code() != CodeCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx cancel: %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the call ended %v after a cancel at 200 ms", d)
	}
	// The client still works after both.
	if _, err := c.ListVMs(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestConfigTimeoutIsTheCallDeadline(t *testing.T) {
	server := testenv.DevServer(t, "--fault", "GetVmInfo=latency:2s")
	c, err := New(context.Background(), Config{ServerAddress: server, UserID: "alice", TenantID: "acme", TLSMode: "disabled", Timeout: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.GetVMInfo(context.Background(), "ud-0123456789abcdef")
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeDeadlineExceeded || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}

func TestReadsAreRetriedWritesAreNot(t *testing.T) {
	server := testenv.DevServer(t, "--fault", "ListVms=unavailable:2", "--fault", "CreateVm=unavailable:1")
	ctx := context.Background()
	c := newPlainClient(t, server, false)
	if _, err := c.ListVMs(ctx, nil); err != nil {
		t.Fatalf("a read after two 503s (two retries): %v", err)
	}
	_, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeUnavailable {
		t.Fatalf("a write after a 503 was not reported: %v", err)
	}
	page, err := c.ListVMs(ctx, nil)
	if err != nil || len(page.VMs) != 0 {
		t.Fatalf("the refused create made a VM: %+v %v", page, err)
	}
}

func TestServerDownIsUnavailableWithItsAddress(t *testing.T) {
	c := newPlainClient(t, "http://127.0.0.1:1", false)
	start := time.Now()
	_, err := c.GetVMInfo(context.Background(), "ud-0123456789abcdef")
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeUnavailable || time.Since(start) > 2*time.Second {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{ServerAddress: "ftp://x", UserID: "u", TenantID: "t", TLSMode: "disabled"}, "ServerAddress"},
		{Config{ServerAddress: "http://127.0.0.1:1", UserID: "u", TenantID: "t", TLSMode: "tls"}, "TLSMode"},
		{Config{ServerAddress: "http://127.0.0.1:1", UserID: "bad user", TenantID: "t", TLSMode: "disabled"}, "user"},
		{Config{ServerAddress: "http://127.0.0.1:1", UserID: "u", TenantID: "t", TLSMode: "disabled", Codec: "xml"}, "Codec"},
		{Config{ServerAddress: "http://127.0.0.1:1", UserID: "u", TenantID: "t", TLSMode: "disabled", Compression: "br"}, "Config.Compression"},
		{Config{ServerAddress: "https://127.0.0.1:1", UserID: "u", TenantID: "t", TLSMode: "spiffe", SPIFFESocketPath: "/nonexistent/agent.sock", SPIFFETimeout: 200 * time.Millisecond}, "/nonexistent/agent.sock"},
	} {
		_, err := New(ctx, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v (want it to name %s)", tc.cfg, err, tc.want)
		}
	}
}

func TestEnvironmentFallbacks(t *testing.T) {
	server := testenv.DevServer(t)
	t.Setenv("UNKEY_METALD_SERVER_ADDRESS", server)
	t.Setenv("UNKEY_METALD_USER_ID", "envuser")
	t.Setenv("UNKEY_METALD_TENANT_ID", "envtenant")
	t.Setenv("UNKEY_METALD_TLS_MODE", "disabled")
	c, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.GetServerAddress() != server || c.GetTenantID() != "envtenant" {
		t.Fatalf("%s %s", c.GetServerAddress(), c.GetTenantID())
	}
	if _, err := c.ListVMs(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestOneClientFromManyGoroutines(t *testing.T) {
	server := testenv.DevServer(t)
	ctx := context.Background()
	c := newPlainClient(t, server, true)
	cfg := NewVMConfigFromTemplate(TemplateMinimal).Build()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 16 {
		wg.Go(func() {
			for range 10 {
				r, err := c.CreateVM(ctx, &CreateVMRequest{Config: cfg})
				if err == nil {
					_, err = c.GetVMInfo(ctx, r.VMID)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// bootPauseResumeRebootShutdown takes a created VM through every state change, checking each
// answer's state.
func bootPauseResumeRebootShutdown(ctx context.Context, t *testing.T, c *Client, id string) {
	t.Helper()
	steps := []struct {
		name string
		run  func() (*StateChangeResponse, error)
		want VMState
	}{
		{"boot", func() (*StateChangeResponse, error) { return c.BootVM(ctx, id) }, VMStateRunning},
		{"pause", func() (*StateChangeResponse, error) { return c.PauseVM(ctx, id) }, VMStatePaused},
		{"resume", func() (*StateChangeResponse, error) { return c.ResumeVM(ctx, id) }, VMStateRunning},
		{"reboot", func() (*StateChangeResponse, error) { return c.RebootVM(ctx, &RebootVMRequest{VMID: id}) }, VMStateRunning},
		{"shutdown", func() (*StateChangeResponse, error) {
			return c.ShutdownVM(ctx, &ShutdownVMRequest{VMID: id, TimeoutSeconds: 5})
		}, VMStateShutdown},
	}
	for _, s := range steps {
		r, err := s.run()
		if err != nil || !r.Success || r.State != s.want {
			t.Fatalf("%s: %+v %v", s.name, r, err)
		}
	}
}

// idleClient is the client resource kept on the pool's one idle instance.
func idleClient(t *testing.T, c *Client) (*metald.Client, uint32) {
	t.Helper()
	c.pool.mu.Lock()
	defer c.pool.mu.Unlock()
	if len(c.pool.idle) != 1 {
		t.Fatalf("%d idle instances, want 1", len(c.pool.idle))
	}
	return c.pool.idle[0].client, c.pool.idle[0].timeoutMs
}

func TestSequentialCallsReuseOneClientResource(t *testing.T) {
	server := testenv.DevServer(t)
	c := newPlainClient(t, server, false)
	ctx := context.Background()
	if _, err := c.ListVMs(ctx, &ListVMsRequest{}); err != nil {
		t.Fatal(err)
	}
	first, ms := idleClient(t, c)
	if first == nil || ms != uint32(DefaultTimeout/time.Millisecond) {
		t.Fatalf("after the first call: client %v, timeout %d ms", first, ms)
	}
	for range 3 {
		if _, err := c.ListVMs(ctx, &ListVMsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := idleClient(t, c); again != first {
		t.Error("a call under Config.Timeout opened a new client resource")
	}

	// A context deadline is another timeout: a fresh resource, whose deadline is sent.
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.ListVMs(short, &ListVMsRequest{}); err != nil {
		t.Fatal(err)
	}
	other, ms := idleClient(t, c)
	if other == first || ms > 5000 || ms == 0 {
		t.Errorf("under a 5 s context deadline: same resource %v, timeout %d ms", other == first, ms)
	}
}
