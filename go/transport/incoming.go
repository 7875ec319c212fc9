package transport

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// Response body buffering: the pump reads up to readChunk bytes at a time and stops
// reading while maxBuffered bytes wait for the component (backpressure).
const (
	readChunk   = 64 << 10
	maxBuffered = 256 << 10
)

// futureResponse is a `future-incoming-response` resource.
type futureResponse struct {
	ex  *exchange
	got atomic.Bool // get returned the outcome
}

// release lets go of a request whose outcome the component never took.
func (f *futureResponse) release() {
	if !f.got.Load() {
		f.ex.abandon(errAbandoned)
	}
}

// response is a response whose headers arrived.
type response struct {
	status  uint16
	headers []field
	body    *inBody
}

// incomingResponse is an `incoming-response` resource.
type incomingResponse struct {
	resp     *response
	consumed atomic.Bool
}

func (r *incomingResponse) release() {
	if !r.consumed.Load() {
		r.resp.body.close()
	}
}

// incomingBody is an `incoming-body` resource.
type incomingBody struct {
	body        *inBody
	streamTaken bool
}

func (b *incomingBody) release() { b.body.close() }

// futureTrailers is a `future-trailers` resource. Trailers are not read (the component
// imports no way to get them); the body is closed when it is made.
type futureTrailers struct{}

// FutureIncomingResponseSubscribe implements `[method]future-incoming-response.subscribe`.
func (h *Host) FutureIncomingResponseSubscribe(_ context.Context, self metald.WasiHttpFutureIncomingResponse) metald.WasiIoPollable {
	f := lookup[*futureResponse](h, uint32(self), "future-incoming-response")
	return h.newPollable(f.ex)
}

// FutureIncomingResponseGet implements `[method]future-incoming-response.get`: none while
// pending, then the response or its error code once, then err.
func (h *Host) FutureIncomingResponseGet(_ context.Context, self metald.WasiHttpFutureIncomingResponse) *cabi.Result[cabi.Result[metald.WasiHttpIncomingResponse, metald.WasiHttpErrorCode], struct{}] {
	type outcome = cabi.Result[metald.WasiHttpIncomingResponse, metald.WasiHttpErrorCode]
	f := lookup[*futureResponse](h, uint32(self), "future-incoming-response")
	select {
	case <-f.ex.done:
	default:
		return nil
	}
	if f.got.Swap(true) {
		return &cabi.Result[outcome, struct{}]{IsErr: true}
	}
	if f.ex.resp == nil {
		return &cabi.Result[outcome, struct{}]{Ok: outcome{IsErr: true, Err: f.ex.code}}
	}
	handle := push[metald.WasiHttpIncomingResponse](h, &incomingResponse{resp: f.ex.resp})
	return &cabi.Result[outcome, struct{}]{Ok: outcome{Ok: handle}}
}

// DropFutureIncomingResponse implements `[resource-drop]future-incoming-response`: a
// request still pending is cancelled, a response not taken is closed.
func (h *Host) DropFutureIncomingResponse(_ context.Context, handle metald.WasiHttpFutureIncomingResponse) {
	take[*futureResponse](h, uint32(handle), "future-incoming-response").release()
}

// IncomingResponseStatus implements `[method]incoming-response.status`.
func (h *Host) IncomingResponseStatus(_ context.Context, self metald.WasiHttpIncomingResponse) metald.WasiHttpStatusCode {
	return lookup[*incomingResponse](h, uint32(self), "incoming-response").resp.status
}

// IncomingResponseHeaders implements `[method]incoming-response.headers`: a new fields
// resource with lower-case names.
func (h *Host) IncomingResponseHeaders(_ context.Context, self metald.WasiHttpIncomingResponse) metald.WasiHttpFields {
	r := lookup[*incomingResponse](h, uint32(self), "incoming-response")
	return push[metald.WasiHttpFields](h, &fields{entries: r.resp.headers})
}

// IncomingResponseConsume implements `[method]incoming-response.consume`: the body, once.
func (h *Host) IncomingResponseConsume(_ context.Context, self metald.WasiHttpIncomingResponse) cabi.Result[metald.WasiHttpIncomingBody, struct{}] {
	r := lookup[*incomingResponse](h, uint32(self), "incoming-response")
	if r.consumed.Swap(true) {
		return cabi.Result[metald.WasiHttpIncomingBody, struct{}]{IsErr: true}
	}
	return cabi.Result[metald.WasiHttpIncomingBody, struct{}]{Ok: push[metald.WasiHttpIncomingBody](h, &incomingBody{body: r.resp.body})}
}

// DropIncomingResponse implements `[resource-drop]incoming-response`: an unconsumed body
// is closed.
func (h *Host) DropIncomingResponse(_ context.Context, handle metald.WasiHttpIncomingResponse) {
	take[*incomingResponse](h, uint32(handle), "incoming-response").release()
}

// IncomingBodyStream implements `[method]incoming-body.stream`: the input stream, once.
func (h *Host) IncomingBodyStream(_ context.Context, self metald.WasiHttpIncomingBody) cabi.Result[metald.WasiIoInputStream, struct{}] {
	b := lookup[*incomingBody](h, uint32(self), "incoming-body")
	if b.streamTaken {
		return cabi.Result[metald.WasiIoInputStream, struct{}]{IsErr: true}
	}
	b.streamTaken = true
	return cabi.Result[metald.WasiIoInputStream, struct{}]{Ok: push[metald.WasiIoInputStream](h, &inputStream{body: b.body})}
}

// IncomingBodyFinish implements `[static]incoming-body.finish`: it takes the body, closes
// it and returns a future-trailers.
func (h *Host) IncomingBodyFinish(_ context.Context, this metald.WasiHttpIncomingBody) metald.WasiHttpFutureTrailers {
	take[*incomingBody](h, uint32(this), "incoming-body").release()
	return push[metald.WasiHttpFutureTrailers](h, &futureTrailers{})
}

// DropIncomingBody implements `[resource-drop]incoming-body`: the response body is closed.
func (h *Host) DropIncomingBody(_ context.Context, handle metald.WasiHttpIncomingBody) {
	take[*incomingBody](h, uint32(handle), "incoming-body").release()
}

// DropFutureTrailers implements `[resource-drop]future-trailers`.
func (h *Host) DropFutureTrailers(_ context.Context, handle metald.WasiHttpFutureTrailers) {
	take[*futureTrailers](h, uint32(handle), "future-trailers")
}

// inBody is a response body: a pump goroutine reads it into a bounded buffer that the
// input stream drains without blocking.
type inBody struct {
	ex           *exchange
	rc           io.ReadCloser
	betweenBytes time.Duration

	mu          sync.Mutex
	buf         []byte
	eof         bool
	err         error // the read failure, a *bodyReadError
	errReported bool
	closed      bool // closed by its owner: no more reads
	pumping     bool // the pump goroutine owns rc
	rcClosed    bool
	changed     chan struct{} // closed and replaced at every change of state
	room        chan struct{} // wakes the pump (capacity 1)
}

func newInBody(ex *exchange, rc io.ReadCloser, betweenBytes time.Duration) *inBody {
	return &inBody{ex: ex, rc: rc, betweenBytes: betweenBytes, changed: make(chan struct{}), room: make(chan struct{}, 1)}
}

func (b *inBody) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *inBody) wake() {
	select {
	case b.room <- struct{}{}:
	default:
	}
}

// start starts the pump; false when the body was closed first.
func (b *inBody) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.pumping = true
	return true
}

// pump reads the body until its end, a failure, or close. Each read must bring bytes
// within the between-bytes timeout; the timer runs only while the pump waits on the
// network, not while the buffer is full.
func (b *inBody) pump() {
	defer b.ex.host.wg.Done()
	defer b.stopPump()
	chunk := make([]byte, readChunk)
	timer := time.AfterFunc(b.betweenBytes, func() { b.ex.cancel(errBetweenBytesTimeout) })
	timer.Stop()
	for {
		b.mu.Lock()
		for len(b.buf) >= maxBuffered && !b.closed {
			b.mu.Unlock()
			select {
			case <-b.room:
			case <-b.ex.ctx.Done():
			}
			b.mu.Lock()
			if err := b.ex.ctx.Err(); err != nil && !b.closed {
				b.err = &bodyReadError{err: b.ex.cause(err)}
				b.notifyLocked()
				b.mu.Unlock()
				return
			}
		}
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return
		}
		timer.Reset(b.betweenBytes)
		n, err := b.rc.Read(chunk)
		timer.Stop()
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.buf = append(b.buf, chunk[:n]...)
		switch {
		case err == io.EOF:
			b.eof = true
		case err != nil:
			b.err = &bodyReadError{err: b.ex.cause(err)}
		}
		if n > 0 || err != nil {
			b.notifyLocked()
		}
		b.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// stopPump closes the body's reader as the pump ends.
func (b *inBody) stopPump() {
	b.mu.Lock()
	b.pumping = false
	closeRC := !b.rcClosed
	b.rcClosed = true
	b.mu.Unlock()
	if closeRC {
		_ = b.rc.Close()
	}
}

// close ends the body for its owner: buffered bytes are dropped, the pump stops, the
// connection is released (or closed when the body was not read to its end) and the
// exchange ends.
func (b *inBody) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed, b.buf = true, nil
	b.notifyLocked()
	closeRC := !b.pumping && !b.rcClosed
	if closeRC {
		b.rcClosed = true
	}
	b.mu.Unlock()
	b.wake()
	if closeRC {
		_ = b.rc.Close()
	}
	b.ex.end()
}

// read takes up to n buffered bytes. It returns the failure once (err), then closed; and
// closed at the end of the body or after close.
func (b *inBody) read(n uint64) (data []byte, err error, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, true
	}
	if len(b.buf) > 0 {
		k := int(min(n, uint64(len(b.buf))))
		data = append([]byte(nil), b.buf[:k]...)
		b.buf = b.buf[k:]
		if len(b.buf) == 0 {
			b.buf = nil
		}
		b.wake()
		return data, nil, false
	}
	if b.err != nil {
		if b.errReported {
			return nil, nil, true
		}
		b.errReported = true
		return nil, b.err, false
	}
	if b.eof {
		return nil, nil, true
	}
	return []byte{}, nil, false
}

// pollState makes the body the source of input-stream pollables.
func (b *inBody) pollState() (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) > 0 || b.eof || b.err != nil || b.closed {
		return true, nil
	}
	return false, b.changed
}
