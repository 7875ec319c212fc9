package tlsmode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/fakeworkload"
)

// fileFixture is a CA, a client certificate and the files of File mode.
type fileFixture struct {
	dir    string
	ca     *fakeworkload.CA
	client *fakeworkload.Leaf
	cert   string
	key    string
	caFile string
}

func newFileFixture(t *testing.T, clientURIs ...string) *fileFixture {
	t.Helper()
	f := &fileFixture{dir: t.TempDir(), ca: fakeworkload.NewCA(t, "file CA")}
	f.client = f.ca.Issue(t, fakeworkload.LeafOptions{URIs: clientURIs})
	f.cert = fakeworkload.WriteFile(t, f.dir, "client.pem", f.client.CertPEM)
	f.key = fakeworkload.WriteFile(t, f.dir, "client.key", f.client.KeyPEM)
	f.caFile = fakeworkload.WriteFile(t, f.dir, "ca.pem", f.ca.PEM)
	return f
}

func (f *fileFixture) options() Options {
	return Options{Mode: File, CertFile: f.cert, KeyFile: f.key, CAFile: f.caFile}
}

func newProvider(t *testing.T, o Options) *Provider {
	t.Helper()
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestFileModePresentsClientCertificate(t *testing.T) {
	f := newFileFixture(t)
	srv := tlsServer(t, f.ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}}), f.ca.Pool())
	p := newProvider(t, f.options())
	if p.Mode() != File {
		t.Errorf("mode %s", p.Mode())
	}
	cfg, key := p.Config()
	seen, err := get(t, cfg, srv, "metald.test")
	if err != nil {
		t.Fatal(err)
	}
	if seen != f.client.SerialHex() {
		t.Errorf("server saw client certificate %q, want %s", seen, f.client.SerialHex())
	}
	if !contains(key, "file:") || !contains(key, ";ca:") {
		t.Errorf("key %q", key)
	}
	// Without a client certificate the same server refuses the handshake.
	anon := newProvider(t, Options{Mode: File, CAFile: f.caFile})
	cfg, key = anon.Config()
	if _, err := get(t, cfg, srv, "metald.test"); err == nil {
		t.Error("a server requiring a client certificate accepted none")
	}
	if !contains(key, "anonymous") {
		t.Errorf("anonymous key %q", key)
	}
}

func TestFileModeVerifiesHostName(t *testing.T) {
	f := newFileFixture(t)
	srv := tlsServer(t, f.ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}), nil)
	cfg, _ := newProvider(t, f.options()).Config()
	if _, err := get(t, cfg, srv, "metald.test"); err != nil {
		t.Errorf("right name: %v", err)
	}
	if _, err := get(t, cfg, srv, "other.test"); err == nil {
		t.Error("a certificate for metald.test was accepted for other.test")
	}
	// crypto/tls does not tell VerifyConnection the IP a server was dialed at, so an
	// IP-addressed server with a non-SPIFFE certificate is refused, not waved through.
	if _, err := get(t, cfg, srv, "127.0.0.1"); err == nil || !contains(err.Error(), "addressed by IP") {
		t.Errorf("IP-addressed server: %v", err)
	}
	// A server certificate from another CA is refused.
	other := tlsServer(t, fakeworkload.NewCA(t, "other").Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}}), nil)
	if _, err := get(t, cfg, other, "metald.test"); err == nil {
		t.Error("a certificate from another CA was accepted")
	}
}

func TestFileModeBadFiles(t *testing.T) {
	f := newFileFixture(t)
	other := f.ca.Issue(t, fakeworkload.LeafOptions{})
	expired := f.ca.Issue(t, fakeworkload.LeafOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := f.ca.Issue(t, fakeworkload.LeafOptions{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	w := func(name string, data []byte) string { return fakeworkload.WriteFile(t, f.dir, name, data) }
	missing := filepath.Join(f.dir, "missing.pem")
	garbage := w("garbage.pem", []byte("not a PEM file\n"))
	expiredCert, expiredKey := w("expired.pem", expired.CertPEM), w("expired.key", expired.KeyPEM)
	futureCert, futureKey := w("future.pem", future.CertPEM), w("future.key", future.KeyPEM)
	otherKey := w("other.key", other.KeyPEM)
	certAsKey := w("cert-as-key.pem", f.client.CertPEM)

	for _, c := range []struct {
		name       string
		o          Options
		role, path string
		msg        string
	}{
		{"certificate without key", Options{CertFile: f.cert}, "certificate", f.cert, "KeyFile"},
		{"key without certificate", Options{KeyFile: f.key}, "key", f.key, "CertFile"},
		{"missing certificate", Options{CertFile: missing, KeyFile: f.key}, "certificate", missing, "no such file"},
		{"missing key", Options{CertFile: f.cert, KeyFile: missing}, "key", missing, "no such file"},
		{"unparsable certificate", Options{CertFile: garbage, KeyFile: f.key}, "certificate", garbage, "no PEM CERTIFICATE"},
		{"unparsable key", Options{CertFile: f.cert, KeyFile: garbage}, "key", garbage, "no PEM PRIVATE KEY"},
		{"certificate given as key", Options{CertFile: f.cert, KeyFile: certAsKey}, "key", certAsKey, "no private key"},
		{"key of another certificate", Options{CertFile: f.cert, KeyFile: otherKey}, "key", otherKey, "does not belong"},
		{"expired certificate", Options{CertFile: expiredCert, KeyFile: expiredKey}, "certificate", expiredCert, "expired"},
		{"not yet valid certificate", Options{CertFile: futureCert, KeyFile: futureKey}, "certificate", futureCert, "not valid until"},
		{"missing CA", Options{CertFile: f.cert, KeyFile: f.key, CAFile: missing}, "CA", missing, "no such file"},
		{"unparsable CA", Options{CertFile: f.cert, KeyFile: f.key, CAFile: garbage}, "CA", garbage, "no PEM CERTIFICATE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Mode = File
			p, err := New(context.Background(), c.o)
			var fe *FileError
			switch {
			case err == nil:
				_ = p.Close()
				t.Fatal("accepted")
			case !errors.As(err, &fe):
				t.Fatalf("%v is not a *FileError", err)
			case fe.Role != c.role || fe.Path != c.path:
				t.Errorf("blames %s file %s, want %s file %s (%v)", fe.Role, fe.Path, c.role, c.path, err)
			}
			if !contains(err.Error(), c.path) || !contains(err.Error(), c.msg) {
				t.Errorf("error %q does not name %s and say %q", err, c.path, c.msg)
			}
		})
	}
}

func TestFileModeSPIFFEServer(t *testing.T) {
	ca := fakeworkload.NewCA(t, "spiffe CA")
	dir := t.TempDir()
	caFile := fakeworkload.WriteFile(t, dir, "ca.pem", ca.PEM)
	srv := tlsServer(t, ca.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/metald"}}), nil)
	pair := func(name string, uris ...string) (string, string) {
		return ca.Issue(t, fakeworkload.LeafOptions{URIs: uris}).WriteFiles(t, dir, name)
	}
	ourCert, ourKey := pair("ours", "spiffe://example.org/client")
	otherCert, otherKey := pair("other-td", "spiffe://other.org/client")
	plainCert, plainKey := pair("plain")

	for _, c := range []struct {
		name   string
		o      Options
		reason Reason // "" accepts
	}{
		{"by our certificate's trust domain", Options{CertFile: ourCert, KeyFile: ourKey}, ""},
		{"by server SPIFFE ID", Options{CertFile: plainCert, KeyFile: plainKey, ServerSPIFFEID: "spiffe://example.org/metald"}, ""},
		{"by server SPIFFE ID without a client certificate", Options{ServerSPIFFEID: "spiffe://example.org/metald"}, ""},
		{"server SPIFFE ID wins over our trust domain", Options{CertFile: ourCert, KeyFile: ourKey, ServerSPIFFEID: "spiffe://example.org/other"}, ReasonIDMismatch},
		{"another server ID", Options{CertFile: plainCert, KeyFile: plainKey, ServerSPIFFEID: "spiffe://example.org/other"}, ReasonIDMismatch},
		{"outside our trust domain", Options{CertFile: otherCert, KeyFile: otherKey}, ReasonTrustDomainMismatch},
		{"no way to authorize: fail closed", Options{CertFile: plainCert, KeyFile: plainKey}, ReasonNoPolicy},
		{"no client certificate and no server ID: fail closed", Options{}, ReasonNoPolicy},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Mode, c.o.CAFile = File, caFile
			cfg, _ := newProvider(t, c.o).Config()
			_, err := get(t, cfg, srv, "metald.test")
			if c.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *AuthorizationError
			if !errors.As(err, &ae) || ae.Reason != c.reason {
				t.Fatalf("error %v, want an *AuthorizationError %s", err, c.reason)
			}
			if c.reason == ReasonNoPolicy && !contains(err.Error(), "ServerSPIFFEID") {
				t.Errorf("fail-closed error %q does not say to set ServerSPIFFEID", err)
			}
		})
	}

	// A SPIFFE-only certificate must still chain to the CA file.
	rogue := tlsServer(t, fakeworkload.NewCA(t, "rogue").Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/metald"}}), nil)
	cfg, _ := newProvider(t, Options{Mode: File, CAFile: caFile, CertFile: ourCert, KeyFile: ourKey}).Config()
	if _, err := get(t, cfg, rogue, "metald.test"); err == nil || !contains(err.Error(), "does not chain") {
		t.Errorf("rogue SPIFFE server: %v", err)
	}
	// The X509-SVID leaf rules apply to the server: a CA leaf is refused.
	caLeaf := tlsServer(t, ca.Issue(t, fakeworkload.LeafOptions{URIs: []string{"spiffe://example.org/metald"}, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}), nil)
	var ae *AuthorizationError
	if _, err := get(t, cfg, caLeaf, "metald.test"); !errors.As(err, &ae) || ae.Reason != ReasonCALeaf {
		t.Errorf("CA leaf server: %v", err)
	}
}

// waitKey calls Config until its key differs from old (the reload interval is short).
func waitKey(t *testing.T, p *Provider, old string) (*tls.Config, string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cfg, key := p.Config()
		if key != old || time.Now().After(deadline) {
			return cfg, key
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFileModeReloadsCA(t *testing.T) {
	f := newFileFixture(t)
	srv := tlsServer(t, f.ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}}), f.ca.Pool())
	o := f.options()
	o.ReloadInterval = 10 * time.Millisecond
	p := newProvider(t, o)
	cfg1, key1 := p.Config()
	if _, err := get(t, cfg1, srv, "metald.test"); err != nil {
		t.Fatal(err)
	}

	// Another CA replaces ours: our server is no longer trusted by new connections.
	fakeworkload.WriteFile(t, f.dir, "ca.pem", fakeworkload.NewCA(t, "replacement").PEM)
	cfg2, key2 := waitKey(t, p, key1)
	if key2 == key1 {
		t.Fatal("the key did not change after the CA file changed")
	}
	if _, err := get(t, cfg2, srv, "metald.test"); err == nil {
		t.Error("a removed CA is still trusted")
	}

	// The CA file goes away: fail closed, naming the file.
	if err := os.Remove(f.caFile); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		_, _, err = p.TLSConfig()
		time.Sleep(5 * time.Millisecond)
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != f.caFile {
		t.Errorf("with the CA file gone: %v", err)
	}
	if cfg, key := p.Config(); key != "unavailable" {
		t.Errorf("Config with the CA file gone: key %q", key)
	} else if _, err := get(t, cfg, srv, "metald.test"); err == nil {
		t.Error("a connection succeeded with the CA file gone")
	}

	// Our CA comes back: trusted again.
	fakeworkload.WriteFile(t, f.dir, "ca.pem", f.ca.PEM)
	cfg3, key3 := waitKey(t, p, "unavailable")
	if key3 == key2 || key3 == "unavailable" {
		t.Errorf("key %q after restoring the CA (was %q)", key3, key2)
	}
	if _, err := get(t, cfg3, srv, "metald.test"); err != nil {
		t.Errorf("after restoring the CA: %v", err)
	}
}

func TestFileModeReloadsClientCertificate(t *testing.T) {
	f := newFileFixture(t)
	srv := tlsServer(t, f.ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}}), f.ca.Pool())
	o := f.options()
	o.ReloadInterval = 10 * time.Millisecond
	p := newProvider(t, o)
	_, key1 := p.Config()

	renewed := f.ca.Issue(t, fakeworkload.LeafOptions{})
	fakeworkload.WriteFile(t, f.dir, "client.key", renewed.KeyPEM)
	fakeworkload.WriteFile(t, f.dir, "client.pem", renewed.CertPEM)
	cfg2, key2 := waitKey(t, p, key1)
	if key2 == key1 {
		t.Fatal("the key did not change after the certificate was renewed")
	}
	if seen, err := get(t, cfg2, srv, "metald.test"); err != nil || seen != renewed.SerialHex() {
		t.Errorf("server saw %q, %v; want the renewed %s", seen, err, renewed.SerialHex())
	}

	// A half-done renewal (the key of another certificate) keeps the working pair.
	fakeworkload.WriteFile(t, f.dir, "client.key", f.ca.Issue(t, fakeworkload.LeafOptions{}).KeyPEM)
	deadline := time.Now().Add(5 * time.Second)
	for p.ReloadError() == nil && time.Now().Before(deadline) {
		_, _ = p.Config()
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.ReloadError(); err == nil || !contains(err.Error(), f.key) {
		t.Errorf("ReloadError %v does not name %s", err, f.key)
	}
	cfg3, key3 := p.Config()
	if key3 != key2 {
		t.Errorf("key changed to %q on a failed reload", key3)
	}
	if seen, err := get(t, cfg3, srv, "metald.test"); err != nil || seen != renewed.SerialHex() {
		t.Errorf("server saw %q, %v; want %s", seen, err, renewed.SerialHex())
	}
	fakeworkload.WriteFile(t, f.dir, "client.key", renewed.KeyPEM)
	deadline = time.Now().Add(5 * time.Second)
	for p.ReloadError() != nil && time.Now().Before(deadline) {
		_, _ = p.Config()
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.ReloadError(); err != nil {
		t.Errorf("ReloadError after the fix: %v", err)
	}
}

func TestFileModeWithoutReloadKeepsFiles(t *testing.T) {
	f := newFileFixture(t)
	p := newProvider(t, f.options())
	_, key1 := p.Config()
	fakeworkload.WriteFile(t, f.dir, "ca.pem", fakeworkload.NewCA(t, "replacement").PEM)
	time.Sleep(20 * time.Millisecond)
	if _, key2 := p.Config(); key2 != key1 {
		t.Errorf("ReloadInterval 0 re-read the files: %q -> %q", key1, key2)
	}
}

func TestDisabledMode(t *testing.T) {
	p := newProvider(t, Options{Mode: Disabled})
	cfg, key := p.Config()
	if cfg == nil || cfg.RootCAs != nil || cfg.InsecureSkipVerify || cfg.GetClientCertificate != nil || len(cfg.Certificates) != 0 {
		t.Errorf("disabled config %+v: want system roots, verification, no client certificate", cfg)
	}
	if key != "anonymous" {
		t.Errorf("key %q", key)
	}

	ca := fakeworkload.NewCA(t, "disabled CA")
	caFile := fakeworkload.WriteFile(t, t.TempDir(), "ca.pem", ca.PEM)
	srv := tlsServer(t, ca.Issue(t, fakeworkload.LeafOptions{DNSNames: []string{"metald.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}), nil)
	p = newProvider(t, Options{Mode: Disabled, CAFile: caFile})
	cfg, key = p.Config()
	if seen, err := get(t, cfg, srv, "metald.test"); err != nil || seen != "none" {
		t.Errorf("disabled mode with a CA file: %q, %v", seen, err)
	}
	if seen, err := get(t, cfg, srv, "127.0.0.1"); err != nil || seen != "none" {
		t.Errorf("disabled mode by IP: %q, %v", seen, err)
	}
	if _, err := get(t, cfg, srv, "other.test"); err == nil {
		t.Error("disabled mode skipped the host name check")
	}
	if !contains(key, "anonymous;ca:") {
		t.Errorf("key %q", key)
	}
	if _, err := New(context.Background(), Options{Mode: Disabled, CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

func TestClosedProvider(t *testing.T) {
	p := newProvider(t, Options{Mode: Disabled})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, _, err := p.TLSConfig(); !errors.Is(err, ErrClosed) {
		t.Errorf("TLSConfig after Close: %v", err)
	}
	cfg, key := p.Config()
	if cfg == nil || key != "unavailable" || cfg.VerifyConnection == nil {
		t.Fatalf("Config after Close: %+v, %q", cfg, key)
	}
	if err := cfg.VerifyConnection(tls.ConnectionState{}); !errors.Is(err, ErrClosed) {
		t.Errorf("the failing config's verification: %v", err)
	}
}
