// Package fakeworkload is a fake SPIFFE Workload API and the certificates to go with it,
// for the tests of every package: a gRPC server on a unix socket in a temporary directory
// that hands out the X.509-SVIDs it is given, keeps streams open and pushes a new answer
// to every open stream when they change (rotation), as a SPIRE agent does. Like SPIRE, it
// refuses calls without the `workload.spiffe.io: true` metadata header.
//
//	ca := fakeworkload.NewCA(t, "example.org")
//	api := fakeworkload.Start(t)
//	api.SetSVIDs(ca.SVID(t, "spiffe://example.org/client", time.Hour))
//	// ... point a client at api.Socket() ...
//	api.SetSVIDs(ca.SVID(t, "spiffe://example.org/client", time.Hour)) // rotate
//
// It serves FetchX509SVID and FetchX509Bundles; the JWT calls are unimplemented.
package fakeworkload

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// SVID is one X.509-SVID to hand out.
type SVID struct {
	// Leaf is the SVID's certificate (sent as the whole chain) and key.
	*Leaf
	// ID is the SPIFFE ID sent with it; empty: the leaf's first URI SAN.
	ID string
	// Bundle is the roots of the SVID's trust domain.
	Bundle []*x509.Certificate
	// Hint is the operator-set hint (empty: none).
	Hint string
}

// NewSVID is the SVID of leaf (issued for a SPIFFE ID) with the bundle of the given CAs.
func NewSVID(leaf *Leaf, bundle ...*CA) SVID {
	s := SVID{Leaf: leaf}
	for _, ca := range bundle {
		s.Bundle = append(s.Bundle, ca.Cert)
	}
	return s
}

// SPIFFEID is the SPIFFE ID sent with the SVID.
func (s SVID) SPIFFEID() string {
	if s.ID != "" || s.Leaf == nil || len(s.Cert.URIs) == 0 {
		return s.ID
	}
	return s.Cert.URIs[0].String()
}

// Message is the Workload API message of the SVID.
func (s SVID) Message() *workload.X509SVID {
	var bundle []byte
	for _, c := range s.Bundle {
		bundle = append(bundle, c.Raw...)
	}
	return &workload.X509SVID{
		SpiffeId:    s.SPIFFEID(),
		X509Svid:    s.Cert.Raw,
		X509SvidKey: s.KeyDER,
		Bundle:      bundle,
		Hint:        s.Hint,
	}
}

// Response is the FetchX509SVID answer carrying svids, in order (set FederatedBundles on
// it to federate other trust domains).
func Response(svids ...SVID) *workload.X509SVIDResponse {
	resp := &workload.X509SVIDResponse{}
	for _, s := range svids {
		resp.Svids = append(resp.Svids, s.Message())
	}
	return resp
}

// Server is a running fake Workload API. Its methods are safe for concurrent use.
type Server struct {
	socket string
	grpc   *grpc.Server
	stop   sync.Once

	mu      sync.Mutex
	resp    *workload.X509SVIDResponse // nil: send nothing (the stream stays open)
	err     error                      // non-nil: fail every call with it
	changed chan struct{}              // closed on every change, then replaced
	streams int                        // open FetchX509SVID streams
}

// Start serves a fake Workload API on agent.sock in a new temporary directory, and stops
// it (and removes the directory) when the test ends. Until SetSVIDs, SetResponse or
// SetError, it answers nothing: streams stay open without a message.
func Start(t testing.TB) *Server {
	t.Helper()
	// Not t.TempDir(): unix socket paths are limited to about 104 bytes, and test names
	// make long paths.
	dir, err := os.MkdirTemp("", "wl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &Server{socket: filepath.Join(dir, "agent.sock"), changed: make(chan struct{})}
	lis, err := net.Listen("unix", s.socket)
	if err != nil {
		t.Fatal(err)
	}
	s.grpc = grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(s.grpc, service{s: s})
	go func() { _ = s.grpc.Serve(lis) }()
	t.Cleanup(s.Stop)
	return s
}

// Socket is the path of the unix socket (give it as a path, unix:PATH or unix://PATH).
func (s *Server) Socket() string { return s.socket }

// Stop closes the socket and ends every open stream, as an agent that goes away.
func (s *Server) Stop() { s.stop.Do(s.grpc.Stop) }

// SetSVIDs hands out svids from now on, in order, and pushes them to every open stream
// (rotation). No SVIDs is an answer without any, which clients refuse.
func (s *Server) SetSVIDs(svids ...SVID) { s.set(Response(svids...), nil) }

// SetResponse hands out resp from now on, pushing it to every open stream; nil answers
// nothing (open streams wait).
func (s *Server) SetResponse(resp *workload.X509SVIDResponse) { s.set(resp, nil) }

// SetError fails every call with err from now on, ending open streams with it (as SPIRE
// ends them with PermissionDenied "no identity issued" when an identity is withdrawn).
func (s *Server) SetError(err error) { s.set(nil, err) }

// OpenStreams is the number of FetchX509SVID streams open now.
func (s *Server) OpenStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

func (s *Server) set(resp *workload.X509SVIDResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resp, s.err = resp, err
	close(s.changed)
	s.changed = make(chan struct{})
}

// current is the state to send and the channel closed at its next change.
func (s *Server) current() (*workload.X509SVIDResponse, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resp, s.changed, s.err
}

// follow sends the current state's message (if any) and again after every change, until
// the client leaves or an error is set.
func follow[T any](s *Server, stream grpc.ServerStreamingServer[T], msg func(*workload.X509SVIDResponse) *T) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if v := md.Get("workload.spiffe.io"); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	for {
		resp, changed, err := s.current()
		if err != nil {
			return err
		}
		if resp != nil {
			if err := stream.Send(msg(resp)); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

// service is the gRPC service of a Server (kept apart so that Server's methods are only
// its own).
type service struct {
	workload.UnimplementedSpiffeWorkloadAPIServer // the JWT calls
	s                                             *Server
}

func (v service) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	v.s.mu.Lock()
	v.s.streams++
	v.s.mu.Unlock()
	defer func() {
		v.s.mu.Lock()
		v.s.streams--
		v.s.mu.Unlock()
	}()
	return follow(v.s, stream, func(r *workload.X509SVIDResponse) *workload.X509SVIDResponse { return r })
}

// FetchX509Bundles sends the bundles of the SVIDs' trust domains (keyed by trust domain
// ID, spiffe://example.org, as SPIRE does) and the federated bundles.
func (v service) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	return follow(v.s, stream, bundles)
}

func bundles(r *workload.X509SVIDResponse) *workload.X509BundlesResponse {
	out := &workload.X509BundlesResponse{Bundles: map[string][]byte{}}
	for td, b := range r.FederatedBundles {
		out.Bundles[td] = b
	}
	for _, svid := range r.Svids {
		if id, err := spiffeid.FromString(svid.SpiffeId); err == nil {
			out.Bundles[id.TrustDomain().IDString()] = svid.Bundle
		}
	}
	return out
}
