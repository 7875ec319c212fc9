package transport

import (
	"context"
	"fmt"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// writePermit is what check-write allows per write: the body is buffered in memory, so
// writes never wait; Config.MaxRequestBodyBytes bounds the total.
const writePermit = 1 << 20

// outputStream is an `output-stream` resource: the writer of an outgoing body.
type outputStream struct {
	body   *outgoingBody
	permit uint64 // what the last check-write allowed, less what was written since
}

// ioError is an `error` resource: a failed stream operation with its wasi:http code.
type ioError struct {
	code metald.WasiHttpErrorCode
	err  error
}

func (h *Host) streamFailure(code metald.WasiHttpErrorCode, err error) metald.WasiIoStreamError {
	handle := push[metald.WasiIoError](h, &ioError{code: code, err: err})
	return metald.WasiIoStreamError{Tag: metald.WasiIoStreamErrorTagLastOperationFailed, LastOperationFailed: handle}
}

var streamClosed = metald.WasiIoStreamError{Tag: metald.WasiIoStreamErrorTagClosed}

// OutputStreamCheckWrite implements `[method]output-stream.check-write`: a fixed permit
// while the body is open, closed once it is finished or failed.
func (h *Host) OutputStreamCheckWrite(_ context.Context, self metald.WasiIoOutputStream) cabi.Result[uint64, metald.WasiIoStreamError] {
	s := lookup[*outputStream](h, uint32(self), "output-stream")
	s.body.mu.Lock()
	defer s.body.mu.Unlock()
	if s.body.state != bodyOpen {
		return cabi.Result[uint64, metald.WasiIoStreamError]{IsErr: true, Err: streamClosed}
	}
	s.permit = writePermit
	return cabi.Result[uint64, metald.WasiIoStreamError]{Ok: writePermit}
}

// OutputStreamWrite implements `[method]output-stream.write`. A write beyond the
// check-write permit, past the body limit or past a declared Content-Length fails the
// stream and the request (last-operation-failed; HTTP-request-body-size for the sizes).
func (h *Host) OutputStreamWrite(_ context.Context, self metald.WasiIoOutputStream, contents []uint8) cabi.Result[struct{}, metald.WasiIoStreamError] {
	s := lookup[*outputStream](h, uint32(self), "output-stream")
	b := s.body
	b.mu.Lock()
	if b.state != bodyOpen {
		b.mu.Unlock()
		return cabi.Result[struct{}, metald.WasiIoStreamError]{IsErr: true, Err: streamClosed}
	}
	total := int64(len(b.buf)) + int64(len(contents))
	var failure *codeError
	switch {
	case uint64(len(contents)) > s.permit:
		failure = &codeError{
			code: internalError(fmt.Sprintf("a write of %d bytes exceeds the %d bytes check-write permitted", len(contents), s.permit)),
			msg:  "write beyond the check-write permit",
		}
	case total > b.limit:
		limit := uint64(b.limit)
		failure = &codeError{
			code: metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagHTTPRequestBodySize, HTTPRequestBodySize: &limit},
			msg:  fmt.Sprintf("the request body is over the host's %d-byte limit", b.limit),
		}
	case b.declared >= 0 && total > b.declared:
		n := uint64(total)
		failure = &codeError{
			code: metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagHTTPRequestBodySize, HTTPRequestBodySize: &n},
			msg:  fmt.Sprintf("the request body is longer than its Content-Length (%d bytes)", b.declared),
		}
	}
	if failure != nil {
		b.failLocked(failure)
		b.mu.Unlock()
		return cabi.Result[struct{}, metald.WasiIoStreamError]{IsErr: true, Err: h.streamFailure(failure.code, failure)}
	}
	b.buf = append(b.buf, contents...)
	s.permit -= uint64(len(contents))
	b.mu.Unlock()
	return cabi.Result[struct{}, metald.WasiIoStreamError]{}
}

// blockingWriteMax is the most `blocking-write-and-flush` takes in one call (wasi:io/streams).
const blockingWriteMax = 4096

// OutputStreamBlockingWriteAndFlush implements `[method]output-stream.blocking-write-and-flush`:
// check-write, write and flush in one call. The body is buffered in memory, so nothing
// waits. More than 4096 bytes fails the stream and the request like a write beyond the
// check-write permit; the limits of OutputStreamWrite apply.
func (h *Host) OutputStreamBlockingWriteAndFlush(ctx context.Context, self metald.WasiIoOutputStream, contents []uint8) cabi.Result[struct{}, metald.WasiIoStreamError] {
	s := lookup[*outputStream](h, uint32(self), "output-stream")
	s.body.mu.Lock()
	if s.body.state == bodyOpen {
		s.permit = blockingWriteMax
	}
	s.body.mu.Unlock()
	return h.OutputStreamWrite(ctx, self, contents)
}

// OutputStreamFlush implements `[method]output-stream.flush`: the bytes are already with
// the host, so it completes at once.
func (h *Host) OutputStreamFlush(_ context.Context, self metald.WasiIoOutputStream) cabi.Result[struct{}, metald.WasiIoStreamError] {
	s := lookup[*outputStream](h, uint32(self), "output-stream")
	s.body.mu.Lock()
	defer s.body.mu.Unlock()
	if s.body.state != bodyOpen {
		return cabi.Result[struct{}, metald.WasiIoStreamError]{IsErr: true, Err: streamClosed}
	}
	return cabi.Result[struct{}, metald.WasiIoStreamError]{}
}

// OutputStreamSubscribe implements `[method]output-stream.subscribe`: always ready.
func (h *Host) OutputStreamSubscribe(_ context.Context, self metald.WasiIoOutputStream) metald.WasiIoPollable {
	lookup[*outputStream](h, uint32(self), "output-stream")
	return h.newPollable(alwaysReady{})
}

// DropOutputStream implements `[resource-drop]output-stream`. The body keeps what was
// written; it is sent when the body is finished.
func (h *Host) DropOutputStream(_ context.Context, handle metald.WasiIoOutputStream) {
	take[*outputStream](h, uint32(handle), "output-stream")
}

// inputStream is an `input-stream` resource: the reader of a response body.
type inputStream struct {
	body *inBody
}

// InputStreamRead implements `[method]input-stream.read`: up to len bytes that have
// arrived, possibly none; closed at the end of the body; last-operation-failed once when
// the body failed (http-error-code then gives the code), closed after that.
func (h *Host) InputStreamRead(_ context.Context, self metald.WasiIoInputStream, n uint64) cabi.Result[[]uint8, metald.WasiIoStreamError] {
	s := lookup[*inputStream](h, uint32(self), "input-stream")
	data, err, closed := s.body.read(n)
	switch {
	case err != nil:
		return cabi.Result[[]uint8, metald.WasiIoStreamError]{IsErr: true, Err: h.streamFailure(ErrorCode(err), err)}
	case closed:
		return cabi.Result[[]uint8, metald.WasiIoStreamError]{IsErr: true, Err: streamClosed}
	}
	return cabi.Result[[]uint8, metald.WasiIoStreamError]{Ok: data}
}

// InputStreamSubscribe implements `[method]input-stream.subscribe`: ready when bytes
// arrive, or at the end or failure of the body.
func (h *Host) InputStreamSubscribe(_ context.Context, self metald.WasiIoInputStream) metald.WasiIoPollable {
	s := lookup[*inputStream](h, uint32(self), "input-stream")
	return h.newPollable(s.body)
}

// DropInputStream implements `[resource-drop]input-stream`. The body stays open until
// its incoming-body is finished or dropped.
func (h *Host) DropInputStream(_ context.Context, handle metald.WasiIoInputStream) {
	take[*inputStream](h, uint32(handle), "input-stream")
}

// ErrorToDebugString implements `[method]error.to-debug-string`.
func (h *Host) ErrorToDebugString(_ context.Context, self metald.WasiIoError) string {
	e := lookup[*ioError](h, uint32(self), "error")
	return describe(e.code) + " (" + e.err.Error() + ")"
}

// HttpErrorCode implements `http-error-code`: the code of a failed stream operation.
func (h *Host) HttpErrorCode(_ context.Context, err metald.WasiIoError) *metald.WasiHttpErrorCode {
	e := lookup[*ioError](h, uint32(err), "error")
	code := e.code
	return &code
}

// DropError implements `[resource-drop]error`.
func (h *Host) DropError(_ context.Context, handle metald.WasiIoError) {
	take[*ioError](h, uint32(handle), "error")
}
