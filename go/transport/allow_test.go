package transport

import (
	"strings"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	good := []struct {
		in   string
		want Origin
	}{
		{"http://127.0.0.1:8080", Origin{"http", "127.0.0.1", 8080}},
		{"https://Metald:8443/prefix/x", Origin{"https", "metald", 8443}},
		{"HTTPS://metald", Origin{"https", "metald", 0}},
		{"http://metald/", Origin{"http", "metald", 0}},
		{"http://[::1]:9", Origin{"http", "::1", 9}},
		{"10.0.0.1:80", Origin{"", "10.0.0.1", 80}},
		{"example.org", Origin{"", "example.org", 0}},
	}
	for _, c := range good {
		got, err := ParseOrigin(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseOrigin(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := ParseOrigin(got.String()); err != nil || again != got {
			t.Errorf("%q does not round-trip through String: %q", c.in, got.String())
		}
	}
	for _, in := range []string{"", "ftp://x", "http://", "h:0", "h:99999", "h:x", "*.example.org",
		"http://user@host", "host/path", "http://[::1", "http://a b"} {
		if o, err := ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) = %+v, want an error", in, o)
		}
	}
}

func TestAllowList(t *testing.T) {
	list := allowList{}
	for _, e := range []string{"http://127.0.0.1:8080", "https://metald.internal/prefix", "either.example:9000"} {
		o, err := ParseOrigin(e)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, o)
	}
	cases := []struct {
		scheme, authority string
		want              bool
	}{
		{"http", "127.0.0.1:8080", true},
		{"https", "127.0.0.1:8080", false}, // another scheme
		{"http", "127.0.0.1:8081", false},  // another port
		{"http", "localhost:8080", false},  // another name for the host
		{"http", "127.0.0.1", false},       // default port 80
		{"https", "metald.internal", true},
		{"https", "METALD.internal:443", true}, // case and explicit default port
		{"https", "metald.internal:8443", false},
		{"http", "metald.internal", false},
		{"http", "either.example:9000", true},
		{"https", "either.example:9000", true},
		{"https", "either.example", false},
		{"ftp", "127.0.0.1:8080", false},
		{"http", "user@127.0.0.1:8080", false},
		{"http", "", false},
	}
	for _, c := range cases {
		if got := list.allows(c.scheme, c.authority); got != c.want {
			t.Errorf("allows(%s://%s) = %v, want %v", c.scheme, c.authority, got, c.want)
		}
	}
	if (allowList{}).allows("http", "127.0.0.1:8080") {
		t.Error("an empty list allowed a request")
	}
	tr, err := New(Config{AllowList: []string{"https://Metald:8443/prefix"}})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Allows("https", "metald:8443") || tr.Allows("http", "metald:8443") {
		t.Error("Transport.Allows does not follow its allow-list")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{AllowList: []string{"http://ok:1", "ftp://bad"}}, "Config.AllowList[1]"},
		{Config{ConnectTimeout: -1}, "Config.ConnectTimeout"},
		{Config{TLSHandshakeTimeout: -1}, "Config.TLSHandshakeTimeout"},
		{Config{ResponseTimeout: -1}, "Config.ResponseTimeout"},
		{Config{IdleConnTimeout: -1}, "Config.IdleConnTimeout"},
		{Config{MaxResponseHeaderBytes: -1}, "Config.MaxResponseHeaderBytes"},
		{Config{MaxRequestBodyBytes: -5}, "Config.MaxRequestBodyBytes"},
		{Config{MaxIdleConns: -1}, "Config.MaxIdleConns"},
		{Config{MaxIdleConnsPerHost: -1}, "Config.MaxIdleConnsPerHost"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.Allows("http", "127.0.0.1:8080") {
		t.Error("a Transport without an allow-list allowed a request")
	}
	if tr.cfg.ConnectTimeout != DefaultConnectTimeout || tr.cfg.MaxResponseHeaderBytes != DefaultMaxResponseHeaderBytes ||
		tr.cfg.MaxRequestBodyBytes != DefaultMaxRequestBodyBytes {
		t.Errorf("defaults not applied: %+v", tr.cfg)
	}
}
