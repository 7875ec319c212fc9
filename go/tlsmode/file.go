package tlsmode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// FileError reports an unusable certificate, key or CA file.
type FileError struct {
	// Role is "certificate", "key" or "CA".
	Role string
	// Path is the file.
	Path string
	// Err is what is wrong with it.
	Err error
}

// Error implements error.
func (e *FileError) Error() string {
	return fmt.Sprintf("tlsmode: %s file %s: %v", e.Role, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

func fileError(role, path string, format string, args ...any) *FileError {
	return &FileError{Role: role, Path: path, Err: fmt.Errorf(format, args...)}
}

// clientCert is a loaded client certificate chain and its key.
type clientCert struct {
	cert        tls.Certificate
	leaf        *x509.Certificate
	trustDomain spiffeid.TrustDomain // of the leaf's SPIFFE ID; zero if it has none
	fingerprint string               // SHA-256 of the leaf, shortened
}

// fileState is one loaded version of file mode's material.
type fileState struct {
	cert       *clientCert // nil: no client certificate
	certDigest [32]byte    // of the cert and key files' bytes that cert came from
	roots      *x509.CertPool
	caDigest   [32]byte // of the CA file's bytes
	caErr      error    // the CA file is unusable now: no connection is trusted
	cfg        *tls.Config
	key        string
}

// fileSource is File mode: client certificate and CA from PEM files, re-read every
// interval when they changed.
type fileSource struct {
	certPath, keyPath, caPath string
	serverID                  spiffeid.ID
	interval                  time.Duration
	now                       func() time.Time

	state     atomic.Pointer[fileState]
	nextCheck atomic.Int64 // unix nanoseconds of the next re-read
	reloading sync.Mutex   // one re-read at a time
	reloadErr atomic.Pointer[error]
}

func newFileSource(o Options, now func() time.Time) (*fileSource, error) {
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		return nil, fileError("certificate", o.CertFile, "a client certificate needs its private key: set KeyFile")
	case o.CertFile == "" && o.KeyFile != "":
		return nil, fileError("key", o.KeyFile, "a private key needs its certificate: set CertFile")
	}
	serverID, err := parseWorkloadID("ServerSPIFFEID", o.ServerSPIFFEID)
	if err != nil {
		return nil, err
	}
	f := &fileSource{
		certPath: o.CertFile, keyPath: o.KeyFile, caPath: o.CAFile,
		serverID: serverID, interval: o.ReloadInterval, now: now,
	}
	st := &fileState{}
	if f.certPath != "" {
		certPEM, keyPEM, err := f.readPair()
		if err != nil {
			return nil, err
		}
		if st.cert, err = parseClientCert(f.certPath, certPEM, f.keyPath, keyPEM, now()); err != nil {
			return nil, err
		}
		st.certDigest = pairDigest(certPEM, keyPEM)
	}
	if f.caPath != "" {
		caPEM, err := os.ReadFile(f.caPath)
		if err != nil {
			return nil, fileError("CA", f.caPath, "cannot read: %w", err)
		}
		if st.roots, err = parseCAs(f.caPath, caPEM); err != nil {
			return nil, err
		}
		st.caDigest = sha256.Sum256(caPEM)
	}
	f.finish(st)
	f.state.Store(st)
	f.nextCheck.Store(now().Add(f.interval).UnixNano())
	return f, nil
}

func (f *fileSource) readPair() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(f.certPath); err != nil {
		return nil, nil, fileError("certificate", f.certPath, "cannot read: %w", err)
	}
	if keyPEM, err = os.ReadFile(f.keyPath); err != nil {
		return nil, nil, fileError("key", f.keyPath, "cannot read: %w", err)
	}
	return certPEM, keyPEM, nil
}

func pairDigest(certPEM, keyPEM []byte) [32]byte {
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// finish builds the TLS configuration and identity key of a state.
func (f *fileSource) finish(st *fileState) {
	v := &fileVerifier{roots: st.roots, rootsName: "the system roots", policy: serverPolicy{serverID: f.serverID}}
	if f.caPath != "" {
		v.rootsName = "CA file " + f.caPath
	}
	key := "anonymous"
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is VerifyConnection: by host name as crypto/tls does it, or the
		// SPIFFE way for servers with a SPIFFE-only certificate.
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection verifies the server
		VerifyConnection:   v.verifyConnection,
	}
	if c := st.cert; c != nil {
		v.policy.trustDomain = c.trustDomain
		cert := c.cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
		key = "file:" + c.fingerprint
	}
	if f.caPath != "" {
		key += ";ca:" + hex.EncodeToString(st.caDigest[:8])
	} else {
		key += ";ca:system"
	}
	st.cfg, st.key = cfg, key
}

func (f *fileSource) tlsConfig() (*tls.Config, string, error) {
	if f.interval > 0 && f.now().UnixNano() >= f.nextCheck.Load() && f.reloading.TryLock() {
		// Another caller re-reading meanwhile is fine: this one uses the current state.
		f.reload()
		f.reloading.Unlock()
	}
	st := f.state.Load()
	if st.caErr != nil {
		return nil, "", st.caErr
	}
	return st.cfg, st.key, nil
}

func (f *fileSource) reloadError() error {
	if p := f.reloadErr.Load(); p != nil {
		return *p
	}
	return nil
}

// reload re-reads the files and installs what changed. A CA file that became unusable
// makes every new connection fail (a CA that is gone must not stay trusted); a client
// certificate or key that became unusable (for example half-written during renewal) keeps
// the previous pair in use and is reported by ReloadError.
func (f *fileSource) reload() {
	defer func() { f.nextCheck.Store(f.now().Add(f.interval).UnixNano()) }()
	old := f.state.Load()
	next := *old
	changed := false
	var certErr error

	if f.certPath != "" {
		certPEM, keyPEM, err := f.readPair()
		if err == nil {
			if d := pairDigest(certPEM, keyPEM); d != old.certDigest {
				var c *clientCert
				if c, err = parseClientCert(f.certPath, certPEM, f.keyPath, keyPEM, f.now()); err == nil {
					next.cert, next.certDigest, changed = c, d, true
				}
			}
		}
		certErr = err
	}
	if f.caPath != "" {
		caPEM, err := os.ReadFile(f.caPath)
		var d [32]byte // all zero for an unreadable file: a later readable one differs
		if err == nil {
			d = sha256.Sum256(caPEM)
		}
		if d != old.caDigest || (err != nil) != (old.caErr != nil) {
			changed = true
			next.caDigest, next.caErr, next.roots = d, nil, nil
			if err != nil {
				next.caErr = fileError("CA", f.caPath, "cannot read: %w", err)
			} else if next.roots, err = parseCAs(f.caPath, caPEM); err != nil {
				next.caErr = err
			}
		}
	}
	if certErr != nil {
		f.reloadErr.Store(&certErr)
	} else {
		f.reloadErr.Store(nil)
	}
	if changed {
		f.finish(&next)
		f.state.Store(&next)
	}
}

// parseClientCert checks a client certificate chain and its key: PEM, a leaf valid now,
// a key that belongs to the leaf. Errors name the file at fault.
func parseClientCert(certPath string, certPEM []byte, keyPath string, keyPEM []byte, now time.Time) (*clientCert, error) {
	var chain [][]byte
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			chain = append(chain, block.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, fileError("certificate", certPath, "no PEM CERTIFICATE block found")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, fileError("certificate", certPath, "not an X.509 certificate: %w", err)
	}
	for i, der := range chain[1:] {
		if _, err := x509.ParseCertificate(der); err != nil {
			return nil, fileError("certificate", certPath, "certificate %d of the chain is not an X.509 certificate: %w", i+2, err)
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fileError("certificate", certPath, "the certificate (serial %s) expired at %s, %s ago",
			leaf.SerialNumber.Text(16), leaf.NotAfter.UTC().Format(time.RFC3339), now.Sub(leaf.NotAfter).Round(time.Second))
	case now.Before(leaf.NotBefore):
		return nil, fileError("certificate", certPath, "the certificate (serial %s) is not valid until %s",
			leaf.SerialNumber.Text(16), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	key, err := parsePrivateKey(keyPath, keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fileError("key", keyPath, "the private key does not belong to the certificate in %s", certPath)
	}
	c := &clientCert{
		cert: tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf},
		leaf: leaf,
	}
	if id, ok := spiffeIDOf(leaf); ok {
		c.trustDomain = id.TrustDomain()
	}
	sum := sha256.Sum256(leaf.Raw)
	c.fingerprint = hex.EncodeToString(sum[:12])
	return c, nil
}

// parsePrivateKey reads the first private key of a PEM file (PKCS #8, PKCS #1 or SEC 1).
func parsePrivateKey(path string, keyPEM []byte) (crypto.Signer, error) {
	sawCert := false
	for rest := keyPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			sawCert = true
			continue
		case !strings.HasSuffix(block.Type, "PRIVATE KEY"):
			continue
		case block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "":
			return nil, fileError("key", path, "the private key is encrypted; an unencrypted key is needed")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		}
		if err != nil {
			return nil, fileError("key", path, "malformed %s: %w", block.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		default:
			return nil, fileError("key", path, "unsupported private key type %T", key)
		}
	}
	if sawCert {
		return nil, fileError("key", path, "contains a certificate but no private key")
	}
	return nil, fileError("key", path, "no PEM PRIVATE KEY block found")
}

// parseCAs reads a PEM bundle of CA certificates; certificates Go cannot parse are skipped,
// but at least one must be usable.
func parseCAs(path string, caPEM []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	added, blocks := 0, 0
	var firstErr error
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		blocks++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		pool.AddCert(cert)
		added++
	}
	switch {
	case blocks == 0:
		return nil, fileError("CA", path, "no PEM CERTIFICATE block found")
	case added == 0:
		return nil, fileError("CA", path, "no usable CA certificate: %w", firstErr)
	}
	return pool, nil
}

// fileVerifier verifies servers in File mode.
type fileVerifier struct {
	roots     *x509.CertPool // nil: the system roots
	rootsName string
	policy    serverPolicy
}

// verifyConnection verifies the server's chain against the roots and then either its host
// name (DNS or IP SANs, as crypto/tls would) or, for a certificate whose only identity is a
// SPIFFE URI SAN, its SPIFFE ID (authorizeServer).
func (v *fileVerifier) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsmode: the server presented no certificate")
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	facts := factsOf(leaf)
	if usesSPIFFEVerification(facts) {
		// As go-spiffe verifies X509-SVIDs: any extended key usage.
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("tlsmode: the server's SPIFFE certificate does not chain to %s: %w", v.rootsName, err)
		}
		_, err := authorizeServer(facts, v.policy)
		return err
	}
	if cs.ServerName == "" {
		// crypto/tls reports no server name when the server is addressed by IP, and a
		// shared configuration cannot learn the address: refuse rather than skip the check.
		return errors.New("tlsmode: cannot check the server's certificate against its address: " +
			"the server was addressed by IP (or without a name) and its certificate is not a SPIFFE-only one; " +
			"address it by DNS name")
	}
	opts.DNSName = cs.ServerName
	if _, err := leaf.Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

// disabledSource is Disabled mode: no client certificate, ordinary server authentication
// against the system roots or the CA file.
type disabledSource struct {
	cfg *tls.Config
	key string
}

func newDisabledSource(o Options) (*disabledSource, error) {
	s := &disabledSource{cfg: &tls.Config{MinVersion: tls.VersionTLS12}, key: "anonymous"}
	if o.CAFile != "" {
		caPEM, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fileError("CA", o.CAFile, "cannot read: %w", err)
		}
		if s.cfg.RootCAs, err = parseCAs(o.CAFile, caPEM); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(caPEM)
		s.key += ";ca:" + hex.EncodeToString(sum[:8])
	}
	return s, nil
}

func (s *disabledSource) tlsConfig() (*tls.Config, string, error) { return s.cfg, s.key, nil }

func (s *disabledSource) close() error { return nil }

func (f *fileSource) close() error { return nil }
