package transport

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/metald/metald-client/go/metald"
)

// epoch is instant 0 of the monotonic clock (time.Since uses Go's monotonic reading).
var epoch = time.Now()

// Now implements monotonic-clock `now`: nanoseconds since the process started.
func (h *Host) Now(context.Context) metald.WasiClocksInstant {
	return uint64(time.Since(epoch))
}

// SubscribeInstant implements monotonic-clock `subscribe-instant`: a pollable ready once
// the clock reaches when.
func (h *Host) SubscribeInstant(_ context.Context, when metald.WasiClocksInstant) metald.WasiIoPollable {
	t := &clockTimer{never: when > math.MaxInt64}
	if !t.never {
		t.at = epoch.Add(time.Duration(when))
	}
	return h.newPollable(t)
}

// clockTimer is the source of a subscribe-instant pollable. Its timer starts on the first
// wait and stops when the pollable is dropped.
type clockTimer struct {
	at    time.Time
	never bool // an instant past what time.Duration holds

	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func (c *clockTimer) pollState() (bool, <-chan struct{}) {
	if c.never {
		return false, nil
	}
	d := time.Until(c.at)
	if d <= 0 {
		return true, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer == nil {
		ch := make(chan struct{})
		c.expired = ch
		c.timer = time.AfterFunc(d, func() { close(ch) })
	}
	return false, c.expired
}

func (c *clockTimer) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}
