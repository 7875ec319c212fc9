package transport

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/metald/metald-client/go/metald"
)

// opened is a response whose body stream is open.
type opened struct {
	future metald.WasiHttpFutureIncomingResponse
	resp   metald.WasiHttpIncomingResponse
	body   metald.WasiHttpIncomingBody
	stream metald.WasiIoInputStream
}

// open sends a GET to url and opens the response body's stream.
func open(t *testing.T, h *Host, url string) opened {
	t.Helper()
	ctx := context.Background()
	var o opened
	auth := strings.TrimPrefix(url, "http://")
	path := "/"
	if i := strings.IndexByte(auth, '/'); i >= 0 {
		auth, path = auth[:i], auth[i:]
	}
	req := h.NewOutgoingRequest(ctx, h.FieldsFromList(ctx, nil).Ok)
	h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
	h.OutgoingRequestSetAuthority(ctx, req, &auth)
	h.OutgoingRequestSetPathWithQuery(ctx, req, &path)
	fut := h.Handle(ctx, req, nil)
	if fut.IsErr {
		t.Fatal(describe(fut.Err))
	}
	o.future = fut.Ok
	p := h.FutureIncomingResponseSubscribe(ctx, o.future)
	h.PollableBlock(ctx, p)
	h.DropPollable(ctx, p)
	got := h.FutureIncomingResponseGet(ctx, o.future)
	if got == nil || got.IsErr || got.Ok.IsErr {
		t.Fatalf("response: %+v", got)
	}
	o.resp = got.Ok.Ok
	o.body = h.IncomingResponseConsume(ctx, o.resp).Ok
	o.stream = h.IncomingBodyStream(ctx, o.body).Ok
	return o
}

func TestInputStreamEOF(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "abc")
	}))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	o := open(t, h, srv.URL+"/")
	p := h.InputStreamSubscribe(ctx, o.stream)
	var got []byte
	for {
		r := h.InputStreamRead(ctx, o.stream, 2)
		if r.IsErr {
			if r.Err.Tag != metald.WasiIoStreamErrorTagClosed {
				t.Fatalf("read: %+v, want closed at the end", r.Err)
			}
			break
		}
		if len(r.Ok) > 2 {
			t.Fatalf("read(2) gave %d bytes", len(r.Ok))
		}
		if len(r.Ok) == 0 {
			h.PollableBlock(ctx, p)
			continue
		}
		got = append(got, r.Ok...)
	}
	if string(got) != "abc" {
		t.Errorf("body %q, want abc", got)
	}
	// Closed stays closed, also for a zero-length read; the pollable stays ready.
	for _, n := range []uint64{0, 10} {
		if r := h.InputStreamRead(ctx, o.stream, n); !r.IsErr || r.Err.Tag != metald.WasiIoStreamErrorTagClosed {
			t.Errorf("read(%d) after the end: %+v, want closed", n, r)
		}
	}
	h.PollableBlock(ctx, p)
	h.DropPollable(ctx, p)
	h.DropInputStream(ctx, o.stream)
	h.DropFutureTrailers(ctx, h.IncomingBodyFinish(ctx, o.body))
	h.DropIncomingResponse(ctx, o.resp)
	h.DropFutureIncomingResponse(ctx, o.future)
	assertNoLeaks(t, h)
}

func TestDroppingTheBodyClosesIt(t *testing.T) {
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(gone)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	o := open(t, h, srv.URL+"/endless")

	// Not reading: the pump stops at its buffer bound.
	time.Sleep(200 * time.Millisecond)
	b := lookup[*inputStream](h, uint32(o.stream), "input-stream").body
	b.mu.Lock()
	buffered := len(b.buf)
	b.mu.Unlock()
	if buffered < maxBuffered || buffered > maxBuffered+readChunk {
		t.Errorf("%d bytes buffered, want the bound (%d..%d)", buffered, maxBuffered, maxBuffered+readChunk)
	}
	if r := h.InputStreamRead(ctx, o.stream, 1000); r.IsErr || len(r.Ok) != 1000 {
		t.Fatalf("read: %+v", r.Err)
	}
	h.DropInputStream(ctx, o.stream)
	h.DropIncomingBody(ctx, o.body)
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		t.Fatal("the server kept writing after the body was dropped")
	}
	h.DropIncomingResponse(ctx, o.resp)
	h.DropFutureIncomingResponse(ctx, o.future)
	assertNoLeaks(t, h)
}

func TestDroppingAnUnreadResponseClosesIt(t *testing.T) {
	gone := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "head")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		gone <- struct{}{}
	}))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	auth := strings.TrimPrefix(srv.URL, "http://")
	send := func() metald.WasiHttpFutureIncomingResponse {
		req := h.NewOutgoingRequest(ctx, h.FieldsFromList(ctx, nil).Ok)
		h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
		h.OutgoingRequestSetAuthority(ctx, req, &auth)
		f := h.Handle(ctx, req, nil).Ok
		p := h.FutureIncomingResponseSubscribe(ctx, f)
		h.PollableBlock(ctx, p)
		h.DropPollable(ctx, p)
		return f
	}
	// A resolved future dropped before get.
	h.DropFutureIncomingResponse(ctx, send())
	// A response dropped before consume.
	f := send()
	h.DropIncomingResponse(ctx, h.FutureIncomingResponseGet(ctx, f).Ok.Ok)
	h.DropFutureIncomingResponse(ctx, f)
	for i := range 2 {
		select {
		case <-gone:
		case <-time.After(2 * time.Second):
			t.Fatalf("response %d was not closed", i)
		}
	}
	assertNoLeaks(t, h)
}
