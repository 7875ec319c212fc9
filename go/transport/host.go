package transport

import (
	"sync"

	"github.com/metald/metald-client/go/metald"
)

// Host is the wasi:http host of one component instance: it implements metald.Host over
// its Transport and keeps the instance's resource tables. Its methods run on the
// goroutine of the instance's export call (one at a time); Close and LiveHandles may be
// called from any goroutine.
//
// A call with a handle the instance does not hold traps (panics with a *HandleError), as
// the canonical ABI does; so do poll with an empty list, and a poll still waiting when
// the call's context ends (an error wrapping ctx.Err()) or the Host is closed (ErrClosed).
// Every other failure reaches the component as a wasi:http error code.
//
// Make one with Transport.NewHost; the zero value is not usable.
type Host struct {
	t *Transport

	mu       sync.Mutex
	table    handleTable
	inflight map[*exchange]struct{}
	closed   bool
	done     chan struct{} // closed by Close

	wg sync.WaitGroup // request and body goroutines
}

var _ metald.Host = (*Host)(nil)

// releaser is a resource that holds something beyond its memory (a request, a response
// body, a timer); release frees it when its last handle goes.
type releaser interface{ release() }

// NewHost returns the host of one new instance, with empty tables.
func (t *Transport) NewHost() *Host {
	return &Host{t: t, inflight: map[*exchange]struct{}{}, done: make(chan struct{})}
}

// Close releases everything the instance held: requests in flight are cancelled, response
// bodies closed, timers stopped, and every handle freed. It waits for the host's
// goroutines to end. Use it when the instance is discarded (after a trap, too). Close is
// idempotent.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wg.Wait()
		return
	}
	h.closed = true
	close(h.done)
	resources := h.table.drain()
	exchanges := make([]*exchange, 0, len(h.inflight))
	for ex := range h.inflight {
		exchanges = append(exchanges, ex)
	}
	h.mu.Unlock()
	for _, r := range resources {
		if rel, ok := r.(releaser); ok {
			rel.release()
		}
	}
	for _, ex := range exchanges {
		ex.abandon(ErrClosed)
	}
	h.wg.Wait()
}

// LiveHandles is the number of handles the instance holds, for leak checks: 0 between
// calls of a component that drops everything it makes.
func (h *Host) LiveHandles() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.table.live
}

// InFlight is the number of requests whose connection or response body is still open.
func (h *Host) InFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.inflight)
}

// register records a started exchange and counts its goroutine; false when the host is
// closed.
func (h *Host) register(ex *exchange) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.inflight[ex] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Host) unregister(ex *exchange) {
	h.mu.Lock()
	delete(h.inflight, ex)
	h.mu.Unlock()
}
