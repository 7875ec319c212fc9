package transport

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/metald/metald-client/go/metald"
)

// countingSource becomes ready when its channel closes and counts how often it is asked.
type countingSource struct {
	calls atomic.Int32
	ready chan struct{}
}

func (c *countingSource) pollState() (bool, <-chan struct{}) {
	c.calls.Add(1)
	select {
	case <-c.ready:
		return true, nil
	default:
		return false, c.ready
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPollBlocksWithoutSpinning(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	src := &countingSource{ready: make(chan struct{})}
	p := h.newPollable(src)
	never := h.SubscribeInstant(ctx, math.MaxUint64)
	time.AfterFunc(300*time.Millisecond, func() { close(src.ready) })
	start, cpu := time.Now(), cpuTime()
	got := h.Poll(ctx, []metald.WasiIoPollable{never, p})
	wall, used := time.Since(start), cpuTime()-cpu
	if !reflect.DeepEqual(got, []uint32{1}) {
		t.Errorf("poll = %v, want [1]", got)
	}
	if wall < 280*time.Millisecond {
		t.Errorf("poll returned after %v, before the source was ready", wall)
	}
	if n := src.calls.Load(); n > 3 {
		t.Errorf("the source was checked %d times while waiting: poll is spinning", n)
	}
	if used > wall/2 {
		t.Errorf("poll used %v of CPU in %v", used, wall)
	}
	h.DropPollable(ctx, p)
	h.DropPollable(ctx, never)
	assertNoLeaks(t, h)
}

func TestPollReportsEveryReadyPollable(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	now := h.Now(ctx)
	past1 := h.SubscribeInstant(ctx, now-1)
	future := h.SubscribeInstant(ctx, now+uint64(time.Hour))
	past2 := h.SubscribeInstant(ctx, 0)
	if got := h.Poll(ctx, []metald.WasiIoPollable{past1, future, past2}); !reflect.DeepEqual(got, []uint32{0, 2}) {
		t.Errorf("poll = %v, want [0 2]", got)
	}
	// The same pollable twice is fine.
	if got := h.Poll(ctx, []metald.WasiIoPollable{past1, past1}); !reflect.DeepEqual(got, []uint32{0, 1}) {
		t.Errorf("poll = %v, want [0 1]", got)
	}
	for _, p := range []metald.WasiIoPollable{past1, future, past2} {
		h.DropPollable(ctx, p)
	}
	assertNoLeaks(t, h)
}

func TestClock(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	a := h.Now(ctx)
	p := h.SubscribeInstant(ctx, a+uint64(100*time.Millisecond))
	start := time.Now()
	h.PollableBlock(ctx, p)
	if d := time.Since(start); d < 90*time.Millisecond || d > time.Second {
		t.Errorf("a 100ms instant blocked for %v", d)
	}
	if b := h.Now(ctx); b < a+uint64(100*time.Millisecond) {
		t.Errorf("now went from %d to %d across a 100ms wait", a, b)
	}
	h.PollableBlock(ctx, p) // still ready
	h.DropPollable(ctx, p)
	assertNoLeaks(t, h)
}

func TestPollTrapsWhenTheCallEnds(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx, cancel := context.WithCancel(context.Background())
	never := h.SubscribeInstant(ctx, math.MaxUint64)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := trap(func() { h.Poll(ctx, []metald.WasiIoPollable{never}) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("trap %v, want one wrapping context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancellation took %v", d)
	}

	// Closing the host ends a wait as well.
	h2 := newHost(t, newTransport(t, Config{}))
	never2 := h2.SubscribeInstant(context.Background(), math.MaxUint64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := trap(func() { h2.PollableBlock(context.Background(), never2) }); !errors.Is(err, ErrClosed) {
			t.Errorf("trap %v, want ErrClosed", err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	h2.Close()
	wg.Wait()

	if err := trap(func() { h.Poll(context.Background(), nil) }); err == nil {
		t.Error("poll with an empty list did not trap")
	}
}

// trap runs f and returns the error it panicked with.
func trap(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
			if err == nil {
				err = errors.New("panicked with a non-error")
			}
		}
	}()
	f()
	return nil
}
