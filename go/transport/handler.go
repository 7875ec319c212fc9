package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// Handle implements outgoing-handler `handle`: it takes the request and options, checks
// the URL and the allow-list, and starts the request on a goroutine whose context derives
// from ctx. The request goes out once its body is finished (at once if the component never
// asked for a body).
func (h *Host) Handle(ctx context.Context, request metald.WasiHttpOutgoingRequest, options *metald.WasiHttpRequestOptions) cabi.Result[metald.WasiHttpFutureIncomingResponse, metald.WasiHttpErrorCode] {
	r := take[*outgoingRequest](h, uint32(request), "outgoing-request")
	opts := requestOptions{}
	if options != nil {
		opts = *take[*requestOptions](h, uint32(*options), "request-options")
	}
	fail := func(code metald.WasiHttpErrorCode) cabi.Result[metald.WasiHttpFutureIncomingResponse, metald.WasiHttpErrorCode] {
		return cabi.Result[metald.WasiHttpFutureIncomingResponse, metald.WasiHttpErrorCode]{IsErr: true, Err: code}
	}
	scheme := r.scheme
	if scheme == "" {
		scheme = "https"
	}
	if scheme != "http" && scheme != "https" {
		return fail(tagCode(metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid))
	}
	if r.authority == nil {
		return fail(tagCode(metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid))
	}
	path := "/"
	if r.pathWithQuery != nil && *r.pathWithQuery != "" {
		path = *r.pathWithQuery
		if path[0] == '?' {
			path = "/" + path
		}
	}
	target := scheme + "://" + *r.authority + path
	u, err := url.Parse(target)
	if err != nil || u.Host != *r.authority {
		return fail(tagCode(metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid))
	}
	if !h.t.allow.allows(scheme, *r.authority) {
		h.t.log.Warn("outbound request denied: not on the allow-list",
			"destination", scheme+"://"+*r.authority, "allowed", h.t.cfg.AllowList)
		return fail(tagCode(metald.WasiHttpErrorCodeTagHTTPRequestDenied))
	}
	exCtx, cancel := context.WithCancelCause(ctx)
	ex := &exchange{host: h, ctx: exCtx, cancel: cancel, done: make(chan struct{})}
	if !h.register(ex) {
		cancel(ErrClosed)
		return fail(internalError(ErrClosed.Error()))
	}
	go ex.run(sendSpec{method: r.method, url: u, headers: r.headers, body: r.body, opts: opts, scheme: scheme})
	return cabi.Result[metald.WasiHttpFutureIncomingResponse, metald.WasiHttpErrorCode]{
		Ok: push[metald.WasiHttpFutureIncomingResponse](h, &futureResponse{ex: ex}),
	}
}

// sendSpec is a request as handle took it.
type sendSpec struct {
	method  string
	url     *url.URL
	scheme  string
	headers []field
	body    *outgoingBody // nil: no body
	opts    requestOptions
}

// exchange is one request and its response, from handle until the response body is
// closed (or the request failed).
type exchange struct {
	host   *Host
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the outcome is known

	// Set before done is closed.
	resp *response
	code metald.WasiHttpErrorCode

	mu        sync.Mutex
	abandoned bool // the component let go of the request, or the host closed
	endOnce   sync.Once
	pool      *pool
}

// pollState makes the exchange the source of future-incoming-response pollables.
func (ex *exchange) pollState() (bool, <-chan struct{}) {
	select {
	case <-ex.done:
		return true, nil
	default:
		return false, ex.done
	}
}

// run sends the request and resolves the exchange.
func (ex *exchange) run(spec sendSpec) {
	defer ex.host.wg.Done()
	resp, err := ex.send(spec)
	if err != nil {
		// The URL lets ErrorCode tell TLS connections from plain ones (net/http's
		// RoundTrip errors do not carry it).
		var ue *url.Error
		if !errors.As(err, &ue) {
			err = &url.Error{Op: spec.method, URL: spec.url.String(), Err: err}
		}
		ex.code = ErrorCode(err)
		ex.mu.Lock()
		abandoned := ex.abandoned
		close(ex.done)
		ex.mu.Unlock()
		if !abandoned {
			ex.host.t.log.Info("outbound request failed", "url", spec.url.String(), "error", err, "code", describe(ex.code))
		}
		ex.end()
		return
	}
	ex.mu.Lock()
	ex.resp = resp
	abandoned := ex.abandoned
	close(ex.done)
	ex.mu.Unlock()
	if abandoned {
		resp.body.close()
		return
	}
	if resp.body.start() {
		ex.host.wg.Add(1)
		go resp.body.pump()
	}
}

// send waits for the body and makes the request.
func (ex *exchange) send(spec sendSpec) (*response, error) {
	var (
		body     []byte
		trailers []field
	)
	if spec.body != nil {
		select {
		case <-spec.body.done:
		case <-ex.ctx.Done():
			return nil, ex.cause(ex.ctx.Err())
		}
		var failure *codeError
		if body, trailers, failure = spec.body.result(); failure != nil {
			return nil, failure
		}
	}
	p, err := ex.host.t.poolFor(spec.scheme)
	if err != nil {
		return nil, err
	}
	ex.mu.Lock()
	ex.pool = p
	ex.mu.Unlock()

	ctx := ex.ctx
	if spec.opts.connect > 0 {
		ctx = context.WithValue(ctx, connectTimeoutKey{}, spec.opts.connect)
	}
	req, err := http.NewRequestWithContext(ctx, spec.method, spec.url.String(), nil)
	if err != nil {
		return nil, &codeError{code: tagCode(metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid), msg: err.Error()}
	}
	for _, f := range spec.headers {
		if strings.EqualFold(f.name, "content-length") {
			continue
		}
		req.Header.Add(f.name, string(f.value))
	}
	if len(body) > 0 || len(trailers) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if len(trailers) > 0 {
		req.ContentLength = -1
		req.Trailer = http.Header{}
		for _, f := range trailers {
			req.Trailer.Add(f.name, string(f.value))
		}
	}

	firstByte := spec.opts.firstByte
	if firstByte <= 0 {
		firstByte = ex.host.t.cfg.ResponseTimeout
	}
	timer := time.AfterFunc(firstByte, func() { ex.cancel(errFirstByteTimeout) })
	resp, err := p.rt.RoundTrip(req)
	timer.Stop()
	if err != nil {
		return nil, ex.cause(err)
	}
	if size, limit := headerSize(resp.Header), ex.host.t.cfg.MaxResponseHeaderBytes; size > limit {
		_ = resp.Body.Close()
		n := uint32(min(size, 1<<32-1))
		return nil, &codeError{
			code: metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize, HTTPResponseHeaderSectionSize: &n},
			msg:  fmt.Sprintf("the response headers have %d bytes, over the %d-byte limit", size, limit),
		}
	}
	betweenBytes := spec.opts.betweenBytes
	if betweenBytes <= 0 {
		betweenBytes = ex.host.t.cfg.ResponseTimeout
	}
	status := resp.StatusCode
	if status < 0 || status > 0xffff {
		_ = resp.Body.Close()
		return nil, &codeError{code: tagCode(metald.WasiHttpErrorCodeTagHTTPProtocolError), msg: fmt.Sprintf("status %d", status)}
	}
	return &response{
		status:  uint16(status),
		headers: responseFields(resp.Header),
		body:    newInBody(ex, resp.Body, betweenBytes),
	}, nil
}

// cause prefers the reason the exchange's context was cancelled (a timeout of ours) to
// the error net/http reported for it.
func (ex *exchange) cause(err error) error {
	if ex.ctx.Err() == nil {
		return err
	}
	var ce *codeError
	if cause := context.Cause(ex.ctx); errors.As(cause, &ce) {
		return ce
	}
	return err
}

// abandon cancels the exchange with cause and closes its response body, if any.
func (ex *exchange) abandon(cause error) {
	ex.mu.Lock()
	ex.abandoned = true
	resp := ex.resp
	ex.mu.Unlock()
	ex.cancel(cause)
	if resp != nil {
		resp.body.close()
	}
}

// end releases the exchange once its response body is closed or it failed: the request
// context is cancelled (which ends a connection still busy with it), and a connection of
// a retired pool is closed.
func (ex *exchange) end() {
	ex.endOnce.Do(func() {
		ex.cancel(errAbandoned)
		ex.host.unregister(ex)
		ex.mu.Lock()
		p := ex.pool
		ex.mu.Unlock()
		if p != nil {
			p.release()
		}
	})
}
