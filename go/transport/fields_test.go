package transport

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/metald/metald-client/go/metald"
)

func TestFieldsRoundTrip(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	in := []cabiEntry{
		{F0: "Content-Type", F1: []byte("application/proto")},
		{F0: "x-tenant-id", F1: []byte("t1")},
		{F0: "Accept-Encoding", F1: []byte("gzip")},
		{F0: "x-tenant-id", F1: []byte("t2")},
		{F0: "x-empty", F1: []byte{}},
		{F0: "x-obs-text", F1: []byte{'a', '\t', 0xe9, ' ', 'b'}},
	}
	r := h.FieldsFromList(ctx, in)
	if r.IsErr {
		t.Fatalf("from-list: %v", r.Err.Tag)
	}
	got := h.FieldsEntries(ctx, r.Ok)
	if !reflect.DeepEqual(got, in) {
		t.Errorf("entries = %q, want the list as given (names, order and repeats kept)", got)
	}
	h.DropFields(ctx, r.Ok)
	assertNoLeaks(t, h)
}

func TestFieldsHeaderErrors(t *testing.T) {
	h := newHost(t, newTransport(t, Config{}))
	ctx := context.Background()
	cases := []struct {
		name  string
		value string
		want  metald.WasiHttpHeaderErrorTag
	}{
		{"", "v", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"bad name", "v", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"bad:name", "v", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"x-é", "v", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"x-ok", "line\r\nInjected: 1", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"x-ok", "nul\x00", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"x-ok", "del\x7f", metald.WasiHttpHeaderErrorTagInvalidSyntax},
		{"Host", "evil.example", metald.WasiHttpHeaderErrorTagForbidden},
		{"connection", "close", metald.WasiHttpHeaderErrorTagForbidden},
		{"Transfer-Encoding", "chunked", metald.WasiHttpHeaderErrorTagForbidden},
		{"upgrade", "h2c", metald.WasiHttpHeaderErrorTagForbidden},
		{"Proxy-Authorization", "x", metald.WasiHttpHeaderErrorTagForbidden},
	}
	for _, c := range cases {
		r := h.FieldsFromList(ctx, []cabiEntry{{F0: "x-fine", F1: []byte("1")}, {F0: c.name, F1: []byte(c.value)}})
		if !r.IsErr || r.Err.Tag != c.want {
			t.Errorf("%q: %q: got %+v, want %v", c.name, c.value, r, c.want)
		}
	}
	assertNoLeaks(t, h)
}

func TestResponseFields(t *testing.T) {
	header := http.Header{"Content-Type": {"application/json"}, "X-B": {"1", "2"}, "X-A": {"z"}}
	got := responseFields(header)
	want := []field{
		{"content-type", []byte("application/json")},
		{"x-a", []byte("z")},
		{"x-b", []byte("1")},
		{"x-b", []byte("2")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("responseFields = %q, want %q", got, want)
	}
}
