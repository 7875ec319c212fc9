// Package tlsmode supplies the TLS side of connections to metald: the client configuration
// for new connections and an identity key that names what they present and trust.
//
// Three modes, as metald-cli has them, with its defaults and without its bugs:
//
//   - Spiffe (the default): the X.509-SVID from the SPIFFE Workload API is presented and
//     the server is authorized by SPIFFE ID — any ID in our trust domain, or exactly
//     ServerSPIFFEID. A missing, unreachable or identity-less Workload API is an error
//     naming the socket and the cause within SPIFFETimeout; there is never a fallback to
//     plain text. Rotated SVIDs are presented by new handshakes.
//   - File: CertFile and KeyFile are presented as the client certificate; the server is
//     verified against CAFile (or the system roots) by host name, or by SPIFFE ID when its
//     certificate carries only a SPIFFE URI SAN. Renewed files are re-read every
//     ReloadInterval. A server addressed by an IP literal must have a SPIFFE-only
//     certificate: crypto/tls does not tell custom verification which IP was dialed, so
//     such a server with an ordinary certificate is refused rather than half-checked.
//   - Disabled: no client certificate; https:// servers get ordinary server
//     authentication (a configuration with the system roots or CAFile; http:// needs
//     none).
//
// The transport calls Config (or TLSConfig) for every new connection and keeps one
// connection pool per identity key, so a rotated SVID, a renewed certificate or a replaced
// CA is never served by a connection made with the old material:
//
//	p, err := tlsmode.New(ctx, tlsmode.Options{Mode: tlsmode.Spiffe})
//	if err != nil {
//		return err // names the socket or file and the cause
//	}
//	defer p.Close()
//	tr, err := transport.New(transport.Config{TLSConfig: p.TLSConfig, ...})
package tlsmode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Defaults of Options' zero fields.
const (
	// DefaultSPIFFESocket is the SPIRE agent's socket, metald-cli's default.
	DefaultSPIFFESocket = "/var/lib/spire/agent/agent.sock"
	// DefaultSPIFFETimeout bounds the wait for the first X.509-SVID.
	DefaultSPIFFETimeout = 10 * time.Second
)

// Environment variables consulted, in this order, when Options.SPIFFESocketPath is empty.
const (
	// EnvMetaldSPIFFESocket is metald's own setting for the Workload API socket.
	EnvMetaldSPIFFESocket = "UNKEY_METALD_SPIFFE_SOCKET"
	// EnvSPIFFEEndpointSocket is the SPIFFE standard's setting.
	EnvSPIFFEEndpointSocket = "SPIFFE_ENDPOINT_SOCKET"
)

// Options configures a Provider. Fields a mode does not use are ignored.
type Options struct {
	// Mode selects the mode; empty is Spiffe.
	Mode Mode

	// SPIFFESocketPath is the Workload API socket: a path, "unix:PATH", "unix://PATH" or
	// "tcp://IP:PORT". Empty: $UNKEY_METALD_SPIFFE_SOCKET, else $SPIFFE_ENDPOINT_SOCKET,
	// else DefaultSPIFFESocket.
	SPIFFESocketPath string
	// SPIFFETimeout bounds the wait for the first X.509-SVID; zero is
	// DefaultSPIFFETimeout.
	SPIFFETimeout time.Duration
	// SVIDHint picks, among several SVIDs the Workload API returns, the one with this
	// hint (the Workload API's operator-set hint field). Empty: no constraint.
	SVIDHint string
	// ClientSPIFFEID picks, among several SVIDs the Workload API returns, the one with
	// this SPIFFE ID. Empty: no constraint. With neither set, the first SVID is used.
	ClientSPIFFEID string

	// ServerSPIFFEID is the only SPIFFE ID the server may have. Empty: any ID in our
	// trust domain (the trust domain of our SVID, or of our client certificate's SPIFFE
	// ID in file mode). Used by Spiffe mode and by File mode for servers whose
	// certificate carries only a SPIFFE URI SAN.
	ServerSPIFFEID string

	// CertFile and KeyFile are the PEM client certificate (chain) and private key of
	// File mode: both or neither.
	CertFile string
	KeyFile  string
	// CAFile is a PEM bundle of the CAs that verify the server (File and Disabled
	// modes). Empty: the system roots.
	CAFile string
	// ReloadInterval makes File mode re-read its files, at most this often, when their
	// contents changed. Zero never re-reads.
	ReloadInterval time.Duration
}

// source is one mode's supply of TLS configurations.
type source interface {
	tlsConfig() (*tls.Config, string, error)
	close() error
}

// Provider hands out the TLS configuration for new connections and the identity key that
// pools them. Its methods are safe for concurrent use.
type Provider struct {
	mode   Mode
	src    source
	closed atomic.Bool
}

// ErrClosed is returned by TLSConfig after Close.
var ErrClosed = errors.New("tlsmode: provider closed")

// New sets up the mode's TLS material, and fails with an error naming the socket or file
// and the cause if it cannot: before any request, and never by falling back to plain text.
// ctx bounds the setup (Spiffe mode also stops after SPIFFETimeout); it does not bound
// the Provider's life.
func New(ctx context.Context, o Options) (*Provider, error) {
	mode, err := ParseMode(string(o.Mode))
	if err != nil {
		return nil, err
	}
	var src source
	switch mode {
	case Spiffe:
		src, err = newSpiffeSource(ctx, o)
	case File:
		src, err = newFileSource(o, time.Now)
	case Disabled:
		src, err = newDisabledSource(o)
	}
	if err != nil {
		return nil, err
	}
	return &Provider{mode: mode, src: src}, nil
}

// Mode returns the provider's mode.
func (p *Provider) Mode() Mode { return p.mode }

// TLSConfig returns the TLS client configuration for a new connection and its identity
// key, or an error when no identity is available now (the provider is closed, the
// Workload API withdrew our SVID, the CA file became unusable). Its signature is the
// transport's TLSConfig hook. The configuration is the caller's to modify.
//
// The key changes whenever the presented identity or the trust material changes: a
// rotated SVID (serial), a new SPIFFE bundle, a renewed client certificate, a replaced CA
// file. Disabled mode's key is "anonymous" (plus the CA file's digest when one is set).
func (p *Provider) TLSConfig() (*tls.Config, string, error) {
	if p.closed.Load() {
		return nil, "", ErrClosed
	}
	cfg, key, err := p.src.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	return cfg.Clone(), key, nil
}

// Config is TLSConfig for callers that take no error: when no identity is available it
// returns a configuration whose handshakes fail with that error (never one that skips
// verification or presents nothing in silence), under the key "unavailable".
func (p *Provider) Config() (*tls.Config, string) {
	cfg, key, err := p.TLSConfig()
	if err != nil {
		return failingConfig(err), "unavailable"
	}
	return cfg, key
}

// ReloadError returns the error of the last failed re-read of File mode's files (the
// previous certificate stays in use), or nil.
func (p *Provider) ReloadError() error {
	if f, ok := p.src.(*fileSource); ok {
		return f.reloadError()
	}
	return nil
}

// Close releases the provider (Spiffe mode: the Workload API connection). Later calls to
// TLSConfig fail with ErrClosed.
func (p *Provider) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return p.src.close()
}

// failingConfig is a configuration whose every handshake fails with err.
func failingConfig(err error) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The handshake cannot succeed: VerifyConnection refuses every server.
		InsecureSkipVerify: true, //nolint:gosec // verification is VerifyConnection, which always fails
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return nil, err
		},
		VerifyConnection: func(tls.ConnectionState) error {
			return fmt.Errorf("tlsmode: no client identity: %w", err)
		},
	}
}
