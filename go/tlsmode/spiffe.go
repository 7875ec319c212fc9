package tlsmode

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// socketSetting is the Workload API socket to use: the option, else the environment,
// else the default.
func socketSetting(o Options) string {
	if o.SPIFFESocketPath != "" {
		return o.SPIFFESocketPath
	}
	for _, env := range []string{EnvMetaldSPIFFESocket, EnvSPIFFEEndpointSocket} {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	return DefaultSPIFFESocket
}

// workloadEndpoint turns a socket setting (a path, unix:PATH, unix://PATH or tcp://IP:PORT)
// into the go-spiffe address and, for unix sockets, the absolute file path.
func workloadEndpoint(setting string) (addr, path string, err error) {
	switch {
	case strings.HasPrefix(setting, "tcp:"):
		if err := workloadapi.ValidateAddress(setting); err != nil {
			return "", "", fmt.Errorf("tlsmode: SPIFFE Workload API address %q: %w", setting, err)
		}
		return setting, "", nil
	case strings.HasPrefix(setting, "unix://"):
		path = strings.TrimPrefix(setting, "unix://")
	case strings.HasPrefix(setting, "unix:"):
		path = strings.TrimPrefix(setting, "unix:")
	default:
		path = setting
	}
	if path == "" {
		return "", "", fmt.Errorf("tlsmode: SPIFFE Workload API socket %q names no file", setting)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", "", fmt.Errorf("tlsmode: SPIFFE Workload API socket %q: %w", setting, err)
	}
	return (&url.URL{Scheme: "unix", Path: path}).String(), path, nil
}

// checkSocket fails early, naming the socket, when the Workload API cannot be there.
func checkSocket(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("tlsmode: SPIFFE Workload API socket %s does not exist "+
			"(is the SPIRE agent running? set SPIFFESocketPath, $%s or $%s); refusing to fall back to plaintext: %w",
			path, EnvMetaldSPIFFESocket, EnvSPIFFEEndpointSocket, err)
	case err != nil:
		return fmt.Errorf("tlsmode: SPIFFE Workload API socket %s: %w", path, err)
	case info.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("tlsmode: SPIFFE Workload API socket %s is not a socket (%s)", path, info.Mode().Type())
	}
	return nil
}

// lastErrorLogger keeps the last error the Workload API client reported, which explains
// a source that got no SVID in time (refused, no identity issued, a malformed response).
type lastErrorLogger struct {
	mu  sync.Mutex
	err error
}

func (l *lastErrorLogger) Debugf(string, ...any) {}
func (l *lastErrorLogger) Infof(string, ...any)  {}
func (l *lastErrorLogger) Warnf(format string, args ...any) {
	l.Errorf(format, args...)
}

func (l *lastErrorLogger) Errorf(format string, args ...any) {
	var err error
	for _, a := range args {
		if e, ok := a.(error); ok {
			err = e
		}
	}
	if err == nil {
		err = fmt.Errorf(format, args...)
	}
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *lastErrorLogger) last() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// svidSelector picks our SVID among those the Workload API offers.
type svidSelector struct {
	id   spiffeid.ID // zero: any
	hint string      // empty: any

	mu      sync.Mutex
	offered []string
}

func (s *svidSelector) pick(svids []*x509svid.SVID) *x509svid.SVID {
	offered := make([]string, 0, len(svids))
	var picked *x509svid.SVID
	for _, svid := range svids {
		desc := svid.ID.String()
		if svid.Hint != "" {
			desc += " (hint " + svid.Hint + ")"
		}
		offered = append(offered, desc)
		if picked == nil && (s.id.IsZero() || svid.ID == s.id) && (s.hint == "" || svid.Hint == s.hint) {
			picked = svid
		}
	}
	s.mu.Lock()
	s.offered = offered
	s.mu.Unlock()
	return picked
}

// describe says what was asked for and what is offered, for errors.
func (s *svidSelector) describe() string {
	var want []string
	if !s.id.IsZero() {
		want = append(want, "ClientSPIFFEID "+s.id.String())
	}
	if s.hint != "" {
		want = append(want, fmt.Sprintf("SVIDHint %q", s.hint))
	}
	s.mu.Lock()
	offered := strings.Join(s.offered, ", ")
	s.mu.Unlock()
	if offered == "" {
		offered = "none"
	}
	if len(want) == 0 {
		return "the Workload API offered: " + offered
	}
	return "no SVID matches " + strings.Join(want, " and ") + "; offered: " + offered
}

// spiffeSource is Spiffe mode: the X.509-SVID and bundles of a Workload API X509Source.
type spiffeSource struct {
	socket string // for messages: the socket path or tcp address
	src    *workloadapi.X509Source
	sel    *svidSelector
	policy serverPolicy
	cfg    *tls.Config

	mu       sync.Mutex // guards the cached key below
	lastSVID *x509svid.SVID
	lastBund [2]*x509bundle.Bundle
	lastKey  string
}

func newSpiffeSource(ctx context.Context, o Options) (*spiffeSource, error) {
	serverID, err := parseWorkloadID("ServerSPIFFEID", o.ServerSPIFFEID)
	if err != nil {
		return nil, err
	}
	clientID, err := parseWorkloadID("ClientSPIFFEID", o.ClientSPIFFEID)
	if err != nil {
		return nil, err
	}
	addr, path, err := workloadEndpoint(socketSetting(o))
	if err != nil {
		return nil, err
	}
	socket := addr
	if path != "" {
		socket = path
		if err := checkSocket(path); err != nil {
			return nil, err
		}
	}
	timeout := o.SPIFFETimeout
	if timeout <= 0 {
		timeout = DefaultSPIFFETimeout
	}
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logs := &lastErrorLogger{}
	sel := &svidSelector{id: clientID, hint: o.SVIDHint}
	src, err := workloadapi.NewX509Source(wait,
		workloadapi.WithClientOptions(workloadapi.WithAddr(addr), workloadapi.WithLogger(logs)),
		workloadapi.WithDefaultX509SVIDPicker(sel.pick))
	if err != nil {
		switch cause := logs.last(); {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("tlsmode: SPIFFE Workload API at %s: setup canceled: %w", socket, ctx.Err())
		case wait.Err() != nil && cause != nil:
			return nil, fmt.Errorf("tlsmode: SPIFFE Workload API at %s: no X.509-SVID within %s: %w", socket, timeout, cause)
		case wait.Err() != nil:
			return nil, fmt.Errorf("tlsmode: SPIFFE Workload API at %s: no X.509-SVID within %s (it sent no identity for this workload): %w",
				socket, timeout, wait.Err())
		default:
			return nil, fmt.Errorf("tlsmode: SPIFFE Workload API at %s: %w", socket, err)
		}
	}
	svid, err := src.GetX509SVID()
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("tlsmode: SPIFFE Workload API at %s: %s: %w", socket, sel.describe(), err)
	}
	s := &spiffeSource{
		socket: socket,
		src:    src,
		sel:    sel,
		policy: serverPolicy{trustDomain: svid.ID.TrustDomain(), serverID: serverID},
	}
	// Presents the source's current SVID in every handshake (GetClientCertificate) and
	// verifies the server's chain against the bundle of its trust domain; authorize then
	// applies our rules.
	s.cfg = tlsconfig.MTLSClientConfig(src, src, s.authorize)
	return s, nil
}

// authorize is the go-spiffe Authorizer: the chain is verified; apply authorizeServer.
func (s *spiffeSource) authorize(_ spiffeid.ID, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("tlsmode: the server's certificate chain was not verified")
	}
	_, err := authorizeServer(factsOf(chains[0][0]), s.policy)
	return err
}

func (s *spiffeSource) tlsConfig() (*tls.Config, string, error) {
	svid, err := s.src.GetX509SVID()
	if err != nil {
		return nil, "", fmt.Errorf("tlsmode: SPIFFE Workload API at %s: no current X.509-SVID (%s): %w", s.socket, s.sel.describe(), err)
	}
	// The bundles that can verify an acceptable server: our trust domain's and the
	// configured server ID's.
	var bundles [2]*x509bundle.Bundle
	bundles[0], _ = s.src.GetX509BundleForTrustDomain(s.policy.trustDomain)
	if !s.policy.serverID.IsZero() && s.policy.serverID.TrustDomain() != s.policy.trustDomain {
		bundles[1], _ = s.src.GetX509BundleForTrustDomain(s.policy.serverID.TrustDomain())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if svid != s.lastSVID || bundles != s.lastBund {
		h := sha256.New()
		h.Write(svid.Certificates[0].Raw)
		for _, b := range bundles {
			h.Write([]byte{0})
			if b != nil {
				for _, c := range b.X509Authorities() {
					h.Write(c.Raw)
				}
			}
		}
		s.lastSVID, s.lastBund = svid, bundles
		s.lastKey = fmt.Sprintf("spiffe:%s#%s;%s", svid.ID, svid.Certificates[0].SerialNumber.Text(16), hex.EncodeToString(h.Sum(nil)[:8]))
	}
	return s.cfg, s.lastKey, nil
}

func (s *spiffeSource) close() error { return s.src.Close() }

// compile-time check: the sources.
var (
	_ source = (*spiffeSource)(nil)
	_ source = (*fileSource)(nil)
	_ source = (*disabledSource)(nil)
)
