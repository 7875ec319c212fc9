package tlsmode

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Reason is a keyword saying why a server certificate was refused by the SPIFFE rules. The
// same keywords name the outcomes of the shared test vectors
// (testdata/spiffe-authorization.json), which the Rust and JS hosts check too.
type Reason string

// Why a server's SPIFFE identity was refused.
const (
	// ReasonURISANCount: the leaf has no URI SAN or more than one (X509-SVID: exactly one).
	ReasonURISANCount Reason = "uri-san-count"
	// ReasonNotSPIFFE: the URI SAN is not a spiffe:// URI.
	ReasonNotSPIFFE Reason = "not-spiffe-uri"
	// ReasonMalformedID: the URI SAN is a spiffe:// URI but not a valid SPIFFE ID.
	ReasonMalformedID Reason = "malformed-id"
	// ReasonCALeaf: the leaf has the CA flag set.
	ReasonCALeaf Reason = "ca-leaf"
	// ReasonKeyCertSign: the leaf has the keyCertSign key usage.
	ReasonKeyCertSign Reason = "key-cert-sign"
	// ReasonCRLSign: the leaf has the cRLSign key usage.
	ReasonCRLSign Reason = "crl-sign"
	// ReasonNoPath: the SPIFFE ID is a bare trust domain (spiffe://example.org), which
	// names no workload.
	ReasonNoPath Reason = "no-path"
	// ReasonIDMismatch: the SPIFFE ID is not the configured server SPIFFE ID.
	ReasonIDMismatch Reason = "id-mismatch"
	// ReasonTrustDomainMismatch: the SPIFFE ID is outside our trust domain.
	ReasonTrustDomainMismatch Reason = "trust-domain-mismatch"
	// ReasonNoPolicy: there is neither a configured server SPIFFE ID nor a trust domain of
	// our own to authorize the server by, so it is refused (fail closed).
	ReasonNoPolicy Reason = "no-policy"
)

// AuthorizationError reports a server certificate refused by the SPIFFE rules. It reaches
// the caller inside the TLS handshake error; use errors.As to inspect it.
type AuthorizationError struct {
	// Reason is the keyword of the rule that refused the certificate.
	Reason Reason
	// ID is the server's SPIFFE ID (or URI SAN) when it has one.
	ID string
	// Detail explains the refusal.
	Detail string
}

// Error implements error.
func (e *AuthorizationError) Error() string {
	return fmt.Sprintf("tlsmode: server certificate refused (%s): %s", e.Reason, e.Detail)
}

func refuse(reason Reason, id, format string, args ...any) *AuthorizationError {
	return &AuthorizationError{Reason: reason, ID: id, Detail: fmt.Sprintf(format, args...)}
}

// serverPolicy says which server SPIFFE IDs are acceptable: exactly serverID when it is
// set, else any member of trustDomain when that is set, else none (fail closed).
type serverPolicy struct {
	trustDomain spiffeid.TrustDomain
	serverID    spiffeid.ID
}

// authorizeServer applies the X509-SVID leaf rules and the policy to a server's leaf
// certificate and returns its SPIFFE ID. It is the one place both the spiffe and the file
// mode decide whether a server's SPIFFE identity is acceptable; the chain itself is
// verified by the caller (against the trust bundle or the CA file).
//
// Checks, in order: exactly one URI SAN; a spiffe:// URI that is a valid SPIFFE ID; not a
// CA; no keyCertSign, no cRLSign key usage; a non-empty path; then the policy. DNS and IP
// SANs do not matter here (an X509-SVID may carry them).
func authorizeServer(leaf leafFacts, p serverPolicy) (spiffeid.ID, error) {
	if n := len(leaf.URIs); n != 1 {
		return spiffeid.ID{}, refuse(ReasonURISANCount, strings.Join(leaf.URIs, ","),
			"an X509-SVID has exactly one URI SAN, the server's certificate has %d", n)
	}
	uri := leaf.URIs[0]
	if !strings.HasPrefix(uri, "spiffe://") {
		return spiffeid.ID{}, refuse(ReasonNotSPIFFE, uri, "the server's URI SAN %q is not a SPIFFE ID", uri)
	}
	id, err := spiffeid.FromString(uri)
	if err != nil {
		return spiffeid.ID{}, refuse(ReasonMalformedID, uri, "the server's SPIFFE ID %q is malformed: %v", uri, err)
	}
	switch {
	case leaf.IsCA:
		return id, refuse(ReasonCALeaf, uri, "the server's leaf certificate (%s) is a CA", uri)
	case leaf.KeyCertSign:
		return id, refuse(ReasonKeyCertSign, uri, "the server's leaf certificate (%s) has the keyCertSign key usage", uri)
	case leaf.CRLSign:
		return id, refuse(ReasonCRLSign, uri, "the server's leaf certificate (%s) has the cRLSign key usage", uri)
	case id.Path() == "":
		return id, refuse(ReasonNoPath, uri, "the server's SPIFFE ID %s is a bare trust domain, not a workload", uri)
	}
	switch {
	case !p.serverID.IsZero():
		if id != p.serverID {
			return id, refuse(ReasonIDMismatch, uri, "the server's SPIFFE ID %s is not the expected %s", id, p.serverID)
		}
	case !p.trustDomain.IsZero():
		if !id.MemberOf(p.trustDomain) {
			return id, refuse(ReasonTrustDomainMismatch, uri,
				"the server's SPIFFE ID %s is outside our trust domain %s (set ServerSPIFFEID to accept it)", id, p.trustDomain)
		}
	default:
		return id, refuse(ReasonNoPolicy, uri,
			"no way to authorize the server's SPIFFE ID %s: set ServerSPIFFEID (or use a client certificate with a SPIFFE ID, whose trust domain is then accepted)", id)
	}
	return id, nil
}

// usesSPIFFEVerification reports whether file mode verifies a server's leaf the SPIFFE way
// (chain to the CA file, then authorizeServer) rather than by host name: the leaf has no
// DNS or IP SAN and a spiffe:// URI SAN.
func usesSPIFFEVerification(leaf leafFacts) bool {
	if leaf.DNSOrIP {
		return false
	}
	for _, u := range leaf.URIs {
		if strings.HasPrefix(u, "spiffe://") {
			return true
		}
	}
	return false
}
