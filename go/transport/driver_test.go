package transport

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// call is one request made through the host's methods the way the component makes it.
type call struct {
	method  string // default POST
	url     string
	headers [][2]string
	body    []byte
	// finishFirst writes and finishes the body before handle (the component does it after).
	finishFirst bool
	// options, in nanoseconds; nil: no request-options.
	connect, firstByte, betweenBytes *uint64
	// deadline is the component-side timer polled beside every wait; 0: none.
	deadline time.Duration
}

// outcome is what the driver saw.
type outcome struct {
	handleErr *metald.WasiHttpErrorCode // handle refused the request
	respErr   *metald.WasiHttpErrorCode // the future resolved to an error
	bodyErr   *metald.WasiHttpErrorCode // the body stream failed
	timedOut  bool                      // the deadline passed first
	status    uint16
	headers   map[string][]string
	body      []byte
}

// cabiEntry is one header as fields.from-list takes it.
type cabiEntry = cabi.Tuple2[string, []byte]

func u64(v uint64) *uint64 { return &v }

// drive runs c through h and drops every resource it made.
func drive(t testing.TB, ctx context.Context, h *Host, c call) outcome {
	t.Helper()
	var out outcome
	u, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]cabi.Tuple2[string, []byte], 0, len(c.headers))
	for _, kv := range c.headers {
		entries = append(entries, cabi.Tuple2[string, []byte]{F0: kv[0], F1: []byte(kv[1])})
	}
	fr := h.FieldsFromList(ctx, entries)
	if fr.IsErr {
		t.Fatalf("fields.from-list: %v", fr.Err.Tag)
	}
	req := h.NewOutgoingRequest(ctx, fr.Ok)
	method := metald.WasiHttpMethod{Tag: metald.WasiHttpMethodTagPost}
	if c.method != "" && c.method != "POST" {
		method = metald.WasiHttpMethod{Tag: metald.WasiHttpMethodTagOther, Other: c.method}
		if c.method == "GET" {
			method = metald.WasiHttpMethod{Tag: metald.WasiHttpMethodTagGet}
		}
	}
	scheme := metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP}
	if u.Scheme == "https" {
		scheme.Tag = metald.WasiHttpSchemeTagHTTPS
	}
	path := u.RequestURI()
	for _, r := range []cabi.Result[struct{}, struct{}]{
		h.OutgoingRequestSetMethod(ctx, req, method),
		h.OutgoingRequestSetScheme(ctx, req, &scheme),
		h.OutgoingRequestSetAuthority(ctx, req, &u.Host),
		h.OutgoingRequestSetPathWithQuery(ctx, req, &path),
	} {
		if r.IsErr {
			t.Fatalf("a setter of %s failed", c.url)
		}
	}
	br := h.OutgoingRequestBody(ctx, req)
	if br.IsErr {
		t.Fatal("outgoing-request.body failed")
	}
	body := br.Ok
	if h.OutgoingRequestBody(ctx, req).IsErr == false {
		t.Fatal("outgoing-request.body succeeded twice")
	}
	write := func() {
		sr := h.OutgoingBodyWrite(ctx, body)
		if sr.IsErr {
			t.Fatal("outgoing-body.write failed")
		}
		if !h.OutgoingBodyWrite(ctx, body).IsErr {
			t.Fatal("outgoing-body.write succeeded twice")
		}
		stream := sr.Ok
		rest := c.body
		for len(rest) > 0 {
			cw := h.OutputStreamCheckWrite(ctx, stream)
			if cw.IsErr {
				t.Fatalf("check-write: %v", cw.Err.Tag)
			}
			n := min(uint64(len(rest)), cw.Ok)
			if w := h.OutputStreamWrite(ctx, stream, rest[:n]); w.IsErr {
				t.Fatalf("write: %v", w.Err.Tag)
			}
			rest = rest[n:]
		}
		if f := h.OutputStreamFlush(ctx, stream); f.IsErr {
			t.Fatalf("flush: %v", f.Err.Tag)
		}
		h.DropOutputStream(ctx, stream)
		if fin := h.OutgoingBodyFinish(ctx, body, nil); fin.IsErr {
			t.Fatalf("outgoing-body.finish: %s", describe(fin.Err))
		}
	}
	if c.finishFirst {
		write()
	}
	var opts *metald.WasiHttpRequestOptions
	if c.connect != nil || c.firstByte != nil || c.betweenBytes != nil {
		o := h.NewRequestOptions(ctx)
		h.RequestOptionsSetConnectTimeout(ctx, o, c.connect)
		h.RequestOptionsSetFirstByteTimeout(ctx, o, c.firstByte)
		h.RequestOptionsSetBetweenBytesTimeout(ctx, o, c.betweenBytes)
		opts = &o
	}
	hr := h.Handle(ctx, req, opts)
	if hr.IsErr {
		out.handleErr = &hr.Err
		if !c.finishFirst {
			h.DropOutgoingBody(ctx, body)
		}
		return out
	}
	future := hr.Ok
	defer h.DropFutureIncomingResponse(ctx, future)
	if !c.finishFirst {
		write()
	}
	timer := metald.WasiIoPollable(0)
	if c.deadline > 0 {
		timer = h.SubscribeInstant(ctx, h.Now(ctx)+uint64(c.deadline))
		defer h.DropPollable(ctx, timer)
	}
	wait := func(p metald.WasiIoPollable) bool {
		list := []metald.WasiIoPollable{p}
		if timer != 0 {
			list = append(list, timer)
		}
		ready := h.Poll(ctx, list)
		return ready[0] == 0
	}
	fp := h.FutureIncomingResponseSubscribe(ctx, future)
	ok := wait(fp)
	h.DropPollable(ctx, fp)
	if !ok {
		out.timedOut = true
		return out
	}
	got := h.FutureIncomingResponseGet(ctx, future)
	if got == nil || got.IsErr {
		t.Fatalf("future.get after ready: %+v", got)
	}
	if again := h.FutureIncomingResponseGet(ctx, future); again == nil || !again.IsErr {
		t.Fatalf("a second future.get: %+v", again)
	}
	if got.Ok.IsErr {
		out.respErr = &got.Ok.Err
		return out
	}
	resp := got.Ok.Ok
	defer h.DropIncomingResponse(ctx, resp)
	out.status = h.IncomingResponseStatus(ctx, resp)
	hf := h.IncomingResponseHeaders(ctx, resp)
	out.headers = map[string][]string{}
	for _, e := range h.FieldsEntries(ctx, hf) {
		out.headers[e.F0] = append(out.headers[e.F0], string(e.F1))
	}
	h.DropFields(ctx, hf)
	cr := h.IncomingResponseConsume(ctx, resp)
	if cr.IsErr {
		t.Fatal("incoming-response.consume failed")
	}
	if !h.IncomingResponseConsume(ctx, resp).IsErr {
		t.Fatal("incoming-response.consume succeeded twice")
	}
	ib := cr.Ok
	sr := h.IncomingBodyStream(ctx, ib)
	if sr.IsErr {
		t.Fatal("incoming-body.stream failed")
	}
	if !h.IncomingBodyStream(ctx, ib).IsErr {
		t.Fatal("incoming-body.stream succeeded twice")
	}
	stream := sr.Ok
	sp := h.InputStreamSubscribe(ctx, stream)
	out.body = []byte{}
read:
	for {
		r := h.InputStreamRead(ctx, stream, 64<<10)
		switch {
		case !r.IsErr && len(r.Ok) == 0:
			if !wait(sp) {
				out.timedOut = true
				break read
			}
		case !r.IsErr:
			out.body = append(out.body, r.Ok...)
		case r.Err.Tag == metald.WasiIoStreamErrorTagClosed:
			break read
		default:
			e := r.Err.LastOperationFailed
			code := h.HttpErrorCode(ctx, e)
			if code == nil {
				t.Fatal("http-error-code gave none for a body failure")
			}
			if s := h.ErrorToDebugString(ctx, e); !strings.Contains(s, code.Tag.String()) {
				t.Errorf("to-debug-string %q does not name %s", s, code.Tag)
			}
			out.bodyErr = code
			h.DropError(ctx, e)
			if again := h.InputStreamRead(ctx, stream, 1); !again.IsErr || again.Err.Tag != metald.WasiIoStreamErrorTagClosed {
				t.Errorf("a read after a failure: %+v, want closed", again)
			}
			break read
		}
	}
	h.DropPollable(ctx, sp)
	h.DropInputStream(ctx, stream)
	h.DropFutureTrailers(ctx, h.IncomingBodyFinish(ctx, ib))
	return out
}
