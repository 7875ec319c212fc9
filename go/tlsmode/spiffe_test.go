package tlsmode

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fakeWorkloadAPI is a SPIFFE Workload API server: FetchX509SVID streams the current
// response, and again after every change. Like SPIRE, it requires the
// "workload.spiffe.io: true" metadata header.
type fakeWorkloadAPI struct {
	workload.UnimplementedSpiffeWorkloadAPIServer

	mu      sync.Mutex
	resp    *workload.X509SVIDResponse // nil: send nothing
	err     error                      // non-nil: fail every call with it
	changed chan struct{}              // closed on every change
	calls   int
}

func (f *fakeWorkloadAPI) set(resp *workload.X509SVIDResponse, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp, f.err = resp, err
	if f.changed != nil {
		close(f.changed)
	}
	f.changed = make(chan struct{})
}

func (f *fakeWorkloadAPI) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if v := md.Get("workload.spiffe.io"); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	for {
		f.mu.Lock()
		f.calls++
		resp, err, changed := f.resp, f.err, f.changed
		f.mu.Unlock()
		if err != nil {
			return err
		}
		if resp != nil {
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

// serveWorkloadAPI serves f on a unix socket in a temporary directory.
func serveWorkloadAPI(t *testing.T, f *fakeWorkloadAPI) string {
	t.Helper()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	dir, err := os.MkdirTemp("", "wl") // short: unix socket paths are limited to ~104 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(s, f)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return sock
}

// svidMsg is the Workload API message of an SVID, with the bundle of its trust domain.
func svidMsg(t *testing.T, leaf *testLeaf, bundle []*testCA, hint string) *workload.X509SVID {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(leaf.key)
	if err != nil {
		t.Fatal(err)
	}
	var der []byte
	for _, ca := range bundle {
		der = append(der, ca.cert.Raw...)
	}
	return &workload.X509SVID{
		SpiffeId:    leaf.cert.URIs[0].String(),
		X509Svid:    leaf.cert.Raw,
		X509SvidKey: key,
		Bundle:      der,
		Hint:        hint,
	}
}

func response(svids ...*workload.X509SVID) *workload.X509SVIDResponse {
	return &workload.X509SVIDResponse{Svids: svids}
}

// spiffeWorld is a trust domain example.org with a CA, our SVID, a metald server with an
// SVID of its own (no DNS SAN) that requires client certificates, and a Workload API.
type spiffeWorld struct {
	ca     *testCA
	client *testLeaf
	server *httptest.Server
	api    *fakeWorkloadAPI
	sock   string
}

func newSpiffeWorld(t *testing.T) *spiffeWorld {
	t.Helper()
	w := &spiffeWorld{ca: newCA(t, "example.org"), api: &fakeWorkloadAPI{}}
	w.client = w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/client"}})
	w.server = tlsServer(t, w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/metald"}}), w.ca.pool())
	w.api.set(response(svidMsg(t, w.client, []*testCA{w.ca}, "")), nil)
	w.sock = serveWorkloadAPI(t, w.api)
	return w
}

func (w *spiffeWorld) options() Options {
	return Options{SPIFFESocketPath: w.sock, SPIFFETimeout: 5 * time.Second}
}

func TestSpiffePresentsSVIDAndAuthorizesByTrustDomain(t *testing.T) {
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
		if seen != w.client.serialHex() {
			t.Errorf("server saw %q, want our SVID %s", seen, w.client.serialHex())
		}
		if !contains(key, "spiffe://example.org/client#"+w.client.serialHex()) {
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
	w := newSpiffeWorld(t)
	otherCA := newCA(t, "other.org")
	other := tlsServer(t, otherCA.issue(t, leafOpts{uris: []string{"spiffe://other.org/metald"}}), nil)

	// Without other.org's bundle the chain cannot be verified.
	cfg, _ := newProvider(t, w.options()).Config()
	if _, err := get(t, cfg, other, "metald.test"); err == nil {
		t.Error("a server of an unknown trust domain was accepted")
	}

	// With other.org federated, the chain verifies but the server is not in our trust domain.
	resp := response(svidMsg(t, w.client, []*testCA{w.ca}, ""))
	resp.FederatedBundles = map[string][]byte{"spiffe://other.org": otherCA.cert.Raw}
	w.api.set(resp, nil)
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
	dns := tlsServer(t, w.ca.issue(t, leafOpts{dns: []string{"metald.test"}}), nil)
	cfg, _ = p.Config()
	if _, err := get(t, cfg, dns, "metald.test"); err == nil {
		t.Error("a server without a SPIFFE ID was accepted")
	}
}

func TestSpiffeMissingSocketIsAnErrorNotPlaintext(t *testing.T) {
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
	notSock := writeFile(t, t.TempDir(), "agent.sock", []byte("x"))
	if _, err := New(context.Background(), Options{SPIFFESocketPath: notSock}); err == nil || !contains(err.Error(), "not a socket") {
		t.Errorf("a regular file as socket: %v", err)
	}
}

func TestSpiffeUnreachableSocket(t *testing.T) {
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
			api := &fakeWorkloadAPI{}
			api.set(nil, c.err)
			sock := serveWorkloadAPI(t, api)
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
	api := &fakeWorkloadAPI{}
	api.set(nil, nil)
	sock := serveWorkloadAPI(t, api)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := New(ctx, Options{SPIFFESocketPath: sock}); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("with a 300ms context: %v after %s", err, time.Since(start))
	}
}

func TestSpiffeRotation(t *testing.T) {
	w := newSpiffeWorld(t)
	p := newProvider(t, w.options())
	cfg1, key1 := p.Config()
	if seen, err := get(t, cfg1, w.server, "metald.test"); err != nil || seen != w.client.serialHex() {
		t.Fatalf("before rotation: %q, %v", seen, err)
	}

	rotated := w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/client"}})
	w.api.set(response(svidMsg(t, rotated, []*testCA{w.ca}, "")), nil)
	cfg2, key2 := waitKey(t, p, key1)
	if key2 == key1 {
		t.Fatal("the key did not change after the SVID rotated")
	}
	if !contains(key2, rotated.serialHex()) {
		t.Errorf("key %q does not carry the new serial %s", key2, rotated.serialHex())
	}
	if seen, err := get(t, cfg2, w.server, "metald.test"); err != nil || seen != rotated.serialHex() {
		t.Errorf("after rotation the server saw %q, %v; want %s", seen, err, rotated.serialHex())
	}

	// A bundle change alone changes the key too.
	extra := newCA(t, "example.org next")
	w.api.set(response(svidMsg(t, rotated, []*testCA{w.ca, extra}, "")), nil)
	cfg3, key3 := waitKey(t, p, key2)
	if key3 == key2 {
		t.Fatal("the key did not change after the bundle changed")
	}
	if _, err := get(t, cfg3, w.server, "metald.test"); err != nil {
		t.Errorf("after the bundle change: %v", err)
	}
}

func TestSpiffeChoosesAmongSVIDs(t *testing.T) {
	w := newSpiffeWorld(t)
	a := w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/a"}})
	b := w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/b"}})
	w.api.set(response(svidMsg(t, a, []*testCA{w.ca}, "external"), svidMsg(t, b, []*testCA{w.ca}, "internal")), nil)

	for _, c := range []struct {
		name string
		o    func(*Options)
		want *testLeaf
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
			if seen, err := get(t, cfg, w.server, "metald.test"); err != nil || seen != c.want.serialHex() {
				t.Errorf("server saw %q, %v; want %s", seen, err, c.want.serialHex())
			}
			if !contains(key, c.want.cert.URIs[0].String()) {
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
	w := newSpiffeWorld(t)
	o := w.options()
	o.ClientSPIFFEID = "spiffe://example.org/client"
	p := newProvider(t, o)
	_, key1 := p.Config()
	// The Workload API now offers only another identity: no SVID matches.
	w.api.set(response(svidMsg(t, w.ca.issue(t, leafOpts{uris: []string{"spiffe://example.org/other"}}), []*testCA{w.ca}, "")), nil)
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
