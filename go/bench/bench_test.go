// Package bench compares go/client (the component on wazero) with a native connect-go
// client generated from proto/ (gen/), side by side against one metald-host dev server.
//
//	cd go/bench && go test -run '^$' -bench . -benchtime 3000x
//
// Latency benchmarks report p50/p99 per call; throughput benchmarks report calls/s at 1,
// 16 and 64 goroutines; memory reports the Go heap one client holds after its first call.
package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/metald/metald-client/go/bench/gen/metal/vmprovisioner/v1"
	"github.com/metald/metald-client/go/bench/gen/metal/vmprovisioner/v1/vmprovisionerv1connect"
	"github.com/metald/metald-client/go/client"
	"github.com/metald/metald-client/go/internal/testenv"
)

var (
	serverURL string
	vmID      string
)

// TestMain starts one dev server for every benchmark of the run and creates the VM they read.
func TestMain(m *testing.M) {
	host := os.Getenv("METALD_HOST_BIN")
	if host == "" {
		host = filepath.Join(testenv.RepoRoot(), "target", "debug", "metald-host")
	}
	url, stop, err := testenv.StartDevServer(host)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: starting the dev server:", err)
		os.Exit(1)
	}
	serverURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}

// setup creates the VM the benchmarks read, once.
func setup(b *testing.B) {
	setupOnce.Do(func() {
		c := sdk(b, false)
		defer c.Close()
		r, err := c.CreateVM(context.Background(), &client.CreateVMRequest{Config: client.NewVMConfigFromTemplate(client.TemplateMinimal).Build()})
		if err != nil {
			b.Fatal(err)
		}
		vmID = r.VMID
	})
	if vmID == "" {
		b.Fatal("no VM to read")
	}
}

var setupOnce sync.Once

func sdk(b *testing.B, h2c bool) *client.Client {
	c, err := client.New(context.Background(), client.Config{ServerAddress: serverURL, UserID: "bench", TenantID: "bench", TLSMode: "disabled", H2C: h2c})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// native is the connect-go client a Go user would write: generated code, the proto codec,
// gzip advertised (as this SDK and the Go client do), one pooled http.Client.
func native(h2c bool) vmprovisionerv1connect.VmServiceClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 128}
	if h2c {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	hc := &http.Client{Transport: tr}
	return vmprovisionerv1connect.NewVmServiceClient(hc, serverURL, connect.WithSendGzip())
}

type caller func(ctx context.Context) error

func sdkCall(c *client.Client) caller {
	return func(ctx context.Context) error {
		_, err := c.GetVMInfo(ctx, vmID)
		return err
	}
}

func nativeCall(c vmprovisionerv1connect.VmServiceClient) caller {
	return func(ctx context.Context) error {
		req := connect.NewRequest(&v1.GetVmInfoRequest{VmId: vmID})
		req.Header().Set("Authorization", "Bearer dev_user_bench")
		req.Header().Set("X-Tenant-ID", "bench")
		_, err := c.GetVmInfo(ctx, req)
		return err
	}
}

func latency(b *testing.B, call caller) {
	ctx := context.Background()
	if err := call(ctx); err != nil { // warm the connection and the instance pool
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	slices.Sort(samples)
	at := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

func BenchmarkGetVMInfoLatency(b *testing.B) {
	setup(b)
	for _, h2c := range []bool{false, true} {
		proto := map[bool]string{false: "http1", true: "h2c"}[h2c]
		b.Run("sdk/"+proto, func(b *testing.B) {
			c := sdk(b, h2c)
			defer c.Close()
			latency(b, sdkCall(c))
		})
		b.Run("connect-go/"+proto, func(b *testing.B) { latency(b, nativeCall(native(h2c))) })
	}
}

func throughput(b *testing.B, goroutines int, call caller) {
	ctx := context.Background()
	if err := call(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	errs := make(chan error, goroutines)
	b.ResetTimer()
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for range work {
				if err := call(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
}

func BenchmarkGetVMInfoThroughput(b *testing.B) {
	setup(b)
	for _, g := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("sdk/http1/%d", g), func(b *testing.B) {
			c := sdk(b, false)
			defer c.Close()
			throughput(b, g, sdkCall(c))
		})
		b.Run(fmt.Sprintf("connect-go/http1/%d", g), func(b *testing.B) { throughput(b, g, nativeCall(native(false))) })
	}
}

// heapAfter reports the Go heap one client holds after one call, over 20 clients. It
// measures once whatever b.N is (-benchtime sets the call counts of the other benchmarks).
func heapAfter(b *testing.B, make func() (caller, func())) {
	const n = 20
	{
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var closers []func()
		for range n {
			call, closeIt := make()
			if err := call(context.Background()); err != nil {
				b.Fatal(err)
			}
			closers = append(closers, closeIt)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n/1024, "KiB/client")
		for _, c := range closers {
			c()
		}
	}
}

func BenchmarkMemoryPerClient(b *testing.B) {
	setup(b)
	b.Run("sdk", func(b *testing.B) {
		heapAfter(b, func() (caller, func()) {
			c := sdk(b, false)
			return sdkCall(c), func() { _ = c.Close() }
		})
	})
	b.Run("connect-go", func(b *testing.B) {
		heapAfter(b, func() (caller, func()) { return nativeCall(native(false)), func() {} })
	})
}
