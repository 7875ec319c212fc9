// Package transport is the outbound HTTP of the metald component in Go: a wasi:http 0.2
// host (the imports of metald.Host) over net/http, with an allow-list, pooled connections
// keyed by TLS identity, HTTP/2 by ALPN over TLS, optional h2c, timeouts and size limits.
//
// A Transport is shared by every instance of a runtime; each instance gets its own Host,
// which keeps that instance's resource tables:
//
//	tr, err := transport.New(transport.Config{AllowList: []string{"http://127.0.0.1:8080"}})
//	host := tr.NewHost()
//	defer host.Close()
//	inst, err := rt.Instantiate(ctx, host)
//
// Failures reach the component as wasi:http error codes (see ErrorCode), as the Rust host
// (host/src/transport) reports them.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config's zero fields.
const (
	DefaultConnectTimeout         = 10 * time.Second
	DefaultTLSHandshakeTimeout    = 10 * time.Second
	DefaultResponseTimeout        = 30 * time.Second
	DefaultMaxResponseHeaderBytes = 64 << 10
	DefaultMaxRequestBodyBytes    = 64 << 20
	DefaultMaxIdleConns           = 256
	DefaultMaxIdleConnsPerHost    = 64
	DefaultIdleConnTimeout        = 90 * time.Second
)

// Config configures a Transport. Zero fields take the defaults above. It is read once by
// New; the TLSConfig hook is then called concurrently.
type Config struct {
	// AllowList lists the origins the component may reach: "http://127.0.0.1:8080",
	// "https://metald:8443/prefix" (the path is ignored), or "metald:8443" (either
	// scheme). A missing port is the scheme's default (80, 443). Every other destination
	// is refused with HTTP-request-denied; an empty list refuses everything.
	AllowList []string

	// TLSConfig returns the TLS configuration for new https connections and a key naming
	// the identity and trust it carries (for example a certificate serial plus a bundle
	// revision). Connections are pooled per key: when the key changes, a new pool is made
	// and the old one's connections are closed once idle, never reused. An error fails the
	// request with TLS-alert-received. It is called for every https request, so it should
	// be cheap. Nil: system roots, no client certificate.
	TLSConfig func() (*tls.Config, string, error)

	// H2C speaks HTTP/2 with prior knowledge to http:// servers. Otherwise http:// uses
	// HTTP/1.1; https:// always negotiates HTTP/2 or HTTP/1.1 by ALPN.
	H2C bool

	// ConnectTimeout bounds the TCP connect (a component's smaller connect timeout wins).
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout time.Duration
	// ResponseTimeout is the first-byte and between-bytes timeout of requests whose
	// request-options set none.
	ResponseTimeout time.Duration

	// MaxResponseHeaderBytes caps a response's header section; over it the request fails
	// with HTTP-response-header-section-size.
	MaxResponseHeaderBytes int64
	// MaxRequestBodyBytes caps a request body; a write past it fails with
	// HTTP-request-body-size.
	MaxRequestBodyBytes int64

	// MaxIdleConns caps the idle connections kept, over all servers.
	MaxIdleConns int
	// MaxIdleConnsPerHost caps the idle connections kept per server.
	MaxIdleConnsPerHost int
	// IdleConnTimeout is how long an idle connection is kept.
	IdleConnTimeout time.Duration

	// Logger receives denied and failed requests. Nil: no logs.
	Logger *slog.Logger
}

// Transport is the shared part of the outbound HTTP: configuration, allow-list and
// connection pools. It is safe for concurrent use.
type Transport struct {
	cfg   Config
	allow allowList
	log   *slog.Logger
	dial  net.Dialer

	// plain serves http:// (no identity involved).
	plain *pool

	mu        sync.Mutex
	secure    *pool  // the pool of the current TLS identity, made on first https use
	secureKey string // its key
}

// pool is one http.Transport; a retired pool is no longer handed out, and its
// connections are closed as they become idle.
type pool struct {
	rt      *http.Transport
	retired atomic.Bool
}

// release is called when a request made through p has ended.
func (p *pool) release() {
	if p.retired.Load() {
		p.rt.CloseIdleConnections()
	}
}

// New validates cfg, fills in its defaults and returns a Transport with no connections.
func New(cfg Config) (*Transport, error) {
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ConnectTimeout", &cfg.ConnectTimeout, DefaultConnectTimeout},
		{"TLSHandshakeTimeout", &cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout},
		{"ResponseTimeout", &cfg.ResponseTimeout, DefaultResponseTimeout},
		{"IdleConnTimeout", &cfg.IdleConnTimeout, DefaultIdleConnTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return nil, fmt.Errorf("transport: Config.%s is %v; it must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	sizes := []struct {
		name string
		v    *int64
		def  int64
		max  int64
	}{
		{"MaxResponseHeaderBytes", &cfg.MaxResponseHeaderBytes, DefaultMaxResponseHeaderBytes, 1 << 31},
		{"MaxRequestBodyBytes", &cfg.MaxRequestBodyBytes, DefaultMaxRequestBodyBytes, 1 << 40},
	}
	for _, s := range sizes {
		if *s.v < 0 || *s.v > s.max {
			return nil, fmt.Errorf("transport: Config.%s is %d; it must be between 0 (the default) and %d", s.name, *s.v, s.max)
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	counts := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxIdleConns", &cfg.MaxIdleConns, DefaultMaxIdleConns},
		{"MaxIdleConnsPerHost", &cfg.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost},
	}
	for _, c := range counts {
		if *c.v < 0 {
			return nil, fmt.Errorf("transport: Config.%s is %d; it must not be negative", c.name, *c.v)
		}
		if *c.v == 0 {
			*c.v = c.def
		}
	}
	allow := make(allowList, 0, len(cfg.AllowList))
	for i, entry := range cfg.AllowList {
		o, err := ParseOrigin(entry)
		if err != nil {
			return nil, fmt.Errorf("transport: Config.AllowList[%d]: %w", i, err)
		}
		allow = append(allow, o)
	}
	cfg.AllowList = append([]string(nil), cfg.AllowList...)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		cfg:   cfg,
		allow: allow,
		log:   log,
		dial:  net.Dialer{KeepAlive: 30 * time.Second},
	}
	t.plain = &pool{rt: t.newHTTPTransport(nil)}
	return t, nil
}

// Close closes the idle connections of every pool. Requests in flight are not
// interrupted; the Transport stays usable (a later request opens a new connection).
func (t *Transport) Close() {
	t.plain.rt.CloseIdleConnections()
	t.mu.Lock()
	secure := t.secure
	t.mu.Unlock()
	if secure != nil {
		secure.rt.CloseIdleConnections()
	}
}

// Allows reports whether a request to scheme://authority passes the allow-list.
func (t *Transport) Allows(scheme, authority string) bool {
	return t.allow.allows(scheme, authority)
}

// poolFor returns the pool for a request of scheme ("http" or "https").
func (t *Transport) poolFor(scheme string) (*pool, error) {
	if scheme != "https" {
		return t.plain, nil
	}
	var (
		cfg = &tls.Config{}
		key = "default"
	)
	if t.cfg.TLSConfig != nil {
		var err error
		cfg, key, err = t.cfg.TLSConfig()
		if err != nil {
			return nil, &tlsFailure{err: fmt.Errorf("client identity unavailable: %w", err)}
		}
		if cfg == nil {
			return nil, &tlsFailure{err: errors.New("client identity unavailable: the TLSConfig hook returned no configuration")}
		}
	}
	t.mu.Lock()
	if t.secure != nil && t.secureKey == key {
		p := t.secure
		t.mu.Unlock()
		return p, nil
	}
	old := t.secure
	p := &pool{rt: t.newHTTPTransport(cfg)}
	t.secure, t.secureKey = p, key
	t.mu.Unlock()
	if old != nil {
		old.retire()
	}
	return p, nil
}

// retireGrace is when a retired pool's idle connections are closed once more: an HTTP/2
// stream whose response was read to its end leaves its connection busy for a moment.
const retireGrace = 250 * time.Millisecond

// retire stops handing p out. Its connections are never reused: idle ones close now (and
// again after retireGrace), busy ones when their request ends (pool.release).
func (p *pool) retire() {
	p.retired.Store(true)
	p.rt.CloseIdleConnections()
	time.AfterFunc(retireGrace, p.rt.CloseIdleConnections)
}

// connectTimeoutKey carries a request's connect timeout to dialContext.
type connectTimeoutKey struct{}

// dialContext connects within the configured connect timeout, or the request's smaller one.
func (t *Transport) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := t.cfg.ConnectTimeout
	if v, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && v > 0 && v < d {
		d = v
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return t.dial.DialContext(ctx, network, addr)
}

// newHTTPTransport makes the http.Transport of a pool: cfg nil for http://, the TLS
// configuration for https://.
func (t *Transport) newHTTPTransport(cfg *tls.Config) *http.Transport {
	var protocols http.Protocols
	if cfg == nil && t.cfg.H2C {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
		protocols.SetHTTP2(true)
	}
	rt := &http.Transport{
		Proxy:                  nil, // never a proxy: the allow-list is about the destination itself
		DialContext:            t.dialContext,
		TLSHandshakeTimeout:    t.cfg.TLSHandshakeTimeout,
		MaxIdleConns:           t.cfg.MaxIdleConns,
		MaxIdleConnsPerHost:    t.cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        t.cfg.IdleConnTimeout,
		MaxResponseHeaderBytes: t.cfg.MaxResponseHeaderBytes,
		// The component asks for gzip itself and decodes it within its own limits.
		DisableCompression: true,
		Protocols:          &protocols,
	}
	if cfg != nil {
		rt.TLSClientConfig = markTLSFailures(cfg.Clone())
	}
	return rt
}

// markTLSFailures wraps the verification and client-certificate callbacks of c so their
// errors are recognised as TLS failures (net/http returns them unwrapped).
func markTLSFailures(c *tls.Config) *tls.Config {
	if f := c.VerifyPeerCertificate; f != nil {
		c.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
			return asTLSFailure(f(raw, chains))
		}
	}
	if f := c.VerifyConnection; f != nil {
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return asTLSFailure(f(cs))
		}
	}
	if f := c.GetClientCertificate; f != nil {
		c.GetClientCertificate = func(info *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := f(info)
			return cert, asTLSFailure(err)
		}
	}
	return c
}

func asTLSFailure(err error) error {
	if err == nil {
		return nil
	}
	return &tlsFailure{err: err}
}
