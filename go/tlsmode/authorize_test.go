package tlsmode

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/metald/metald-client/go/internal/fakeworkload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// vectorsPath is the shared SPIFFE authorization test vectors, also read by the Rust and
// JS tests. Each case gives a server leaf's properties, our trust domain ("" for none) and
// the configured server SPIFFE ID ("" for none), and expects "accept" (with the SPIFFE ID)
// or "reject" (with a Reason keyword); file_mode_verification says whether file mode
// verifies such a leaf the SPIFFE way ("spiffe") or by host name ("hostname").
var vectorsPath = filepath.Join("..", "..", "testdata", "spiffe-authorization.json")

type vector struct {
	Name   string `json:"name"`
	Server struct {
		URISANs  []string `json:"uri_sans"`
		DNSOrIP  bool     `json:"dns_or_ip_san"`
		IsCA     bool     `json:"is_ca"`
		KeyUsage []string `json:"key_usage"`
	} `json:"server"`
	TrustDomain          string `json:"trust_domain"`
	ServerSPIFFEID       string `json:"server_spiffe_id"`
	FileModeVerification string `json:"file_mode_verification"`
	Expect               string `json:"expect"`
	SPIFFEID             string `json:"spiffe_id"`
	Reason               string `json:"reason"`
}

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalSignature":  x509.KeyUsageDigitalSignature,
	"contentCommitment": x509.KeyUsageContentCommitment,
	"keyEncipherment":   x509.KeyUsageKeyEncipherment,
	"dataEncipherment":  x509.KeyUsageDataEncipherment,
	"keyAgreement":      x509.KeyUsageKeyAgreement,
	"keyCertSign":       x509.KeyUsageCertSign,
	"cRLSign":           x509.KeyUsageCRLSign,
	"encipherOnly":      x509.KeyUsageEncipherOnly,
	"decipherOnly":      x509.KeyUsageDecipherOnly,
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	data, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no cases", vectorsPath)
	}
	return vs
}

func (v vector) policy(t *testing.T) serverPolicy {
	t.Helper()
	var p serverPolicy
	if v.TrustDomain != "" {
		td, err := spiffeid.TrustDomainFromString(v.TrustDomain)
		if err != nil {
			t.Fatalf("trust_domain: %v", err)
		}
		p.trustDomain = td
	}
	id, err := parseWorkloadID("server_spiffe_id", v.ServerSPIFFEID)
	if err != nil {
		t.Fatal(err)
	}
	p.serverID = id
	return p
}

func (v vector) keyUsage(t *testing.T) x509.KeyUsage {
	t.Helper()
	var ku x509.KeyUsage
	for _, name := range v.Server.KeyUsage {
		bit, ok := keyUsageNames[name]
		if !ok {
			t.Fatalf("unknown key usage %q", name)
		}
		ku |= bit
	}
	return ku
}

// check applies authorizeServer to facts and compares with the vector.
func (v vector) check(t *testing.T, facts leafFacts) {
	t.Helper()
	route := "hostname"
	if usesSPIFFEVerification(facts) {
		route = "spiffe"
	}
	if route != v.FileModeVerification {
		t.Errorf("file mode verifies by %s, want %s", route, v.FileModeVerification)
	}
	id, err := authorizeServer(facts, v.policy(t))
	switch v.Expect {
	case "accept":
		if err != nil {
			t.Errorf("refused: %v", err)
		} else if id.String() != v.SPIFFEID {
			t.Errorf("accepted as %s, want %s", id, v.SPIFFEID)
		}
	case "reject":
		var ae *AuthorizationError
		switch {
		case err == nil:
			t.Errorf("accepted as %s, want refused (%s)", id, v.Reason)
		case !errors.As(err, &ae):
			t.Errorf("error %v is not an *AuthorizationError", err)
		case string(ae.Reason) != v.Reason:
			t.Errorf("refused for %s (%v), want %s", ae.Reason, err, v.Reason)
		}
	default:
		t.Fatalf("expect %q is neither accept nor reject", v.Expect)
	}
}

// TestAuthorizationVectors checks every shared case twice: on the properties as given,
// and on a real certificate made with them (read back through factsOf).
func TestAuthorizationVectors(t *testing.T) {
	ca := fakeworkload.NewCA(t, "vectors")
	required := map[string]bool{
		"accept": false, "uri-san-count": false, "not-spiffe-uri": false, "ca-leaf": false,
		"key-cert-sign": false, "crl-sign": false, "no-path": false, "id-mismatch": false,
		"trust-domain-mismatch": false, "no-policy": false,
	}
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ku := v.keyUsage(t)
			v.check(t, leafFacts{
				URIs:        v.Server.URISANs,
				DNSOrIP:     v.Server.DNSOrIP,
				IsCA:        v.Server.IsCA,
				KeyCertSign: ku&x509.KeyUsageCertSign != 0,
				CRLSign:     ku&x509.KeyUsageCRLSign != 0,
			})
			o := fakeworkload.LeafOptions{URIs: v.Server.URISANs, IsCA: v.Server.IsCA, KeyUsage: ku, NoKeyUsage: ku == 0}
			if v.Server.DNSOrIP {
				o.DNSNames = []string{"metald.example.org"}
			}
			leaf := ca.Issue(t, o)
			v.check(t, factsOf(leaf.Cert))
		})
		if v.Expect == "accept" {
			required["accept"] = true
		} else {
			required[v.Reason] = true
		}
	}
	for outcome, seen := range required {
		if !seen {
			t.Errorf("no vector with outcome %s", outcome)
		}
	}
}

func TestAuthorizationErrorMessages(t *testing.T) {
	id := spiffeid.RequireFromString("spiffe://example.org/metald")
	facts := leafFacts{URIs: []string{id.String()}}
	_, err := authorizeServer(facts, serverPolicy{})
	if err == nil || !contains(err.Error(), "ServerSPIFFEID") {
		t.Errorf("fail-closed error %v does not say to set ServerSPIFFEID", err)
	}
	_, err = authorizeServer(facts, serverPolicy{serverID: spiffeid.RequireFromString("spiffe://example.org/other")})
	if err == nil || !contains(err.Error(), "spiffe://example.org/other") || !contains(err.Error(), id.String()) {
		t.Errorf("mismatch error %v does not name both IDs", err)
	}
}

func TestParseWorkloadID(t *testing.T) {
	for _, bad := range []string{"example.org", "spiffe://example.org", "spiffe://example.org/", "https://example.org/x"} {
		if _, err := parseWorkloadID("ServerSPIFFEID", bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if !contains(err.Error(), "ServerSPIFFEID") {
			t.Errorf("%q: error %v does not name the option", bad, err)
		}
	}
	if id, err := parseWorkloadID("ServerSPIFFEID", "spiffe://example.org/metald"); err != nil || id.String() != "spiffe://example.org/metald" {
		t.Errorf("got %v, %v", id, err)
	}
}
