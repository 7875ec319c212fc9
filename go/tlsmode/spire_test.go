package tlsmode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metald/metald-client/go/internal/testenv"
)

// Against a real SPIRE server and agent (tools/spire/spire.sh); spiffe_test.go keeps the
// fake Workload API for what SPIRE cannot be made to do on demand (stalls, garbage, a
// foreign trust domain, withdrawing an SVID at a chosen moment).

// presented is the SPIFFE ID of the certificate that p's TLS config presents to a server.
func presented(t *testing.T, p *Provider) string {
	t.Helper()
	cfg, _, err := p.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cfg.GetClientCertificate(&tls.CertificateRequestInfo{})
	if err != nil || len(cert.Certificate) == 0 {
		t.Fatalf("no client certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || len(leaf.URIs) != 1 {
		t.Fatalf("the client certificate is not an X509-SVID: %v", err)
	}
	return leaf.URIs[0].String()
}

func TestSPIREOffersTwoSVIDsAndClientSPIFFEIDPicksOne(t *testing.T) {
	// Real SPIRE: two entries for this test binary; SPIRE offers them in entry ID order,
	// so the entry IDs make /go-a the default.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		t.Fatal(err)
	}
	const a, b = "spiffe://example.org/go-a", "spiffe://example.org/go-b"
	spire := testenv.StartSPIRE(t,
		"id="+a+",path="+self+",entry_id=metald-go-1",
		"id="+b+",path="+self+",entry_id=metald-go-2")
	options := func(id string) Options {
		return Options{Mode: Spiffe, SPIFFESocketPath: spire.WorkloadSocket, SPIFFETimeout: 10 * time.Second, ClientSPIFFEID: id}
	}
	for _, c := range []struct{ id, want string }{{"", a}, {a, a}, {b, b}} {
		p, err := New(context.Background(), options(c.id))
		if err != nil {
			t.Fatalf("ClientSPIFFEID %q: %v", c.id, err)
		}
		if got := presented(t, p); got != c.want {
			t.Errorf("ClientSPIFFEID %q: presents %s, want %s", c.id, got, c.want)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}
	_, err = New(context.Background(), options("spiffe://example.org/go-c"))
	for _, want := range []string{"spiffe://example.org/go-c", a, b, spire.WorkloadSocket} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("an ID SPIRE does not offer: error %v does not say %q", err, want)
		}
	}
}
