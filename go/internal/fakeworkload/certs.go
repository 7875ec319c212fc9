package fakeworkload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a self-signed ECDSA P-256 certificate authority made for a test, valid from an
// hour ago for a day.
type CA struct {
	// Name is the CA's common name; for a SPIFFE CA, by convention, its trust domain.
	Name string
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// PEM is the CA certificate as one PEM block.
	PEM []byte
}

// Leaf is a certificate and its key, issued by a CA.
type Leaf struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// KeyDER is the key as PKCS#8 DER.
	KeyDER []byte
	// CertPEM and KeyPEM are the certificate and the PKCS#8 key as PEM.
	CertPEM []byte
	KeyPEM  []byte
}

// LeafOptions describe a certificate to issue. Every leaf has the server-auth and
// client-auth extended key usages.
type LeafOptions struct {
	// CommonName is the subject's common name; empty: "test leaf".
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	// URIs are URI SANs (a SPIFFE ID for an X509-SVID).
	URIs []string
	// IsCA sets the basic-constraints CA flag.
	IsCA bool
	// KeyUsage is the key usage; zero: digitalSignature (unless NoKeyUsage).
	KeyUsage x509.KeyUsage
	// NoKeyUsage leaves the key usage extension out altogether.
	NoKeyUsage bool
	// NotBefore and NotAfter bound the validity; zero: an hour ago, in a day.
	NotBefore time.Time
	NotAfter  time.Time
}

// NewKey returns a new ECDSA P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newSerial returns a random positive serial number below 2^62, so that every certificate
// of a test has a serial of its own.
func newSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// NewCA makes a CA named name: for SPIFFE use, name it after its trust domain
// ("example.org").
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Name: name, Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// BundlePEM is the CA certificate as PEM: the CA file of file mode, a client-CA file.
func (ca *CA) BundlePEM() []byte { return ca.PEM }

// Pool is a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue issues a leaf certificate described by o.
func (ca *CA) Issue(t testing.TB, o LeafOptions) *Leaf {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(t),
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             o.NotBefore,
		NotAfter:              o.NotAfter,
		DNSNames:              o.DNSNames,
		IPAddresses:           o.IPAddresses,
		IsCA:                  o.IsCA,
		BasicConstraintsValid: true,
		KeyUsage:              o.KeyUsage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if tmpl.Subject.CommonName == "" {
		tmpl.Subject.CommonName = "test leaf"
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if tmpl.KeyUsage == 0 && !o.NoKeyUsage {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{
		Cert:    cert,
		Key:     key,
		KeyDER:  pkcs8,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}
}

// SVID issues an X509-SVID for spiffeID (its only SAN, key usage digitalSignature), valid
// from a minute ago until ttl from now, with this CA as its trust domain's bundle.
func (ca *CA) SVID(t testing.TB, spiffeID string, ttl time.Duration) SVID {
	t.Helper()
	now := time.Now()
	leaf := ca.Issue(t, LeafOptions{CommonName: spiffeID, URIs: []string{spiffeID}, NotBefore: now.Add(-time.Minute), NotAfter: now.Add(ttl)})
	return NewSVID(leaf, ca)
}

// CertFiles are the PEM files of an issued certificate and of its key.
type CertFiles struct {
	Leaf *Leaf
	// Cert and Key are the paths of the certificate and of its PKCS#8 key.
	Cert, Key string
}

// WriteCertFiles issues a certificate for dnsNames (DNS SANs; server and client auth,
// valid from an hour ago for a day) and writes it to dir/name.pem and its key to
// dir/name.key: the files of file mode for a server addressed as one of dnsNames, or for
// a client.
func (ca *CA) WriteCertFiles(t testing.TB, dir, name string, dnsNames ...string) CertFiles {
	t.Helper()
	leaf := ca.Issue(t, LeafOptions{CommonName: name, DNSNames: dnsNames})
	cert, key := leaf.WriteFiles(t, dir, name)
	return CertFiles{Leaf: leaf, Cert: cert, Key: key}
}

// WriteBundleFile writes the CA certificate (PEM) to dir/name and returns its path.
func (ca *CA) WriteBundleFile(t testing.TB, dir, name string) string {
	t.Helper()
	return WriteFile(t, dir, name, ca.PEM)
}

// WriteFiles writes the certificate to dir/name.pem and the key to dir/name.key, and
// returns their paths.
func (l *Leaf) WriteFiles(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return WriteFile(t, dir, name+".pem", l.CertPEM), WriteFile(t, dir, name+".key", l.KeyPEM)
}

// TLSCertificate is the leaf as a crypto/tls certificate (without the CA).
func (l *Leaf) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.Key, Leaf: l.Cert}
}

// SerialHex is the certificate's serial number in lower-case hex without leading zeros.
func (l *Leaf) SerialHex() string { return l.Cert.SerialNumber.Text(16) }

// WriteFile writes data to dir/name (mode 0600) by writing a temporary file and renaming
// it over the name, as certificate renewers do, and returns the path.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}
