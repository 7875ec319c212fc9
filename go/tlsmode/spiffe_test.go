package tlsmode

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/fakeworkload"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// spiffeWorld is a trust domain example.org with a CA, our SVID, a metald server with an
// SVID of its own (no DNS SAN) that requires client certificates, and a Workload API.
type spiffeWorld struct {
	ca     *fakeworkload.CA
	client *fakeworkload.Leaf
	server *httptest.Server
	api    *fakeworkload.Server
	sock   string
}

func newSpiffeWorld(t *testing.T) *spiffeWorld {
	t.Helper()
	w := &spiffeWorld{ca: fakeworkload.NewCA(t, "example.org"), api: fakeworkload.Start(t)}
	w.client = w.ca.SVID(t, "spiffe://example.org/client", 24*time.Hour).Leaf
	w.server = tlsServer(t, w.ca.SVID(t, "spiffe://example.org/metald", 24*time.Hour).Leaf, w.ca.Pool())
	w.api.SetSVIDs(fakeworkload.NewSVID(w.client, w.ca))
	w.sock = w.api.Socket()
	return w
}

func (w *spiffeWorld) options() Options {
	return Options{SPIFFESocketPath: w.sock, SPIFFETimeout: 5 * time.Second}
}

func TestSpiffePresentsSVIDAndAuthorizesByTrustDomain(t *testing.T) {
	// Fake: the server sees a certificate made here, checked exactly; spire_test.go uses SPIRE.
	w := newSpiffeWorld(t)
	for _, sock := range []string{w.sock, "unix:" + w.sock, "unix://" + w.sock} {
		o := w.options()
		o.SPIFFESocketPath = sock
		p := newProvider(t, o)
		if p.Mode() != Spiffe {
			t.Errorf("mode %s", p.Mode())
		}
		cfg, key := p.Config()
		seen, err := get(t, cfg, w.server, "metald.test")
		if err != nil {
			t.Fatalf("%s: %v", sock, err)
		}
		if seen != w.client.SerialHex() {
			t.Errorf("server saw %q, want our SVID %s", seen, w.client.SerialHex())
		}
		if !contains(key, "spiffe://example.org/client#"+w.client.SerialHex()) {
			t.Errorf("key %q does not name our SVID", key)
		}
	}
	// Exactly the configured server ID.
	o := w.options()
	o.ServerSPIFFEID = "spiffe://example.org/metald"
	cfg, _ := newProvider(t, o).Config()
	if _, err := get(t, cfg, w.server, "metald.test"); err != nil {
		t.Errorf("exact server ID: %v", err)
	}
	o.ServerSPIFFEID = "spiffe://example.org/someone-else"
	cfg, _ = newProvider(t, o).Config()
	var ae *AuthorizationError
	if _, err := get(t, cfg, w.server, "metald.test"); !errors.As(err, &ae) || ae.Reason != ReasonIDMismatch {
		t.Errorf("another server ID: %v", err)
	}
}

func TestSpiffeRefusesOtherTrustDomain(t *testing.T) {
	// Fake: a foreign trust domain, which one SPIRE deployment does not issue.
	w := newSpiffeWorld(t)
	otherCA := fakeworkload.NewCA(t, "other.org")
	other := tlsServer(t, otherCA.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://other.org/metald"}}), nil)

	// Without other.org's bundle the chain cannot be verified.
	cfg, _ := newProvider(t, w.options()).Config()
	if _, err := get(t, cfg, other, "metald.test"); err == nil {
		t.Error("a server of an unknown trust domain was accepted")
	}

	// With other.org federated, the chain verifies but the server is not in our trust domain.
	resp := fakeworkload.Response(fakeworkload.NewSVID(w.client, w.ca))
	resp.FederatedBundles = map[string][]byte{"spiffe://other.org": otherCA.Cert.Raw}
	w.api.SetResponse(resp)
	p := newProvider(t, w.options())
	cfg, _ = p.Config()
	var ae *AuthorizationError
	if _, err := get(t, cfg, other, "metald.test"); !errors.As(err, &ae) || ae.Reason != ReasonTrustDomainMismatch {
		t.Errorf("server of a federated trust domain: %v", err)
	}
	// Unless it is the configured server ID.
	o := w.options()
	o.ServerSPIFFEID = "spiffe://other.org/metald"
	cfg, _ = newProvider(t, o).Config()
	if _, err := get(t, cfg, other, "metald.test"); err != nil {
		t.Errorf("configured server ID in a federated trust domain: %v", err)
	}
	// A server with an ordinary DNS certificate is not a SPIFFE peer.
	dns := tlsServer(t, w.ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}}), nil)
	cfg, _ = p.Config()
	if _, err := get(t, cfg, dns, "metald.test"); err == nil {
		t.Error("a server without a SPIFFE ID was accepted")
	}
}

func TestSpiffeMissingSocketIsAnErrorNotPlaintext(t *testing.T) {
	// No Workload API at all: nothing for SPIRE to do.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	start := time.Now()
	p, err := New(context.Background(), Options{SPIFFESocketPath: sock, SPIFFETimeout: 2 * time.Second})
	if err == nil || p != nil {
		t.Fatalf("New with a missing socket: %v, %v", p, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	for _, want := range []string{sock, "does not exist", "plaintext"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v does not wrap ErrNotExist", err)
	}
	// The default mode behaves the same, through the environment.
	t.Setenv(EnvMetaldSPIFFESocket, sock)
	if _, err := New(context.Background(), Options{SPIFFETimeout: time.Second}); err == nil || !contains(err.Error(), sock) {
		t.Errorf("default mode with $%s: %v", EnvMetaldSPIFFESocket, err)
	}
	// A file that is not a socket.
	notSock := fakeworkload.WriteFile(t, t.TempDir(), "agent.sock", []byte("x"))
	if _, err := New(context.Background(), Options{SPIFFESocketPath: notSock}); err == nil || !contains(err.Error(), "not a socket") {
		t.Errorf("a regular file as socket: %v", err)
	}
}

func TestSpiffeUnreachableSocket(t *testing.T) {
	// A dead socket file: no SPIRE state.
	dir, err := os.MkdirTemp("", "wl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "stale.sock")
	lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	lis.SetUnlinkOnClose(false)
	_ = lis.Close() // the socket file stays; nobody listens
	const timeout = 1500 * time.Millisecond
	start := time.Now()
	p, err := New(context.Background(), Options{SPIFFESocketPath: sock, SPIFFETimeout: timeout})
	if err == nil || p != nil {
		t.Fatalf("New with a stale socket: %v, %v", p, err)
	}
	if d := time.Since(start); d > timeout+2*time.Second {
		t.Errorf("took %s with a %s timeout", d, timeout)
	}
	for _, want := range []string{sock, "connection refused"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestSpiffeNoIdentity(t *testing.T) {
	// Fake: stalls and refusals on demand, which SPIRE does not do.
	const timeout = 1500 * time.Millisecond
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"permission denied, as SPIRE says", status.Error(codes.PermissionDenied, "no identity issued"), "no identity issued"},
		{"silence", nil, "sent no identity"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := fakeworkload.Start(t)
			if c.err != nil {
				api.SetError(c.err)
			}
			sock := api.Socket()
			start := time.Now()
			p, err := New(context.Background(), Options{SPIFFESocketPath: sock, SPIFFETimeout: timeout})
			if err == nil || p != nil {
				t.Fatalf("New: %v, %v", p, err)
			}
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("took %s with a %s timeout", d, timeout)
			}
			for _, want := range []string{sock, c.want, timeout.String()} {
				if !contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
	// The caller's context also bounds the wait.
	sock := fakeworkload.Start(t).Socket() // silent
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := New(ctx, Options{SPIFFESocketPath: sock}); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("with a 300ms context: %v after %s", err, time.Since(start))
	}
}

func TestSpiffeRotation(t *testing.T) {
	// Fake: rotation at a chosen moment (SPIRE rotates on its own schedule; tests/spire.rs waits for it).
	w := newSpiffeWorld(t)
	p := newProvider(t, w.options())
	cfg1, key1 := p.Config()
	if seen, err := get(t, cfg1, w.server, "metald.test"); err != nil || seen != w.client.SerialHex() {
		t.Fatalf("before rotation: %q, %v", seen, err)
	}

	rotated := w.ca.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/client"}})
	w.api.SetSVIDs(fakeworkload.NewSVID(rotated, w.ca))
	cfg2, key2 := waitKey(t, p, key1)
	if key2 == key1 {
		t.Fatal("the key did not change after the SVID rotated")
	}
	if !contains(key2, rotated.SerialHex()) {
		t.Errorf("key %q does not carry the new serial %s", key2, rotated.SerialHex())
	}
	if seen, err := get(t, cfg2, w.server, "metald.test"); err != nil || seen != rotated.SerialHex() {
		t.Errorf("after rotation the server saw %q, %v; want %s", seen, err, rotated.SerialHex())
	}

	// A bundle change alone changes the key too.
	extra := fakeworkload.NewCA(t, "example.org next")
	w.api.SetSVIDs(fakeworkload.NewSVID(rotated, w.ca, extra))
	cfg3, key3 := waitKey(t, p, key2)
	if key3 == key2 {
		t.Fatal("the key did not change after the bundle changed")
	}
	if _, err := get(t, cfg3, w.server, "metald.test"); err != nil {
		t.Errorf("after the bundle change: %v", err)
	}
}

func TestSpiffeChoosesAmongSVIDs(t *testing.T) {
	// Fake: hints and exact leaves known here; spire_test.go checks ClientSPIFFEID against SPIRE.
	w := newSpiffeWorld(t)
	a := w.ca.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/a"}})
	b := w.ca.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/b"}})
	sa, sb := fakeworkload.NewSVID(a, w.ca), fakeworkload.NewSVID(b, w.ca)
	sa.Hint, sb.Hint = "external", "internal"
	w.api.SetSVIDs(sa, sb)

	for _, c := range []struct {
		name string
		o    func(*Options)
		want *fakeworkload.Leaf
	}{
		{"default: the first", func(*Options) {}, a},
		{"ClientSPIFFEID", func(o *Options) { o.ClientSPIFFEID = "spiffe://example.org/b" }, b},
		{"SVIDHint", func(o *Options) { o.SVIDHint = "internal" }, b},
		{"both", func(o *Options) { o.ClientSPIFFEID = "spiffe://example.org/a"; o.SVIDHint = "external" }, a},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := w.options()
			c.o(&o)
			cfg, key := newProvider(t, o).Config()
			if seen, err := get(t, cfg, w.server, "metald.test"); err != nil || seen != c.want.SerialHex() {
				t.Errorf("server saw %q, %v; want %s", seen, err, c.want.SerialHex())
			}
			if !contains(key, c.want.Cert.URIs[0].String()) {
				t.Errorf("key %q", key)
			}
		})
	}

	o := w.options()
	o.ClientSPIFFEID = "spiffe://example.org/c"
	_, err := New(context.Background(), o)
	for _, want := range []string{"spiffe://example.org/c", "spiffe://example.org/a", "spiffe://example.org/b (hint internal)", w.sock} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("no matching SVID: error %v does not say %q", err, want)
		}
	}
	o.ClientSPIFFEID = "spiffe://example.org"
	if _, err := New(context.Background(), o); err == nil || !contains(err.Error(), "ClientSPIFFEID") {
		t.Errorf("bare trust domain as ClientSPIFFEID: %v", err)
	}
}

func TestSpiffeSVIDWithdrawn(t *testing.T) {
	// Fake: an SVID withdrawn at a chosen moment.
	w := newSpiffeWorld(t)
	o := w.options()
	o.ClientSPIFFEID = "spiffe://example.org/client"
	p := newProvider(t, o)
	_, key1 := p.Config()
	// The Workload API now offers only another identity: no SVID matches.
	w.api.SetSVIDs(w.ca.SVID(t, "spiffe://example.org/other", 24*time.Hour))
	cfg, key := waitKey(t, p, key1)
	if key != "unavailable" {
		t.Fatalf("key %q after the SVID was withdrawn", key)
	}
	if _, _, err := p.TLSConfig(); err == nil || !contains(err.Error(), "spiffe://example.org/other") {
		t.Errorf("TLSConfig: %v", err)
	}
	if _, err := get(t, cfg, w.server, "metald.test"); err == nil {
		t.Error("a handshake succeeded without an SVID")
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, _, err := p.TLSConfig(); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
