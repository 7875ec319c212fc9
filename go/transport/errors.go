package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"
	"syscall"

	"github.com/metald/metald-client/go/metald"
)

// ErrClosed is the trap of a call still waiting in poll when its Host was closed, and the
// error code of requests started after it.
var ErrClosed = errors.New("transport: the host was closed")

// HandleError is the trap of a host call given a handle this instance does not hold, or one
// of another resource type: a guest bug, which the canonical ABI traps on.
type HandleError struct {
	// Resource is the WIT resource the call expected.
	Resource string
	// Handle is the handle it got.
	Handle uint32
}

// Error names the resource and the handle.
func (e *HandleError) Error() string {
	return fmt.Sprintf("transport: %d is not a live %s handle of this instance", e.Handle, e.Resource)
}

// codeError is a failure whose wasi:http error code is known where it happens: limits,
// timeouts, the allow-list, an abandoned body.
type codeError struct {
	code metald.WasiHttpErrorCode
	msg  string
}

func (e *codeError) Error() string { return e.msg }

// tlsFailure marks an error of the TLS layer that carries no TLS type of its own (a
// verification callback's error, an unavailable client identity).
type tlsFailure struct{ err error }

func (e *tlsFailure) Error() string { return "tls: " + e.err.Error() }
func (e *tlsFailure) Unwrap() error { return e.err }

// bodyReadError is a failure while reading a response body: a connection that ends there
// leaves the response incomplete.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "reading the response body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// Causes of cancelled requests; context.Cause of the request's context.
var (
	errFirstByteTimeout = &codeError{
		code: tagCode(metald.WasiHttpErrorCodeTagConnectionReadTimeout),
		msg:  "no response before the first-byte timeout",
	}
	errBetweenBytesTimeout = &codeError{
		code: tagCode(metald.WasiHttpErrorCodeTagConnectionReadTimeout),
		msg:  "the response body stalled past the between-bytes timeout",
	}
	errAbandoned = errors.New("the component dropped the request")
)

func tagCode(tag metald.WasiHttpErrorCodeTag) metald.WasiHttpErrorCode {
	return metald.WasiHttpErrorCode{Tag: tag}
}

func internalError(text string) metald.WasiHttpErrorCode {
	return metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagInternalError, InternalError: &text}
}

func tlsAlert(id *uint8, text string) metald.WasiHttpErrorCode {
	return metald.WasiHttpErrorCode{
		Tag:              metald.WasiHttpErrorCodeTagTLSAlertReceived,
		TLSAlertReceived: metald.WasiHttpTLSAlertReceivedPayload{AlertId: id, AlertMessage: &text},
	}
}

// notProcessed reports whether net/http says the server did not process the request: an
// HTTP/2 stream the server refused (RST_STREAM REFUSED_STREAM), a stream above the
// last-stream-id of the server's GOAWAY, a connection that was unusable before the request
// was written (RFC 9113 §8.7). net/http retries these itself when it can; what is left
// reaches here, often wrapped in "cannot retry err [...]", and only as text.
func notProcessed(text string) bool {
	return strings.Contains(text, "REFUSED_STREAM") ||
		strings.Contains(text, "http2: Transport received Server's graceful shutdown GOAWAY") ||
		strings.Contains(text, "http2: Transport received GOAWAY from server") ||
		strings.Contains(text, "http2: client conn not usable")
}

// ErrorCode maps a Go failure of an outbound request to the wasi:http error code the
// component gets, as the Rust host does (host/src/transport/errors.rs); the component's
// reading of every code is testdata/transport-errors.json. connection-refused means the
// server did not process the request, so the component may repeat it, writes included: a
// refused connection, or what notProcessed recognises. Otherwise: connect or handshake
// timeout → connection-timeout, reset or EOF → connection-terminated (on a response body:
// HTTP-response-incomplete), TLS failures → TLS-alert-received with the cause in
// alert-message, DNS → DNS-error or DNS-timeout, unreachable → destination-unavailable, a
// header section over the limit → HTTP-response-header-section-size, a malformed response →
// HTTP-protocol-error, anything else → internal-error with the text.
func ErrorCode(err error) metald.WasiHttpErrorCode {
	if err == nil {
		return internalError("no error")
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	var body *bodyReadError
	if errors.As(err, &body) {
		code := ErrorCode(body.err)
		switch code.Tag {
		case metald.WasiHttpErrorCodeTagConnectionTerminated, metald.WasiHttpErrorCodeTagHTTPProtocolError,
			metald.WasiHttpErrorCodeTagConnectionRefused:
			return tagCode(metald.WasiHttpErrorCodeTagHTTPResponseIncomplete)
		}
		return code
	}
	if code, ok := tlsCode(err); ok {
		return code
	}
	text := err.Error()
	if notProcessed(text) {
		return tagCode(metald.WasiHttpErrorCodeTagConnectionRefused)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsTimeout {
			return tagCode(metald.WasiHttpErrorCodeTagDNSTimeout)
		}
		rcode := dns.Err
		return metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagDNSError, DNSError: metald.WasiHttpDNSErrorPayload{Rcode: &rcode}}
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return tagCode(metald.WasiHttpErrorCodeTagConnectionRefused)
	}
	var (
		ne net.Error
		op *net.OpError
	)
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		switch {
		case errors.As(err, &op) && op.Op == "dial", strings.Contains(text, "TLS handshake timeout"):
			return tagCode(metald.WasiHttpErrorCodeTagConnectionTimeout)
		case strings.Contains(text, "awaiting response headers"), errors.Is(err, context.DeadlineExceeded):
			return tagCode(metald.WasiHttpErrorCodeTagHTTPResponseTimeout)
		}
		return tagCode(metald.WasiHttpErrorCodeTagConnectionReadTimeout)
	}
	for _, errno := range []syscall.Errno{syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return tagCode(metald.WasiHttpErrorCodeTagConnectionTerminated)
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return tagCode(metald.WasiHttpErrorCodeTagConnectionTerminated)
	}
	for _, errno := range []syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EADDRNOTAVAIL} {
		if errors.Is(err, errno) {
			return tagCode(metald.WasiHttpErrorCodeTagDestinationUnavailable)
		}
	}
	// net/http reports these as text only.
	switch {
	case strings.Contains(text, "http2: client conn could not be established"):
		// The server closed a new HTTP/2 connection before its first request. Over TLS 1.3
		// that is how a server refuses our certificate: our handshake completes first and
		// its alert can reach net/http's read loop before any stream exists, where net/http
		// drops it. No request was read either way.
		var ue *url.Error
		if errors.As(err, &ue) && strings.HasPrefix(ue.URL, "https:") {
			return tlsAlert(nil, "the server closed the new TLS connection before any request, as a server does when it "+
				"refuses the client certificate (check the certificate and the server's trust in it): "+text)
		}
		return tagCode(metald.WasiHttpErrorCodeTagConnectionRefused)
	case strings.Contains(text, "response headers exceeded"),
		strings.Contains(text, "header list larger than"):
		return metald.WasiHttpErrorCode{Tag: metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize}
	case strings.Contains(text, "server gave HTTP response to HTTPS client"):
		return tlsAlert(nil, text)
	case strings.Contains(text, "client connection lost"),
		strings.Contains(text, "GOAWAY"),
		strings.Contains(text, "server closed idle connection"),
		strings.Contains(text, "connection reset"),
		strings.Contains(text, "unexpected EOF"):
		return tagCode(metald.WasiHttpErrorCodeTagConnectionTerminated)
	case strings.Contains(text, "malformed HTTP"),
		strings.Contains(text, "stream error"),
		strings.Contains(text, "protocol error"):
		return tagCode(metald.WasiHttpErrorCodeTagHTTPProtocolError)
	}
	return internalError(text)
}

// tlsCode recognises TLS failures: received alerts, certificate verification, records
// that are not TLS, and errors marked as tlsFailure.
func tlsCode(err error) (metald.WasiHttpErrorCode, bool) {
	var (
		alert    tls.AlertError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		marked   *tlsFailure
		op       *net.OpError
	)
	switch {
	case errors.As(err, &op) && op.Op == "remote error":
		// A received alert: crypto/tls's unexported alert type is a uint8.
		var id *uint8
		if v := reflect.ValueOf(op.Err); v.IsValid() && v.Kind() == reflect.Uint8 {
			n := uint8(v.Uint())
			id = &n
		}
		return tlsAlert(id, err.Error()), true
	case errors.As(err, &alert):
		n := uint8(alert)
		return tlsAlert(&n, err.Error()), true
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &record), errors.As(err, &marked):
		return tlsAlert(nil, err.Error()), true
	}
	return metald.WasiHttpErrorCode{}, false
}

// describe renders an error code with its payload, for error.to-debug-string and logs.
func describe(code metald.WasiHttpErrorCode) string {
	name := code.Tag.String()
	switch code.Tag {
	case metald.WasiHttpErrorCodeTagInternalError:
		if code.InternalError != nil {
			return name + ": " + *code.InternalError
		}
	case metald.WasiHttpErrorCodeTagTLSAlertReceived:
		if m := code.TLSAlertReceived.AlertMessage; m != nil {
			return name + ": " + *m
		}
	case metald.WasiHttpErrorCodeTagDNSError:
		if r := code.DNSError.Rcode; r != nil {
			return name + ": " + *r
		}
	case metald.WasiHttpErrorCodeTagHTTPRequestBodySize:
		if n := code.HTTPRequestBodySize; n != nil {
			return fmt.Sprintf("%s: %d bytes", name, *n)
		}
	case metald.WasiHttpErrorCodeTagHTTPResponseHeaderSectionSize:
		if n := code.HTTPResponseHeaderSectionSize; n != nil {
			return fmt.Sprintf("%s: %d bytes", name, *n)
		}
	}
	return name
}
