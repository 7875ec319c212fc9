package transport

import (
	"bytes"
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// field is one header line: the name as given, the value as bytes.
type field struct {
	name  string
	value []byte
}

// fields is a `fields` resource: header or trailer lines in order.
type fields struct {
	entries []field
}

// forbiddenHeaders are the names a component may not set (wasmtime's default list): the
// host owns connection management and the Host header.
var forbiddenHeaders = map[string]bool{
	"connection":          true,
	"keep-alive":          true,
	"proxy-authenticate":  true,
	"proxy-authorization": true,
	"proxy-connection":    true,
	"transfer-encoding":   true,
	"upgrade":             true,
	"host":                true,
	"http2-settings":      true,
}

// validFieldName reports whether name is an RFC 9110 token.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validFieldValue reports whether value may be sent: visible characters, spaces, tabs
// and obs-text; no other control characters (CR and LF in particular).
func validFieldValue(value []byte) bool {
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FieldsFromList implements `[static]fields.from-list`: invalid names or values give
// invalid-syntax, connection-level names forbidden.
func (h *Host) FieldsFromList(_ context.Context, entries []cabi.Tuple2[metald.WasiHttpFieldName, metald.WasiHttpFieldValue]) cabi.Result[metald.WasiHttpFields, metald.WasiHttpHeaderError] {
	f := &fields{entries: make([]field, 0, len(entries))}
	for _, e := range entries {
		if !validFieldName(e.F0) || !validFieldValue(e.F1) {
			return cabi.Result[metald.WasiHttpFields, metald.WasiHttpHeaderError]{IsErr: true, Err: metald.WasiHttpHeaderError{Tag: metald.WasiHttpHeaderErrorTagInvalidSyntax}}
		}
		if forbiddenHeaders[strings.ToLower(e.F0)] {
			return cabi.Result[metald.WasiHttpFields, metald.WasiHttpHeaderError]{IsErr: true, Err: metald.WasiHttpHeaderError{Tag: metald.WasiHttpHeaderErrorTagForbidden}}
		}
		f.entries = append(f.entries, field{name: e.F0, value: bytes.Clone(e.F1)})
	}
	return cabi.Result[metald.WasiHttpFields, metald.WasiHttpHeaderError]{Ok: push[metald.WasiHttpFields](h, f)}
}

// FieldsEntries implements `[method]fields.entries`.
func (h *Host) FieldsEntries(_ context.Context, self metald.WasiHttpFields) []cabi.Tuple2[metald.WasiHttpFieldName, metald.WasiHttpFieldValue] {
	f := lookup[*fields](h, uint32(self), "fields")
	out := make([]cabi.Tuple2[metald.WasiHttpFieldName, metald.WasiHttpFieldValue], len(f.entries))
	for i, e := range f.entries {
		out[i] = cabi.Tuple2[metald.WasiHttpFieldName, metald.WasiHttpFieldValue]{F0: e.name, F1: e.value}
	}
	return out
}

// DropFields implements `[resource-drop]fields`.
func (h *Host) DropFields(_ context.Context, handle metald.WasiHttpFields) {
	take[*fields](h, uint32(handle), "fields")
}

// responseFields turns response headers into fields: lower-case names in sorted order,
// the values of one name in the order received.
func responseFields(header http.Header) []field {
	names := make([]string, 0, len(header))
	for name := range header {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []field
	for _, name := range names {
		lower := strings.ToLower(name)
		for _, v := range header[name] {
			out = append(out, field{name: lower, value: []byte(v)})
		}
	}
	return out
}

// headerSize is the size of a header section as the Rust host counts it: name, value and
// 4 bytes of separators per line.
func headerSize(header http.Header) int64 {
	var n int64
	for name, values := range header {
		for _, v := range values {
			n += int64(len(name) + len(v) + 4)
		}
	}
	return n
}
