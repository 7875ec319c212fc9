package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/fakeworkload"
	"github.com/metald/metald-client/go/internal/testenv"
)

// End-to-end TLS: the client (component, Go transport, tlsmode) against the real dev
// server (metald-host dev-server) in file mTLS and SPIFFE mTLS modes, with certificates
// and Workload APIs from internal/fakeworkload. Everything stays on loopback and in
// temporary directories.

// newTLSTestClient is New with alice/acme and a 10 s call timeout filled in; the client is
// closed when the test ends.
func newTLSTestClient(t *testing.T, cfg Config) (*Client, error) {
	t.Helper()
	cfg.UserID, cfg.TenantID = "alice", "acme"
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	c, err := New(context.Background(), cfg)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func mustTLSTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := newTLSTestClient(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsLifecycle creates, boots, reads and deletes a VM through c.
func tlsLifecycle(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	created, err := c.CreateVM(ctx, &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(created.VMID, "ud-") || created.State != VMStateCreated {
		t.Fatalf("created %+v", created)
	}
	booted, err := c.BootVM(ctx, created.VMID)
	if err != nil || !booted.Success || booted.State != VMStateRunning {
		t.Fatalf("boot: %+v %v", booted, err)
	}
	info, err := c.GetVMInfo(ctx, created.VMID)
	if err != nil || info.VMID != created.VMID || info.State != VMStateRunning {
		t.Fatalf("info: %+v %v", info, err)
	}
	del, err := c.DeleteVM(ctx, &DeleteVMRequest{VMID: created.VMID, Force: true})
	if err != nil || !del.Success {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = c.GetVMInfo(ctx, created.VMID)
	var e *Error
	if !errors.As(err, &e) || e.Code() != CodeNotFound {
		t.Fatalf("info after delete: %v", err)
	}
}

// lostAlert is how go/transport words a server's refusal whose TLS alert net/http dropped:
// over TLS 1.3 our handshake completes first, and the server's alert can reach the HTTP/2
// read loop before the first request opens a stream, where net/http reports only
// "http2: client conn could not be established". The transport maps that (on https) to a
// TLS refusal, so the code is still unauthenticated and the outcome known.
const lostAlert = "refuses the client certificate"

// refuser is the side that ends a refused handshake.
type refuser int

const (
	// refusedByUs: our verification refuses the server, during our handshake.
	refusedByUs refuser = iota
	// refusedByServer: the server refuses our certificate and sends an alert.
	refusedByServer
)

// checkRefused checks that call (op) is refused: an *Error with code unauthenticated, no
// HTTP status (the server never answered over HTTP), a known outcome (no request was
// read) and a message saying every one of want (or, for a server's refusal whose alert
// net/http dropped, lostAlert). Server refusals are tried 10 times, since which of the two
// messages appears is a race.
func checkRefused(t *testing.T, op string, call func() error, by refuser, want ...string) {
	t.Helper()
	attempts := 1
	if by == refusedByServer {
		attempts = 10
	}
	for range attempts {
		err := call()
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v, want an *Error", op, err)
		}
		if e.Code() != CodeUnauthenticated || e.HTTPStatus() != 0 || e.OutcomeUnknown() {
			t.Fatalf("%s: code %s, HTTP status %d, outcome unknown %v (%v); want unauthenticated without an HTTP answer",
				op, e.Code(), e.HTTPStatus(), e.OutcomeUnknown(), err)
		}
		if by == refusedByServer && strings.Contains(e.Message(), lostAlert) {
			continue
		}
		for _, w := range want {
			if !strings.Contains(e.Message(), w) {
				t.Fatalf("%s: message %q does not say %q", op, e.Message(), w)
			}
		}
	}
}

// tlsRefusal checks that ListVMs calls through c are refused (see checkRefused).
func tlsRefusal(t *testing.T, c *Client, by refuser, want ...string) {
	t.Helper()
	checkRefused(t, "ListVMs", func() error {
		_, err := c.ListVMs(context.Background(), nil)
		return err
	}, by, want...)
}

// asLocalhost turns the dev server's https://127.0.0.1:PORT into https://localhost:PORT,
// the name its file-mode certificate is for: file mode refuses IP-addressed servers with
// DNS-SAN certificates (crypto/tls does not show custom verification the dialed IP).
func asLocalhost(t *testing.T, server string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("dev server URL %q is not https://127.0.0.1:PORT", server)
	}
	u.Host = net.JoinHostPort("localhost", u.Port())
	return u.String()
}

// TestFileMTLSAgainstTheDevServer: the dev server in file mode presents a certificate for
// localhost from a CA and requires client certificates chaining to that CA.
func TestFileMTLSAgainstTheDevServer(t *testing.T) {
	dir := t.TempDir()
	ca := fakeworkload.NewCA(t, "metald test CA")
	caFile := ca.WriteBundleFile(t, dir, "ca.pem")
	serverFiles := ca.WriteCertFiles(t, dir, "server", "localhost")
	clientFiles := ca.WriteCertFiles(t, dir, "client", "client.test")
	printed := testenv.DevServer(t, "--tls-mode", "file", "--tls-cert", serverFiles.Cert, "--tls-key", serverFiles.Key, "--tls-client-ca", caFile)
	server := asLocalhost(t, printed) // also checks that it printed an https:// URL
	mtls := Config{ServerAddress: server, TLSMode: "file", TLSCertFile: clientFiles.Cert, TLSKeyFile: clientFiles.Key, TLSCAFile: caFile}

	t.Run("lifecycle", func(t *testing.T) {
		tlsLifecycle(t, mustTLSTestClient(t, mtls))
	})

	t.Run("no client certificate", func(t *testing.T) {
		cfg := mtls
		cfg.TLSCertFile, cfg.TLSKeyFile = "", ""
		c := mustTLSTestClient(t, cfg)
		// TLS 1.3: our handshake completes, then the server checks our (empty) certificate
		// message and sends a certificate_required alert. The dev server drains the
		// connection before closing it, so the alert arrives (rather than a reset, which
		// would be unavailable): TLS-alert-received, which the component maps to
		// unauthenticated.
		tlsRefusal(t, c, refusedByServer, "remote error: tls: certificate required")
		// A write is refused the same way, and is known not to have happened: the server
		// refused the connection before reading any request.
		checkRefused(t, "CreateVM", func() error {
			_, err := c.CreateVM(context.Background(), &CreateVMRequest{Config: NewVMConfigFromTemplate(TemplateMinimal).Build()})
			return err
		}, refusedByServer, "remote error: tls: certificate required")
		page, err := mustTLSTestClient(t, mtls).ListVMs(context.Background(), nil)
		if err != nil || len(page.VMs) != 0 {
			t.Errorf("after the refused creates, the server lists %+v (%v); want no VM", page, err)
		}
	})

	t.Run("server certificate from another CA", func(t *testing.T) {
		cfg := mtls
		cfg.TLSCAFile = fakeworkload.NewCA(t, "another CA").WriteBundleFile(t, t.TempDir(), "other-ca.pem")
		// Our own verification refuses the server's chain.
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByUs, "failed to verify certificate", "certificate signed by unknown authority")
	})

	t.Run("client certificate from another CA", func(t *testing.T) {
		foreign := fakeworkload.NewCA(t, "another CA").WriteCertFiles(t, t.TempDir(), "client", "client.test")
		cfg := mtls
		cfg.TLSCertFile, cfg.TLSKeyFile = foreign.Cert, foreign.Key
		// The server refuses our chain with an unknown_ca alert.
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByServer, "remote error: tls: unknown certificate authority")
	})

	t.Run("addressed by IP", func(t *testing.T) {
		cfg := mtls
		cfg.ServerAddress = printed
		// The documented limitation of file mode: a DNS-SAN certificate cannot be checked
		// against a dialed IP, so it is refused rather than half-checked.
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByUs, "addressed by IP")
	})
}

// spiffeMTLSWorld is a trust domain example.org, a dev server in SPIFFE mode with its SVID
// (spiffe://example.org/metald) from one fake Workload API, and a second fake Workload API
// handing out the client's SVID (spiffe://example.org/client), both from one CA.
type spiffeMTLSWorld struct {
	ca        *fakeworkload.CA
	serverAPI *fakeworkload.Server
	clientAPI *fakeworkload.Server
	url       string // https://127.0.0.1:PORT, as printed: SPIFFE mode checks no host name
}

func newSpiffeMTLSWorld(t *testing.T) *spiffeMTLSWorld {
	t.Helper()
	w := &spiffeMTLSWorld{ca: fakeworkload.NewCA(t, "example.org"), serverAPI: fakeworkload.Start(t), clientAPI: fakeworkload.Start(t)}
	w.serverAPI.SetSVIDs(w.ca.SVID(t, "spiffe://example.org/metald", time.Hour))
	w.clientAPI.SetSVIDs(w.ca.SVID(t, "spiffe://example.org/client", time.Hour))
	w.url = testenv.DevServer(t, "--tls-mode", "spiffe", "--spiffe-socket", w.serverAPI.Socket(), "--spiffe-timeout", "5s")
	if !strings.HasPrefix(w.url, "https://") {
		t.Fatalf("the dev server in SPIFFE mode printed %q, not an https:// URL", w.url)
	}
	return w
}

// config is the client's: SPIFFE mode on the client's Workload API.
func (w *spiffeMTLSWorld) config() Config {
	return Config{ServerAddress: w.url, TLSMode: "spiffe", SPIFFESocketPath: w.clientAPI.Socket(), SPIFFETimeout: 5 * time.Second}
}

func TestSpiffeMTLSAgainstTheDevServer(t *testing.T) {
	// Fake: runs without SPIRE built and checks exact certificates; spire_test.go runs the lifecycle against SPIRE.
	w := newSpiffeMTLSWorld(t)

	t.Run("lifecycle", func(t *testing.T) {
		tlsLifecycle(t, mustTLSTestClient(t, w.config()))
	})

	t.Run("exact server ID", func(t *testing.T) {
		cfg := w.config()
		cfg.ServerSPIFFEID = "spiffe://example.org/metald"
		if _, err := mustTLSTestClient(t, cfg).ListVMs(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong server ID", func(t *testing.T) {
		cfg := w.config()
		cfg.ServerSPIFFEID = "spiffe://example.org/not-metald"
		// Our authorizer refuses the server during the handshake.
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByUs, "id-mismatch", "spiffe://example.org/metald", "spiffe://example.org/not-metald")
	})

	other := fakeworkload.NewCA(t, "other.org")
	otherAPI := fakeworkload.Start(t)
	otherSVID := other.SVID(t, "spiffe://other.org/client", time.Hour)

	t.Run("client of another trust domain", func(t *testing.T) {
		otherAPI.SetSVIDs(otherSVID)
		cfg := w.config()
		cfg.SPIFFESocketPath = otherAPI.Socket()
		// We hold no bundle for example.org, so we cannot verify the server: the handshake
		// ends on our side.
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByUs, `no X.509 bundle for trust domain "example.org"`)
	})

	t.Run("client of another trust domain, refused by the server", func(t *testing.T) {
		// Federated with example.org and told the server's exact ID, we accept the server,
		// and present our other.org SVID: the server refuses it (rustls sends a
		// handshake_failure alert).
		resp := fakeworkload.Response(otherSVID)
		resp.FederatedBundles = map[string][]byte{"spiffe://example.org": w.ca.Cert.Raw}
		otherAPI.SetResponse(resp)
		cfg := w.config()
		cfg.SPIFFESocketPath = otherAPI.Socket()
		cfg.ServerSPIFFEID = "spiffe://example.org/metald"
		tlsRefusal(t, mustTLSTestClient(t, cfg), refusedByServer, "remote error: tls: handshake failure")
	})
}

// TestSpiffeMTLSWithoutWorkloadAPI: New fails within SPIFFETimeout, naming the socket, and
// nothing reaches the server, in plain text or otherwise.
func TestSpiffeMTLSWithoutWorkloadAPI(t *testing.T) {
	// No Workload API at all: nothing for SPIRE to do.
	// A listener stands for the server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reached := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			reached <- struct{}{}
			_ = c.Close()
		}
	}()
	const timeout = 1500 * time.Millisecond
	for _, tc := range []struct {
		name, socket string
		want         []string
		min          time.Duration
	}{
		{"missing socket", filepath.Join(t.TempDir(), "agent.sock"), []string{"does not exist", "refusing to fall back to plaintext"}, 0},
		{"Workload API that sends no SVID", fakeworkload.Start(t).Socket(), []string{"no X.509-SVID within " + timeout.String()}, timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := newTLSTestClient(t, Config{ServerAddress: "https://" + ln.Addr().String(), TLSMode: "spiffe", SPIFFESocketPath: tc.socket, SPIFFETimeout: timeout})
			took := time.Since(start)
			if err == nil || c != nil {
				t.Fatalf("New: %v, %v", c, err)
			}
			if took < tc.min || took > timeout+2*time.Second {
				t.Errorf("New failed after %v with SPIFFETimeout %v", took, timeout)
			}
			for _, want := range append([]string{tc.socket}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	select {
	case <-reached:
		t.Fatal("a connection reached the server")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestSpiffeMTLSRotationThroughNew: the Workload API rotates the client's SVID; the same
// client keeps working, makes new connections with the new SVID, and keeps working after
// the old SVID expired — which, as a control client shows, the server would refuse.
func TestSpiffeMTLSRotationThroughNew(t *testing.T) {
	// Fake: rotation at a chosen moment (SPIRE rotates on its own schedule; tests/spire.rs waits for it).
	w := newSpiffeMTLSWorld(t)
	// A proxy in front of the server counts connections and can cut them.
	server, err := url.Parse(w.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startTCPProxy(t, server.Host)
	cfg := w.config()
	cfg.ServerAddress = "https://" + proxy.addr()
	cfg.Retries = new(uint32)
	const ttl = 4 * time.Second

	// The control: a client whose short-lived SVID is never rotated.
	controlAPI := fakeworkload.Start(t)
	controlAPI.SetSVIDs(w.ca.SVID(t, "spiffe://example.org/control", ttl))
	controlCfg := cfg
	controlCfg.SPIFFESocketPath = controlAPI.Socket()
	control := mustTLSTestClient(t, controlCfg)

	old := w.ca.SVID(t, "spiffe://example.org/client", ttl)
	w.clientAPI.SetSVIDs(old)
	c := mustTLSTestClient(t, cfg)
	ctx := context.Background()
	if _, key := c.tls.Config(); !strings.Contains(key, "#"+old.SerialHex()+";") {
		t.Fatalf("identity key %q does not carry the short-lived SVID's serial %s", key, old.SerialHex())
	}
	for name, c := range map[string]*Client{"control": control, "rotating": c} {
		if _, err := c.ListVMs(ctx, nil); err != nil {
			t.Fatalf("%s client before rotation: %v", name, err)
		}
	}
	before := proxy.connections()

	fresh := w.ca.SVID(t, "spiffe://example.org/client", time.Hour)
	w.clientAPI.SetSVIDs(fresh)
	// The client's TLS identity follows the Workload API's stream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, key := c.tls.Config()
		if strings.Contains(key, "#"+fresh.SerialHex()+";") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity key still %q 5 s after the rotation to serial %s", key, fresh.SerialHex())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.ListVMs(ctx, nil); err != nil {
		t.Fatalf("right after rotation: %v", err)
	}
	if after := proxy.connections(); after <= before {
		t.Errorf("the first call after rotation reused a connection made with the old SVID (%d connections before, %d after)", before, after)
	}

	// Past the old SVID's expiry, with every connection cut so each call needs a new
	// handshake: the control's expired SVID is refused by the server...
	time.Sleep(time.Until(old.Cert.NotAfter.Add(1500 * time.Millisecond)))
	proxy.cutAll()
	time.Sleep(100 * time.Millisecond)
	tlsRefusal(t, control, refusedByServer, "remote error: tls: expired certificate")
	// ... and the rotated client still works: it presents the new SVID.
	tlsLifecycle(t, c)
}

// tcpProxy forwards loopback connections to a server, counting them, and can cut them all.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	accepted int
	open     map[net.Conn]struct{}
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.accepted++
			p.open[in], p.open[out] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
				p.mu.Lock()
				delete(p.open, dst)
				delete(p.open, src)
				p.mu.Unlock()
			}
			wg.Go(func() { pipe(out, in) })
			wg.Go(func() { pipe(in, out) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		p.cutAll()
		wg.Wait()
	})
	return p
}

// addr is the proxy's host:port.
func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

// connections is the number of connections accepted so far.
func (p *tcpProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// cutAll closes every open connection, so the next call needs a new handshake.
func (p *tcpProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		_ = c.Close()
	}
}
