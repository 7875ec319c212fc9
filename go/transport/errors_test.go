package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/metald/metald-client/go/metald"
)

// timeoutError is a net.Error that timed out, as the runtime's poller reports it.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// fakeAlert stands in for crypto/tls's unexported alert type (a uint8).
type fakeAlert uint8

func (a fakeAlert) Error() string { return "tls: bad certificate" }

func TestErrorCode(t *testing.T) {
	type C = metald.WasiHttpErrorCodeTag
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	cases := []struct {
		name string
		err  error
		want C
		text string // in the payload's text, when the case has one
		id   *uint8 // the TLS alert id, when there is one
	}{
		{"refused", refused, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"refused, wrapped", fmt.Errorf("dialing: %w", refused), metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{"i/o timeout"}}, metald.WasiHttpErrorCodeTagConnectionTimeout, "", nil},
		{"TLS handshake timeout", timeoutError{"net/http: TLS handshake timeout"}, metald.WasiHttpErrorCodeTagConnectionTimeout, "", nil},
		{"response header timeout", timeoutError{"net/http: timeout awaiting response headers"}, metald.WasiHttpErrorCodeTagHTTPResponseTimeout, "", nil},
		{"read timeout", &net.OpError{Op: "read", Err: timeoutError{"i/o timeout"}}, metald.WasiHttpErrorCodeTagConnectionReadTimeout, "", nil},
		{"reset", reset, metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"broken pipe", &net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}, metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"EOF", fmt.Errorf("net/http: transport connection broken: %w", io.EOF), metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"unexpected EOF", io.ErrUnexpectedEOF, metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"h2 connection lost", errors.New("http2: client connection lost"), metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"server closed idle", errors.New("http: server closed idle connection"), metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"h2 setup cut over TLS (a refused client certificate)", &url.Error{Op: "Post", URL: "https://metald:8443/x", Err: errors.New("http2: client conn could not be established")}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "refuses the client certificate", nil},
		{"h2 setup cut over h2c (not processed)", &url.Error{Op: "Post", URL: "http://metald:8080/x", Err: errors.New("http2: client conn could not be established")}, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"body: unexpected EOF", &bodyReadError{err: io.ErrUnexpectedEOF}, metald.WasiHttpErrorCodeTagHTTPResponseIncomplete, "", nil},
		{"body: reset", &bodyReadError{err: reset}, metald.WasiHttpErrorCodeTagHTTPResponseIncomplete, "", nil},
		{"body: h2 stream reset", &bodyReadError{err: errors.New("stream error: stream ID 1; INTERNAL_ERROR; received from peer")}, metald.WasiHttpErrorCodeTagHTTPResponseIncomplete, "", nil},
		{"body: stalled", &bodyReadError{err: errBetweenBytesTimeout}, metald.WasiHttpErrorCodeTagConnectionReadTimeout, "", nil},
		{"unreachable", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, metald.WasiHttpErrorCodeTagDestinationUnavailable, "", nil},
		{"DNS", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "metald.invalid", IsNotFound: true}}, metald.WasiHttpErrorCodeTagDNSError, "no such host", nil},
		{"DNS timeout", &net.DNSError{Err: "i/o timeout", Name: "metald", IsTimeout: true}, metald.WasiHttpErrorCodeTagDNSTimeout, "", nil},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "unknown authority", nil},
		{"hostname", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "metald"}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "metald", nil},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired, Detail: "expired yesterday"}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "expired", nil},
		{"alert received", &net.OpError{Op: "remote error", Err: fakeAlert(42)}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "bad certificate", u8(42)},
		{"alert error", tls.AlertError(116), metald.WasiHttpErrorCodeTagTLSAlertReceived, "", u8(116)},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "first record", nil},
		{"HTTP to HTTPS", errors.New("http: server gave HTTP response to HTTPS client"), metald.WasiHttpErrorCodeTagTLSAlertReceived, "HTTPS client", nil},
		{"verifier", &tlsFailure{err: errors.New("SPIFFE ID spiffe://x/y not authorized")}, metald.WasiHttpErrorCodeTagTLSAlertReceived, "not authorized", nil},
		{"h1 headers too large", errors.New("net/http: server response headers exceeded 65536 bytes; aborted"), metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize, "", nil},
		{"h2 headers too large", errors.New("http2: response header list larger than advertised limit"), metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize, "", nil},
		{"malformed", errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"`), metald.WasiHttpErrorCodeTagHTTPProtocolError, "", nil},
		{"code error", fmt.Errorf("wrapped: %w", errFirstByteTimeout), metald.WasiHttpErrorCodeTagConnectionReadTimeout, "", nil},
		{"deadline", context.DeadlineExceeded, metald.WasiHttpErrorCodeTagHTTPResponseTimeout, "", nil},
		{"h2 refused stream", errRefusedStream, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"h2 refused stream, not retried by net/http", errRefusedNoRetry, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"h2 above a graceful GOAWAY", errGracefulGoAway, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"h2 first stream above a GOAWAY with an error", errGoAwayCode, metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"h2 conn not usable", errors.New("http2: client conn not usable"), metald.WasiHttpErrorCodeTagConnectionRefused, "", nil},
		{"h2 GOAWAY, then closed", errGoAwayClosed, metald.WasiHttpErrorCodeTagConnectionTerminated, "", nil},
		{"h2 stream reset by the server", errors.New("stream error: stream ID 1; INTERNAL_ERROR; received from peer"), metald.WasiHttpErrorCodeTagHTTPProtocolError, "", nil},
		{"body: h2 refused stream", &bodyReadError{err: errRefusedStream}, metald.WasiHttpErrorCodeTagHTTPResponseIncomplete, "", nil},
		{"anything else", errors.New("something odd"), metald.WasiHttpErrorCodeTagInternalError, "something odd", nil},
		{"nil", nil, metald.WasiHttpErrorCodeTagInternalError, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ErrorCode(c.err)
			if got.Tag != c.want {
				t.Fatalf("ErrorCode(%v) = %s, want %s", c.err, describe(got), c.want)
			}
			var text string
			switch got.Tag {
			case metald.WasiHttpErrorCodeTagTLSAlertReceived:
				if got.TLSAlertReceived.AlertMessage == nil {
					t.Fatal("TLS-alert-received without a message")
				}
				text = *got.TLSAlertReceived.AlertMessage
				if (got.TLSAlertReceived.AlertId == nil) != (c.id == nil) || c.id != nil && *got.TLSAlertReceived.AlertId != *c.id {
					t.Errorf("alert id %v, want %v", got.TLSAlertReceived.AlertId, c.id)
				}
			case metald.WasiHttpErrorCodeTagInternalError:
				if got.InternalError == nil {
					t.Fatal("internal-error without text")
				}
				text = *got.InternalError
			case metald.WasiHttpErrorCodeTagDNSError:
				if got.DNSError.Rcode == nil {
					t.Fatal("DNS-error without rcode")
				}
				text = *got.DNSError.Rcode
			}
			if !strings.Contains(text, c.text) {
				t.Errorf("payload text %q does not contain %q", text, c.text)
			}
		})
	}
}

func u8(v uint8) *uint8 { return &v }

// net/http's HTTP/2 failures, as its h2_bundle.go words them.
var (
	errRefusedStream  = errors.New("stream error: stream ID 1; REFUSED_STREAM; received from peer")
	errRefusedNoRetry = fmt.Errorf("http2: Transport: cannot retry err [%v] after Request.Body was written; define Request.GetBody to avoid this error", errRefusedStream)
	errGracefulGoAway = errors.New("http2: Transport received Server's graceful shutdown GOAWAY")
	errGoAwayCode     = errors.New("http2: Transport received GOAWAY from server ErrCode:ENHANCE_YOUR_CALM")
	errGoAwayClosed   = errors.New(`http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR, debug=""`)
)

// transportVector is a case of testdata/transport-errors.json: how the component reports a
// wasi:http error code in a phase of the exchange.
type transportVector struct {
	Code           string `json:"code"`
	Phase          string `json:"phase"`
	ConnectCode    string `json:"connect_code"`
	OutcomeUnknown bool   `json:"outcome_unknown"`
	Retry          string `json:"retry"`
}

func transportVectors(t *testing.T) map[[2]string]transportVector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "transport-errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []transportVector `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	vectors := make(map[[2]string]transportVector, len(file.Cases))
	for _, c := range file.Cases {
		vectors[[2]string{c.Code, c.Phase}] = c
	}
	return vectors
}

// TestEveryCodeIsInTheVectors: the component knows how to report every wasi:http code, in
// every phase; the vectors name the cases as the WIT does.
func TestEveryCodeIsInTheVectors(t *testing.T) {
	vectors := transportVectors(t)
	for tag := metald.WasiHttpErrorCodeTag(0); tag <= metald.WasiHttpErrorCodeTagInternalError; tag++ {
		for _, phase := range []string{"handle", "request", "response"} {
			if _, ok := vectors[[2]string{tag.String(), phase}]; !ok {
				t.Errorf("no case for %s in phase %s", tag, phase)
			}
		}
	}
	if want := 3 * (int(metald.WasiHttpErrorCodeTagInternalError) + 1); len(vectors) != want {
		t.Errorf("%d cases, want %d", len(vectors), want)
	}
}

// TestGoFailuresAsTheComponentReportsThem follows Go failures through this host's codes
// and the component's table: what the caller is told, and whether a retry is safe.
func TestGoFailuresAsTheComponentReportsThem(t *testing.T) {
	vectors := transportVectors(t)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	cases := []struct {
		name    string
		err     error
		phase   string
		connect string
		retry   string
		unknown bool // for a write
	}{
		{"connection refused", refused, "request", "unavailable", "reads-and-writes", false},
		{"h2 refused stream", errRefusedStream, "request", "unavailable", "reads-and-writes", false},
		{"h2 refused stream, not retried by net/http", errRefusedNoRetry, "request", "unavailable", "reads-and-writes", false},
		{"h2 above a graceful GOAWAY", errGracefulGoAway, "request", "unavailable", "reads-and-writes", false},
		{"h2 first stream above a GOAWAY with an error", errGoAwayCode, "request", "unavailable", "reads-and-writes", false},
		{"h2 GOAWAY, then closed", errGoAwayClosed, "request", "unavailable", "reads", true},
		{"reset after sending", reset, "request", "unavailable", "reads", true},
		{"EOF after sending", io.ErrUnexpectedEOF, "request", "unavailable", "reads", true},
		{"body: reset", &bodyReadError{err: reset}, "response", "unavailable", "none", true},
		{"body: h2 refused stream", &bodyReadError{err: errRefusedStream}, "response", "unavailable", "none", true},
		{"no answer before the first-byte timeout", errFirstByteTimeout, "request", "deadline_exceeded", "none", true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{"i/o timeout"}}, "request", "deadline_exceeded", "none", false},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, "request", "unauthenticated", "none", false},
		{"DNS", &net.DNSError{Err: "no such host", Name: "metald.invalid", IsNotFound: true}, "request", "unavailable", "reads-and-writes", false},
		{"headers too large", errors.New("net/http: server response headers exceeded 65536 bytes; aborted"), "request", "resource_exhausted", "none", true},
		{"malformed", errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage"`), "request", "unavailable", "reads", true},
		{"anything else", errors.New("something odd"), "request", "unknown", "none", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := ErrorCode(c.err).Tag.String()
			v, ok := vectors[[2]string{code, c.phase}]
			if !ok {
				t.Fatalf("%s in phase %s is not in the vectors", code, c.phase)
			}
			if v.ConnectCode != c.connect || v.Retry != c.retry || v.OutcomeUnknown != c.unknown {
				t.Errorf("%v → %s → %s, retry %s, outcome unknown %v; want %s, retry %s, outcome unknown %v",
					c.err, code, v.ConnectCode, v.Retry, v.OutcomeUnknown, c.connect, c.retry, c.unknown)
			}
		})
	}
	// What handle refuses never went out.
	for _, tag := range []metald.WasiHttpErrorCodeTag{
		metald.WasiHttpErrorCodeTagHTTPRequestDenied, metald.WasiHttpErrorCodeTagHTTPRequestURIInvalid,
		metald.WasiHttpErrorCodeTagInternalError,
	} {
		if v := vectors[[2]string{tag.String(), "handle"}]; v.OutcomeUnknown {
			t.Errorf("%s from handle: outcome unknown", tag)
		}
	}
}
