package client

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/testenv"
)

// Faults the dev server injects (metald-host dev-server --fault): each ends in a clear
// *Error, the same client answers the next call, and nothing leaks.
func TestFaultsEndInCleanErrorsAndLeakNothing(t *testing.T) {
	cases := []struct {
		fault string
		want  Code
	}{
		{"GetVmInfo=reset", CodeUnavailable},
		{"GetVmInfo=reset-mid-body", CodeUnavailable},
		{"GetVmInfo=garbage", CodeInternal},
		{"GetVmInfo=oversized:20000000", CodeResourceExhausted},
		{"GetVmInfo=oversized-headers:200000", CodeResourceExhausted},
		{"GetVmInfo=wrong-content-type", CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			server := testenv.DevServer(t, "--fault", tc.fault)
			ctx := context.Background()
			c, err := New(ctx, Config{ServerAddress: server, UserID: "alice", TenantID: "acme", TLSMode: "disabled", Retries: new(uint32)})
			if err != nil {
				t.Fatal(err)
			}
			goroutines := runtime.NumGoroutine()
			for range 3 {
				_, err := c.GetVMInfo(ctx, "ud-0123456789abcdef")
				var e *Error
				if !errors.As(err, &e) || e.Code() != tc.want {
					t.Fatalf("got %v, want %s", err, tc.want)
				}
				if _, err := c.ListVMs(ctx, nil); err != nil {
					t.Fatalf("the next call on the same client: %v", err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > goroutines {
				buf := make([]byte, 1<<16)
				t.Fatalf("%d goroutines after Close, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}
