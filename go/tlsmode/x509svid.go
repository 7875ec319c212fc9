package tlsmode

import (
	"crypto/x509"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// leafFacts are the properties of a leaf certificate that the SPIFFE rules look at.
type leafFacts struct {
	// URIs are the URI SANs.
	URIs []string
	// DNSOrIP is whether any DNS or IP SAN is present.
	DNSOrIP bool
	// IsCA is the basic-constraints CA flag.
	IsCA bool
	// KeyCertSign and CRLSign are the key usages an X509-SVID leaf must not have.
	KeyCertSign bool
	CRLSign     bool
}

// factsOf reads the leafFacts of a certificate.
func factsOf(cert *x509.Certificate) leafFacts {
	f := leafFacts{
		DNSOrIP:     len(cert.DNSNames) > 0 || len(cert.IPAddresses) > 0,
		IsCA:        cert.IsCA,
		KeyCertSign: cert.KeyUsage&x509.KeyUsageCertSign != 0,
		CRLSign:     cert.KeyUsage&x509.KeyUsageCRLSign != 0,
	}
	for _, u := range cert.URIs {
		f.URIs = append(f.URIs, u.String())
	}
	return f
}

// spiffeIDOf returns the SPIFFE ID of a certificate with exactly one URI SAN that is a
// valid SPIFFE ID, and false otherwise.
func spiffeIDOf(cert *x509.Certificate) (spiffeid.ID, bool) {
	if len(cert.URIs) != 1 {
		return spiffeid.ID{}, false
	}
	id, err := spiffeid.FromURI(cert.URIs[0])
	if err != nil {
		return spiffeid.ID{}, false
	}
	return id, true
}

// parseWorkloadID parses a configured SPIFFE ID (ServerSPIFFEID, ClientSPIFFEID); it must
// name a workload, so a bare trust domain is refused. Empty means unset.
func parseWorkloadID(field, s string) (spiffeid.ID, error) {
	if s == "" {
		return spiffeid.ID{}, nil
	}
	id, err := spiffeid.FromString(s)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("tlsmode: %s %q is not a SPIFFE ID: %w", field, s, err)
	}
	if id.Path() == "" {
		return spiffeid.ID{}, fmt.Errorf("tlsmode: %s %q is a bare trust domain; name the workload (spiffe://%s/...)", field, s, id.TrustDomain())
	}
	return id, nil
}
