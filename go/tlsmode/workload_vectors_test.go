package tlsmode

import (
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/metald/metald-client/go/internal/testenv"
)

// workloadVectors are the shared SPIFFE Workload API vectors
// (testdata/spiffe-workload-api.json), which the Rust, JS and Python tests read too.
type workloadVectors struct {
	Sockets []struct {
		Setting  *string           `json:"setting"`
		Env      map[string]string `json:"env"`
		Endpoint string            `json:"endpoint"`
		Path     *string           `json:"path"`
	} `json:"sockets"`
	SVIDSelection []struct {
		Offered       []string `json:"offered"`
		Requested     *string  `json:"requested"`
		Selected      *string  `json:"selected"`
		ErrorContains []string `json:"error_contains"`
	} `json:"svid_selection"`
}

func readWorkloadVectors(t *testing.T) workloadVectors {
	t.Helper()
	v := testenv.Vectors[workloadVectors](t, "spiffe-workload-api.json")
	if len(v.Sockets) == 0 || len(v.SVIDSelection) == 0 {
		t.Fatal("testdata/spiffe-workload-api.json has no cases")
	}
	return v
}

func TestSPIFFESocketFollowsTheSharedVectors(t *testing.T) {
	for _, c := range readWorkloadVectors(t).Sockets {
		// An empty variable counts as unset: this clears both for the case.
		t.Setenv(EnvMetaldSPIFFESocket, "")
		t.Setenv(EnvSPIFFEEndpointSocket, "")
		for name, value := range c.Env {
			t.Setenv(name, value)
		}
		var o Options
		if c.Setting != nil {
			o.SPIFFESocketPath = *c.Setting
		}
		addr, path, err := workloadEndpoint(socketSetting(o))
		switch {
		case err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.Path == nil && (addr != c.Endpoint || path != ""):
			t.Errorf("setting %v env %v: got %q %q, want %q", c.Setting, c.Env, addr, path, c.Endpoint)
		case c.Path != nil && path != *c.Path:
			t.Errorf("setting %v env %v: got the socket %q, want %q", c.Setting, c.Env, path, *c.Path)
		}
	}
}

func TestSVIDSelectionFollowsTheSharedVectors(t *testing.T) {
	for _, c := range readWorkloadVectors(t).SVIDSelection {
		var svids []*x509svid.SVID
		for _, id := range c.Offered {
			svids = append(svids, &x509svid.SVID{ID: spiffeid.RequireFromString(id)})
		}
		var selector svidSelector
		if c.Requested != nil {
			selector.id = spiffeid.RequireFromString(*c.Requested)
		}
		picked := selector.pick(svids)
		switch {
		case c.Selected != nil && (picked == nil || picked.ID.String() != *c.Selected):
			t.Errorf("offered %v, asked for %v: picked %v, want %s", c.Offered, c.Requested, picked, *c.Selected)
		case c.Selected == nil && picked != nil:
			t.Errorf("offered %v, asked for %v: picked %s, want none", c.Offered, c.Requested, picked.ID)
		case c.Selected == nil:
			for _, part := range c.ErrorContains {
				if !strings.Contains(selector.describe(), part) {
					t.Errorf("%q lacks %q", selector.describe(), part)
				}
			}
		}
	}
}
