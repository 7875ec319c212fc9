package transport

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// outgoingRequest is an `outgoing-request` resource.
type outgoingRequest struct {
	headers       []field
	method        string
	scheme        string // "" until set: https
	authority     *string
	pathWithQuery *string
	body          *outgoingBody // once body() was called
}

// requestOptions is a `request-options` resource; zero durations are unset.
type requestOptions struct {
	connect, firstByte, betweenBytes time.Duration
}

// bodyState is where an outgoing body is in its life.
type bodyState uint8

const (
	bodyOpen     bodyState = iota // taking writes
	bodyFinished                  // outgoing-body.finish succeeded
	bodyFailed                    // a write or finish failed, or the body was dropped
)

// outgoingBody is an `outgoing-body` resource and the buffer its output stream writes
// into. The request is sent once it is finished (before or after handle).
type outgoingBody struct {
	limit    int64 // Config.MaxRequestBodyBytes
	declared int64 // the request's Content-Length, -1 when none

	mu          sync.Mutex
	buf         []byte
	trailers    []field
	state       bodyState
	failure     *codeError
	streamTaken bool
	done        chan struct{} // closed when finished or failed
}

// result is what the request goroutine sends, once done is closed.
func (b *outgoingBody) result() ([]byte, []field, *codeError) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf, b.trailers, b.failure
}

// fail ends an open body with err; the caller holds b.mu.
func (b *outgoingBody) failLocked(err *codeError) {
	if b.state != bodyOpen {
		return
	}
	b.state, b.failure = bodyFailed, err
	b.buf = nil
	close(b.done)
}

func (b *outgoingBody) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failLocked(&codeError{code: internalError("the request body was dropped before outgoing-body.finish"), msg: "request body dropped"})
}

// NewOutgoingRequest implements `[constructor]outgoing-request`: it takes the headers.
func (h *Host) NewOutgoingRequest(_ context.Context, headers metald.WasiHttpFields) metald.WasiHttpOutgoingRequest {
	f := take[*fields](h, uint32(headers), "fields")
	return push[metald.WasiHttpOutgoingRequest](h, &outgoingRequest{headers: f.entries, method: "GET"})
}

// OutgoingRequestBody implements `[method]outgoing-request.body`: once.
func (h *Host) OutgoingRequestBody(_ context.Context, self metald.WasiHttpOutgoingRequest) cabi.Result[metald.WasiHttpOutgoingBody, struct{}] {
	r := lookup[*outgoingRequest](h, uint32(self), "outgoing-request")
	if r.body != nil {
		return cabi.Result[metald.WasiHttpOutgoingBody, struct{}]{IsErr: true}
	}
	r.body = &outgoingBody{limit: h.t.cfg.MaxRequestBodyBytes, declared: declaredLength(r.headers), done: make(chan struct{})}
	return cabi.Result[metald.WasiHttpOutgoingBody, struct{}]{Ok: push[metald.WasiHttpOutgoingBody](h, r.body)}
}

// declaredLength is the Content-Length among headers, or -1.
func declaredLength(headers []field) int64 {
	for _, f := range headers {
		if strings.EqualFold(f.name, "content-length") {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(f.value)), 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return -1
}

var methodNames = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// OutgoingRequestSetMethod implements `[method]outgoing-request.set-method`: other(…)
// must be a token.
func (h *Host) OutgoingRequestSetMethod(_ context.Context, self metald.WasiHttpOutgoingRequest, method metald.WasiHttpMethod) cabi.Result[struct{}, struct{}] {
	r := lookup[*outgoingRequest](h, uint32(self), "outgoing-request")
	switch {
	case int(method.Tag) < len(methodNames):
		r.method = methodNames[method.Tag]
	case method.Tag == metald.WasiHttpMethodTagOther && validFieldName(method.Other):
		r.method = method.Other
	default:
		return cabi.Result[struct{}, struct{}]{IsErr: true}
	}
	return cabi.Result[struct{}, struct{}]{}
}

// OutgoingRequestSetPathWithQuery implements `[method]outgoing-request.set-path-with-query`:
// an absolute path (with an optional query) without spaces, controls or a fragment.
func (h *Host) OutgoingRequestSetPathWithQuery(_ context.Context, self metald.WasiHttpOutgoingRequest, pathWithQuery *string) cabi.Result[struct{}, struct{}] {
	r := lookup[*outgoingRequest](h, uint32(self), "outgoing-request")
	if pathWithQuery != nil && !validPathWithQuery(*pathWithQuery) {
		return cabi.Result[struct{}, struct{}]{IsErr: true}
	}
	r.pathWithQuery = clone(pathWithQuery)
	return cabi.Result[struct{}, struct{}]{}
}

func validPathWithQuery(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != '/' && p[0] != '?' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// OutgoingRequestSetScheme implements `[method]outgoing-request.set-scheme`. Any
// syntactically valid scheme is kept; handle refuses all but http and https.
func (h *Host) OutgoingRequestSetScheme(_ context.Context, self metald.WasiHttpOutgoingRequest, scheme *metald.WasiHttpScheme) cabi.Result[struct{}, struct{}] {
	r := lookup[*outgoingRequest](h, uint32(self), "outgoing-request")
	switch {
	case scheme == nil:
		r.scheme = ""
	case scheme.Tag == metald.WasiHttpSchemeTagHTTP:
		r.scheme = "http"
	case scheme.Tag == metald.WasiHttpSchemeTagHTTPS:
		r.scheme = "https"
	case scheme.Tag == metald.WasiHttpSchemeTagOther && validScheme(scheme.Other):
		r.scheme = strings.ToLower(scheme.Other)
	default:
		return cabi.Result[struct{}, struct{}]{IsErr: true}
	}
	return cabi.Result[struct{}, struct{}]{}
}

func validScheme(s string) bool {
	if s == "" || !('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// OutgoingRequestSetAuthority implements `[method]outgoing-request.set-authority`:
// host[:port], without credentials.
func (h *Host) OutgoingRequestSetAuthority(_ context.Context, self metald.WasiHttpOutgoingRequest, authority *string) cabi.Result[struct{}, struct{}] {
	r := lookup[*outgoingRequest](h, uint32(self), "outgoing-request")
	if authority != nil {
		host, port, ok := splitAuthority(*authority)
		if !ok || host == "" {
			return cabi.Result[struct{}, struct{}]{IsErr: true}
		}
		if port != "" {
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return cabi.Result[struct{}, struct{}]{IsErr: true}
			}
		}
	}
	r.authority = clone(authority)
	return cabi.Result[struct{}, struct{}]{}
}

// DropOutgoingRequest implements `[resource-drop]outgoing-request`. The request is not
// sent; a body taken from it lives on as its own resource.
func (h *Host) DropOutgoingRequest(_ context.Context, handle metald.WasiHttpOutgoingRequest) {
	take[*outgoingRequest](h, uint32(handle), "outgoing-request")
}

// NewRequestOptions implements `[constructor]request-options`.
func (h *Host) NewRequestOptions(context.Context) metald.WasiHttpRequestOptions {
	return push[metald.WasiHttpRequestOptions](h, &requestOptions{})
}

// RequestOptionsSetConnectTimeout implements `[method]request-options.set-connect-timeout`.
func (h *Host) RequestOptionsSetConnectTimeout(_ context.Context, self metald.WasiHttpRequestOptions, d *metald.WasiClocksDuration) cabi.Result[struct{}, struct{}] {
	lookup[*requestOptions](h, uint32(self), "request-options").connect = duration(d)
	return cabi.Result[struct{}, struct{}]{}
}

// RequestOptionsSetFirstByteTimeout implements `[method]request-options.set-first-byte-timeout`.
func (h *Host) RequestOptionsSetFirstByteTimeout(_ context.Context, self metald.WasiHttpRequestOptions, d *metald.WasiClocksDuration) cabi.Result[struct{}, struct{}] {
	lookup[*requestOptions](h, uint32(self), "request-options").firstByte = duration(d)
	return cabi.Result[struct{}, struct{}]{}
}

// RequestOptionsSetBetweenBytesTimeout implements `[method]request-options.set-between-bytes-timeout`.
func (h *Host) RequestOptionsSetBetweenBytesTimeout(_ context.Context, self metald.WasiHttpRequestOptions, d *metald.WasiClocksDuration) cabi.Result[struct{}, struct{}] {
	lookup[*requestOptions](h, uint32(self), "request-options").betweenBytes = duration(d)
	return cabi.Result[struct{}, struct{}]{}
}

// duration converts an option<duration> in nanoseconds; none (and 0) mean unset.
func duration(d *metald.WasiClocksDuration) time.Duration {
	if d == nil {
		return 0
	}
	if *d > uint64(1<<63-1) {
		return 1<<63 - 1
	}
	return time.Duration(*d)
}

// DropRequestOptions implements `[resource-drop]request-options`.
func (h *Host) DropRequestOptions(_ context.Context, handle metald.WasiHttpRequestOptions) {
	take[*requestOptions](h, uint32(handle), "request-options")
}

// OutgoingBodyWrite implements `[method]outgoing-body.write`: the output stream, once.
func (h *Host) OutgoingBodyWrite(_ context.Context, self metald.WasiHttpOutgoingBody) cabi.Result[metald.WasiIoOutputStream, struct{}] {
	b := lookup[*outgoingBody](h, uint32(self), "outgoing-body")
	b.mu.Lock()
	taken := b.streamTaken
	b.streamTaken = true
	b.mu.Unlock()
	if taken {
		return cabi.Result[metald.WasiIoOutputStream, struct{}]{IsErr: true}
	}
	return cabi.Result[metald.WasiIoOutputStream, struct{}]{Ok: push[metald.WasiIoOutputStream](h, &outputStream{body: b})}
}

// OutgoingBodyFinish implements `[static]outgoing-body.finish`: it takes the body (and
// the trailers) and completes the request body, checking a declared Content-Length.
func (h *Host) OutgoingBodyFinish(_ context.Context, this metald.WasiHttpOutgoingBody, trailers *metald.WasiHttpFields) cabi.Result[struct{}, metald.WasiHttpErrorCode] {
	b := take[*outgoingBody](h, uint32(this), "outgoing-body")
	var tr []field
	if trailers != nil {
		tr = take[*fields](h, uint32(*trailers), "fields").entries
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == bodyOpen && b.declared >= 0 && int64(len(b.buf)) != b.declared {
		n := uint64(len(b.buf))
		b.failLocked(&codeError{
			code: metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagHTTPRequestBodySize, HTTPRequestBodySize: &n},
			msg:  fmt.Sprintf("the request body has %d bytes; its Content-Length says %d", n, b.declared),
		})
	}
	if b.state == bodyFailed {
		return cabi.Result[struct{}, metald.WasiHttpErrorCode]{IsErr: true, Err: b.failure.code}
	}
	b.state, b.trailers = bodyFinished, tr
	close(b.done)
	return cabi.Result[struct{}, metald.WasiHttpErrorCode]{}
}

// DropOutgoingBody implements `[resource-drop]outgoing-body`: a body dropped unfinished
// fails its request.
func (h *Host) DropOutgoingBody(_ context.Context, handle metald.WasiHttpOutgoingBody) {
	take[*outgoingBody](h, uint32(handle), "outgoing-body").release()
}

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
