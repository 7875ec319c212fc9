package transport

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

var (
	runtimeOnce sync.Once
	sharedRT    *metald.Runtime
	runtimeErr  error
)

// componentRuntime compiles the embedded component once for every test.
func componentRuntime(t testing.TB) *metald.Runtime {
	t.Helper()
	runtimeOnce.Do(func() {
		sharedRT, runtimeErr = metald.NewRuntime(context.Background(), metald.RuntimeConfig{})
	})
	if runtimeErr != nil {
		t.Fatal(runtimeErr)
	}
	return sharedRT
}

// fakeMetald answers the Connect unary calls the tests make and records what it saw.
type fakeMetald struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	// stall makes every call wait for the client to go away; stalled reports each one.
	stall     bool
	stalled   chan struct{}
	cancelled chan struct{}
}

const (
	getVMInfoPath = "/metal.vmprovisioner.v1.VmService/GetVmInfo"
	listVMsPath   = "/metal.vmprovisioner.v1.VmService/ListVms"
	createVMPath  = "/metal.vmprovisioner.v1.VmService/CreateVm"
)

func (f *fakeMetald) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	if f.stall {
		f.stalled <- struct{}{}
		<-r.Context().Done()
		f.cancelled <- struct{}{}
		return
	}
	switch r.URL.Path {
	case getVMInfoPath:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code":"not_found","message":"VM not found: ud-0000000000000000"}`)
	case listVMsPath:
		w.Header().Set("Content-Type", "application/proto")
		w.WriteHeader(http.StatusOK)
	case createVMPath:
		// CreateVmResponse{vm_id: "ud-1234567890abcdef", state: VM_STATE_CREATED}
		id := "ud-1234567890abcdef"
		msg := append([]byte{0x0a, byte(len(id))}, id...)
		msg = append(msg, 0x10, 0x01)
		w.Header().Set("Content-Type", "application/proto")
		_, _ = w.Write(msg)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code":"unimplemented","message":"no route"}`)
	}
}

func (f *fakeMetald) last() (*http.Request, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1], f.bodies[len(f.bodies)-1]
}

// startFake starts a fake metald over HTTP/1.1, or h2c when h2c is set.
func startFake(t *testing.T, f *fakeMetald, h2c bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// instance makes a component instance over a fresh host of tr.
func instance(t *testing.T, tr *Transport) (*metald.Instance, *Host) {
	t.Helper()
	ctx := context.Background()
	h := tr.NewHost()
	inst, err := componentRuntime(t).Instantiate(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = inst.Close(ctx)
		h.Close()
	})
	return inst, h
}

// sdkError returns the component's error of a failed call.
func sdkError(t *testing.T, err error) metald.Error {
	t.Helper()
	var re *cabi.ResultError[metald.Error]
	if !errors.As(err, &re) {
		t.Fatalf("got %v (%T), want a *cabi.ResultError[metald.Error]", err, err)
	}
	return re.Value
}

func options(server string) metald.ClientOptions {
	return metald.ClientOptions{Server: server, UserId: "u1", TenantId: "t1"}
}

func TestComponentCalls(t *testing.T) {
	for _, proto := range []struct {
		name string
		h2c  bool
		want string
	}{{"HTTP/1.1", false, "HTTP/1.1"}, {"h2c", true, "HTTP/2.0"}} {
		t.Run(proto.name, func(t *testing.T) {
			f := &fakeMetald{}
			srv := startFake(t, f, proto.h2c)
			inst, h := instance(t, newTransport(t, Config{H2C: proto.h2c}, srv.URL))
			ctx := context.Background()
			client, err := inst.ClientOpen(ctx, options(srv.URL))
			if err != nil {
				t.Fatal(err)
			}

			_, err = client.GetVmInfo(ctx, "ud-0000000000000000")
			e := sdkError(t, err)
			if e.Tag != metald.ErrorTagConnect || e.Connect.Code != metald.ErrorCodeNotFound ||
				e.Connect.Message != "VM not found: ud-0000000000000000" || e.Connect.HttpStatus != 404 {
				t.Fatalf("GetVmInfo: %+v, want connect not-found with the server's message", e)
			}
			r, body := f.last()
			if r.Method != http.MethodPost || r.URL.Path != getVMInfoPath || r.Proto != proto.want {
				t.Errorf("the server saw %s %s over %s", r.Method, r.URL.Path, r.Proto)
			}
			for k, v := range map[string]string{
				"Authorization": "Bearer dev_user_u1", "X-Tenant-Id": "t1",
				"Content-Type": "application/proto", "Connect-Protocol-Version": "1",
			} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("request header %s = %q, want %q", k, got, v)
				}
			}
			if r.Header.Get("Connect-Timeout-Ms") == "" {
				t.Error("no Connect-Timeout-Ms")
			}
			if r.ContentLength != int64(len(body)) || len(body) == 0 {
				t.Errorf("Content-Length %d for a %d-byte body", r.ContentLength, len(body))
			}
			assertNoLeaks(t, h)

			list, err := client.ListVms(ctx, metald.ListVmsRequest{})
			if err != nil {
				t.Fatalf("ListVms: %v", err)
			}
			if len(list.Vms) != 0 || list.NextPageToken != "" || list.TotalCount != 0 {
				t.Errorf("ListVms = %+v, want an empty page", list)
			}
			assertNoLeaks(t, h)

			config, err := inst.TemplatesTemplateConfig(ctx, metald.TemplateMinimal)
			if err != nil {
				t.Fatal(err)
			}
			created, err := client.CreateVm(ctx, config)
			if err != nil {
				t.Fatalf("CreateVm: %v", err)
			}
			if created.VmId != "ud-1234567890abcdef" || created.State != (metald.VmState{Tag: metald.VmStateTagCreated}) {
				t.Errorf("CreateVm = %+v", created)
			}
			if _, body := f.last(); len(body) < 20 {
				t.Errorf("CreateVm sent %d bytes", len(body))
			}
			if err := client.Drop(ctx); err != nil {
				t.Fatal(err)
			}
			assertNoLeaks(t, h)
		})
	}
}

func TestComponentDeniedHost(t *testing.T) {
	f := &fakeMetald{}
	srv := startFake(t, f, false)
	other := startFake(t, &fakeMetald{}, false)
	inst, h := instance(t, newTransport(t, Config{}, other.URL))
	ctx := context.Background()
	client, err := inst.ClientOpen(ctx, options(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetVmInfo(ctx, "ud-0000000000000000")
	e := sdkError(t, err)
	if e.Tag != metald.ErrorTagTransport || e.Transport.Code != metald.ErrorCodePermissionDenied {
		t.Fatalf("%+v, want a transport error with code permission-denied", e)
	}
	f.mu.Lock()
	n := len(f.requests)
	f.mu.Unlock()
	if n != 0 {
		t.Errorf("the denied server got %d requests", n)
	}
	_ = client.Drop(ctx)
	assertNoLeaks(t, h)
}

func TestComponentServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "http://" + l.Addr().String()
	l.Close()
	inst, h := instance(t, newTransport(t, Config{}, server))
	ctx := context.Background()
	client, err := inst.ClientOpen(ctx, options(server))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = client.GetVmInfo(ctx, "ud-0000000000000000")
	e := sdkError(t, err)
	if e.Tag != metald.ErrorTagTransport || e.Transport.Code != metald.ErrorCodeUnavailable {
		t.Fatalf("%+v, want a transport error with code unavailable", e)
	}
	if !strings.Contains(e.Transport.Message, l.Addr().String()) || !strings.Contains(e.Transport.Message, "refused") {
		t.Errorf("message %q does not name the address and the refusal", e.Transport.Message)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a refused connection took %v to report (with retries)", d)
	}
	_ = client.Drop(ctx)
	assertNoLeaks(t, h)
}

// settleGoroutines waits for the goroutine count to come back to at most base.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	n := runtime.NumGoroutine()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > base {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines, %d before the call:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

func TestComponentDeadline(t *testing.T) {
	for _, h2c := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "h2c"}[h2c]
		t.Run(name, func(t *testing.T) {
			f := &fakeMetald{stall: true, stalled: make(chan struct{}, 1), cancelled: make(chan struct{}, 1)}
			srv := startFake(t, f, h2c)
			tr := newTransport(t, Config{H2C: h2c}, srv.URL)
			inst, h := instance(t, tr)
			ctx := context.Background()
			opts := options(srv.URL)
			timeout := uint32(300)
			opts.TimeoutMs = &timeout
			client, err := inst.ClientOpen(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			base := runtime.NumGoroutine()
			start := time.Now()
			_, err = client.GetVmInfo(ctx, "ud-0000000000000000")
			elapsed := time.Since(start)
			e := sdkError(t, err)
			if e.Tag != metald.ErrorTagTransport || e.Transport.Code != metald.ErrorCodeDeadlineExceeded {
				t.Fatalf("%+v, want deadline-exceeded", e)
			}
			if elapsed < 290*time.Millisecond || elapsed > 300*time.Millisecond+250*time.Millisecond {
				t.Errorf("the call took %v with a 300 ms deadline", elapsed)
			}
			<-f.stalled
			select {
			case <-f.cancelled:
			case <-time.After(2 * time.Second):
				t.Error("the server did not see the request cancelled")
			}
			assertNoLeaks(t, h)
			_ = client.Drop(ctx)
			tr.Close()
			settleGoroutines(t, base)
		})
	}
}

func TestComponentContextCancel(t *testing.T) {
	f := &fakeMetald{stall: true, stalled: make(chan struct{}, 1), cancelled: make(chan struct{}, 1)}
	srv := startFake(t, f, false)
	tr := newTransport(t, Config{}, srv.URL)
	inst, h := instance(t, tr)
	client, err := inst.ClientOpen(context.Background(), options(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledAt atomic.Int64
	go func() {
		<-f.stalled
		cancelledAt.Store(time.Now().UnixNano())
		cancel()
	}()
	_, err = client.GetVmInfo(ctx, "ud-0000000000000000")
	returned := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GetVmInfo = %v, want an error wrapping context.Canceled", err)
	}
	if d := returned.Sub(time.Unix(0, cancelledAt.Load())); d > 250*time.Millisecond {
		t.Errorf("the call returned %v after the cancellation", d)
	}
	select {
	case <-f.cancelled:
	case <-time.After(2 * time.Second):
		t.Error("the server did not see the request cancelled")
	}
	// The trapped instance is discarded; closing its host releases what the guest held.
	h.Close()
	if n := h.LiveHandles(); n != 0 {
		t.Errorf("%d handles after Close", n)
	}
	tr.Close()
	settleGoroutines(t, base)
}
