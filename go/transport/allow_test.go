package transport

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metald/metald-client/go/internal/testenv"
)

// allowVectors are the shared allow-list vectors (testdata/allow-list.json), which the
// Rust, JS and Python hosts read too.
type allowVectors struct {
	Entries []struct {
		Entry     string  `json:"entry"`
		Canonical *string `json:"canonical"`
		Problem   *string `json:"problem"`
	} `json:"entries"`
	Requests []struct {
		Allow     []string `json:"allow"`
		Scheme    string   `json:"scheme"`
		Authority string   `json:"authority"`
		Allowed   bool     `json:"allowed"`
	} `json:"requests"`
}

func readAllowVectors(t *testing.T) allowVectors {
	t.Helper()
	v := testenv.Vectors[allowVectors](t, "allow-list.json")
	if len(v.Entries) == 0 || len(v.Requests) == 0 {
		t.Fatal("testdata/allow-list.json has no cases")
	}
	return v
}

func TestParseOriginFollowsTheSharedVectors(t *testing.T) {
	for _, c := range readAllowVectors(t).Entries {
		got, err := ParseOrigin(c.Entry)
		switch {
		case c.Canonical != nil:
			if err != nil || got.String() != *c.Canonical {
				t.Errorf("ParseOrigin(%q) = %q, %v; want %q", c.Entry, got.String(), err, *c.Canonical)
				continue
			}
			if again, err := ParseOrigin(got.String()); err != nil || again != got {
				t.Errorf("%q does not round-trip through String: %q", c.Entry, got.String())
			}
		case c.Problem != nil:
			want := fmt.Sprintf("invalid allow-list entry %q: %s", c.Entry, *c.Problem)
			if err == nil || err.Error() != want {
				t.Errorf("ParseOrigin(%q) = %+v, %v; want the error %q", c.Entry, got, err, want)
			}
		default:
			t.Errorf("vector %q has neither canonical nor problem", c.Entry)
		}
	}
}

func TestAllowListFollowsTheSharedVectors(t *testing.T) {
	for _, c := range readAllowVectors(t).Requests {
		list := allowList{}
		for _, e := range c.Allow {
			o, err := ParseOrigin(e)
			if err != nil {
				t.Fatal(err)
			}
			list = append(list, o)
		}
		if got := list.allows(c.Scheme, c.Authority); got != c.Allowed {
			t.Errorf("allows(%s://%s) with %q = %v, want %v", c.Scheme, c.Authority, c.Allow, got, c.Allowed)
		}
	}
}

func TestAllowListRefusesOtherSchemesAndMalformedAuthorities(t *testing.T) {
	o, err := ParseOrigin("127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	list := allowList{o}
	for _, c := range []struct{ scheme, authority string }{
		{"ftp", "127.0.0.1:8080"}, {"http", ""}, {"http", "127.0.0.1:0"}, {"http", "[::1"},
	} {
		if list.allows(c.scheme, c.authority) {
			t.Errorf("allows(%s://%s) = true", c.scheme, c.authority)
		}
	}
	tr, err := New(Config{AllowList: []string{"https://Metald:8443"}})
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
