package fakeworkload

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func dial(t *testing.T, s *Server) workload.SpiffeWorkloadAPIClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+s.Socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return workload.NewSpiffeWorkloadAPIClient(conn)
}

func withHeader(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
}

func TestGoSpiffeReadsTheSVIDAndBundles(t *testing.T) {
	ca := NewCA(t, "example.org")
	s := Start(t)
	svid := ca.SVID(t, "spiffe://example.org/client", time.Hour)
	svid.Hint = "internal"
	s.SetSVIDs(svid)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := workloadapi.WithAddr("unix://" + s.Socket())

	got, err := workloadapi.FetchX509SVID(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID.String() != "spiffe://example.org/client" || got.Hint != "internal" || !got.Certificates[0].Equal(svid.Cert) {
		t.Errorf("got SVID %s (hint %q, serial %s)", got.ID, got.Hint, got.Certificates[0].SerialNumber.Text(16))
	}
	if _, _, err := x509svid.Verify(got.Certificates, mustBundleSource(ctx, t, addr)); err != nil {
		t.Errorf("the SVID does not verify against the served bundle: %v", err)
	}
	if d := time.Until(got.Certificates[0].NotAfter); d > time.Hour || d < 59*time.Minute {
		t.Errorf("SVID valid for %v more, want about its TTL of an hour", d)
	}
}

func mustBundleSource(ctx context.Context, t *testing.T, addr workloadapi.ClientOption) x509bundle.Source {
	t.Helper()
	set, err := workloadapi.FetchX509Bundles(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("example.org")
	if b, ok := set.Get(td); !ok || len(b.X509Authorities()) != 1 {
		t.Fatalf("FetchX509Bundles: no bundle of one root for %s", td)
	}
	return set
}

func TestHeaderRequired(t *testing.T) {
	s := Start(t)
	s.SetSVIDs(NewCA(t, "example.org").SVID(t, "spiffe://example.org/a", time.Hour))
	stream, err := dial(t, s).FetchX509SVID(context.Background(), &workload.X509SVIDRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("without the header: %v, want InvalidArgument", err)
	}
}

func TestRotationReachesOpenStreams(t *testing.T) {
	ca := NewCA(t, "example.org")
	s := Start(t)
	first := ca.SVID(t, "spiffe://example.org/a", time.Hour)
	s.SetSVIDs(first)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := dial(t, s).FetchX509SVID(withHeader(ctx), &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || !bytes.Equal(resp.Svids[0].X509Svid, first.Cert.Raw) {
		t.Fatalf("first answer: %v", err)
	}
	if n := s.OpenStreams(); n != 1 {
		t.Errorf("%d open streams, want 1", n)
	}
	second := ca.SVID(t, "spiffe://example.org/a", time.Hour)
	s.SetSVIDs(second)
	resp, err = stream.Recv()
	if err != nil || !bytes.Equal(resp.Svids[0].X509Svid, second.Cert.Raw) || second.SerialHex() == first.SerialHex() {
		t.Fatalf("after rotation: %v", err)
	}
	s.SetError(status.Error(codes.PermissionDenied, "no identity issued"))
	if _, err := stream.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("after SetError: %v", err)
	}
}

func TestCertFiles(t *testing.T) {
	ca := NewCA(t, "files CA")
	dir := t.TempDir()
	files := ca.WriteCertFiles(t, dir, "server", "localhost")
	if files.Cert != filepath.Join(dir, "server.pem") || files.Key != filepath.Join(dir, "server.key") {
		t.Errorf("paths %s %s", files.Cert, files.Key)
	}
	certPEM, err := os.ReadFile(files.Cert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("as a client certificate: %v", err)
	}
	if len(cert.IPAddresses) != 0 || len(cert.URIs) != 0 {
		t.Errorf("unexpected SANs: %v %v", cert.IPAddresses, cert.URIs)
	}
	caFile := ca.WriteBundleFile(t, dir, "ca.pem")
	if b, err := os.ReadFile(caFile); err != nil || !bytes.Equal(b, ca.BundlePEM()) {
		t.Errorf("CA file: %v", err)
	}
}
