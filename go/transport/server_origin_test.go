package transport

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/metald/metald-client/go/metald"
)

// serverURLVectors is testdata/server-urls.json, the cases the Rust and JS tests read too.
type serverURLVectors struct {
	Valid []struct {
		URL        string `json:"url"`
		Scheme     string `json:"scheme"`
		Authority  string `json:"authority"`
		Host       string `json:"host"`
		Port       uint16 `json:"port"`
		PathPrefix string `json:"path_prefix"`
	} `json:"valid"`
	Invalid []struct {
		URL     string `json:"url"`
		Message string `json:"message"`
	} `json:"invalid"`
}

func loadServerURLVectors(t *testing.T) serverURLVectors {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "server-urls.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v serverURLVectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A server URL the component parses allows exactly its scheme, host and port.
func TestServerOriginAllowsWhatTheComponentParsed(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := instance(t, tr)
	ctx := context.Background()
	for _, v := range loadServerURLVectors(t).Valid {
		u, err := inst.Exports.EndpointParseServerUrl(ctx, v.URL)
		if err != nil {
			t.Errorf("%q: %v", v.URL, err)
			continue
		}
		want := metald.ServerUrl{Authority: v.Authority, Host: v.Host, Port: v.Port, PathPrefix: v.PathPrefix, Scheme: u.Scheme}
		if u != want || u.Scheme.String() != v.Scheme {
			t.Errorf("%q parsed as %+v (%s), want %+v (%s)", v.URL, u, u.Scheme, want, v.Scheme)
		}
		origin := ServerOrigin(u)
		again, err := ParseOrigin(origin.String())
		if err != nil || again != origin {
			t.Errorf("%q: origin %+v does not round-trip through %q: %+v, %v", v.URL, origin, origin.String(), again, err)
		}
		list := allowList{origin}
		if !list.allows(v.Scheme, v.Authority) {
			t.Errorf("%q: the origin %s refuses its own server %s://%s", v.URL, origin, v.Scheme, v.Authority)
		}
		other := map[string]string{"http": "https", "https": "http"}[v.Scheme]
		if list.allows(other, v.Authority) {
			t.Errorf("%q: the origin %s also allows %s://%s", v.URL, origin, other, v.Authority)
		}
	}
}

// A URL the component refuses is one invalid-config issue for the field `server`.
func TestTheComponentRefusesBadServerURLsWithOneServerIssue(t *testing.T) {
	tr, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := instance(t, tr)
	for _, v := range loadServerURLVectors(t).Invalid {
		_, err := inst.Exports.EndpointParseServerUrl(context.Background(), v.URL)
		if err == nil {
			t.Errorf("%q parsed, want an error", v.URL)
			continue
		}
		got := sdkError(t, err)
		want := []metald.ValidationIssue{{Field: "server", Message: v.Message}}
		if got.Tag != metald.ErrorTagInvalidConfig || len(got.InvalidConfig) != 1 || got.InvalidConfig[0] != want[0] {
			t.Errorf("%q: got %v, want invalid-config %+v", v.URL, got, want)
		}
	}
}
