package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/metald/metald-client/go/metald"
)

// newTransport makes a Transport allowing the given servers' URLs.
func newTransport(t testing.TB, cfg Config, servers ...string) *Transport {
	t.Helper()
	cfg.AllowList = append(cfg.AllowList, servers...)
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// newHost makes a host and checks, at the end of the test, that it holds nothing.
func newHost(t testing.TB, tr *Transport) *Host {
	t.Helper()
	h := tr.NewHost()
	t.Cleanup(h.Close)
	return h
}

func assertNoLeaks(t testing.TB, h *Host) {
	t.Helper()
	if n := h.LiveHandles(); n != 0 {
		t.Errorf("%d handles still live", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for h.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := h.InFlight(); n != 0 {
		t.Errorf("%d requests still in flight", n)
	}
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Path", r.URL.RequestURI())
	w.Header().Set("X-Tenant", r.Header.Get("X-Tenant-ID"))
	w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
	w.Header().Add("X-Multi", "a")
	w.Header().Add("X-Multi", "b")
	_, _ = w.Write(body)
}

func TestFullRequestOverHTTP1(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	for _, finishFirst := range []bool{false, true} {
		body := bytes.Repeat([]byte("0123456789abcdef"), 200_000) // 3.2 MB: several permits and reads
		out := drive(t, ctx, h, call{
			url:         srv.URL + "/metal.vmprovisioner.v1.VmService/ListVms?x=1",
			headers:     [][2]string{{"Content-Type", "application/proto"}, {"X-Tenant-ID", "t1"}, {"content-length", fmt.Sprint(len(body))}},
			body:        body,
			finishFirst: finishFirst,
		})
		if out.handleErr != nil || out.respErr != nil || out.bodyErr != nil || out.timedOut {
			t.Fatalf("finishFirst=%v: %+v", finishFirst, out)
		}
		if out.status != 200 || !bytes.Equal(out.body, body) {
			t.Fatalf("finishFirst=%v: status %d, %d body bytes, want 200 and the %d sent", finishFirst, out.status, len(out.body), len(body))
		}
		want := map[string]string{
			"x-method": "POST", "x-proto": "HTTP/1.1", "x-tenant": "t1",
			"x-path":           "/metal.vmprovisioner.v1.VmService/ListVms?x=1",
			"x-content-length": fmt.Sprint(len(body)),
		}
		for k, v := range want {
			if got := out.headers[k]; len(got) != 1 || got[0] != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if got := out.headers["x-multi"]; strings.Join(got, ",") != "a,b" {
			t.Errorf("x-multi = %q, want both values in order", got)
		}
		assertNoLeaks(t, h)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	for range 5 {
		if out := drive(t, context.Background(), h, call{url: srv.URL + "/x", body: []byte("hi")}); out.status != 200 {
			t.Fatalf("%+v", out)
		}
		time.Sleep(5 * time.Millisecond) // let net/http put the connection back
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
	assertNoLeaks(t, h)
}

func TestH2CWithPriorKnowledge(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{H2C: true}, srv.URL))
	out := drive(t, context.Background(), h, call{url: srv.URL + "/h2c", body: []byte("over h2c")})
	if out.status != 200 || string(out.body) != "over h2c" {
		t.Fatalf("%+v", out)
	}
	if got := out.headers["x-proto"]; len(got) != 1 || got[0] != "HTTP/2.0" {
		t.Errorf("the server saw %q, want HTTP/2.0", got)
	}
	assertNoLeaks(t, h)
}

// tlsServer starts an HTTPS server offering HTTP/2 and counts its connections.
func tlsServer(t *testing.T, conns *atomic.Int32, closed *atomic.Int32) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, roots
}

func TestHTTP2ByALPNAndIdentityRotation(t *testing.T) {
	var conns, closed atomic.Int32
	srv, roots := tlsServer(t, &conns, &closed)
	var key atomic.Value
	key.Store("identity-1")
	tr := newTransport(t, Config{TLSConfig: func() (*tls.Config, string, error) {
		return &tls.Config{RootCAs: roots}, key.Load().(string), nil
	}}, srv.URL)
	h := newHost(t, tr)
	ctx := context.Background()
	for i := range 2 {
		out := drive(t, ctx, h, call{url: srv.URL + "/tls", body: []byte("secret")})
		if out.status != 200 || string(out.body) != "secret" {
			t.Fatalf("request %d: %+v", i, out)
		}
		if got := out.headers["x-proto"]; len(got) != 1 || got[0] != "HTTP/2.0" {
			t.Errorf("the server saw %q, want HTTP/2.0 by ALPN", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections under one identity, want 1", n)
	}
	key.Store("identity-2")
	if out := drive(t, ctx, h, call{url: srv.URL + "/tls", body: []byte("rotated")}); out.status != 200 {
		t.Fatalf("after rotation: %+v", out)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections after the identity changed, want a new one (2)", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for closed.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if closed.Load() < 1 {
		t.Error("the old identity's idle connection was not closed")
	}
	assertNoLeaks(t, h)
}

func TestTLSFailuresAreTLSAlerts(t *testing.T) {
	var conns, closed atomic.Int32
	srv, _ := tlsServer(t, &conns, &closed)
	ctx := context.Background()

	// Unknown issuer: the system roots do not know httptest's certificate.
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	out := drive(t, ctx, h, call{url: srv.URL + "/"})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagTLSAlertReceived || out.respErr.TLSAlertReceived.AlertMessage == nil {
		t.Fatalf("unknown issuer: %+v, want TLS-alert-received with a message", out)
	}
	if msg := *out.respErr.TLSAlertReceived.AlertMessage; !strings.Contains(msg, "certificate") {
		t.Errorf("alert message %q does not name the certificate problem", msg)
	}

	// A verifier refusing the peer (as a SPIFFE ID check would).
	h2 := newHost(t, newTransport(t, Config{TLSConfig: func() (*tls.Config, string, error) {
		return &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(tls.ConnectionState) error {
			return fmt.Errorf("spiffe://other.org/metald is not authorized")
		}}, "k", nil
	}}, srv.URL))
	out = drive(t, ctx, h2, call{url: srv.URL + "/"})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagTLSAlertReceived ||
		!strings.Contains(*out.respErr.TLSAlertReceived.AlertMessage, "not authorized") {
		t.Fatalf("refused peer: %+v, want TLS-alert-received naming the cause", out)
	}

	// An identity that is not available.
	h3 := newHost(t, newTransport(t, Config{TLSConfig: func() (*tls.Config, string, error) {
		return nil, "", fmt.Errorf("no SVID from the workload API")
	}}, srv.URL))
	out = drive(t, ctx, h3, call{url: srv.URL + "/"})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagTLSAlertReceived ||
		!strings.Contains(*out.respErr.TLSAlertReceived.AlertMessage, "no SVID") {
		t.Fatalf("no identity: %+v", out)
	}
	for _, h := range []*Host{h, h2, h3} {
		assertNoLeaks(t, h)
	}
}

func TestAllowListAtHandle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	other, _ := net.Listen("tcp", "127.0.0.1:0")
	defer other.Close()
	otherPort := other.Addr().(*net.TCPAddr).Port
	if out := drive(t, ctx, h, call{url: srv.URL + "/ok"}); out.status != 200 {
		t.Fatalf("the configured origin: %+v", out)
	}
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/", otherPort), // another port
		"https://127.0.0.1:" + port + "/",              // another scheme
		"http://localhost:" + port + "/",               // another host name for the same address
		"http://127.0.0.1/",                            // the default port
	} {
		out := drive(t, ctx, h, call{url: u})
		if out.handleErr == nil || out.handleErr.Tag != metald.WasiHttpErrorCodeTagHTTPRequestDenied {
			t.Errorf("%s: %+v, want HTTP-request-denied from handle", u, out)
		}
	}
	assertNoLeaks(t, h)
}

func TestHandleRefusesBadURLs(t *testing.T) {
	tr := newTransport(t, Config{}, "http://127.0.0.1:1")
	h := newHost(t, tr)
	ctx := context.Background()
	// No authority.
	fr := h.FieldsFromList(ctx, nil)
	req := h.NewOutgoingRequest(ctx, fr.Ok)
	if r := h.Handle(ctx, req, nil); !r.IsErr || r.Err.Tag != metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid {
		t.Errorf("no authority: %+v", r)
	}
	// Another scheme.
	fr = h.FieldsFromList(ctx, nil)
	req = h.NewOutgoingRequest(ctx, fr.Ok)
	ftp := metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagOther, Other: "ftp"}
	auth := "127.0.0.1:1"
	h.OutgoingRequestSetScheme(ctx, req, &ftp)
	h.OutgoingRequestSetAuthority(ctx, req, &auth)
	if r := h.Handle(ctx, req, nil); !r.IsErr || r.Err.Tag != metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid {
		t.Errorf("ftp: %+v", r)
	}
	// Setters refuse malformed values.
	fr = h.FieldsFromList(ctx, nil)
	req = h.NewOutgoingRequest(ctx, fr.Ok)
	for _, bad := range []string{"a b", "user@host", "host/path", "[::1", "h:x", ""} {
		if !h.OutgoingRequestSetAuthority(ctx, req, &bad).IsErr {
			t.Errorf("set-authority %q succeeded", bad)
		}
	}
	for _, bad := range []string{"no-slash", "/a b", "/x#frag", "/\n"} {
		if !h.OutgoingRequestSetPathWithQuery(ctx, req, &bad).IsErr {
			t.Errorf("set-path-with-query %q succeeded", bad)
		}
	}
	if !h.OutgoingRequestSetMethod(ctx, req, metald.WasiHttpMethod{Tag: metald.WasiHttpMethodTagOther, Other: "BAD METHOD"}).IsErr {
		t.Error("set-method with a space succeeded")
	}
	if !h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagOther, Other: "1x"}).IsErr {
		t.Error("set-scheme 1x succeeded")
	}
	h.DropOutgoingRequest(ctx, req)
	assertNoLeaks(t, h)
}

func TestConnectionRefused(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	h := newHost(t, newTransport(t, Config{}, "http://"+addr))
	out := drive(t, context.Background(), h, call{url: "http://" + addr + "/"})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagConnectionRefused {
		t.Fatalf("%+v, want connection-refused", out)
	}
	assertNoLeaks(t, h)
}

func TestResponseHeaderCap(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("x", 20<<10))
		w.Header().Set("X-Big-2", strings.Repeat("y", 20<<10))
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	ctx := context.Background()
	h := newHost(t, newTransport(t, Config{MaxResponseHeaderBytes: 16 << 10}, srv.URL))
	out := drive(t, ctx, h, call{url: srv.URL + "/"})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize {
		t.Fatalf("%+v, want HTTP-response-header-section-size", out)
	}
	// 40 KiB of headers pass the default 64 KiB cap.
	h2 := newHost(t, newTransport(t, Config{}, srv.URL))
	if out := drive(t, ctx, h2, call{url: srv.URL + "/"}); out.status != 200 {
		t.Fatalf("under the default cap: %+v", out)
	}
	assertNoLeaks(t, h)
	assertNoLeaks(t, h2)
}

func TestIncompleteBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "only part of it")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	out := drive(t, context.Background(), h, call{url: srv.URL + "/"})
	if out.status != 200 || string(out.body) != "only part of it" {
		t.Fatalf("%+v", out)
	}
	if out.bodyErr == nil || out.bodyErr.Tag != metald.WasiHttpErrorCodeTagHTTPResponseIncomplete {
		t.Fatalf("body error %+v, want HTTP-response-incomplete", out.bodyErr)
	}
	assertNoLeaks(t, h)
}

func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stall-body" {
			_, _ = io.WriteString(w, "first")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()

	start := time.Now()
	out := drive(t, ctx, h, call{url: srv.URL + "/stall", firstByte: u64(uint64(150 * time.Millisecond))})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagConnectionReadTimeout {
		t.Fatalf("first byte: %+v, want connection-read-timeout", out)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the first-byte timeout took %v", d)
	}

	out = drive(t, ctx, h, call{url: srv.URL + "/stall-body", betweenBytes: u64(uint64(150 * time.Millisecond))})
	if string(out.body) != "first" || out.bodyErr == nil || out.bodyErr.Tag != metald.WasiHttpErrorCodeTagConnectionReadTimeout {
		t.Fatalf("between bytes: %+v, want the first bytes then connection-read-timeout", out)
	}

	// The component's own deadline: it drops the future, which cancels the request.
	start = time.Now()
	out = drive(t, ctx, h, call{url: srv.URL + "/stall", deadline: 150 * time.Millisecond})
	if !out.timedOut {
		t.Fatalf("deadline: %+v", out)
	}
	if d := time.Since(start); d < 140*time.Millisecond || d > time.Second {
		t.Errorf("the deadline ended the wait after %v, want about 150ms", d)
	}
	assertNoLeaks(t, h)
}

// fullBacklog returns a loopback address whose listen queue is full, so a new connect
// neither completes nor fails (Linux drops the SYN).
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Skip(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Skip(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue; connects that complete here are never accepted.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("this kernel does not leave connects to a full backlog pending")
	return ""
}

func TestConnectTimeout(t *testing.T) {
	addr := fullBacklog(t)
	h := newHost(t, newTransport(t, Config{}, "http://"+addr))
	start := time.Now()
	out := drive(t, context.Background(), h, call{url: "http://" + addr + "/", connect: u64(uint64(100 * time.Millisecond))})
	if out.respErr == nil || out.respErr.Tag != metald.WasiHttpErrorCodeTagConnectionTimeout {
		t.Fatalf("%+v, want connection-timeout", out)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a 100ms connect timeout took %v", d)
	}
	assertNoLeaks(t, h)
}

func TestRequestBodyLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{MaxRequestBodyBytes: 10}, srv.URL))
	ctx := context.Background()
	auth := strings.TrimPrefix(srv.URL, "http://")

	start := func(headers ...[2]string) (metald.WasiHttpFutureIncomingResponse, metald.WasiHttpOutgoingBody, metald.WasiIoOutputStream) {
		fr := h.FieldsFromList(ctx, toEntries(headers))
		req := h.NewOutgoingRequest(ctx, fr.Ok)
		h.OutgoingRequestSetAuthority(ctx, req, &auth)
		h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
		body := h.OutgoingRequestBody(ctx, req).Ok
		fut := h.Handle(ctx, req, nil)
		if fut.IsErr {
			t.Fatal(describe(fut.Err))
		}
		return fut.Ok, body, h.OutgoingBodyWrite(ctx, body).Ok
	}
	resolve := func(f metald.WasiHttpFutureIncomingResponse) metald.WasiHttpErrorCode {
		p := h.FutureIncomingResponseSubscribe(ctx, f)
		h.PollableBlock(ctx, p)
		h.DropPollable(ctx, p)
		got := h.FutureIncomingResponseGet(ctx, f)
		h.DropFutureIncomingResponse(ctx, f)
		if got == nil || got.IsErr || !got.Ok.IsErr {
			t.Fatalf("future: %+v, want an error code", got)
		}
		return got.Ok.Err
	}

	// Over the host's limit.
	f, body, s := start()
	if cw := h.OutputStreamCheckWrite(ctx, s); cw.IsErr || cw.Ok == 0 {
		t.Fatalf("check-write: %+v", cw)
	}
	w := h.OutputStreamWrite(ctx, s, []byte("more than ten bytes"))
	if !w.IsErr || w.Err.Tag != metald.WasiIoStreamErrorTagLastOperationFailed {
		t.Fatalf("write over the limit: %+v", w)
	}
	if code := h.HttpErrorCode(ctx, w.Err.LastOperationFailed); code == nil || code.Tag != metald.WasiHttpErrorCodeTagHTTPRequestBodySize {
		t.Fatalf("code %+v, want HTTP-request-body-size", code)
	}
	h.DropError(ctx, w.Err.LastOperationFailed)
	if cw := h.OutputStreamCheckWrite(ctx, s); !cw.IsErr || cw.Err.Tag != metald.WasiIoStreamErrorTagClosed {
		t.Errorf("check-write after the failure: %+v, want closed", cw)
	}
	h.DropOutputStream(ctx, s)
	if fin := h.OutgoingBodyFinish(ctx, body, nil); !fin.IsErr || fin.Err.Tag != metald.WasiHttpErrorCodeTagHTTPRequestBodySize {
		t.Errorf("finish: %+v", fin)
	}
	if code := resolve(f); code.Tag != metald.WasiHttpErrorCodeTagHTTPRequestBodySize {
		t.Errorf("the request: %s", describe(code))
	}

	// Beyond the check-write permit.
	f, body, s = start()
	h.OutputStreamCheckWrite(ctx, s)
	h.OutputStreamWrite(ctx, s, []byte("12345"))
	if w := h.OutputStreamWrite(ctx, s, make([]byte, writePermit)); !w.IsErr {
		t.Error("a write past the permit succeeded")
	} else {
		h.DropError(ctx, w.Err.LastOperationFailed)
	}
	h.DropOutputStream(ctx, s)
	h.OutgoingBodyFinish(ctx, body, nil)
	resolve(f)

	// blocking-write-and-flush: within the limit it needs no check-write; over its 4096-byte
	// contract it fails like a write past the permit.
	f, body, s = start()
	if w := h.OutputStreamBlockingWriteAndFlush(ctx, s, []byte("12345")); w.IsErr {
		t.Fatalf("blocking write within the limit: %+v", w)
	}
	if w := h.OutputStreamBlockingWriteAndFlush(ctx, s, make([]byte, blockingWriteMax+1)); !w.IsErr || w.Err.Tag != metald.WasiIoStreamErrorTagLastOperationFailed {
		t.Errorf("a blocking write over 4096 bytes: %+v, want last-operation-failed", w)
	} else {
		h.DropError(ctx, w.Err.LastOperationFailed)
	}
	if w := h.OutputStreamBlockingWriteAndFlush(ctx, s, []byte("1")); !w.IsErr || w.Err.Tag != metald.WasiIoStreamErrorTagClosed {
		t.Errorf("a blocking write after the failure: %+v, want closed", w)
	}
	h.DropOutputStream(ctx, s)
	h.OutgoingBodyFinish(ctx, body, nil)
	resolve(f)

	// Shorter than its Content-Length.
	f, body, s = start([2]string{"Content-Length", "8"})
	h.OutputStreamCheckWrite(ctx, s)
	h.OutputStreamWrite(ctx, s, []byte("1234"))
	h.DropOutputStream(ctx, s)
	if fin := h.OutgoingBodyFinish(ctx, body, nil); !fin.IsErr || fin.Err.Tag != metald.WasiHttpErrorCodeTagHTTPRequestBodySize {
		t.Errorf("finish short of Content-Length: %+v", fin)
	}
	resolve(f)

	// Dropped without finish.
	f, body, s = start()
	h.DropOutputStream(ctx, s)
	h.DropOutgoingBody(ctx, body)
	if code := resolve(f); code.Tag != metald.WasiHttpErrorCodeTagInternalError {
		t.Errorf("dropped body: %s", describe(code))
	}
	assertNoLeaks(t, h)
}

func toEntries(headers [][2]string) []cabiEntry {
	out := make([]cabiEntry, len(headers))
	for i, kv := range headers {
		out[i] = cabiEntry{F0: kv[0], F1: []byte(kv[1])}
	}
	return out
}

func TestDroppingAPendingFutureCancelsTheRequest(t *testing.T) {
	cancelled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	}))
	defer srv.Close()
	h := newHost(t, newTransport(t, Config{}, srv.URL))
	ctx := context.Background()
	auth := strings.TrimPrefix(srv.URL, "http://")
	req := h.NewOutgoingRequest(ctx, h.FieldsFromList(ctx, nil).Ok)
	h.OutgoingRequestSetAuthority(ctx, req, &auth)
	h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
	fut := h.Handle(ctx, req, nil)
	if fut.IsErr {
		t.Fatal(describe(fut.Err))
	}
	if got := h.FutureIncomingResponseGet(ctx, fut.Ok); got != nil {
		t.Fatalf("get while pending: %+v, want none", got)
	}
	time.Sleep(50 * time.Millisecond)
	h.DropFutureIncomingResponse(ctx, fut.Ok)
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("the server did not see the request cancelled")
	}
	assertNoLeaks(t, h)
}

func TestCloseReleasesEverything(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	tr := newTransport(t, Config{}, srv.URL)
	h := tr.NewHost()
	ctx := context.Background()
	auth := strings.TrimPrefix(srv.URL, "http://")
	req := h.NewOutgoingRequest(ctx, h.FieldsFromList(ctx, nil).Ok)
	h.OutgoingRequestSetAuthority(ctx, req, &auth)
	h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
	fut := h.Handle(ctx, req, nil).Ok
	p := h.FutureIncomingResponseSubscribe(ctx, fut)
	h.PollableBlock(ctx, p)
	resp := h.FutureIncomingResponseGet(ctx, fut).Ok.Ok
	body := h.IncomingResponseConsume(ctx, resp).Ok
	stream := h.IncomingBodyStream(ctx, body).Ok
	_ = h.InputStreamSubscribe(ctx, stream)
	_ = h.SubscribeInstant(ctx, h.Now(ctx)+uint64(time.Hour))
	if h.LiveHandles() == 0 || h.InFlight() != 1 {
		t.Fatalf("before Close: %d handles, %d in flight", h.LiveHandles(), h.InFlight())
	}
	h.Close()
	if h.LiveHandles() != 0 || h.InFlight() != 0 {
		t.Fatalf("after Close: %d handles, %d in flight", h.LiveHandles(), h.InFlight())
	}
	h.Close() // idempotent
	// A request after Close fails cleanly.
	req = h.NewOutgoingRequest(ctx, h.FieldsFromList(ctx, nil).Ok)
	h.OutgoingRequestSetAuthority(ctx, req, &auth)
	h.OutgoingRequestSetScheme(ctx, req, &metald.WasiHttpScheme{Tag: metald.WasiHttpSchemeTagHTTP})
	if r := h.Handle(ctx, req, nil); !r.IsErr {
		t.Error("handle after Close succeeded")
	}
}

func TestInvalidHandlesTrap(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	fields := h.FieldsFromList(ctx, nil).Ok
	for name, f := range map[string]func(){
		"unknown handle": func() { h.IncomingResponseStatus(ctx, 999) },
		"zero handle":    func() { h.DropPollable(ctx, 0) },
		"wrong resource": func() { h.IncomingResponseStatus(ctx, metald.WasiHttpIncomingResponse(fields)) },
	} {
		func() {
			defer func() {
				r := recover()
				if _, ok := r.(*HandleError); !ok {
					t.Errorf("%s: recovered %v, want a *HandleError", name, r)
				}
			}()
			f()
		}()
	}
	h.DropFields(ctx, fields)
	assertNoLeaks(t, h)
}

func TestHTTPSStillNegotiatesWithH2COn(t *testing.T) {
	var conns, closed atomic.Int32
	srv, roots := tlsServer(t, &conns, &closed)
	h := newHost(t, newTransport(t, Config{H2C: true, TLSConfig: func() (*tls.Config, string, error) {
		return &tls.Config{RootCAs: roots}, "k", nil
	}}, srv.URL))
	out := drive(t, context.Background(), h, call{url: srv.URL + "/", body: []byte("x")})
	if out.status != 200 || len(out.headers["x-proto"]) != 1 || out.headers["x-proto"][0] != "HTTP/2.0" {
		t.Fatalf("%+v, want HTTP/2 by ALPN", out)
	}
	assertNoLeaks(t, h)
}
