package transport

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/metald/metald-client/go/metald"
)

// pollSource is something a pollable waits for: a response future, a response body, a
// clock instant, an output stream.
type pollSource interface {
	// pollState reports whether the source is ready now; when it is not, changed is
	// closed at its next change of state (nil: it never changes).
	pollState() (ready bool, changed <-chan struct{})
}

// pollable is a `pollable` resource.
type pollable struct {
	src pollSource
}

func (p *pollable) release() {
	if r, ok := p.src.(releaser); ok {
		r.release()
	}
}

// alwaysReady is the source of output-stream pollables: the request body is buffered,
// so the stream can always take a write (or reports its error at once).
type alwaysReady struct{}

func (alwaysReady) pollState() (bool, <-chan struct{}) { return true, nil }

func (h *Host) newPollable(src pollSource) metald.WasiIoPollable {
	return push[metald.WasiIoPollable](h, &pollable{src: src})
}

// Poll implements `poll`: it blocks until at least one pollable is ready and returns the
// indexes of the ready ones. It waits on channels, never spinning. When ctx ends first the
// call traps with an error wrapping ctx.Err().
func (h *Host) Poll(ctx context.Context, in []metald.WasiIoPollable) []uint32 {
	if len(in) == 0 {
		panic(errors.New("transport: poll with an empty list"))
	}
	sources := make([]pollSource, len(in))
	for i, handle := range in {
		sources[i] = lookup[*pollable](h, uint32(handle), "pollable").src
	}
	return h.wait(ctx, sources)
}

// PollableBlock implements `[method]pollable.block`: poll with one pollable.
func (h *Host) PollableBlock(ctx context.Context, self metald.WasiIoPollable) {
	p := lookup[*pollable](h, uint32(self), "pollable")
	h.wait(ctx, []pollSource{p.src})
}

// wait blocks until some sources are ready and returns their indexes.
func (h *Host) wait(ctx context.Context, sources []pollSource) []uint32 {
	var cases []reflect.SelectCase
	for {
		var ready []uint32
		cases = cases[:0]
		for i, s := range sources {
			ok, changed := s.pollState()
			if ok {
				ready = append(ready, uint32(i))
			} else if changed != nil {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)})
			}
		}
		if len(ready) > 0 {
			return ready
		}
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(h.done)})
		if done := ctx.Done(); done != nil {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(done)})
		}
		reflect.Select(cases)
		if err := ctx.Err(); err != nil {
			panic(fmt.Errorf("transport: the call ended while waiting in poll: %w", err))
		}
		select {
		case <-h.done:
			panic(ErrClosed)
		default:
		}
	}
}

// DropPollable implements `[resource-drop]pollable`.
func (h *Host) DropPollable(_ context.Context, handle metald.WasiIoPollable) {
	take[*pollable](h, uint32(handle), "pollable").release()
}
